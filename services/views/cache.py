"""The per-process caches of view models and figures: least recently used, bounded in bytes.

One implementation for every tab. :data:`VIEWS` holds view models (numbers: small frames,
counts, dataclasses of floats) keyed by ``(tab, data generation, dataset, filter state, today,
…)`` — never by theme, and never holding a :class:`~services.analytics.query.Selection`, a mask
or any other per-session array. :data:`FIGURES` holds the figures drawn from them, keyed by
``(tab, view key, theme)``. Each entry's size is measured when it is stored
(views by :func:`pickled_size`: the bytes of their pickle — arrays at their ``nbytes``, text at
its length, every frame with its own overhead; on the view models it comes out at or above
:func:`size_of`'s ``DataFrame.memory_usage(deep=True)`` walk and takes ~1/8 of its time: 0.46
vs 3.6 ms for an Engagement view, paid on every miss; figures by :func:`size_of`); the least recently
used entries are dropped while the total is over the budget, and an entry larger than the
whole budget is not kept at all.
"""

from __future__ import annotations

import dataclasses
import pickle
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")

VIEW_BUDGET_BYTES = 16 * 2**20
"""Budget of :data:`VIEWS` (16 MiB per process: a view model is 10–60 KB pickled, so a few
hundred filter sets; measured with 2 workers at 100k, 64 MiB let the soak keep growing past
400 MB total PSS — docs/performance.md)."""
FIGURE_BUDGET_BYTES = 8 * 2**20
"""Budget of :data:`FIGURES` (8 MiB per process; a repeated request is answered by the
response cache before a figure is looked up, so this mostly serves exports and theme
switches)."""


def size_of(value, _seen: set[int] | None = None) -> int:
    """Bytes held by ``value``: frames by ``memory_usage(deep=True)``, arrays by ``nbytes``,
    dicts, lists, tuples, sets and dataclasses by their own size plus their contents (an object
    reachable twice counts once)."""
    seen = _seen if _seen is not None else set()
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(deep=True, index=True).sum())
    if isinstance(value, pd.Series | pd.Index):
        return int(value.memory_usage(deep=True))
    if isinstance(value, np.ndarray):
        size = int(value.nbytes)
        if value.dtype == object:
            size += sum(size_of(item, seen) for item in value.ravel())
        return size
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(size_of(k, seen) + size_of(v, seen) for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        size += sum(size_of(item, seen) for item in value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        size += sum(size_of(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    return size


def pickled_size(value) -> int:
    """Bytes of ``value``'s pickle (protocol 5); :func:`size_of` for what cannot be pickled."""
    try:
        return len(pickle.dumps(value, protocol=5))
    except Exception:  # any unpicklable value is still measured, by the walk
        return size_of(value)


class ByteLRU:
    """A thread-safe least-recently-used mapping whose values together stay under
    ``max_bytes`` (as measured by ``measure``, :func:`size_of` by default)."""

    def __init__(self, max_bytes: int, measure: Callable[[object], int] = size_of):
        self.max_bytes = int(max_bytes)
        self.measure = measure
        self._data: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """Bytes of the values held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __iter__(self):
        """The keys held now, least recently used first (a copy: safe while others write)."""
        return iter(self.keys())

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._data)

    def get(self, key: Hashable, default=None):
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return default
            self._data.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value) -> bool:
        """Keep ``value`` under ``key``; False (and nothing kept) when it alone is over budget."""
        size = self.measure(value)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return False
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._data.popitem(last=False)
                self._bytes -= dropped
            return True

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value under ``key``, computed (outside the lock) and kept when missing."""
        found = self.get(key, _MISSING)
        if found is not _MISSING:
            return found
        value = compute()
        self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0


_MISSING = object()

VIEWS = ByteLRU(VIEW_BUDGET_BYTES, measure=pickled_size)
"""View models of every tab (numbers only; keys never name a theme)."""
FIGURES = ByteLRU(FIGURE_BUDGET_BYTES)
"""Figures drawn from cached view models, keyed by ``(tab, view key, theme)``; measured by
:func:`size_of` (figures are lists of Python floats and strings, about three times their
pickled size in memory)."""


def clear() -> None:
    """Empty both caches (tests, the benchmark's cold runs)."""
    VIEWS.clear()
    FIGURES.clear()
