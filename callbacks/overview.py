"""Overview tab: KPI cards and charts from the filter state."""

from __future__ import annotations

from dash import Input, Output, callback, html

from callbacks.graph_size import heights, with_heights
from layouts import ids
from layouts.overview import annotated_line, annotation_table, kpi_cards, time_subtitle
from services import runtime
from services.analytics.filters import FilterState
from services.views.charts import base as figures
from services.views.charts.overview import OVERVIEW_FIGURES, overview_figures
from services.views.overview import overview

OUTPUTS = [
    Output(ids.KPI_ROW, "children"),
    Output(ids.FIG_TIME, "figure"),
    Output(ids.FIG_EXPERIMENT, "figure"),
    Output(ids.FIG_TEAM, "figure"),
    Output(ids.FIG_ANNOTATIONS, "figure"),
    Output(ids.ANNOTATION_TABLE, "children"),
    Output(ids.TIME_SUBTITLE, "children"),
    Output(ids.ANNOTATION_SUBTITLE, "children"),
    Output(ids.FILTER_SUMMARY, "children"),
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
    view = overview(dataset, FilterState.from_dict(state_data))
    figs = overview_figures(view, theme)
    return [
        kpi_cards(view.kpis),
        *[figs[name] for name in OVERVIEW_FIGURES],
        annotation_table(view.annotations),
        time_subtitle(view.scope, view.over_time, view.releases),
        annotated_line(view.annotated, view.scope.n),
        view.description,
    ]


@callback(
    with_heights(OUTPUTS),
    Input(ids.FILTER_STATE, "data"),
    Input(ids.THEME_SWITCH, "value"),
    Input(ids.DATA_GENERATION, "data"),
)
def update_overview(state_data, dark, _generation):
    values = render_overview(state_data, bool(dark))
    return values + heights(OUTPUTS, values)
