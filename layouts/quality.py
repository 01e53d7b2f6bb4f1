"""The Quality tab: version A/B comparison, quality over time, coverage and tag co-occurrence."""

from __future__ import annotations

import math

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids
from layouts.overview import GRAPH_CONFIG, annotated_line, chart_card, csv_button


def quality_tab() -> html.Div:
    pickers = dbc.Row(
        [
            dbc.Col(
                [
                    html.Label("Experiment", className="filter-label", htmlFor=ids.Q_EXPERIMENT),
                    dcc.Dropdown(id=ids.Q_EXPERIMENT, clearable=False, placeholder="Choose"),
                ],
                xs=12,
                lg=4,
            ),
            dbc.Col(
                [
                    html.Label("Version A", className="filter-label", htmlFor=ids.Q_VERSION_A),
                    dcc.Dropdown(id=ids.Q_VERSION_A, clearable=False, placeholder="Choose"),
                ],
                xs=6,
                lg=4,
            ),
            dbc.Col(
                [
                    html.Label("Version B", className="filter-label", htmlFor=ids.Q_VERSION_B),
                    dcc.Dropdown(id=ids.Q_VERSION_B, clearable=False, placeholder="Choose"),
                ],
                xs=6,
                lg=4,
            ),
            dbc.Col(
                html.Div(
                    "Counts: sessions in the current filters and date range (the version filter "
                    "ignored); for a version, those that talked to that version only — the "
                    "sessions a comparison counts.",
                    id=ids.Q_COMPARE_COUNTS,
                    className="filter-help",
                ),
                xs=12,
            ),
        ],
        className="g-2",
    )
    compare_controls = dbc.Row(
        [
            dbc.Col(
                [
                    html.Label("Compare", className="filter-label"),
                    dbc.RadioItems(
                        id=ids.Q_MODE,
                        options=[
                            {"label": "two versions", "value": "versions"},
                            {"label": "this vs previous period", "value": "periods"},
                        ],
                        value="versions",
                        inline=True,
                    ),
                ],
                xs=12,
                lg=3,
            ),
            dbc.Col(pickers, id=ids.Q_VERSION_PICKERS, xs=12, lg=9),
        ],
        className="g-2 mb-2",
    )
    return html.Div(
        [
            dbc.Card(
                [
                    dbc.CardHeader(
                        [
                            html.Div(
                                [
                                    html.H2("Version comparison", className="card-title-sm"),
                                    html.Div(
                                        "Sessions that talked to exactly one version, with the "
                                        "page's other filters. Good rate = good ÷ (good + bad) "
                                        "in each category.",
                                        className="card-subtitle-sm",
                                    ),
                                ]
                            ),
                            csv_button("compare"),
                        ],
                        className="chart-header",
                    ),
                    dbc.CardBody(
                        [
                            compare_controls,
                            html.Div(id=ids.Q_WARNINGS),
                            dcc.Loading(
                                dcc.Graph(
                                    id=ids.FIG_COMPARE, config=GRAPH_CONFIG, className="chart"
                                ),
                                type="dot",
                                delay_show=400,
                            ),
                            html.Div(id=ids.Q_COMPARE_TABLE, className="mt-2"),
                        ]
                    ),
                ],
                className="chart-card mb-3",
            ),
            dbc.Row(
                dbc.Col(
                    chart_card(
                        "Quality over time — good rate with 95% band",
                        "quality-time",
                        subtitle_id=ids.Q_QUALITY_SUBTITLE,
                    ),
                    xs=12,
                ),
                className="g-3 mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        chart_card(
                            "Annotation coverage over time",
                            "coverage-time",
                            subtitle_id=ids.Q_COVERAGE_SUBTITLE,
                        ),
                        xs=12,
                        lg=6,
                    ),
                    dbc.Col(
                        chart_card("Annotation coverage by experiment", "coverage-experiment"),
                        xs=12,
                        lg=6,
                    ),
                ],
                className="g-3 mb-3",
            ),
            dbc.Row(
                dbc.Col(
                    chart_card(
                        "Tag co-occurrence among annotated sessions — sessions with both tags "
                        "(colour: lift)",
                        "cooccurrence",
                        subtitle_id=ids.Q_COOCCURRENCE_SUBTITLE,
                    ),
                    xs=12,
                ),
                className="g-3 mb-3",
            ),
        ]
    )


def _pct(value: float) -> str:
    return (
        "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0%}"
    )


def _num(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.2f}" if abs(value) < 1 else f"{value:.1f}"
    return f"{int(value):,}"


def _side(rate: float, low: float, high: float, n: int) -> str:
    """One side's good rate with its interval and n; words when nothing was annotated."""
    if not n:
        return "no annotated sessions"
    return f"{_pct(rate)} ({_pct(low)}–{_pct(high)}) n={n:,}"


def comparison_table(comparison) -> html.Div:
    """Per category: A and B good rates with intervals, the difference and its p-value in words."""
    header = html.Thead(
        html.Tr(
            [
                html.Th("Category"),
                html.Th(f"{comparison.a}"),
                html.Th(f"{comparison.b}"),
                html.Th("Difference (95% CI)"),
                html.Th("p"),
                html.Th("Reading"),
            ]
        )
    )
    body = []
    for row in comparison.rows.itertuples():
        side_a = _side(row.rate_a, row.ci_low_a, row.ci_high_a, row.n_a)
        side_b = _side(row.rate_b, row.ci_low_b, row.ci_high_b, row.n_b)
        if math.isnan(row.difference):
            diff = "–"
        else:
            diff = f"{row.difference * 100:+.1f} pts ({row.diff_low * 100:+.1f} to {row.diff_high * 100:+.1f})"
        p = (
            "–"
            if math.isnan(row.p_value)
            else (f"{row.p_value:.3f}" if row.p_value >= 0.001 else "<0.001")
        )
        body.append(
            html.Tr(
                [
                    html.Td(row.label),
                    html.Td(side_a),
                    html.Td(side_b),
                    html.Td(diff),
                    html.Td(p),
                    html.Td(row.verdict),
                ]
            )
        )
    engagement_rows = [
        html.Tr(
            [
                html.Td(row.metric),
                html.Td(_pct(row.a) if "share" in row.metric else _num(row.a)),
                html.Td(_pct(row.b) if "share" in row.metric else _num(row.b)),
            ]
        )
        for row in comparison.engagement.itertuples()
    ]
    return html.Div(
        [
            dbc.Table(
                [header, html.Tbody(body)],
                size="sm",
                hover=True,
                responsive=True,
                className="compare-table",
            ),
            dbc.Table(
                [
                    html.Thead(
                        html.Tr(
                            [html.Th("Engagement"), html.Th(comparison.a), html.Th(comparison.b)]
                        )
                    ),
                    html.Tbody(engagement_rows),
                ],
                size="sm",
                className="compare-table",
            ),
            html.Div(
                "Difference: Newcombe's score interval; p: two-proportion z-test. A difference "
                "whose interval includes 0 is not established.",
                className="table-note",
            ),
        ]
    )


def warnings_alert(warnings: list[str]):
    if not warnings:
        return None
    return dbc.Alert(
        html.Ul([html.Li(w) for w in warnings], className="mb-0"), color="warning", className="py-2"
    )


def cooccurrence_subtitle(annotated: int) -> str:
    """Under "Tag co-occurrence": over which sessions, and how to read lift."""
    if not annotated:
        return "No annotated sessions in this selection: nothing to relate."
    return (
        f"Among the {annotated:,} annotated sessions (at least one annotation tag). Lift = "
        "P(both) ÷ (P(A) × P(B)) among them: above 1 the tags come together more often than "
        "by chance, below 1 less often. Click a cell to filter to sessions with both tags."
    )


def quality_subtitle(granularity: str) -> str:
    """Under "Quality over time": the bucket and how to read the bands."""
    return (
        f"Good rate per {granularity}; bands are 95% Wilson intervals — wide bands mean "
        f"few annotated sessions that {granularity}."
    )


def coverage_subtitle(numbers):
    """Under "Annotation coverage over time": annotated of all, and where the annotated
    sample differs from the rest (:func:`services.analytics.quality.sample_warnings`)."""
    line = annotated_line(numbers.annotated, numbers.scope.n)
    if numbers.sample_warnings:
        return [line, warnings_alert(numbers.sample_warnings)]
    return line


def comparison_parts(comparison) -> tuple:
    """(table, warnings) of the comparison card; (None, None) while it is incomplete."""
    if comparison is None:
        return None, None
    sessions = comparison.engagement.set_index("metric")
    if not sessions.loc["Sessions", "a"] and not sessions.loc["Sessions", "b"]:
        empty = html.Div(
            f"No sessions in this selection for {comparison.a} or {comparison.b}.",
            className="empty-state",
        )
        return empty, None
    return comparison_table(comparison), warnings_alert(comparison.warnings)
