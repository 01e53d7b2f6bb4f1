"""Per-day roll-ups: counts per calendar day of one filter set, so a date range sums days.

A date change (the common interaction) keeps every filter but the window, and the windows of
the page are whole calendar days in the viewer's time zone. So a metric that is a **sum over
sessions** (sessions, transcripts, 👍/👎, lexicon hits, verdicts, a histogram of an integer
count…) is the sum over the window's days of the same sum per day. The per-day sums of a
filter set are computed once, over all time (the date range left out, like
:func:`services.analytics.engagement.first_session_day`), the first time a metric asks for
them; every later window with the same filters reads a few hundred rows instead of scanning
up to a million sessions.

* **Lazily, per feature**: a metric names its feature and passes the function that builds it
  from the all-time :class:`~services.analytics.query.Selection` (:class:`Builder`); a feature is
  built the first time it is asked for, so a tab pays only for the features it reads.
* **Small**: a feature is an array ``[day, k]`` over the data's days (365 days × a few
  columns, or × :data:`HISTOGRAM_CAP` for a histogram of counts: ~0.2 MB at most), kept in
  the narrowest integer type that holds it (:func:`narrowed`; ~1.1 MB for a filter set with
  every tab opened, 1M sessions over a year). At most :data:`FILTER_SETS` filter sets and
  :data:`ROLLUP_BYTES` are kept per dataset (least recently used first out), and they go with
  the dataset when a new generation is loaded.
* **Exact or nothing**: :func:`window_rows` answers only for a window of whole local days (the
  page's presets and custom ranges; not, say, a previous period cut at the data's last
  moment); a builder returns None when its sum would not be exact (e.g. non-integral values,
  whose float sum depends on the order). The metric then scans its selection as before, and
  the tests compare both paths (``tests/analytics/test_rollups.py``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import numpy as np

from services import memory
from services.analytics.filters import day_start_ns, local_days
from services.analytics.query import Selection, select

FILTER_SETS = 4
"""Filter sets (without their dates) whose roll-ups are kept per dataset."""
ROLLUP_BYTES = 8 * 2**20
"""Bytes of roll-ups kept per dataset: fewer filter sets than :data:`FILTER_SETS` when their
roll-ups are larger (many days); the filter set in use is always kept."""
HISTOGRAM_CAP = 256
"""Histograms of counts (:func:`count_histogram`) keep one column per value below this; the
values from here up share the last column (an order statistic there needs the sessions)."""

DENSE_BYTES = 32 * 2**20
"""Largest transient table (bytes) a builder fills instead of sorting (as
:data:`services.analytics.metrics.DISTINCT_BITMAP_CELLS`)."""

Builder = Callable[[Selection, np.ndarray, int], "dict[str, np.ndarray] | None"]
"""``build(every, day_offsets, n_days)`` → feature name → ``[n_days, k]`` array (None: the
feature cannot be exact for this data). ``every`` is the filter set's all-time selection and
``day_offsets`` its sessions' local days minus the roll-up's first day."""

_EPOCH = date(1970, 1, 1)
_lock = threading.Lock()
_enabled = threading.local()


class Rollup:
    """The features of one filter set over the days ``first_day .. first_day + n_days - 1``.

    A feature of integers is kept in the narrowest integer type that holds its values
    (:func:`narrowed`: most daily counts fit 16 bits) and read back in the type its builder
    gave (``dtypes``)."""

    def __init__(self, first_day: int, n_days: int):
        self.first_day = first_day
        self.n_days = n_days
        self.features: dict[str, np.ndarray | None] = {}
        self.dtypes: dict[str, np.dtype] = {}
        self.nbytes = 0
        self.lock = threading.Lock()


def narrowed(array: np.ndarray) -> np.ndarray:
    """``array`` in the narrowest of the (u)int 8/16/32 types that holds its values, when
    narrower than its own type; the array itself otherwise (floats, empty arrays)."""
    if array.dtype.kind not in "iu" or array.size == 0 or array.dtype.itemsize == 1:
        return array
    low, high = int(array.min()), int(array.max())
    for dtype in (np.uint8, np.uint16, np.uint32) if low >= 0 else (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if np.dtype(dtype).itemsize >= array.dtype.itemsize:
            break
        if info.min <= low and high <= info.max:
            return array.astype(dtype)
    return array


@contextmanager
def disabled() -> Iterator[None]:
    """Within this block (this thread) every metric scans its selection: the tests compare
    the roll-up path with the scan it replaces."""
    before = getattr(_enabled, "off", False)
    _enabled.off = True
    try:
        yield
    finally:
        _enabled.off = before


def whole_days(sel: Selection) -> tuple[int, int] | None:
    """``(first, last)`` local day of the selection's window when it is whole local days in
    its time zone (or unbounded on a side); None otherwise or for an empty window."""
    from services.analytics.metrics import window_days  # metrics reads the roll-ups too

    span = window_days(sel)
    if span is None:
        return None
    first, last = span
    tz = sel.state.tz
    if sel.start_ns is not None and sel.start_ns != day_start_ns(
        _EPOCH + timedelta(days=first), tz
    ):
        return None
    if sel.end_ns is not None and sel.end_ns != day_start_ns(_EPOCH + timedelta(days=last + 1), tz):
        return None
    return first, last


def starts_a_day(ns: int, tz: str) -> bool:
    """Whether epoch ns ``ns`` is a local midnight in ``tz``."""
    day = int(local_days(np.array([ns]), tz)[0])
    return day_start_ns(_EPOCH + timedelta(days=day), tz) == ns


def _rollup(sel: Selection) -> Rollup | None:
    ds = sel.dataset
    if ds.n == 0:
        return None
    key = sel.state.with_changes(range="all", start=None, end=None)
    with _lock:
        cache = ds._derived.setdefault("daily_rollups", OrderedDict())
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
            return found
    # the data's local days, a day more on each side: a local day need not follow the UTC
    # order of the sessions exactly where a clock change happens at midnight
    extent = local_days(np.array([ds.data_start_ns, ds.data_end_ns]), sel.state.tz)
    made = Rollup(int(extent[0]) - 1, int(extent[1]) - int(extent[0]) + 3)
    with _lock:
        found = cache.setdefault(key, made)
        cache.move_to_end(key)
        while len(cache) > FILTER_SETS:
            cache.popitem(last=False)
    return found


def _feature(sel: Selection, rollup: Rollup, name: str, build: Builder) -> np.ndarray | None:
    with rollup.lock:
        if name in rollup.features:
            return rollup.features[name]
        key = sel.state.with_changes(range="all", start=None, end=None)
        every = select(sel.dataset, key)
        offsets = (
            every.column("day").astype(np.int64) - rollup.first_day
            if every.n
            else np.zeros(0, dtype=np.int64)
        )
        built = build(every, offsets, rollup.n_days)
        memory.release_free_memory()  # the build's temporaries were the largest blocks
        if built is None:
            rollup.features[name] = None
        else:
            for feature, array in built.items():
                rollup.dtypes[feature] = array.dtype
                array = narrowed(array)
                array.flags.writeable = False
                rollup.features[feature] = array
                rollup.nbytes += array.nbytes
            _keep_within_budget(sel.dataset, rollup)
        return rollup.features.get(name)


def _keep_within_budget(dataset, keep: Rollup) -> None:
    """Drop the least recently used filter sets' roll-ups (never ``keep``, the one just
    grown) while the dataset's roll-ups hold more than :data:`ROLLUP_BYTES`."""
    with _lock:
        cache = dataset._derived.get("daily_rollups")
        if cache is None:
            return
        total = sum(rollup.nbytes for rollup in cache.values())
        for key in [key for key, rollup in cache.items() if rollup is not keep]:
            if total <= ROLLUP_BYTES:
                break
            total -= cache.pop(key).nbytes


def window_rows(sel: Selection, name: str, build: Builder, before: int = 0) -> np.ndarray | None:
    """The feature ``name``'s rows for the selection's days (first .. last day of its window,
    and ``before`` more days ahead of it), zero rows for days without data; None when the
    window is not whole days or the feature cannot be exact (scan the selection instead)."""
    if getattr(_enabled, "off", False):
        return None
    span = whole_days(sel)
    if span is None:
        return None
    rollup = _rollup(sel)
    if rollup is None:
        return None
    feature = _feature(sel, rollup, name, build)
    if feature is None:
        return None
    first, last = span[0] - before - rollup.first_day, span[1] - rollup.first_day
    size = last - first + 1
    out = np.zeros((size, *feature.shape[1:]), dtype=rollup.dtypes[name])
    lo, hi = max(first, 0), min(last + 1, rollup.n_days)
    if hi > lo:
        out[lo - first : hi - first] = feature[lo:hi]
    return out


def feature(sel: Selection, name: str, build: Builder) -> tuple[np.ndarray, int] | None:
    """The whole feature ``name`` of the selection's filter set and the day its day offsets
    count from, for a window of whole local days (None otherwise, as :func:`window_rows`):
    for features that are not one row per day."""
    if getattr(_enabled, "off", False) or whole_days(sel) is None:
        return None
    rollup = _rollup(sel)
    if rollup is None:
        return None
    found = _feature(sel, rollup, name, build)
    if found is None:
        return None
    return found.astype(rollup.dtypes[name], copy=False), rollup.first_day


def window_sum(sel: Selection, name: str, build: Builder) -> np.ndarray | None:
    """The feature's sum over the selection's window (:func:`window_rows`)."""
    rows = window_rows(sel, name, build)
    return None if rows is None else rows.sum(axis=0)


# ---- building blocks of features ------------------------------------------------------------


def per_day(
    offsets: np.ndarray,
    n_days: int,
    where: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Per day: the sessions (``where`` True, all without it), or the sum of their
    ``weights`` (exact: callers pass whole-number weights, see :func:`counts`)."""
    if where is not None:
        offsets = offsets[where]
        weights = weights[where] if weights is not None else None
    counts = np.bincount(offsets, weights=weights, minlength=n_days)[:n_days]
    return counts if weights is not None else counts.astype(np.int64)


def counts(dataset, *names: str) -> bool:
    """Whether the dataset's per-session columns ``names`` hold only whole numbers from 0 to
    2**40 (or NaN): their sums over any sessions are exact in float64 whatever the order, and
    they fit a histogram of counts. Checked once per dataset and column."""
    with _lock:
        known = dataset._derived.setdefault("whole_counts", {})
    for name in names:
        if name not in known:
            values = getattr(dataset, name)
            with np.errstate(invalid="ignore"):
                whole = np.array_equal(values, np.floor(values), equal_nan=True)
                known[name] = bool(whole and not (values < 0).any() and not (values >= 2**40).any())
        if not known[name]:
            return False
    return True


def count_histogram(offsets: np.ndarray, n_days: int, values: np.ndarray) -> np.ndarray:
    """``[day, value]`` sessions per whole-number value 0..:data:`HISTOGRAM_CAP` − 1, the
    values from the cap up in the last column (int32; callers pass non-negative integers)."""
    clipped = np.minimum(values, HISTOGRAM_CAP).astype(np.int64)
    width = HISTOGRAM_CAP + 1
    flat = np.bincount(offsets * width + clipped, minlength=n_days * width)
    return flat[: n_days * width].reshape(n_days, width).astype(np.int32)


def order_statistic(counts: np.ndarray, k: int) -> float | None:
    """The ``k``-th smallest (0-based) of the values whose histogram is ``counts`` (see
    :func:`count_histogram`), None when it is in the last (capped) column."""
    cumulative = np.cumsum(counts)
    value = int(np.searchsorted(cumulative, k, side="right"))
    return None if value >= len(counts) - 1 else float(value)


def sparse_per_day(
    name: str, offsets: np.ndarray, n_days: int, codes: np.ndarray, width: int
) -> dict[str, np.ndarray]:
    """Sessions per (day, code) for ``0 <= code < width``, kept as the nonzero cells only (a
    day × code table would be mostly zeros, e.g. 365 days × 1,266 tag combinations):
    ``<name>.starts`` (each day's first cell, and the end), ``<name>.codes`` and
    ``<name>.counts`` — read by :func:`window_cells`."""
    flat = offsets.astype(np.int64) * width + codes.astype(np.int64)
    if n_days * width * 8 <= DENSE_BYTES:  # a bincount of every cell, then its nonzero ones
        dense = np.bincount(flat, minlength=n_days * width)
        cells = np.flatnonzero(dense)
        counts = dense[cells]
    else:
        cells, counts = np.unique(flat, return_counts=True)
    days = cells // width
    code_type = np.uint16 if width <= 65536 else np.int64
    return {
        f"{name}.starts": np.searchsorted(days, np.arange(n_days + 1)).astype(np.int64),
        f"{name}.codes": (cells % width).astype(code_type),
        f"{name}.counts": counts.astype(np.int32),
    }


def window_cells(
    sel: Selection, name: str, build: Builder
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The window's cells of a :func:`sparse_per_day` feature: (day in the window counted from
    its first day, code, sessions); None as :func:`window_rows`."""
    span = whole_days(sel) if not getattr(_enabled, "off", False) else None
    found = feature(sel, f"{name}.starts", build) if span is not None else None
    if found is None:
        return None
    starts, origin = found
    codes, _ = feature(sel, f"{name}.codes", build)
    counts, _ = feature(sel, f"{name}.counts", build)
    first = span[0] - origin
    lo_day = min(max(first, 0), len(starts) - 1)
    hi_day = min(max(span[1] - origin + 1, 0), len(starts) - 1)
    lo, hi = int(starts[lo_day]), int(starts[hi_day])
    days = np.repeat(np.arange(lo_day, hi_day) - first, np.diff(starts[lo_day : hi_day + 1]))
    return days, codes[lo:hi].astype(np.int64), counts[lo:hi].astype(np.int64)


def earliest_per_cell(
    cells: np.ndarray, n_cells: int, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``cells`` (ascending) and the smallest of ``values`` in each — a table of
    every cell filled by ``np.minimum.at`` while it fits :data:`DENSE_BYTES` (int16 for day
    offsets: 16 Mi cells), else a sort."""
    values = values.astype(np.int64)
    small = values.size == 0 or (values.min() > -(2**15) and values.max() < 2**15 - 1)
    dtype = np.int16 if small else np.int32
    if n_cells * np.dtype(dtype).itemsize <= DENSE_BYTES:
        empty = np.iinfo(dtype).max
        table = np.full(n_cells, empty, dtype=dtype)
        np.minimum.at(table, cells, values.astype(dtype))
        present = np.flatnonzero(table != empty)
        return present, table[present].astype(np.int64)
    distinct, inverse = np.unique(cells, return_inverse=True)
    lowest = np.full(len(distinct), np.iinfo(np.int64).max)
    np.minimum.at(lowest, inverse, values)
    return distinct, lowest
