"""Engagement tab: computed only while the tab is open, so filter changes stay fast."""

from __future__ import annotations

from dash import Input, Output, callback, html, no_update

from callbacks.graph_size import heights, with_heights
from layouts import ids
from layouts.engagement import anomaly_list, coverage_note, engagement_cards, engagement_subtitles
from services import runtime
from services.analytics.filters import FilterState
from services.views.charts import base as figures
from services.views.charts.engagement import ENGAGEMENT_FIGURES, engagement_figures
from services.views.engagement import engagement_view

TAB = ids.TAB_ENGAGEMENT
FIGURES = ENGAGEMENT_FIGURES
SUBTITLES = FIGURES
OUTPUTS = [
    Output(ids.ENG_CARDS, "children"),
    Output(ids.ENG_COVERAGE, "children"),
    *[Output(ids.ENG_FIGURES[name][0], "figure") for name in FIGURES],
    *[Output(ids.ENG_FIGURES[name][1], "children") for name in SUBTITLES],
    Output(ids.ENG_ANOMALIES, "children"),
]


def render_engagement(state_data: dict | None, dark: bool, dataset=None) -> list:
    theme = "dark" if dark else "light"
    dataset = dataset if dataset is not None else runtime.dataset()
    if dataset is None:
        empty = figures.empty_figure("No data yet", theme=theme)
        return [[], "", *[empty] * len(FIGURES), *[""] * len(SUBTITLES), html.Div()]
    view = engagement_view(dataset, FilterState.from_dict(state_data))
    figs = engagement_figures(view, theme)
    return [
        engagement_cards(view),
        coverage_note(view),
        *[figs[name] for name in FIGURES],
        *engagement_subtitles(view),
        anomaly_list(view.flags, view.scope.tz),
    ]


@callback(
    with_heights(OUTPUTS),
    Input(ids.TABS, "active_tab"),
    Input(ids.FILTER_STATE, "data"),
    Input(ids.THEME_SWITCH, "value"),
    Input(ids.DATA_GENERATION, "data"),
)
def update_engagement(active_tab, state_data, dark, _generation):
    if active_tab != TAB:
        return [no_update] * len(with_heights(OUTPUTS))
    values = render_engagement(state_data, bool(dark))
    return values + heights(OUTPUTS, values)
