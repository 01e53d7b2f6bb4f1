"""Quality tab: version comparison, quality over time, coverage, co-occurrence.

Wiring only: the numbers are :func:`services.views.quality.quality_view` (the chart CSVs read
the same view), the figures :func:`services.views.charts.quality.quality_figures`, the text
:mod:`layouts.quality`. Computed only while the tab is open, so filter changes elsewhere stay
fast.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from dash import Input, Output, State, callback, ctx, no_update

from callbacks.graph_size import heights, with_heights
from layouts import ids
from layouts.quality import (
    comparison_parts,
    cooccurrence_subtitle,
    coverage_subtitle,
    quality_subtitle,
    warnings_alert,
)
from services import runtime
from services.analytics.filters import COMPARE_KEYS, FilterState, comparison_params
from services.views.charts import base as figures
from services.views.charts.quality import quality_figures
from services.views.quality import MODES, Controls, quality_view, resolve_comparison

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


COMPARE_CONTROLS = [ids.Q_MODE, ids.Q_EXPERIMENT, ids.Q_VERSION_A, ids.Q_VERSION_B]


def comparison_outputs(choices) -> list:
    """Options, values and visibility of the comparison controls for resolved ``choices``."""
    periods = choices.mode == "periods"
    return [
        choices.mode,
        choices.experiment_options,
        choices.experiment,
        choices.version_options,
        choices.version_options,
        choices.version_a,
        choices.version_b,
        {"display": "none"} if periods else {},
        periods,
        periods,
        periods,
    ]


def chosen_state(state: FilterState, trigger: str | None, values: list) -> FilterState:
    """``state`` with the comparison a person just chose in a control: a new mode; a new
    experiment (its versions back to the defaults); a version (the shown experiment and the
    other version kept with it, so a link names the whole pair)."""
    mode, experiment, version_a, version_b = values
    if trigger == ids.Q_MODE:
        return state.with_changes(compare=mode if mode in MODES else "versions")
    if trigger == ids.Q_EXPERIMENT:
        return state.with_changes(compare_experiment=experiment, compare_a=None, compare_b=None)
    if trigger in (ids.Q_VERSION_A, ids.Q_VERSION_B):
        return state.with_changes(
            compare_experiment=experiment, compare_a=version_a, compare_b=version_b
        )
    return state


def settled_state(state: FilterState, choices) -> FilterState:
    """``state`` without choices the selection replaced by defaults, so its link names only
    choices that are shown (and the same link always gives the same view)."""
    return state.with_changes(
        compare=choices.mode,
        compare_experiment=state.compare_experiment
        if state.compare_experiment == choices.experiment
        else None,
        compare_a=state.compare_a if state.compare_a == choices.version_a else None,
        compare_b=state.compare_b if state.compare_b == choices.version_b else None,
    )


def with_comparison_query(search: str | None, state: FilterState) -> str:
    """``search`` with its comparison keys replaced by ``state``'s (other keys kept as they
    are, in their order)."""
    kept = [
        (k, v)
        for k, v in parse_qsl((search or "").lstrip("?"), keep_blank_values=True)
        if k not in COMPARE_KEYS
    ]
    params = kept + comparison_params(state)
    return "?" + urlencode(params, safe=",:/") if params else ""


@callback(
    Output(ids.Q_MODE, "value"),
    Output(ids.Q_EXPERIMENT, "options"),
    Output(ids.Q_EXPERIMENT, "value"),
    Output(ids.Q_VERSION_A, "options"),
    Output(ids.Q_VERSION_B, "options"),
    Output(ids.Q_VERSION_A, "value"),
    Output(ids.Q_VERSION_B, "value"),
    Output(ids.Q_VERSION_PICKERS, "style"),
    Output(ids.Q_EXPERIMENT, "disabled"),
    Output(ids.Q_VERSION_A, "disabled"),
    Output(ids.Q_VERSION_B, "disabled"),
    Output(ids.URL, "search", allow_duplicate=True),
    Input(ids.FILTER_STATE, "data"),
    Input(ids.DATA_GENERATION, "data"),
    [Input(i, "value") for i in COMPARE_CONTROLS],
    State(ids.URL, "search"),
    prevent_initial_call="initial_duplicate",
)
def comparison_controls(state_data, _generation, *values_and_search):
    """The comparison controls follow the filter state (the URL's ``compare*`` keys and the
    selection, :func:`services.views.quality.resolve_comparison`); a choice made in them goes
    into the URL, from which :func:`callbacks.filters.sync_filters` writes the state."""
    *values, search = values_and_search
    dataset = runtime.dataset()
    state = FilterState.from_dict(state_data)
    if dataset is None:
        return [no_update] * 12
    trigger = ctx.triggered_id
    chosen = chosen_state(state, trigger, values) if trigger in COMPARE_CONTROLS else state
    choices = resolve_comparison(dataset, chosen)
    settled = settled_state(chosen, choices)
    shown = [(k, v) for k, v in parse_qsl((search or "").lstrip("?")) if k in COMPARE_KEYS]
    query = no_update  # the first paint never rewrites the link, nor does a link that fits
    if trigger is not None and shown != comparison_params(settled):
        query = with_comparison_query(search, settled)
    return [*comparison_outputs(choices), query]


def render_quality(
    state_data, dark, mode=None, experiment=None, version_a=None, version_b=None, dataset=None
) -> list:
    """The tab's outputs. With ``mode`` None the comparison is the one the state resolves to
    (what the page shows); otherwise the given controls."""
    theme = "dark" if dark else "light"
    dataset = dataset if dataset is not None else runtime.dataset()
    if dataset is None:
        empty = figures.empty_figure("No data yet", theme=theme)
        return [empty, None, None, empty, "", empty, "", empty, empty, ""]
    controls = None if mode is None else Controls(mode, experiment, version_a, version_b)
    view = quality_view(dataset, FilterState.from_dict(state_data), controls)
    figs = quality_figures(view, theme)
    table, warnings = comparison_parts(view.comparison)
    if view.comparison is None and view.note and view.controls.mode == "versions":
        warnings = warnings_alert([view.note])
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
        cooccurrence_subtitle(view.numbers.annotated),
    ]


@callback(
    with_heights(QUALITY_OUTPUTS),
    Input(ids.FILTER_STATE, "data"),
    Input(ids.THEME_SWITCH, "value"),
    Input(ids.DATA_GENERATION, "data"),
    Input(ids.TABS, "active_tab"),
)
def update_quality(state_data, dark, _generation, tab):
    if tab != ids.TAB_QUALITY:
        return [no_update] * len(with_heights(QUALITY_OUTPUTS))
    values = render_quality(state_data, bool(dark))
    return values + heights(QUALITY_OUTPUTS, values)
