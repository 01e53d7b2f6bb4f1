"""What every view model says about the sessions it counts: :class:`Scope` and :func:`describe`.

A view model keeps this small record instead of the
:class:`~services.analytics.query.Selection` it was computed from, so a cached view holds
numbers only (the selection's masks and column copies are per-session arrays).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from services.analytics import anomalies, metrics
from services.analytics.filters import RANGE_LABELS, UNTAGGED, FilterState, today_in
from services.analytics.query import Selection
from services.store.dataset import Dataset
from services.views.cache import VIEWS


@dataclass(frozen=True)
class Scope:
    """The selection behind a view, as numbers: sessions, half-open window ``[start_ns,
    end_ns)`` (None = unbounded), bucket granularity and the viewer's time zone."""

    n: int
    start_ns: int | None
    end_ns: int | None
    granularity: str
    tz: str


def scope_of(selection: Selection) -> Scope:
    return Scope(
        n=selection.n,
        start_ns=selection.start_ns,
        end_ns=selection.end_ns,
        granularity=selection.granularity,
        tz=selection.state.tz,
    )


def view_key(tab: str, dataset: Dataset, state: FilterState, today: date, *extra) -> tuple:
    """The cache key of a tab's view model: data generation, dataset, filters, the viewer's
    day and the tab's own inputs — never the theme."""
    return (tab, dataset.generation, id(dataset), state, today, *extra)


def anomaly_flags(selection: Selection, today: date) -> pd.DataFrame:
    """The selection's unusual days (:func:`services.analytics.anomalies.anomalies`), computed
    once per filter set and shared by the Overview and Engagement views (a date change renders
    both: the Overview even while hidden)."""
    key = view_key("anomalies", selection.dataset, selection.state, today)
    return VIEWS.get_or_compute(key, lambda: anomalies.anomalies(selection, today))


def viewer_today(state: FilterState, today: date | None) -> date:
    """``today`` or the day it is where the viewer is ("last 7 days" ends there)."""
    return today or today_in(state.tz)


def describe(state: FilterState, dataset: Dataset, n: int) -> str:
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
    return f"{n:,} sessions · " + " · ".join(parts)
