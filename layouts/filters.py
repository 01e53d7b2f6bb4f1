"""The filter bar: date range, experiment, team, tag (+ any/all), platform and status."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids
from services.analytics.filters import RANGE_CHOICES, RANGE_LABELS, UNTAGGED, timezone_names


def _field(label: str, control, width: dict, help_text: str | None = None) -> dbc.Col:
    return dbc.Col(
        [
            html.Label(label, className="filter-label", htmlFor=getattr(control, "id", None)),
            control,
            html.Div(help_text, className="filter-help") if help_text else None,
        ],
        **width,
        className="filter-field",
    )


VERSION_HELP = "Counts: sessions in the current filters and dates."
LATEST_TITLE = (
    "Choose the latest released version of each chosen experiment (of each experiment with "
    "sessions when none is chosen)"
)


def version_field(options: list[dict]) -> dbc.Col:
    """The version filter: options with session counts (``callbacks/filters.py``
    ``version_options``), a one-click "latest released" choice and a line saying what the
    counts and that choice mean."""
    return dbc.Col(
        [
            html.Div(
                [
                    html.Label("Version", className="filter-label", htmlFor=ids.F_VERSION),
                    html.Button(
                        "Latest",
                        id=ids.F_VERSION_LATEST,
                        n_clicks=0,
                        type="button",
                        className="btn btn-link btn-sm p-0 ms-auto",
                        style={"fontSize": ".72rem"},
                        title=LATEST_TITLE,
                    ),
                ],
                className="d-flex align-items-baseline gap-2",
            ),
            dcc.Dropdown(
                id=ids.F_VERSION,
                options=options,
                multi=True,
                placeholder="All versions",
            ),
            html.Div(VERSION_HELP, id=ids.F_VERSION_HELP, className="filter-help"),
        ],
        xs=12,
        md=6,
        xl=2,
        className="filter-field",
    )


def export_menu() -> html.Div:
    """The Export dropdown: the whole Overview as CSV, JSON or XLSX (``callbacks/exports.py``)."""
    return html.Div(
        [
            dbc.DropdownMenu(
                [
                    dbc.DropdownMenuItem("Overview as CSV", id=ids.EXPORT_VIEW_CSV, n_clicks=0),
                    dbc.DropdownMenuItem("Overview as JSON", id=ids.EXPORT_VIEW_JSON, n_clicks=0),
                    dbc.DropdownMenuItem(
                        "Overview as Excel (XLSX)", id=ids.EXPORT_VIEW_XLSX, n_clicks=0
                    ),
                    dbc.DropdownMenuItem(divider=True),
                    dbc.DropdownMenuItem(
                        "Every number with the filters, time zone and last-sync time",
                        header=True,
                    ),
                ],
                label="Export",
                id=ids.EXPORT_MENU,
                align_end=True,
                size="sm",
                color="secondary",
                toggle_class_name="btn-outline-secondary",
                toggle_style={"--bs-btn-bg": "transparent"},
            ),
            dcc.Download(id=ids.VIEW_DOWNLOAD),
        ]
    )


def filter_bar(options: dict) -> dbc.Card:
    """``options`` holds dropdown option lists: experiments, teams, tags, platforms, statuses."""
    return dbc.Card(
        dbc.CardBody(
            [
                dbc.Row(
                    [
                        _field(
                            "Date range",
                            dcc.Dropdown(
                                id=ids.F_RANGE,
                                options=[
                                    {"label": RANGE_LABELS[r], "value": r} for r in RANGE_CHOICES
                                ],
                                value="90d",
                                clearable=False,
                                searchable=False,
                            ),
                            {"xs": 12, "md": 6, "xl": 2},
                        ),
                        _field(
                            "Custom dates (end inclusive)",
                            dcc.DatePickerRange(
                                id=ids.F_DATES,
                                display_format="YYYY-MM-DD",
                                start_date_placeholder_text="Start",
                                end_date_placeholder_text="End",
                                clearable=True,
                                minimum_nights=0,
                                first_day_of_week=1,
                            ),
                            {"xs": 12, "md": 6, "xl": 3},
                        ),
                        _field(
                            "Experiment (chatbot)",
                            dcc.Dropdown(
                                id=ids.F_EXPERIMENT,
                                options=options["experiments"],
                                multi=True,
                                placeholder="All experiments",
                            ),
                            {"xs": 12, "md": 6, "xl": 3},
                        ),
                        _field(
                            "Team",
                            dcc.Dropdown(
                                id=ids.F_TEAM,
                                options=options["teams"],
                                multi=True,
                                placeholder="All teams",
                            ),
                            {"xs": 12, "md": 6, "xl": 2},
                        ),
                        _field(
                            "Time zone",
                            dcc.Dropdown(
                                id=ids.F_TZ,
                                options=[{"label": z, "value": z} for z in timezone_names()],
                                value="UTC",
                                clearable=False,
                            ),
                            {"xs": 12, "md": 6, "xl": 2},
                        ),
                    ],
                    className="g-2",
                ),
                dbc.Row(
                    [
                        _field(
                            "Session tag",
                            dcc.Dropdown(
                                id=ids.F_TAG,
                                options=[
                                    {"label": "(untagged)", "value": UNTAGGED},
                                    *options["tags"],
                                ],
                                multi=True,
                                placeholder="Any or no tag",
                            ),
                            {"xs": 12, "md": 6, "xl": 3},
                        ),
                        _field(
                            "Tags must match",
                            dbc.RadioItems(
                                id=ids.F_TAG_MODE,
                                options=[
                                    {"label": "any", "value": "any"},
                                    {"label": "all", "value": "all"},
                                ],
                                value="any",
                                inline=True,
                                className="pt-1",
                            ),
                            {"xs": 6, "md": 3, "xl": 2},
                        ),
                        _field(
                            "Platform",
                            dcc.Dropdown(
                                id=ids.F_PLATFORM,
                                options=options["platforms"],
                                multi=True,
                                placeholder="All but evaluations",
                            ),
                            {"xs": 12, "md": 6, "xl": 3},
                        ),
                        _field(
                            "Status",
                            dcc.Dropdown(
                                id=ids.F_STATUS,
                                options=options["statuses"],
                                multi=True,
                                placeholder="All but setup",
                            ),
                            {"xs": 12, "md": 6, "xl": 2},
                        ),
                        version_field(options.get("versions", [])),
                    ],
                    className="g-2 mt-1",
                ),
                html.Div(
                    [
                        html.Div(id=ids.FILTER_SUMMARY, className="filter-summary"),
                        html.Div(
                            [
                                html.Button(
                                    "Reset",
                                    id=ids.F_RESET,
                                    className="btn btn-outline-secondary btn-sm",
                                    n_clicks=0,
                                ),
                                html.Button(
                                    "Copy link",
                                    id=ids.COPY_LINK,
                                    type="button",
                                    title="Copy a link to this view (filters, tab, table page)",
                                    className="btn btn-outline-secondary btn-sm copy-link",
                                    n_clicks=0,
                                ),
                                html.Span(
                                    id=ids.COPY_LINK_STATUS,
                                    className="copy-link-status",
                                    role="status",
                                ),
                                export_menu(),
                            ],
                            className="filter-actions",
                        ),
                    ],
                    className="filter-footer",
                ),
            ]
        ),
        className="filter-card mb-3",
    )
