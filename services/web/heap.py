"""Free heap memory given back after computed answers: now and then, and when a worker is quiet.

A callback or API answer at 1M sessions allocates and frees arrays of up to a million rows.
glibc keeps what was freed inside its heaps (in one process at 1M: ~65 MB in use, 70–95 MB
free), and how much of that free memory is resident at a given moment depends on the last
few answers: a worker's PSS moved by ±10–30 MB from one moment to the next, so the 1M soak's
"another 300 interactions add < 5 %" held or failed by chance (+0.1 to +5.7 %; one worker
cold at the soak's start: up to +5.6 %; docs/performance.md, 2026-12-06, fourth session).

:func:`install` registers :func:`answered` on the response's ``close`` of every POST (the Dash
callbacks, sign-in) and every ``/api/`` request: the WSGI server calls it after the last byte
is written, so no answer waits for it. A trim (glibc ``malloc_trim``,
:func:`services.memory.release_free_memory`) then happens

* at most once per :data:`INTERVAL_S` while answers keep coming, and
* once the worker has sent no computed answer for :data:`IDLE_S` (:func:`when_idle`, a timer).

Not after every answer: the pages a trim gives back are faulted in again by the next answers,
and trimming after each one made every tab's computation 4–13 ms (20–50 %) slower in one
process at 1M. Spaced out like this it costs nothing measurable (every tab's miss p50 within
the runs of the code without it), and between bursts a worker holds what it keeps alive (the
data's pages, its caches) rather than its last answers' leftovers. Static files free nothing
worth a trim and are left out.
"""

from __future__ import annotations

import threading
import time

from flask import Flask, request

from services import memory

INTERVAL_S = 5.0
"""At most one trim per this many seconds per process while answers keep coming: the pages a
trim gives back are faulted in again by the next answers (a trim after every answer made each
tab's computation 4–13 ms slower at 1M), so trims are spaced out."""
IDLE_S = 1.0
"""A process that has sent no computed answer for this long trims once: the free pages it
gives back are needed again only by the next burst of answers."""

_lock = threading.Lock()
_clock = time.monotonic
_state: dict = {
    "last_trim": float("-inf"),
    "last_answer": float("-inf"),
    "untrimmed": False,  # answers were sent since the last trim
    "timer": None,
}


def _start_timer(delay: float) -> threading.Timer:
    timer = threading.Timer(delay, when_idle)
    timer.daemon = True
    timer.start()
    return timer


def answered() -> bool:
    """A computed answer has been sent: trim now if the last trim is :data:`INTERVAL_S` old,
    else make sure :func:`when_idle` runs once the process is quiet. True if it trimmed."""
    now = _clock()
    with _lock:
        _state["last_answer"] = now
        due = now - _state["last_trim"] >= INTERVAL_S
        if due:
            _state["last_trim"] = now
        _state["untrimmed"] = not due
        if not due and _state["timer"] is None:
            _state["timer"] = _start_timer(IDLE_S)
    if due:
        memory.release_free_memory()
    return due


def when_idle() -> bool:
    """Timer: trim if no answer was sent for :data:`IDLE_S` (and some since the last trim),
    else wait for the rest of the quiet time. True if it trimmed."""
    now = _clock()
    with _lock:
        _state["timer"] = None
        if not _state["untrimmed"]:
            return False
        quiet = now - _state["last_answer"]
        if quiet < IDLE_S:
            _state["timer"] = _start_timer(IDLE_S - quiet)
            return False
        _state["last_trim"] = now
        _state["untrimmed"] = False
    memory.release_free_memory()
    return True


def wants_trim() -> bool:
    """Whether this request is one whose answer is computed (not a static file)."""
    return request.method == "POST" or request.path.startswith("/api/")


def install(server: Flask) -> None:
    """Trim the heap after computed responses are sent (see the module's docstring)."""

    @server.after_request
    def trim_after_sending(response):
        if wants_trim():
            response.call_on_close(answered)
        return response
