"""The Cost tab: LLM spend from OCS session usage, by model and experiment, and the budget."""

from __future__ import annotations

import math

import dash_bootstrap_components as dbc
from dash import html

from layouts import ids
from layouts.engagement import empty_card, kpi_card
from layouts.overview import chart_card
from services.analytics.cost import BUDGET_RED


def cost_tab() -> html.Div:
    return html.Div(
        [
            html.Div(id=ids.COST_BUDGET, className="mb-3"),
            dbc.Row(id=ids.COST_CARDS, className="g-3 mb-2"),
            html.Div(id=ids.COST_COVERAGE, className="table-note mb-3"),
            dbc.Row(
                dbc.Col(
                    chart_card("Cost over time", "cost-time", subtitle_id=ids.COST_SUB_TIME),
                    xs=12,
                ),
                className="g-3 mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        chart_card("Cost by model", "cost-model"),
                        xs=12,
                        lg=5,
                    ),
                    dbc.Col(
                        chart_card("Cost by experiment", "cost-experiment"),
                        xs=12,
                        lg=7,
                    ),
                ],
                className="g-3 mb-3",
            ),
            dbc.Row(
                dbc.Col(
                    dbc.Card(
                        [
                            dbc.CardHeader(
                                html.H2("Models", className="card-title-sm"),
                                className="chart-header",
                            ),
                            dbc.CardBody(id=ids.COST_MODEL_TABLE, className="p-2"),
                        ],
                        className="chart-card h-100",
                    ),
                    xs=12,
                ),
                className="g-3 mb-3",
            ),
        ]
    )


def _card(*args) -> object:
    return kpi_card(*args, prefix="cost")


def coverage_note(summary) -> str:
    """One line on how much of the selection the cost numbers cover."""
    if summary.sessions == 0:
        return ""
    if summary.known == 0:
        return (
            "No cost known for these sessions (transcripts not synced, or the OCS API sends "
            "no usage)."
        )
    if summary.known == summary.sessions:
        return f"Cost known for all {summary.sessions:,} sessions."
    return (
        f"Cost known for {summary.known:,} of {summary.sessions:,} sessions "
        f"({summary.known / summary.sessions:.0%}); totals are lower bounds."
    )


def cost_subtitle(scope) -> str:
    """Under "Cost over time": the bucket and the viewer's time zone."""
    return f"Known cost of sessions started per {scope.granularity} ({scope.tz})" if scope.n else ""


def _usd(value: float, digits: int = 2) -> str:
    return "–" if value is None or math.isnan(value) else f"${value:,.{digits}f}"


def cost_cards(summary) -> list:
    """Total, mean, median per session and coverage of the selection's cost; with no session
    selected the cards stay: $0.00 in total, "–" for the rest, n = 0."""
    cards = _cost_cards(summary)
    return [empty_card(card) for card in cards] if summary.sessions == 0 else cards


def _cost_cards(summary) -> list:
    return [
        _card(
            "total",
            "Total cost",
            _usd(summary.total),
            f"{summary.known:,} sessions with a known cost",
            "Sum of usage.total_cost (OCS, chat-source LLM spend) over selected sessions whose "
            "cost is known.",
        ),
        _card(
            "mean",
            "Per session",
            _usd(summary.mean, 4),
            "mean",
            "Mean cost per selected session with a known cost.",
        ),
        _card(
            "median",
            "Median session",
            _usd(summary.median, 4),
            "median",
            "Median cost per selected session with a known cost.",
        ),
        _card(
            "coverage",
            "Cost coverage",
            "–" if math.isnan(summary.coverage) else f"{summary.coverage:.0%}",
            f"of {summary.sessions:,} sessions",
            "Share of selected sessions whose cost is known (transcript synced from an OCS that "
            "reports usage). Below 100%, totals are lower bounds.",
        ),
    ]


def budget_panel(budget) -> html.Div:
    """Progress bar of this month's spend against ``MONTHLY_BUDGET_USD`` with a projection."""
    if budget is None:
        return html.Div(
            "No monthly budget set (MONTHLY_BUDGET_USD).",
            className="table-note",
            id=ids.COST_NO_BUDGET,
        )
    month = f"{budget.month:%B %Y}"
    percent = budget.share * 100
    projection_class = (
        "text-danger"
        if budget.projected_share > 1
        else ("text-warning" if budget.projected_share >= BUDGET_RED else None)
    )
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.Span(f"Budget {month}", className="kpi-label"),
                        html.Span(
                            f"{_usd(budget.spent_usd)} of {_usd(budget.budget_usd)} "
                            f"({budget.share:.0%}) · day {budget.elapsed_days} of "
                            f"{budget.days_in_month}",
                            className="budget-figures",
                        ),
                    ],
                    className="kpi-head",
                ),
                dbc.Progress(
                    value=min(percent, 100),
                    color=budget.colour,
                    className="my-2",
                    style={"height": "0.9rem"},
                    id=ids.COST_BUDGET_BAR,
                ),
                html.Div(
                    [
                        "Projected for the month: ",
                        html.Strong(
                            f"{_usd(budget.projected_usd)} ({budget.projected_share:.0%})",
                            className=projection_class,
                        ),
                        " — spend so far ÷ elapsed days × days in the month. "
                        f"All sessions started this month ({budget.tz}), whatever the filters: "
                        "the budget covers the whole deployment.",
                    ],
                    className="table-note",
                ),
            ]
        ),
        className="kpi-card",
    )


def model_table(frame) -> html.Div:
    if frame.empty:
        return html.Div("No cost by model for these sessions.", className="empty-state")
    rows = [
        html.Tr(
            [
                html.Td(row.model),
                html.Td(_usd(row.cost_usd)),
                html.Td(f"{row.share:.0%}"),
                html.Td(f"{row.tokens:,}"),
                html.Td(f"{row.sessions:,}"),
                html.Td(_usd(row.per_session_usd, 4)),
            ]
        )
        for row in frame.itertuples()
    ]
    header = html.Thead(
        html.Tr(
            [
                html.Th("Model"),
                html.Th("Cost"),
                html.Th("Share"),
                html.Th("Tokens"),
                html.Th("Sessions"),
                html.Th("Per session using it"),
            ]
        )
    )
    return dbc.Table(
        [header, html.Tbody(rows)],
        size="sm",
        hover=True,
        responsive=True,
        className="mb-1 annotation-table",
    )
