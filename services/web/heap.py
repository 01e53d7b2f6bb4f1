"""Free heap memory given back after each dynamic response, once its bytes are sent.

A callback or API answer at 1M sessions allocates and frees arrays of up to a million rows.
glibc keeps what was freed inside its heaps, in pieces between the blocks still alive, so
how much of a worker's memory is resident drifted by ±10–30 MB from one moment to the next
with the last requests' sizes: the 1M soak's total PSS was flat within 5 % in 11 runs of 12,
not in every run (docs/performance.md, 2026-12-06, fourth session).

:func:`install` registers, for every POST (the Dash callbacks, sign-in) and every
``/api/`` request, :func:`services.memory.release_free_memory` (glibc ``malloc_trim``) on the
response's ``close``: the WSGI server calls it after the last byte is written, so the answer
is not delayed; the trim itself takes ~0.03 ms when there is nothing to give back and a few
ms when there is. Static files (scripts, styles, the favicon) are left out: they free
nothing worth a trim.
"""

from __future__ import annotations

from flask import Flask, request

from services import memory


def wants_trim() -> bool:
    """Whether this request is one whose answer is computed (not a static file)."""
    return request.method == "POST" or request.path.startswith("/api/")


def install(server: Flask) -> None:
    """Trim the heap after every computed response is sent (see the module's docstring)."""

    @server.after_request
    def trim_after_sending(response):
        if wants_trim():
            response.call_on_close(memory.release_free_memory)
        return response
