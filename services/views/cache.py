"""The per-process caches of view models and figures: least recently used, bounded in bytes.

One implementation for every tab. :data:`VIEWS` holds view models (numbers: small frames,
counts, dataclasses of floats) keyed by ``(tab, data generation, dataset, filter state, today,
…)`` — never by theme, and never holding a :class:`~services.analytics.query.Selection`, a mask
or any other per-session array. :data:`FIGURES` holds the figures drawn from them, keyed by
``(tab, view key, theme)``. The least recently used entries are dropped while the total is over
the budget, and an entry larger than the whole budget is not kept at all.

**Both keep each value as its pickle** (:class:`PickledLRU`), one ``bytes`` object per entry,
and unpickle it on a hit (a fresh copy each time). A view model in memory is many small Python
objects (every frame brings its index, block manager and reference lists; a figure is lists of
floats and strings): kept as they are, the 1,838 views of a 600-interaction soak at 100k
sessions held ~55 MB of small objects for 9.3 MB of pickle, and once evicted they left
CPython's small-object arenas ~30 % empty but not returnable. Kept as bytes, the budget is the
memory actually held and nothing fragments: one process's heap after that soak went from
193 to 140 MB (docs/performance.md, 2026-12-06, second session). A hit costs the unpickling, ~0.1–1 ms; every
repeated request is answered before that by the response cache
(:mod:`services.web.response_cache`), so a hit here serves theme switches, exports and the API.
"""

from __future__ import annotations

import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")

VIEW_BUDGET_BYTES = 4 * 2**20
"""Budget of :data:`VIEWS` (4 MiB per process: a view model is 2–25 KB pickled, so several
hundred filter sets). With 2 workers at 100k sessions, 16 MiB made the soak's second 300
interactions add 5.3 % (the cache was still filling); 4 MiB adds 3.7 % (docs/performance.md)."""
FIGURE_BUDGET_BYTES = 4 * 2**20
"""Budget of :data:`FIGURES` (4 MiB per process, several hundred figure sets; a repeated request
is answered by the response cache before a figure is looked up, so this mostly serves theme
switches and exports)."""


class ByteLRU:
    """A thread-safe least-recently-used mapping whose values together stay under
    ``max_bytes`` (as measured by ``measure``)."""

    def __init__(self, max_bytes: int, measure: Callable[[object], int]):
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


class PickledLRU(ByteLRU):
    """A :class:`ByteLRU` that keeps each value as its pickle (protocol 5) and measures it by
    the pickle's length; :meth:`get` returns a new copy of the value each time. A value that
    cannot be pickled is not kept (``put`` returns False)."""

    def __init__(self, max_bytes: int):
        super().__init__(max_bytes, measure=len)

    def get(self, key: Hashable, default=None):
        found = super().get(key, _MISSING)
        return default if found is _MISSING else pickle.loads(found)

    def put(self, key: Hashable, value) -> bool:
        try:
            data = pickle.dumps(value, protocol=5)
        except (pickle.PicklingError, TypeError, AttributeError):
            return False
        return super().put(key, data)


VIEWS = PickledLRU(VIEW_BUDGET_BYTES)
"""View models of every tab (numbers only; keys never name a theme)."""
FIGURES = PickledLRU(FIGURE_BUDGET_BYTES)
"""Figures drawn from cached view models, keyed by ``(tab, view key, theme)``."""


def clear() -> None:
    """Empty both caches (tests, the benchmark's cold runs)."""
    VIEWS.clear()
    FIGURES.clear()
