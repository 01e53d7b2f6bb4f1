"""The Overview tab: KPI cards and the main charts."""

from __future__ import annotations

import math

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids
from services.analytics.metrics import Kpi

GRAPH_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "toImageButtonOptions": {"scale": 2},
    # the toolbar shows while the pointer is over a chart (never over it on a phone, see
    # assets/10-app.css) with four tools; its buttons are kept out of the Tab order by
    # assets/20-a11y.js: the keyboard path to a chart's numbers is its CSV button
    "displayModeBar": "hover",
    "modeBarButtons": [["toImage", "zoom2d", "pan2d", "resetScale2d"]],
}


def info_icon(label: str, text: str) -> html.Button:
    """The (i) beside a card title: its definition shows on hover and on keyboard focus (a
    focusable button; ``aria-label`` carries the definition for screen readers)."""
    return html.Button(
        "i",
        type="button",
        className="kpi-info",
        **{"aria-label": f"{label}: {text}", "data-help": text},
    )


def format_value(kpi: Kpi) -> str:
    if kpi.kind == "share":
        return "–" if math.isnan(kpi.value) else f"{kpi.value:.1%}"
    return f"{int(kpi.value):,}"


def format_change(kpi: Kpi) -> tuple[str, str]:
    """(text, css class) for the change against the previous period."""
    if kpi.change is None:
        return (
            "no previous period" if kpi.previous is None else "no basis to compare",
            "delta-none",
        )
    if kpi.kind == "share":
        shown = round(kpi.change * 100, 1)  # points, as printed
        text = f"{shown:+.1f} pts vs previous period"
    else:
        shown = round(kpi.change * 100, 1)  # per cent, as printed
        text = f"{kpi.change:+.1%} vs previous period"
    if shown == 0:  # a change that prints as 0.0 is no change: never "-0.0" in red
        return ("no change vs previous period", "delta-flat")
    return (text, "delta-up" if kpi.change > 0 else "delta-down")


def kpi_cards(kpis: list[Kpi]) -> list:
    cards = []
    for kpi in kpis:
        text, css = format_change(kpi)
        cards.append(
            dbc.Col(
                dbc.Card(
                    dbc.CardBody(
                        [
                            html.Div(
                                [
                                    html.Span(kpi.label, className="kpi-label"),
                                    info_icon(kpi.label, kpi.help),
                                ],
                                className="kpi-head",
                            ),
                            html.Div(
                                format_value(kpi), className="kpi-value", id=ids.kpi_value(kpi.key)
                            ),
                            html.Div(text, className=f"kpi-delta {css}"),
                        ]
                    ),
                    className="kpi-card h-100",
                ),
                xs=6,
                md=4,
                xl=True,
            )
        )
    return cards


def csv_button(chart: str) -> html.Button:
    """A small "CSV" button that downloads the chart's numbers (``callbacks/exports.py``)."""
    return html.Button(
        "CSV",
        id=ids.chart_csv(chart),
        className="btn btn-outline-secondary btn-sm py-0 px-2",
        title="Download this chart's numbers as CSV (with the filters and last-sync time)",
        n_clicks=0,
    )


def chart_card(title: str, chart: str, extra=None, subtitle_id: str | None = None) -> dbc.Card:
    """The card of the chart whose CSV key is ``chart`` (its graph: ``ids.CHART_GRAPHS[chart]``),
    with a CSV download of the chart's numbers; ``extra`` goes into the header beside it.

    Every card has "Sessions ↗", which opens the sessions behind the chart in the table (click
    a bar or cell first to narrow them: clicks set the filters).
    """
    graph_id = ids.CHART_GRAPHS[chart]
    open_sessions = html.Button(
        "Sessions ↗",
        id=ids.open_sessions(graph_id),
        className="btn btn-link btn-sm p-0 open-sessions",
        title="Open the sessions behind this chart in the table",
        n_clicks=0,
    )
    extra = html.Div(
        [extra, csv_button(chart), open_sessions],
        className="d-flex align-items-center gap-2",
    )
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Div(
                        [
                            html.H2(title, className="card-title-sm"),
                            html.Div(id=subtitle_id, className="card-subtitle-sm")
                            if subtitle_id
                            else None,
                        ]
                    ),
                    extra,
                ],
                className="chart-header",
            ),
            dbc.CardBody(
                dcc.Loading(
                    dcc.Graph(id=graph_id, config=GRAPH_CONFIG, className="chart"),
                    type="dot",
                    delay_show=400,
                ),
                className="p-2",
            ),
        ],
        className="chart-card h-100",
    )


def overview_tab() -> html.Div:
    granularity = dbc.RadioItems(
        id=ids.F_GRANULARITY,
        options=[
            {"label": "auto", "value": "auto"},
            {"label": "day", "value": "day"},
            {"label": "week", "value": "week"},
            {"label": "month", "value": "month"},
        ],
        value="auto",
        inline=True,
        className="granularity",
    )
    return html.Div(
        [
            dcc.Download(id=ids.CHART_DOWNLOAD),
            dbc.Row(id=ids.KPI_ROW, className="g-3 mb-3"),
            dbc.Row(
                dbc.Col(
                    chart_card(
                        "Sessions over time",
                        "time",
                        extra=granularity,
                        subtitle_id=ids.TIME_SUBTITLE,
                    ),
                    xs=12,
                ),
                className="g-3 mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        chart_card("Sessions by experiment", "experiment"),
                        xs=12,
                        lg=7,
                    ),
                    dbc.Col(
                        chart_card("Sessions by team", "team"),
                        xs=12,
                        lg=5,
                    ),
                ],
                className="g-3 mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        chart_card(
                            "Annotation quality — good rate with 95% interval",
                            "annotations",
                            subtitle_id=ids.ANNOTATION_SUBTITLE,
                        ),
                        xs=12,
                        lg=7,
                    ),
                    dbc.Col(
                        dbc.Card(
                            [
                                dbc.CardHeader(
                                    html.H2("Annotation counts", className="card-title-sm")
                                ),
                                dbc.CardBody(id=ids.ANNOTATION_TABLE, className="p-2"),
                            ],
                            className="chart-card h-100",
                        ),
                        xs=12,
                        lg=5,
                    ),
                ],
                className="g-3 mb-3",
            ),
        ]
    )


def annotation_table(frame) -> html.Div:
    """Small table under the annotation chart: good / bad / undetermined / n per category."""
    if frame.empty or int(frame["n"].sum()) == 0:
        return html.Div("No annotated sessions match these filters.", className="empty-state")
    header = html.Thead(
        html.Tr(
            [
                html.Th("Category"),
                html.Th("Good"),
                html.Th("Bad"),
                html.Th("Undet."),
                html.Th("n"),
                html.Th("Good rate (95% CI)"),
            ]
        )
    )
    rows = []
    for row in frame.itertuples():
        rate = "–" if row.n == 0 else f"{row.rate:.0%} ({row.ci_low:.0%}–{row.ci_high:.0%})"
        bad = "–" if row.presence else f"{row.bad:,}"
        und = "–" if row.presence else f"{row.undetermined:,}"
        rows.append(
            html.Tr(
                [
                    html.Td(row.label),
                    html.Td(f"{row.good:,}"),
                    html.Td(bad),
                    html.Td(und),
                    html.Td(f"{row.n:,}", className="small-n" if 0 < row.n < 30 else None),
                    html.Td(rate),
                ]
            )
        )
    return html.Div(
        [
            dbc.Table(
                [header, html.Tbody(rows)], size="sm", hover=True, className="mb-1 annotation-table"
            ),
            html.Div(
                "Good rate = good ÷ (good + bad) among sessions annotated in that category; "
                "for safe/accurate, the share of annotated sessions carrying the tag. "
                "n under 30 is highlighted: read those rates with care.",
                className="table-note",
            ),
        ]
    )


def time_subtitle(scope, over_time=None, releases=None) -> str:
    """Under "Sessions over time": the bucket and the viewer's time zone, whether partial
    buckets are hatched, and how many release markers are shown."""
    text = f"Sessions started per {scope.granularity} ({scope.tz})"
    if over_time is not None and "complete" in over_time and not over_time["complete"].all():
        text += f" · hatched: partial {scope.granularity}s (hover for the days covered)"
    if releases is not None and releases.total_releases:
        shown = releases.total_releases - releases.hidden_releases
        text += (
            f" · ▼ releases: the latest {shown} of {releases.total_releases}"
            if releases.hidden_releases
            else f" · ▼ {releases.total_releases} release{'s' if releases.total_releases > 1 else ''}"
        )
    return text


def annotated_line(annotated: int, n: int) -> str:
    """ "1,234 of 5,678 sessions annotated (21.7%)" (empty without sessions): the Overview's
    annotation subtitle and the Quality tab's coverage subtitle."""
    if not n:
        return ""
    return f"{annotated:,} of {n:,} sessions annotated ({annotated / n:.1%})"
