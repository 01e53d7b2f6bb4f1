"""The Overview tab's view model: every number it shows, exports and serves (/api/v1/summary).

Callbacks call :func:`overview` and only turn the result into components; the exports, the
JSON API, tests and the benchmark call it directly. The figures are drawn from it by
:func:`services.views.charts.overview.overview_figures`. Views are cached in
:data:`services.views.cache.VIEWS` keyed by ``(generation, filter state, today)`` — no theme —
so repeated identical requests (two tabs, a link opened by a team, a download) cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from services.analytics import anomalies, metrics
from services.analytics.filters import FilterState, Vocabulary
from services.analytics.query import select, select_previous, sharing_selections
from services.analytics.releases import Releases, release_markers
from services.store.dataset import Dataset
from services.views.cache import VIEWS
from services.views.scope import (
    Scope,
    anomaly_flags,
    describe,
    scope_of,
    view_key,
    viewer_today,
)

RELEASE_MARKERS = 8
"""Release markers the sessions-over-time chart shows at most: the latest ones
(:func:`services.analytics.releases.release_markers`)."""


def vocabulary(dataset: Dataset | None) -> Vocabulary:
    """Known values for URL validation (None → accept anything: no data loaded yet)."""
    if dataset is None:
        return Vocabulary()
    return Vocabulary(
        experiments=frozenset(dataset.experiments),
        teams=frozenset(dataset.teams),
        tags=frozenset(dataset.tag_names),
        platforms=frozenset(dataset.platforms),
        statuses=frozenset(dataset.statuses),
        versions=frozenset(dataset.version_names),
    )


@dataclass(frozen=True)
class OverviewView:
    key: tuple
    """The cache key (figures are cached under it plus the theme)."""
    scope: Scope
    kpis: list[metrics.Kpi]
    over_time: pd.DataFrame
    flags_by_bucket: pd.DataFrame
    """Unusual days per bucket of ``over_time`` (:func:`services.analytics.anomalies.by_bucket`)."""
    releases: Releases
    """The latest release markers of the window (and how many releases are left out)."""
    by_experiment: pd.DataFrame
    by_team: pd.DataFrame
    annotations: pd.DataFrame
    annotated: int
    """Sessions with at least one annotation tag."""
    description: str
    """One line saying what is shown (:func:`services.views.scope.describe`)."""


@sharing_selections
def overview(dataset: Dataset, state: FilterState, today: date | None = None) -> OverviewView:
    today = viewer_today(state, today)
    key = view_key("overview", dataset, state, today)
    return VIEWS.get_or_compute(key, lambda: _compute(key, dataset, state, today))


def _compute(key: tuple, dataset: Dataset, state: FilterState, today: date) -> OverviewView:
    selection = select(dataset, state, today=today)
    previous = select_previous(dataset, selection)
    if selection.n:
        flags = anomalies.by_bucket(anomaly_flags(selection, today), selection.granularity)
    else:
        flags = pd.DataFrame()
    spans = metrics.bucket_spans(selection)
    return OverviewView(
        key=key,
        scope=scope_of(selection),
        kpis=metrics.kpis(selection, previous),
        over_time=metrics.with_spans(metrics.sessions_over_time(selection), spans),
        flags_by_bucket=flags,
        releases=release_markers(dataset, selection, limit=RELEASE_MARKERS),
        by_experiment=metrics.sessions_by(selection, "experiment"),
        by_team=metrics.sessions_by(selection, "team"),
        annotations=metrics.annotation_breakdown(selection),
        annotated=metrics.annotated_count(selection),
        description=describe(state, dataset, selection.n),
    )
