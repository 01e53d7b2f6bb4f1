"""Repeated views answered from memory: the last responses of the tab callbacks, by request.

A second viewer with the same filters, a reload, or a tab opened again sends a
``/_dash-update-component`` request byte for byte equal to an earlier one. The view caches
(:mod:`services.views.cache`) already skip the numbers then, but the callback would still build
the Dash components and serialise every figure (tens of ms at 1M sessions for Quality). This
keeps the finished JSON of the **tab callbacks only** — :data:`CACHED_OUTPUTS`, the ones whose
answer is a pure function of the request body, the loaded data generation and today's date —
and answers an equal request with it.

The key is ``(sha256 of the body, data generation, 15-minute window)``: the body holds every
input and state (filters, theme, tab, table sort and page, the triggering input); the
generation changes with every sync that changes data; the window keeps a relative range
("last 30 days") from outliving the day it was computed on: windows start at multiples of 15
minutes UTC, and every time zone's offset is a multiple of 15 minutes, so a viewer's midnight
always starts a new window. The
request's query string (Dash's per-page ``endId``) is not part of the answer of these
callbacks and is left out, so a second viewer hits too. Values are bytes, least recently used
first out, at most :data:`BUDGET_BYTES` per process.

Installed after the sign-in guard and the callback checks (:mod:`services.web.security`), so
their ``before_request`` hooks run first: a hit is never served to a request they refuse.
"""

from __future__ import annotations

import hashlib
import json
import time

from flask import Flask, Response, g, request

from services import runtime
from services.views.cache import ByteLRU

PATH = "/_dash-update-component"
BUDGET_BYTES = 8 * 2**20
"""Budget of the response cache per process (8 MiB of uncompressed JSON: a tab's answer is
10–100 KB, so the last hundred or more repeated views)."""
WINDOW_S = 900
"""A cached answer is used within the same 15 minutes only (relative ranges follow the clock)."""
CACHED_OUTPUTS = frozenset(
    {"kpi-row", "fig-compare", "eng-cards", "cost-budget", "table-state", "sessions-count"}
)
"""First output of each callback whose answer is cached: Overview, Quality, Engagement, Cost,
the Sessions table and its count. Nothing with a side effect (Refresh, saved views, alerts,
downloads) and nothing that reads the clock or the sync status is here."""

RESPONSES = ByteLRU(BUDGET_BYTES, measure=lambda value: len(value[0]) + 200)
"""``key → (JSON bytes, content type)``."""


def first_output(body: bytes) -> str | None:
    """The first output id of a Dash update request's body (None when it is not one)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    output = payload.get("output") if isinstance(payload, dict) else None
    if not isinstance(output, str):
        return None
    first = output[2:] if output.startswith("..") else output
    return first.split(".", 1)[0]


def request_key() -> tuple | None:
    """The cache key of the current request, or None when its answer is not cached."""
    if request.method != "POST" or request.path != PATH:
        return None
    if request.args.get("cacheKey") or request.args.get("job"):
        return None  # a background callback's poll
    body = request.get_data(cache=True)
    if first_output(body) not in CACHED_OUTPUTS:
        return None
    dataset = runtime.dataset()
    generation = getattr(dataset, "generation", None)
    if generation is None:
        return None  # no data yet: the answer says so, and the next one will not
    digest = hashlib.sha256(body).digest()
    return digest, generation, int(time.time() // WINDOW_S)


def install(server: Flask) -> None:
    """Answer repeated tab requests from :data:`RESPONSES`; keep new 200 answers."""

    @server.before_request
    def _cached_answer():
        key = request_key()
        if key is None:
            return None
        found = RESPONSES.get(key)
        if found is None:
            g.response_cache_key = key
            return None
        data, mimetype = found
        response = Response(data, mimetype=mimetype)
        response.headers["X-Response-Cache"] = "hit"
        return response

    @server.after_request
    def _keep_answer(response: Response) -> Response:
        key = g.pop("response_cache_key", None)
        if (
            key is not None
            and response.status_code == 200
            and not response.direct_passthrough
            and "Content-Encoding" not in response.headers  # compression runs after this hook
        ):
            RESPONSES.put(key, (response.get_data(), response.mimetype))
        return response


def clear() -> None:
    RESPONSES.clear()
