"""Overview tab: KPI cards and charts from the filter state."""

from __future__ import annotations

from dash import Input, Output, callback, html

from callbacks.graph_size import heights, with_heights
from layouts.overview import annotation_table, kpi_cards
from services import runtime
from services.analytics.filters import FilterState
from services.views.charts import base as figures
from services.views.overview import overview

OUTPUTS = [
    Output("kpi-row", "children"),
    Output("fig-time", "figure"),
    Output("fig-experiment", "figure"),
    Output("fig-team", "figure"),
    Output("fig-annotations", "figure"),
    Output("annotation-table", "children"),
    Output("time-subtitle", "children"),
    Output("annotation-subtitle", "children"),
    Output("filter-summary", "children"),
]


def render_overview(state_data: dict | None, dark: bool, dataset=None) -> list:
    theme = "dark" if dark else "light"
    dataset = dataset if dataset is not None else runtime.dataset()
    if dataset is None:
        empty = figures.empty_figure("No data yet", theme=theme)
        message = html.Div(
            "No data yet — the first sync has not finished.", className="empty-state"
        )
        return [[], empty, empty, empty, empty, message, "", "", "No data loaded"]
    view = overview(dataset, FilterState.from_dict(state_data), theme)
    return [
        kpi_cards(view.kpis),
        view.figures["time"],
        view.figures["experiment"],
        view.figures["team"],
        view.figures["annotations"],
        annotation_table(view.annotations),
        view.time_subtitle,
        view.annotation_subtitle,
        view.summary,
    ]


@callback(
    with_heights(OUTPUTS),
    Input("filter-state", "data"),
    Input("theme-switch", "value"),
    Input("data-generation", "data"),
)
def update_overview(state_data, dark, _generation):
    values = render_overview(state_data, bool(dark))
    return values + heights(OUTPUTS, values)
