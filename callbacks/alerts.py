"""The Alerts panel: opening it reads the rules and the delivery history (services.alerts)."""

from __future__ import annotations

import logging

import dash_bootstrap_components as dbc
from dash import Input, Output, callback, no_update

from layouts import ids
from layouts.alerts import alerts_body
from services import runtime
from services.alerts import rules_overview

log = logging.getLogger(__name__)


def panel(settings) -> list:
    """The panel's content; a broken state directory is a message, never an error page."""
    try:
        return alerts_body(rules_overview(settings))
    except Exception as exc:
        log.warning("alerts panel: %s", type(exc).__name__)
        return [
            dbc.Alert(f"The alert state could not be read ({type(exc).__name__}).", color="warning")
        ]


@callback(
    Output(ids.ALERTS_OFFCANVAS, "is_open"),
    Output(ids.ALERTS_BODY, "children"),
    Input(ids.ALERTS_OPEN, "n_clicks"),
    prevent_initial_call=True,
)
def open_alerts(n_clicks):
    if not n_clicks:
        return no_update, no_update
    return True, panel(runtime.settings())
