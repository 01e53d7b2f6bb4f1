"""Quality tab: version comparison, quality over time, coverage, co-occurrence.

Wiring only: the numbers are :func:`services.views.quality.quality_view` (the chart CSVs read
the same view), the figures :func:`services.views.charts.quality.quality_figures`, the text
:mod:`layouts.quality`. Computed only while the tab is open, so filter changes elsewhere stay
fast.
"""

from __future__ import annotations

from dash import Input, Output, State, callback, no_update

from callbacks.graph_size import heights, with_heights
from layouts import ids
from layouts.quality import (
    COOCCURRENCE_SUBTITLE,
    comparison_parts,
    coverage_subtitle,
    quality_subtitle,
)
from services import runtime
from services.analytics.filters import FilterState
from services.views.charts import base as figures
from services.views.charts.quality import quality_figures
from services.views.quality import (
    Controls,
    experiment_choice,
    quality_view,
    version_choice,
)

QUALITY_OUTPUTS = [
    Output(ids.FIG_COMPARE, "figure"),
    Output(ids.Q_COMPARE_TABLE, "children"),
    Output(ids.Q_WARNINGS, "children"),
    Output(ids.FIG_QUALITY_TIME, "figure"),
    Output(ids.Q_QUALITY_SUBTITLE, "children"),
    Output(ids.FIG_COVERAGE_TIME, "figure"),
    Output(ids.Q_COVERAGE_SUBTITLE, "children"),
    Output(ids.FIG_COVERAGE_EXPERIMENT, "figure"),
    Output(ids.FIG_COOCCURRENCE, "figure"),
    Output(ids.Q_COOCCURRENCE_SUBTITLE, "children"),
]


@callback(
    Output(ids.Q_EXPERIMENT, "options"),
    Output(ids.Q_EXPERIMENT, "value"),
    Input(ids.DATA_GENERATION, "data"),
    Input(ids.FILTER_STATE, "data"),
    State(ids.Q_EXPERIMENT, "value"),
)
def experiment_choices(_generation, state_data, current):
    dataset = runtime.dataset()
    if dataset is None:
        return [], None
    return experiment_choice(dataset, FilterState.from_dict(state_data), current)


@callback(
    Output(ids.Q_VERSION_A, "options"),
    Output(ids.Q_VERSION_B, "options"),
    Output(ids.Q_VERSION_A, "value"),
    Output(ids.Q_VERSION_B, "value"),
    Input(ids.Q_EXPERIMENT, "value"),
    State(ids.Q_VERSION_A, "value"),
    State(ids.Q_VERSION_B, "value"),
)
def version_choices(experiment, current_a, current_b):
    dataset = runtime.dataset()
    if dataset is None or not experiment:
        return [], [], None, None
    options, a, b = version_choice(dataset, experiment, current_a, current_b)
    return options, options, a, b


def render_quality(state_data, dark, mode, experiment, version_a, version_b, dataset=None) -> list:
    theme = "dark" if dark else "light"
    dataset = dataset if dataset is not None else runtime.dataset()
    if dataset is None:
        empty = figures.empty_figure("No data yet", theme=theme)
        return [empty, None, None, empty, "", empty, "", empty, empty, ""]
    controls = Controls(mode, experiment, version_a, version_b)
    view = quality_view(dataset, FilterState.from_dict(state_data), controls)
    figs = quality_figures(view, theme)
    table, warnings = comparison_parts(view.comparison)
    return [
        figs["compare"],
        table,
        warnings,
        figs["quality_time"],
        quality_subtitle(view.numbers.granularity),
        figs["coverage_time"],
        coverage_subtitle(view.numbers),
        figs["coverage_experiment"],
        figs["cooccurrence"],
        COOCCURRENCE_SUBTITLE,
    ]


@callback(
    with_heights(QUALITY_OUTPUTS),
    Input(ids.FILTER_STATE, "data"),
    Input(ids.THEME_SWITCH, "value"),
    Input(ids.DATA_GENERATION, "data"),
    Input(ids.TABS, "active_tab"),
    Input(ids.Q_MODE, "value"),
    Input(ids.Q_EXPERIMENT, "value"),
    Input(ids.Q_VERSION_A, "value"),
    Input(ids.Q_VERSION_B, "value"),
)
def update_quality(state_data, dark, _generation, tab, mode, experiment, version_a, version_b):
    if tab != ids.TAB_QUALITY:
        return [no_update] * len(with_heights(QUALITY_OUTPUTS))
    values = render_quality(state_data, bool(dark), mode, experiment, version_a, version_b)
    return values + heights(QUALITY_OUTPUTS, values)
