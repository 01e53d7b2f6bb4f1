"""Quality tab: version comparison, quality over time, coverage, co-occurrence.

Wiring only: the numbers are :func:`services.views.quality.quality_view` (the chart CSVs read
the same view), the figures :func:`services.views.charts.quality.quality_figures`, the text
:mod:`layouts.quality`. Computed only while the tab is open, so filter changes elsewhere stay
fast.
"""

from __future__ import annotations

from dash import Input, Output, State, callback, no_update

from callbacks.graph_size import heights, with_heights
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
    Output("fig-compare", "figure"),
    Output("q-compare-table", "children"),
    Output("q-warnings", "children"),
    Output("fig-quality-time", "figure"),
    Output("q-quality-subtitle", "children"),
    Output("fig-coverage-time", "figure"),
    Output("q-coverage-subtitle", "children"),
    Output("fig-coverage-experiment", "figure"),
    Output("fig-cooccurrence", "figure"),
    Output("q-cooccurrence-subtitle", "children"),
]


@callback(
    Output("q-experiment", "options"),
    Output("q-experiment", "value"),
    Input("data-generation", "data"),
    Input("filter-state", "data"),
    State("q-experiment", "value"),
)
def experiment_choices(_generation, state_data, current):
    dataset = runtime.dataset()
    if dataset is None:
        return [], None
    return experiment_choice(dataset, FilterState.from_dict(state_data), current)


@callback(
    Output("q-version-a", "options"),
    Output("q-version-b", "options"),
    Output("q-version-a", "value"),
    Output("q-version-b", "value"),
    Input("q-experiment", "value"),
    State("q-version-a", "value"),
    State("q-version-b", "value"),
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
    Input("filter-state", "data"),
    Input("theme-switch", "value"),
    Input("data-generation", "data"),
    Input("tabs", "active_tab"),
    Input("q-mode", "value"),
    Input("q-experiment", "value"),
    Input("q-version-a", "value"),
    Input("q-version-b", "value"),
)
def update_quality(state_data, dark, _generation, tab, mode, experiment, version_a, version_b):
    if tab != "quality":
        return [no_update] * len(with_heights(QUALITY_OUTPUTS))
    values = render_quality(state_data, bool(dark), mode, experiment, version_a, version_b)
    return values + heights(QUALITY_OUTPUTS, values)
