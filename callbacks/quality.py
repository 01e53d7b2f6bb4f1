"""Quality tab: version comparison, quality over time, coverage, co-occurrence.

Computed only while the tab is open, so filter changes elsewhere stay fast.
"""

from __future__ import annotations

from dash import Input, Output, State, callback, no_update

from callbacks.graph_size import heights, with_heights
from layouts.quality import comparison_table, warnings_alert
from services import runtime
from services.analytics import metrics, quality
from services.analytics.filters import FilterState
from services.analytics.query import select
from services.views.charts import base as figures
from services.views.charts import quality as figures_quality

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


def default_versions(dataset, experiment: str | None) -> tuple[str | None, str | None]:
    """The two newest published versions the experiment's sessions used (A older, B newer)."""
    labels = [
        o["value"]
        for o in quality.version_options(dataset, experiment)
        if not o["value"].endswith("-unreleased")
    ]
    if len(labels) >= 2:
        return labels[-2], labels[-1]
    if labels:
        return labels[0], labels[0]
    return None, None


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
    options = [
        {"label": metrics.label_for(dataset, "experiment", e), "value": e}
        for e in dataset.experiments
    ]
    options.sort(key=lambda o: o["label"].lower())
    state = FilterState.from_dict(state_data)
    if len(state.experiments) == 1:
        return options, state.experiments[0]
    if current in dataset.experiments:
        return options, current
    counts = metrics.sessions_by(select(dataset, state), "experiment")
    value = (
        counts["value"].iloc[0]
        if len(counts)
        else (dataset.experiments[0] if dataset.experiments else None)
    )
    return options, value


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
    options = quality.version_options(dataset, experiment)
    values = {o["value"] for o in options}
    if current_a in values and current_b in values:
        return options, options, current_a, current_b
    a, b = default_versions(dataset, experiment)
    return options, options, a, b


def render_quality(state_data, dark, mode, experiment, version_a, version_b, dataset=None) -> list:
    theme = "dark" if dark else "light"
    dataset = dataset if dataset is not None else runtime.dataset()
    if dataset is None:
        empty = figures.empty_figure("No data yet", theme=theme)
        return [empty, None, None, empty, "", empty, "", empty, empty, ""]
    state = FilterState.from_dict(state_data)
    selection = select(dataset, state)
    comparison = quality.compare(dataset, state, mode, experiment, version_a, version_b)
    if comparison is None:
        message = (
            "Choose an experiment and two versions"
            if mode == "versions"
            else "Choose a bounded date range to compare with the previous period"
        )
        compare_fig, table, warnings = (
            figures.empty_figure(message, theme=theme, height=260),
            None,
            None,
        )
    else:
        compare_fig = figures_quality.comparison_figure(comparison, theme)
        table = comparison_table(comparison)
        warnings = warnings_alert(comparison.warnings)
    quality_granularity = quality.over_time_granularity(selection)
    over_time = quality.quality_over_time(selection, quality_granularity)
    coverage_time = quality.coverage_over_time(selection)
    coverage_experiment = quality.coverage_by_experiment(selection)
    pairs = quality.cooccurrence(selection)
    sample = quality.sample_warnings(selection)
    annotated = metrics.annotated_count(selection)
    coverage_subtitle = (
        f"{annotated:,} of {selection.n:,} sessions annotated ({metrics.ratio(annotated, selection.n):.1%})"
        if selection.n
        else ""
    )
    if sample:
        coverage_subtitle = [coverage_subtitle, warnings_alert(sample)]
    return [
        compare_fig,
        table,
        warnings,
        figures_quality.quality_over_time_figure(over_time, theme),
        f"Good rate per {quality_granularity}; bands are 95% Wilson intervals — wide bands mean "
        f"few annotated sessions that {quality_granularity}.",
        figures_quality.coverage_time_figure(coverage_time, theme),
        coverage_subtitle,
        figures_quality.coverage_experiment_figure(coverage_experiment, theme),
        figures_quality.cooccurrence_figure(pairs, theme),
        "Lift > 1: the tags appear together more often than by chance. Click a cell to filter "
        "to sessions with both tags.",
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
