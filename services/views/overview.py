"""View models: everything one view shows, computed from one selection.

Callbacks call these and only turn the result into components; tests, the benchmark and the
JSON API call them directly. Results are cached per process keyed by
``(generation, filter state, theme, today)`` so repeated identical requests (two tabs, the
same link opened by a team) cost nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import pandas as pd

from services.analytics import anomalies, metrics, quality
from services.analytics.filters import RANGE_LABELS, UNTAGGED, FilterState, Vocabulary, today_in
from services.analytics.query import Selection, select, select_previous
from services.store.dataset import Dataset
from services.views.charts import base as figures
from services.views.charts import quality as figures_quality


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


@dataclass
class OverviewView:
    selection: Selection
    kpis: list[metrics.Kpi]
    over_time: pd.DataFrame
    by_experiment: pd.DataFrame
    by_team: pd.DataFrame
    annotations: pd.DataFrame
    figures: dict
    summary: str
    time_subtitle: str
    annotation_subtitle: str


class _LRU:
    def __init__(self, size: int = 64):
        self.size = size
        self.data: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


_overview_cache = _LRU()


def describe(state: FilterState, dataset: Dataset, selection: Selection) -> str:
    """One line saying what is shown, e.g. "Last 30 days · 2 experiments · tags: safe (all)"."""
    parts = []
    if state.range == "custom":
        start = state.start.isoformat() if state.start else "first session"
        end = state.end.isoformat() if state.end else "today"
        parts.append(f"{start} → {end}")
    else:
        parts.append(RANGE_LABELS[state.range])
    if state.experiments:
        names = [metrics.label_for(dataset, "experiment", e) for e in state.experiments]
        parts.append(names[0] if len(names) == 1 else f"{len(names)} experiments")
    if state.teams:
        names = [dataset.team_names.get(t, t) for t in state.teams]
        parts.append(names[0] if len(names) == 1 else f"{len(names)} teams")
    if state.tags:
        shown = ["(untagged)" if t == UNTAGGED else t for t in state.tags]
        parts.append(
            f"tags: {', '.join(shown)}" + (f" ({state.tag_mode})" if len(shown) > 1 else "")
        )
    parts.append(
        f"platform: {', '.join(state.platforms)}"
        if state.platforms
        else "all platforms but evaluations"
    )
    parts.append(
        f"status: {', '.join(state.statuses)}" if state.statuses else "all statuses but setup"
    )
    if state.versions:
        parts.append(f"versions: {', '.join(state.versions)}")
    return f"{selection.n:,} sessions · " + " · ".join(parts)


def overview(
    dataset: Dataset, state: FilterState, theme: str = "light", today: date | None = None
) -> OverviewView:
    today = today or today_in(state.tz)  # "last 7 days" ends today where the viewer is
    key = (dataset.generation, id(dataset), state, theme, today)
    cached = _overview_cache.get(key)
    if cached is not None:
        return cached
    selection = select(dataset, state, today=today)
    previous = select_previous(dataset, selection)
    kpis = metrics.kpis(selection, previous)
    over_time = metrics.sessions_over_time(selection)
    by_experiment = metrics.sessions_by(selection, "experiment")
    by_team = metrics.sessions_by(selection, "team")
    annotations = metrics.annotation_breakdown(selection)
    if selection.n == 0:
        figs = {
            "time": figures.empty_figure(theme=theme),
            "experiment": figures.empty_figure(theme=theme),
            "team": figures.empty_figure(theme=theme),
            "annotations": figures.empty_figure(theme=theme),
        }
    else:
        figs = {
            "time": figures_quality.add_release_markers(
                figures.sessions_over_time_figure(
                    over_time,
                    selection.granularity,
                    theme,
                    anomalies.by_bucket(
                        anomalies.anomalies(selection, today), selection.granularity
                    ),
                ),
                quality.release_markers(dataset, selection, limit=8),
            ),
            "experiment": figures.breakdown_figure(by_experiment, theme),
            "team": figures.breakdown_figure(by_team, theme),
            "annotations": figures.annotation_figure(annotations, theme),
        }
    annotated = metrics.annotated_count(selection)
    view = OverviewView(
        selection=selection,
        kpis=kpis,
        over_time=over_time,
        by_experiment=by_experiment,
        by_team=by_team,
        annotations=annotations,
        figures=figs,
        summary=describe(state, dataset, selection),
        time_subtitle=f"Sessions started per {selection.granularity} ({state.tz})",
        annotation_subtitle=(
            f"{annotated:,} of {selection.n:,} sessions annotated"
            f" ({metrics.ratio(annotated, selection.n):.1%})"
            if selection.n
            else ""
        ),
    )
    _overview_cache.put(key, view)
    return view
