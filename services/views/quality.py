"""The Quality tab's view model: every number it shows and exports (one place for both).

:func:`quality_view` holds the version (or period) comparison chosen by the tab's controls and
the tab's charts of the filtered sessions: quality over time, annotation coverage and tag
co-occurrence. The page (``callbacks/quality.py``) and the chart CSVs
(:data:`services.outputs.exports.CHART_EXPORTS`) both read it. Cached like the other views (no
theme in the key, numbers only): the part that depends on the filters alone and the
comparison are cached apart, so changing a version does not recount the rest. The figures are
:func:`services.views.charts.quality.quality_figures`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from services.analytics import metrics, quality
from services.analytics.filters import FilterState
from services.analytics.query import select
from services.store.dataset import Dataset
from services.views.cache import VIEWS
from services.views.scope import Scope, describe, scope_of, view_key, viewer_today

MODES = ("versions", "periods")
"""``versions``: two versions of one experiment; ``periods``: this window against the previous."""


@dataclass(frozen=True)
class Controls:
    """The tab's comparison controls (mode, experiment, versions A and B)."""

    mode: str = "versions"
    experiment: str | None = None
    version_a: str | None = None
    version_b: str | None = None


@dataclass(frozen=True)
class QualityNumbers:
    """The Quality tab's numbers that depend on the filters only."""

    scope: Scope
    granularity: str
    """Bucket of quality over time (:func:`services.analytics.quality.over_time_granularity`)."""
    over_time: pd.DataFrame
    coverage_time: pd.DataFrame
    coverage_experiment: pd.DataFrame
    cooccurrence: pd.DataFrame
    sample_warnings: list[str]
    annotated: int
    description: str


@dataclass(frozen=True)
class QualityView:
    key: tuple
    controls: Controls
    experiment_label: str | None
    """The compared experiment's name (versions mode with an experiment chosen)."""
    comparison: quality.Comparison | None
    """None while the controls are incomplete (or, for periods, the window is unbounded)."""
    numbers: QualityNumbers

    @property
    def scope(self) -> Scope:
        return self.numbers.scope

    @property
    def description(self) -> str:
        return self.numbers.description


def quality_view(
    dataset: Dataset,
    state: FilterState,
    controls: Controls = Controls(),
    today: date | None = None,
) -> QualityView:
    today = viewer_today(state, today)
    base_key = view_key("quality", dataset, state, today)
    numbers = VIEWS.get_or_compute(base_key, lambda: _numbers(dataset, state, today))
    key = (*base_key, controls)
    comparison = VIEWS.get_or_compute(
        ("quality-compare", *key[1:]),
        lambda: quality.compare(
            dataset,
            state,
            controls.mode,
            controls.experiment,
            controls.version_a,
            controls.version_b,
            today=today,
        ),
    )
    label = (
        metrics.label_for(dataset, "experiment", controls.experiment)
        if controls.experiment
        else None
    )
    return QualityView(key, controls, label, comparison, numbers)


def _numbers(dataset: Dataset, state: FilterState, today: date) -> QualityNumbers:
    selection = select(dataset, state, today=today)
    granularity = quality.over_time_granularity(selection)
    return QualityNumbers(
        scope=scope_of(selection),
        granularity=granularity,
        over_time=quality.quality_over_time(selection, granularity),
        coverage_time=quality.coverage_over_time(selection),
        coverage_experiment=quality.coverage_by_experiment(selection),
        cooccurrence=quality.cooccurrence(selection),
        sample_warnings=quality.sample_warnings(selection),
        annotated=metrics.annotated_count(selection),
        description=describe(state, dataset, selection.n),
    )


def experiment_choice(
    dataset: Dataset, state: FilterState, current: str | None
) -> tuple[list[dict], str | None]:
    """(options, value) of the tab's experiment dropdown: the filter's one experiment, else the
    current choice while it exists, else the experiment with the most selected sessions."""
    options = [
        {"label": metrics.label_for(dataset, "experiment", e), "value": e}
        for e in dataset.experiments
    ]
    options.sort(key=lambda o: o["label"].lower())
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


def default_versions(dataset: Dataset, experiment: str | None) -> tuple[str | None, str | None]:
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


def version_choice(
    dataset: Dataset, experiment: str, current_a: str | None, current_b: str | None
) -> tuple[list[dict], str | None, str | None]:
    """(options, A, B) of the version dropdowns: the current pair while both exist, else
    :func:`default_versions`."""
    options = quality.version_options(dataset, experiment)
    values = {o["value"] for o in options}
    if current_a in values and current_b in values:
        return options, current_a, current_b
    return options, *default_versions(dataset, experiment)
