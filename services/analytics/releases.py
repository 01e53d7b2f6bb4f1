"""Release markers of the sessions-over-time chart: when each chatbot version was first used.

A version's **release day** is the calendar day (in the view's time zone) of the first session,
over all time, in which the experiment's AI messages carried that version tag (``vN``; drafts,
``vN-unreleased``, are never marked). Only experiments present in the selection count, and only
releases inside the selection's window.

A version first seen on the first day of the data is not marked: it was in use before the data
begins, so that day is not its release.

Releases close together share one marker so their labels never pile up: walking from the
newest, a release joins the marker of the next newer one when it is less than
:func:`merge_gap_days` days before it (1 day in windows up to two months, so only same-day
releases merge there; about 9 days in a 365-day view). The chart then keeps the **latest**
markers (``limit``): a long window shows what changed recently, not the oldest releases.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.analytics.filters import local_days
from services.analytics.metrics import label_for, window_days
from services.analytics.query import Selection
from services.store.dataset import Dataset

MARKER_COLUMNS = ["day", "last_day", "releases", "label", "detail"]
"""Columns of :attr:`Releases.markers`."""
GAPS_PER_WINDOW = 40
"""Markers closer than 1/40 of the window merge (a 1,200 px chart: ~30 px apart at least)."""

_lock = threading.Lock()


@dataclass(frozen=True)
class Releases:
    markers: pd.DataFrame
    """The markers shown, oldest first (columns :data:`MARKER_COLUMNS`): ``day`` the first
    release day of the marker, ``last_day`` its last, ``releases`` how many versions it
    holds, ``label`` the short text on the chart, ``detail`` one line per release."""
    total_releases: int
    """Releases in the window (all markers, also those beyond ``limit``)."""
    total_markers: int
    """Markers before keeping the latest ``limit``."""

    @property
    def hidden_releases(self) -> int:
        """Releases in the window whose marker was left out (older than the latest ``limit``)."""
        shown = int(self.markers["releases"].sum()) if not self.markers.empty else 0
        return self.total_releases - shown


def merge_gap_days(span_days: int) -> int:
    """Releases fewer than this many days apart share a marker: 1 (same day only) up to 2
    months, then 1/:data:`GAPS_PER_WINDOW` of the window (9 days for 365 days)."""
    return max(1, math.ceil(span_days / GAPS_PER_WINDOW)) if span_days > 62 else 1


def first_seen(dataset: Dataset) -> dict[tuple[int, str], int]:
    """(experiment code, version label) → epoch ns of its first session, over all time
    (drafts included; cached on the dataset itself, so a new dataset never sees another's)."""
    with _lock:
        cached = dataset._derived.get("release_first_seen")
    if cached is not None:
        return cached
    found: dict[tuple[int, str], int] = {}
    for index, label in enumerate(dataset.version_names):
        rows = np.nonzero(dataset.version_matrix[index])[0]
        if rows.size == 0:
            continue
        codes = dataset.experiment_codes[rows]
        unique, first = np.unique(codes, return_index=True)  # rows are time-sorted
        for code, pos in zip(unique, first, strict=True):
            found[(int(code), label)] = int(dataset.created_ns[rows[pos]])
    with _lock:
        dataset._derived["release_first_seen"] = found
    return found


def group_releases(releases: list[tuple], gap: int, limit: int) -> tuple[list[list[tuple]], int]:
    """Releases ``(day, …)`` sorted by day → (the latest ``limit`` markers, oldest first, each
    a list of releases oldest first; the number of markers before the cut).

    Walking from the newest, a release joins the current marker when it is fewer than ``gap``
    days before the marker's oldest release: within a marker each release is less than ``gap``
    days from the next, and markers are at least ``gap`` days apart."""
    groups: list[list[tuple]] = []
    for release in reversed(releases):  # newest first: recent releases keep their own marker
        if groups and groups[-1][-1][0] - release[0] < gap:
            groups[-1].append(release)
        else:
            groups.append([release])
    kept = [list(reversed(g)) for g in reversed(groups[: max(limit, 0)])]
    return kept, len(groups)


def _version_number(label: str) -> int:
    digits = label.lstrip("v").split("-")[0]
    return int(digits) if digits.isdigit() else 0


def release_markers(dataset: Dataset, selection: Selection, limit: int = 8) -> Releases:
    """The latest ``limit`` release markers of the selection's window (see the module doc)."""
    empty = Releases(pd.DataFrame(columns=MARKER_COLUMNS), 0, 0)
    span = window_days(selection)
    if not dataset.version_names or selection.n == 0 or span is None:
        return empty
    tz = selection.state.tz
    first_day, last_day = span
    data_first_day = int(local_days(np.array([dataset.data_start_ns]), tz)[0])
    present = set(np.flatnonzero(np.bincount(selection.column("experiment_codes"))).tolist())
    rows = []
    for (code, version), moment in first_seen(dataset).items():
        if code not in present or version.endswith("-unreleased"):
            continue
        if selection.start_ns is not None and moment < selection.start_ns:
            continue
        if selection.end_ns is not None and moment >= selection.end_ns:
            continue
        rows.append((moment, code, version))
    if not rows:
        return empty
    moments = np.array([r[0] for r in rows], dtype=np.int64)
    days = local_days(moments, tz)
    keep = (days != data_first_day) & (days >= first_day) & (days <= last_day)
    releases = sorted(
        (
            (int(day), label_for(dataset, "experiment", dataset.experiments[code]), version)
            for (_, code, version), day, kept in zip(rows, days, keep, strict=True)
            if kept
        ),
        key=lambda r: (r[0], r[1], _version_number(r[2])),
    )
    if not releases:
        return empty
    groups, total_markers = group_releases(
        releases, merge_gap_days(last_day - first_day + 1), limit
    )
    many_experiments = len(present) > 1
    markers = []
    for group in groups:
        if len(group) == 1:
            _, experiment, version = group[0]
            label = f"{version} · {experiment}" if many_experiments else version
        else:
            label = f"{len(group)} releases"
        detail = [
            f"{pd.Timestamp(day, unit='D'):%d %b}: {version} · {experiment}"
            for day, experiment, version in group
        ]
        markers.append(
            (
                pd.Timestamp(group[0][0], unit="D"),
                pd.Timestamp(group[-1][0], unit="D"),
                len(group),
                label,
                "\n".join(detail),
            )
        )
    return Releases(pd.DataFrame(markers, columns=MARKER_COLUMNS), len(releases), total_markers)
