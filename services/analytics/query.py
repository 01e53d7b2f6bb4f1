"""Apply a :class:`~services.analytics.filters.FilterState` to a :class:`~services.store.dataset.Dataset`.

The result is a :class:`Selection`: a row slice ``[lo, hi)`` of the time-sorted data plus an
optional boolean mask over that slice. Metrics read columns through it, so no filtered copy of
the table is ever made.

Filter semantics (documented in the README, "Filters"):

* date window on ``created_at`` (session started), half-open;
* experiments, teams, platforms, statuses: OR within a filter, AND across filters;
* platform ``evaluations`` and status ``setup`` are excluded unless explicitly chosen (as OCS does);
* tags: ``any`` = at least one chosen tag, ``all`` = every chosen tag; ``__untagged__`` matches
  sessions with no session tag;
* versions: sessions whose AI messages used any chosen version label.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from services.analytics.filters import (
    DEFAULT_EXCLUDED_PLATFORMS,
    DEFAULT_EXCLUDED_STATUSES,
    NS_PER_DAY,
    UNTAGGED,
    FilterState,
    auto_granularity,
    local_days,
    previous_window,
    window,
)
from services.store.dataset import Dataset


@dataclass
class Selection:
    dataset: Dataset
    lo: int
    hi: int
    mask: np.ndarray | None
    start_ns: int | None
    end_ns: int | None
    granularity: str
    state: FilterState
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        if "n" not in self._cache:
            self._cache["n"] = (
                int(self.mask.sum()) if self.mask is not None else max(self.hi - self.lo, 0)
            )
        return self._cache["n"]

    def column(self, name: str) -> np.ndarray:
        """The selected rows of a per-session array of the dataset (cached)."""
        if name not in self._cache:
            if name == "day" and self.state.tz != "UTC":
                # calendar days in the viewer's time zone
                self._cache[name] = local_days(self.column("created_ns"), self.state.tz)
                return self._cache[name]
            self._cache[name] = self.rows_of(getattr(self.dataset, name))
        return self._cache[name]

    @property
    def index(self) -> np.ndarray | None:
        """Offsets (from ``lo``) of the selected rows, or None without a mask (cached): a
        gather by index is about twice as fast as the boolean mask for every column read."""
        if self.mask is None:
            return None
        if "_index" not in self._cache:
            self._cache["_index"] = np.flatnonzero(self.mask)
        return self._cache["_index"]

    def matrix_rows(self, matrix_name: str, rows: list[int]) -> np.ndarray:
        """Selected columns of a [label, row] matrix, for the given label rows (each label
        row's selected part is cached: views ask for the same tags and versions repeatedly)."""
        matrix = getattr(self.dataset, matrix_name)
        if not rows:
            return np.zeros((0, self.n), dtype=matrix.dtype)
        return np.stack([self._matrix_row(matrix_name, matrix, r) for r in rows])

    def _matrix_row(self, matrix_name: str, matrix: np.ndarray, row: int) -> np.ndarray:
        key = ("matrix", matrix_name, row)
        if key not in self._cache:
            self._cache[key] = self.rows_of(matrix[row])
        return self._cache[key]

    def rows_of(self, array: np.ndarray) -> np.ndarray:
        """The selected rows of any per-session array aligned with the dataset (not cached)."""
        part = array[self.lo : self.hi]
        index = self.index
        return part.take(index) if index is not None else part

    def tag(self, name: str) -> np.ndarray:
        key = ("tag", name)
        if key not in self._cache:
            index = self.dataset.tag_index.get(name)
            if index is None:
                self._cache[key] = np.zeros(self.n, dtype=bool)
            else:
                self._cache[key] = self.matrix_rows("tag_matrix", [index])[0]
        return self._cache[key]

    def positions(self) -> np.ndarray:
        """Absolute row positions of the selected sessions (ascending by created_at)."""
        base = np.arange(self.lo, self.hi, dtype=np.int64)
        return base[self.mask] if self.mask is not None else base


def _allowed(
    labels: list[str], chosen: tuple[str, ...], excluded_by_default=()
) -> np.ndarray | None:
    """Lookup table code → allowed, or None when the filter lets everything through."""
    if chosen:
        wanted = set(chosen)
        return np.array([label in wanted for label in labels], dtype=bool)
    if any(label in excluded_by_default for label in labels):
        return np.array([label not in excluded_by_default for label in labels], dtype=bool)
    return None


def _bounds(dataset: Dataset, start: int | None, end: int | None) -> tuple[int, int]:
    lo = 0 if start is None else int(np.searchsorted(dataset.created_ns, start, side="left"))
    hi = dataset.n if end is None else int(np.searchsorted(dataset.created_ns, end, side="left"))
    return lo, max(hi, lo)


_shared = threading.local()


@contextmanager
def shared_selections():
    """Within this block (one view's computation, on one thread) equal selections are built
    once: every :func:`select` of the same dataset, filters and window returns the same
    :class:`Selection`, so its masks and column copies are made once for all the metrics that
    read them. Nothing outlives the outermost block: this is not a cache across requests."""
    outer = getattr(_shared, "selections", None)
    if outer is None:
        _shared.selections = {}
    try:
        yield
    finally:
        if outer is None:
            _shared.selections = None


def sharing_selections(function):
    """Decorator: run ``function`` inside :func:`shared_selections` (the views' entry points)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with shared_selections():
            return function(*args, **kwargs)

    return wrapper


def select(
    dataset: Dataset,
    state: FilterState,
    today: date | None = None,
    window_override: tuple[int | None, int | None] | None = None,
) -> Selection:
    """Filter ``dataset`` by ``state``. ``window_override`` replaces the date window."""
    start, end = window_override if window_override is not None else window(state, today)
    shared = getattr(_shared, "selections", None)
    if shared is None:
        return _select(dataset, state, start, end)
    key = (id(dataset), dataset.generation, state, start, end)
    found = shared.get(key)
    if found is None or found.dataset is not dataset:
        found = shared[key] = _select(dataset, state, start, end)
    return found


FILTER_MASKS = 4
"""Filter sets (without their dates) whose mask over every session is kept per dataset: a bool
per session (1 MB at 1M sessions) each, least recently used out."""
_masks_lock = threading.Lock()


def _select(dataset: Dataset, state: FilterState, start: int | None, end: int | None) -> Selection:
    lo, hi = _bounds(dataset, start, end)
    whole = _filter_mask(dataset, state)
    mask = None if whole is None else whole[lo:hi]
    return Selection(
        dataset, lo, hi, mask, start, end, _granularity(dataset, state, start, end), state
    )


def _filter_mask(dataset: Dataset, state: FilterState) -> np.ndarray | None:
    """Which sessions (all rows) pass every filter of ``state`` but its dates, None when all
    do; built once per filter set and dataset (a date change — the common interaction —
    slices it instead of testing every selected row again), read-only."""
    key = state.with_changes(range="all", start=None, end=None)
    with _masks_lock:
        cache = dataset._derived.setdefault("filter_masks", OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    mask = _rows_mask(dataset, state, 0, dataset.n)
    if mask is not None:
        mask.flags.writeable = False
    with _masks_lock:
        cache[key] = mask
        cache.move_to_end(key)
        while len(cache) > FILTER_MASKS:
            cache.popitem(last=False)
    return mask


def _rows_mask(dataset: Dataset, state: FilterState, lo: int, hi: int) -> np.ndarray | None:
    """The filters but the dates over rows ``[lo, hi)`` (None: every row passes)."""
    mask: np.ndarray | None = None

    def combine(part: np.ndarray) -> None:
        nonlocal mask
        mask = part if mask is None else (mask & part)

    for codes_name, labels, chosen, default in (
        ("team_codes", dataset.teams, state.teams, ()),
        ("experiment_codes", dataset.experiments, state.experiments, ()),
        ("platform_codes", dataset.platforms, state.platforms, DEFAULT_EXCLUDED_PLATFORMS),
        ("status_codes", dataset.statuses, state.statuses, DEFAULT_EXCLUDED_STATUSES),
    ):
        allowed = _allowed(labels, chosen, default)
        if allowed is not None:
            combine(allowed[getattr(dataset, codes_name)[lo:hi]])

    if state.tags:
        parts = []
        for tag in state.tags:
            if tag == UNTAGGED:
                parts.append(dataset.untagged[lo:hi])
            elif tag in dataset.tag_index:
                parts.append(dataset.tag_matrix[dataset.tag_index[tag], lo:hi])
            else:
                parts.append(np.zeros(hi - lo, dtype=bool))
        stacked = np.vstack(parts)
        combine(stacked.all(axis=0) if state.tag_mode == "all" else stacked.any(axis=0))

    if state.versions:
        index = {name: i for i, name in enumerate(dataset.version_names)}
        rows = [index[v] for v in state.versions if v in index]
        if rows:
            combine(dataset.version_matrix[rows, lo:hi].any(axis=0))
        else:
            combine(np.zeros(hi - lo, dtype=bool))
    return mask


def _granularity(dataset: Dataset, state: FilterState, start: int | None, end: int | None) -> str:
    granularity = state.granularity
    if granularity == "auto":
        span_start = start if start is not None else dataset.data_start_ns
        span_end = end if end is not None else dataset.data_end_ns
        granularity = auto_granularity(span_start, span_end)
        if start is None and span_start is not None and span_end is not None:
            # all time: bucket by the data's own extent
            granularity = auto_granularity(span_start, span_end + NS_PER_DAY)
    return granularity


def data_as_of_ns(dataset: Dataset) -> int | None:
    """The moment the data reaches: the later of the last sync (``meta["synced_at"]``) and just
    after the newest session; None for an empty store without a sync time.

    Sessions started after this moment cannot be in the store yet, so a window that ends later
    (the "last N days" presets end at the next midnight) is only filled up to here.
    """
    moments = []
    synced = dataset.meta.get("synced_at")
    if isinstance(synced, int | float) and not isinstance(synced, bool) and synced == synced:
        moments.append(int(synced * 10**9))
    if dataset.n:
        moments.append(int(dataset.data_end_ns) + 1)
    return max(moments) if moments else None


def previous_cut(selection: Selection) -> tuple[int, int] | None:
    """The comparison window of ``selection``: like for like, so a period still in progress is
    never compared with a whole one.

    The current window ``[start, end)`` is filled only up to :func:`data_as_of_ns` (``as_of``);
    the previous window is the same span one window length earlier, **cut at the same point**:
    ``[start − L, min(end, as_of) − L)`` with ``L = end − start``. So "last 7 days" seen at
    14:05 on its seventh day compares 6 days and 14 h 5 min with the 6 days and 14 h 5 min
    a week earlier. A window that ended before the data's last moment compares whole windows.
    None for unbounded windows (all time, open custom ranges).
    """
    prev = previous_window(selection.start_ns, selection.end_ns)
    if prev is None:
        return None
    start, end = selection.start_ns, selection.end_ns
    as_of = data_as_of_ns(selection.dataset)
    cut = end if as_of is None else min(end, max(start, as_of))
    return prev[0], cut - (end - start)


def select_previous(dataset: Dataset, selection: Selection) -> Selection | None:
    """The same filters over the comparison window :func:`previous_cut` (None for unbounded
    windows)."""
    prev = previous_cut(selection)
    if prev is None:
        return None
    return select(dataset, selection.state, window_override=prev)
