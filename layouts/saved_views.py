"""Saved views bar: pick a named view, save the current one, delete one (shared by the team)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids


def saved_views_bar(extra=None) -> html.Div:
    """The saved-views row; ``extra`` (the Alerts button) sits at its right end."""
    return html.Div(
        [
            html.Label("Saved views", className="filter-label me-1", htmlFor=ids.SV_SELECT),
            dcc.Dropdown(
                id=ids.SV_SELECT,
                placeholder="Open a saved view…",
                clearable=True,
                className="sv-select",
            ),
            html.Label(
                "Name of the view to save", htmlFor=ids.SV_NAME, className="visually-hidden"
            ),
            dbc.Input(
                id=ids.SV_NAME,
                placeholder="Name this view",
                size="sm",
                maxLength=80,
                className="sv-name",
                debounce=True,
            ),
            html.Button(
                "Save view", id=ids.SV_SAVE, className="btn btn-outline-primary btn-sm", n_clicks=0
            ),
            html.Button(
                "Delete",
                id=ids.SV_DELETE,
                className="btn btn-outline-danger btn-sm",
                n_clicks=0,
                title="Delete the selected saved view",
            ),
            html.Span(id=ids.SV_MESSAGE, className="sv-message", role="status"),
            extra,
        ],
        className="saved-views mb-3",
    )
