"""Cost tab: computed only while the tab is open, so filter changes stay fast."""

from __future__ import annotations

from dash import Input, Output, callback, no_update

from callbacks.graph_size import heights, with_heights
from layouts import ids
from layouts.cost import budget_panel, cost_cards, cost_subtitle, coverage_note, model_table
from services import runtime
from services.analytics.filters import FilterState
from services.views.charts import base as figures
from services.views.charts.cost import COST_FIGURES, cost_figures
from services.views.cost import cost_view

TAB = ids.TAB_COST
OUTPUTS = [
    Output(ids.COST_BUDGET, "children"),
    Output(ids.COST_CARDS, "children"),
    Output(ids.COST_COVERAGE, "children"),
    Output(ids.COST_FIG_TIME, "figure"),
    Output(ids.COST_FIG_MODEL, "figure"),
    Output(ids.COST_FIG_EXPERIMENT, "figure"),
    Output(ids.COST_SUB_TIME, "children"),
    Output(ids.COST_MODEL_TABLE, "children"),
]


def render_cost(state_data: dict | None, dark: bool, dataset=None, budget_usd=None) -> list:
    theme = "dark" if dark else "light"
    dataset = dataset if dataset is not None else runtime.dataset()
    if budget_usd is None:
        budget_usd = runtime.settings().monthly_budget_usd
    if dataset is None:
        empty = figures.empty_figure("No data yet", theme=theme)
        return [None, [], "", empty, empty, empty, "", None]
    view = cost_view(dataset, FilterState.from_dict(state_data), budget_usd)
    figs = cost_figures(view, theme)
    return [
        budget_panel(view.budget),
        cost_cards(view.summary),
        coverage_note(view.summary),
        *[figs[name] for name in COST_FIGURES],
        cost_subtitle(view.scope),
        model_table(view.by_model),
    ]


@callback(
    with_heights(OUTPUTS),
    Input(ids.TABS, "active_tab"),
    Input(ids.FILTER_STATE, "data"),
    Input(ids.THEME_SWITCH, "value"),
    Input(ids.DATA_GENERATION, "data"),
)
def update_cost(active_tab, state_data, dark, _generation):
    if active_tab != TAB:
        return [no_update] * len(with_heights(OUTPUTS))
    values = render_cost(state_data, bool(dark))
    return values + heights(OUTPUTS, values)
