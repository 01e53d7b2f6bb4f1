"""At most two malloc heaps per web worker (glibc only; elsewhere nothing happens).

A worker's answers are built from short-lived NumPy arrays and pandas frames of up to a million
rows. With several threads glibc opens one heap (arena) per thread and keeps what was freed in
each, so a worker's resident memory grows with the thread count. ``mallopt(M_ARENA_MAX, 2)``
(what the ``MALLOC_ARENA_MAX`` environment variable does when set before a process starts)
caps that; gunicorn.conf.py calls it in every new worker. Measured with the Procfile's gunicorn
at 100k sessions after 600 interactions on both workers: 394 → 373 MB total PSS
(docs/performance.md). Returning free pages with ``malloc_trim`` every 25 requests on top of it
changed nothing measurable (369 MB), so it is not done.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8
"""``mallopt`` parameter number of ``M_ARENA_MAX`` in glibc's malloc.h."""


def _mallopt():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name).mallopt  # glibc has it; musl and macOS do not
    except (OSError, AttributeError):
        return None


def limit_arenas(n: int = 2) -> bool:
    """At most ``n`` malloc arenas in this process; False where glibc's mallopt is missing."""
    mallopt = _mallopt()
    return bool(mallopt is not None and mallopt(M_ARENA_MAX, int(n)))
