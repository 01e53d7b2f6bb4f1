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
from services.analytics.query import select, sharing_selections
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
    note: str | None = None
    """Why the comparison is empty when the defaults found no pair (:class:`ComparisonChoices`)."""

    @property
    def scope(self) -> Scope:
        return self.numbers.scope

    @property
    def description(self) -> str:
        return self.numbers.description


@sharing_selections
def quality_view(
    dataset: Dataset,
    state: FilterState,
    controls: Controls | None = None,
    today: date | None = None,
) -> QualityView:
    """The tab's view; ``controls`` None = the comparison the state resolves to
    (:func:`resolve_comparison`), as the page shows it."""
    today = viewer_today(state, today)
    note = None
    if controls is None:
        choices = resolve_comparison(dataset, state, today)
        controls, note = choices.controls, choices.note
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
    return QualityView(key, controls, label, comparison, numbers, note)


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


# ---- the comparison's choices ----------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonChoices:
    """What the comparison controls show for a filter state: options with session counts and
    the chosen values (the state's choices where they fit the selection, else the defaults)."""

    mode: str
    experiment_options: list[dict]
    experiment: str | None
    version_options: list[dict]
    version_a: str | None
    version_b: str | None
    note: str | None = None
    """Why no default pair could be chosen (e.g. only one version has sessions)."""

    @property
    def controls(self) -> Controls:
        return Controls(self.mode, self.experiment, self.version_a, self.version_b)


def _counts(dataset: Dataset, state: FilterState, today: date) -> tuple[pd.DataFrame, dict]:
    """(version counts, experiment → sessions) of the selection with the version filter left
    out (a comparison ignores it), cached like a view."""
    base = state.with_changes(versions=())

    def count():
        selection = select(dataset, base, today=today)
        by_experiment = metrics.sessions_by(selection, "experiment")
        sessions = dict(zip(by_experiment["value"], by_experiment["sessions"], strict=True))
        return quality.version_session_counts(selection), sessions

    return VIEWS.get_or_compute(view_key("quality-versions", dataset, base, today), count)


def _sessions_label(count: int) -> str:
    return f"{count:,} session{'' if count == 1 else 's'}"


def resolve_comparison(
    dataset: Dataset, state: FilterState, today: date | None = None
) -> ComparisonChoices:
    """The comparison for ``state``: a function of the state and the data only, so one URL
    always gives one view.

    * Experiments offered: those with sessions in the selection (the page's filters without
      its version filter), each with its session count.
    * The experiment: the state's ``compare_experiment`` if it is offered; else the one with
      the most selected sessions among those whose sessions used at least two released
      versions, else the one with the most sessions (ties: by name, then id).
    * Versions offered: those the experiment's selected sessions used, counting the sessions
      that talked to exactly that version (the ones a comparison counts).
    * A and B: the state's ``compare_a``/``compare_b`` where offered with sessions; the others
      from the newest released versions with sessions (B the newest, A the one before), so a
      default never names a version with no sessions in the window.
    """
    today = viewer_today(state, today)
    mode = state.compare if state.compare in MODES else "versions"
    counts, per_experiment = _counts(dataset, state, today)
    names = {e: metrics.label_for(dataset, "experiment", e) for e in per_experiment}
    offered = sorted(per_experiment, key=lambda e: (names[e].lower(), e))
    experiment_options = [
        {"label": f"{names[e]} · {_sessions_label(int(per_experiment[e]))}", "value": e}
        for e in offered
    ]
    experiment = state.compare_experiment if state.compare_experiment in per_experiment else None
    if experiment is None and offered:
        released = counts[(counts["single"] > 0) & counts["version"].map(quality.is_released)]
        comparable = set(released.groupby("experiment").size().loc[lambda n: n >= 2].index)
        pool = [e for e in offered if e in comparable] or offered
        experiment = min(pool, key=lambda e: (-int(per_experiment[e]), names[e].lower(), e))
    if experiment is None:
        return ComparisonChoices(mode, experiment_options, None, [], None, None)
    rows = counts[counts["experiment"] == experiment]
    described = _descriptions(dataset, experiment)
    version_options = []
    usable = []
    for row in rows.itertuples():
        description, default = described.get(row.version, ("", False))
        text = row.version + (f" — {description}" if description else "")
        text += " (default)" if default else ""
        text += f" · {_sessions_label(int(row.single))}"
        version_options.append(
            {"label": text, "value": row.version, "disabled": bool(row.single == 0)}
        )
        if row.single > 0:
            usable.append(row.version)
    a = state.compare_a if state.compare_a in usable else None
    b = state.compare_b if state.compare_b in usable else None
    if state.compare_experiment and state.compare_experiment != experiment:
        a = b = None  # versions chosen for another experiment do not carry over
    newest = list(reversed(usable))
    candidates = [v for v in newest if quality.is_released(v)]
    candidates += [v for v in newest if not quality.is_released(v)]
    candidates = [v for v in candidates if v not in (a, b)]
    if b is None and candidates:
        b = candidates.pop(0)
    if a is None and candidates:
        a = candidates.pop(0)
    note = None
    if a is None or b is None:
        a = b = None
        note = (
            f"Only one version of {names[experiment]} has sessions in this selection "
            f"({', '.join(usable) or 'none'}): widen the date range to compare two versions."
        )
    return ComparisonChoices(mode, experiment_options, experiment, version_options, a, b, note)


def _descriptions(dataset: Dataset, experiment: str) -> dict[str, tuple[str, bool]]:
    table = dataset.versions_table
    rows = table[table["experiment_id"] == experiment]
    return {
        f"v{row.version_number}": (row.description or "", bool(row.is_default))
        for row in rows.itertuples()
    }


# ---- the filter bar's version picker ---------------------------------------------------------


@dataclass(frozen=True)
class VersionPicker:
    """The filter bar's version dropdown: options with session counts and the one-click
    choice of each experiment's latest released version."""

    options: list[dict]
    latest: list[str]
    """The latest released version of each experiment in scope (sorted, no repeats)."""
    latest_note: str
    """Which version each experiment contributed, and a caveat when a label is shared."""


def version_picker(
    dataset: Dataset, state: FilterState, today: date | None = None
) -> VersionPicker:
    """Options = every version label the experiments in scope have (all versions when no
    experiment is chosen), each with the sessions of the current selection — the page's
    filters and date range, its version filter left out — that used it.

    Experiments in scope: the chosen ones, else those with sessions in the selection. Their
    latest released version is the highest ``vN`` in the versions table or in their sessions.
    Version labels are shared across experiments (``v3`` of one bot and of another are one
    filter value), so the note says when a latest label is also an older version of another
    experiment in scope: that experiment's sessions on it match too.
    """
    today = viewer_today(state, today)
    counts, per_experiment = _counts(dataset, state, today)
    scope = list(state.experiments) or sorted(per_experiment)
    known = _known_versions(dataset)
    if state.experiments:
        labels = {v for e in scope for v in known.get(e, ())}
        counts = counts[counts["experiment"].isin(scope)]
    else:
        labels = set(dataset.version_names) | {v for vs in known.values() for v in vs}
    used = counts.groupby("version")["sessions"].sum().to_dict()
    labels |= set(state.versions)
    single = scope[0] if len(scope) == 1 and state.experiments else None
    described = _descriptions(dataset, single) if single else {}
    options = []
    for label in sorted(labels, key=quality.version_key):
        description, default = described.get(label, ("", False))
        text = label + (f" — {description}" if description else "")
        text += " (default)" if default else ""
        text += f" · {_sessions_label(int(used.get(label, 0)))}"
        options.append({"label": text, "value": label})
    latest_of = {}
    for experiment in scope:
        released = [v for v in known.get(experiment, ()) if quality.is_released(v)]
        if released:
            latest_of[experiment] = max(released, key=quality.version_key)
    latest = sorted(set(latest_of.values()), key=quality.version_key)
    parts = [
        f"{metrics.label_for(dataset, 'experiment', e)} {v}" for e, v in sorted(latest_of.items())
    ]
    shared = sorted(
        {
            v
            for e, v in latest_of.items()
            for other in latest_of
            if other != e and v in known.get(other, ()) and latest_of[other] != v
        },
        key=quality.version_key,
    )
    note = "Latest released: " + (", ".join(parts) if parts else "none") + "."
    if shared:
        note += (
            f" {', '.join(shared)} {'is' if len(shared) == 1 else 'are'} also an older "
            "version of another experiment here (its sessions on it match too): "
            "choose one experiment to see only its latest."
        )
    return VersionPicker(options, latest, note)


def _known_versions(dataset: Dataset) -> dict[str, set[str]]:
    """Experiment → every version label it has (versions table and sessions' AI messages)."""
    known: dict[str, set[str]] = {}
    table = dataset.versions_table
    for row in table.itertuples():
        known.setdefault(row.experiment_id, set()).add(f"v{row.version_number}")
    for code, label in quality.versions_seen(dataset):
        known.setdefault(dataset.experiments[code], set()).add(label)
    return known


def default_versions(dataset: Dataset, experiment: str | None) -> tuple[str | None, str | None]:
    """The two newest released versions any of the experiment's sessions used (A older,
    B newer), whatever the filters; the page uses :func:`resolve_comparison`, which looks at
    the selection."""
    labels = sorted(
        (
            label
            for code, label in quality.versions_seen(dataset)
            if dataset.experiments[code] == experiment and quality.is_released(label)
        ),
        key=quality.version_key,
    )
    if len(labels) >= 2:
        return labels[-2], labels[-1]
    if labels:
        return labels[0], labels[0]
    return None, None
