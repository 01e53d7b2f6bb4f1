"""Memory settings for the processes that hold a million rows: glibc malloc, and the garbage
collector's view of what lives as long as the process.

**Long-lived objects frozen.** CPython's full (oldest-generation) collection visits every
tracked object; once the app is built that is ~140,000 objects (Dash, Flask, pandas, plotly
and the app's own), and a full collection took 61 ms in the middle of an Engagement update at
1M sessions (in-process, ``gc.callbacks`` timing). :func:`freeze_long_lived` moves everything
alive into the permanent generation, which no collection visits: the gunicorn master calls it
after importing the app (gunicorn.conf.py, so the workers' collections never write to — and
unshare — those pages), and each worker (wsgi.py) and ``python app.py`` call it again once the
app is built. Garbage made later is collected as before.

**Web workers: at most two malloc heaps.** A worker's answers are built from short-lived NumPy
arrays and pandas frames of up to a million rows. With several threads glibc opens one heap
(arena) per thread and keeps what was freed in each, so a worker's resident memory grows with
the thread count. ``mallopt(M_ARENA_MAX, 2)`` (what the ``MALLOC_ARENA_MAX`` environment
variable does when set before a process starts) caps that; gunicorn.conf.py calls it in every
new worker. Measured with the Procfile's gunicorn at 100k sessions after 600 interactions on
both workers: 394 → 373 MB total PSS (docs/performance.md). Returning free pages with
``malloc_trim`` every 25 requests on top of it changed nothing measurable (369 MB), so it is
not done.

**Web workers: free memory given back after a roll-up build.** A filter set's per-day roll-ups
(services/analytics/rollups.py) are built from its all-time selection, a million rows at 1M
sessions: the build's temporaries are the largest blocks a worker allocates, and the few
hundred KB each feature keeps are allocated among them, so without help the freed space stays
in the heap. :func:`release_free_memory` after each build: total PSS of the 1M soak (2 workers)
688–741 → 599–615 MB after 300 interactions and 718–770 → 613–633 after 600 (5 and 8 runs),
with no slower answers (docs/performance.md, 2026-12-06 third session). Trimming every 25
requests instead had changed nothing measurable at 100k (above). Trimming after *every*
callback answer (tried 2026-12-06, fourth session) kept one process at 1M within 581–584 MB
over 900 interactions (580–605 without), but the next answer then faults the given-back pages
in again: every tab's computation took 4–13 ms (20–50 %) longer in one process, and the 1M
soak's growth was no better (+1.5 to +2.1 % against +1.5 to +3.1 %), so it is not done;
services/web/heap.py trims at most once per 5 s during traffic and once a worker is quiet for
1 s, which costs nothing measurable.

**Syncs: large blocks mapped on their own.** A sync reads the previous generation and writes
the next one column by column (services/sync/previous.py); with glibc's default, blocks of a
few MB come from the heap once the first large one was freed, and what the previous generation
freed stays in the process. ``mallopt(M_MMAP_THRESHOLD, 1 MiB)`` maps every block from 1 MiB up
on its own, so freeing it returns the memory at once: at 1M sessions the write of a changed
generation peaked at 1,056 instead of 1,332 MB and held 154 instead of 955 MB afterwards
(``python -m bench.sync_memory``, together with the arena cap). Not in the web workers: there
it saved memory (1M soak 928–973 → 713–770 MB; 100k 416 → 407 MB after 300 interactions) but
every request at 1M allocates many arrays of a few MB, each then mapped and zeroed anew, and
server times rose by 10–30 % (Engagement miss p95 141 → 185–195 ms; ``python -m bench --sizes
1000000 --only-tabs --no-sync --tab-parts gunicorn``, 2026-12-06), so the workers keep glibc's
default.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

M_ARENA_MAX = -8
"""``mallopt`` parameter number of ``M_ARENA_MAX`` in glibc's malloc.h."""
M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter number of ``M_MMAP_THRESHOLD`` in glibc's malloc.h."""


def _libc_function(name: str):
    """glibc's ``name`` (``mallopt``, ``malloc_trim``), None where the C library lacks it."""
    library = ctypes.util.find_library("c")
    if not library:
        return None
    try:
        return getattr(ctypes.CDLL(library), name)  # glibc has them; musl and macOS do not
    except (OSError, AttributeError):
        return None


def _mallopt():
    return _libc_function("mallopt")


_trim = None


def release_free_memory() -> bool:
    """Give the free pages of the malloc heap back to the system (glibc ``malloc_trim(0)``,
    which also releases whole free pages inside the heap, not only at its top): ~2 ms when
    there is something to give back, ~0.03 ms otherwise. False where glibc is missing."""
    global _trim
    if _trim is None:
        _trim = _libc_function("malloc_trim") or False
    if not _trim:
        return False
    _trim(0)
    return True


def limit_arenas(n: int = 2) -> bool:
    """At most ``n`` malloc arenas in this process; False where glibc's mallopt is missing."""
    mallopt = _mallopt()
    return bool(mallopt is not None and mallopt(M_ARENA_MAX, int(n)))


def map_large_blocks(threshold: int = 1 << 20) -> bool:
    """Blocks from ``threshold`` bytes up mapped on their own (given back when freed); False
    where glibc's mallopt is missing."""
    mallopt = _mallopt()
    return bool(mallopt is not None and mallopt(M_MMAP_THRESHOLD, int(threshold)))


def freeze_long_lived() -> int:
    """Collect, then move every object alive now to the permanent generation (``gc.freeze``):
    later collections skip them. Returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
