"""Read-only JSON API on the dashboard's Flask server (no Dash import).

``app.build_app`` registers :func:`create_blueprint`; on the hosted app the sign-in guard of
:mod:`services.web.security` protects it like every other route (401 JSON without a session cookie).
Every answer under ``/api`` is JSON, errors too: ``{"error": message}`` with 400 (bad
``limit``/``cursor``), 404 (unknown path), 405 (a method other than GET), 503 (no data yet),
500 (unexpected).

* ``GET /api/v1/summary?<page filters>`` — every number of the Overview: KPIs with previous
  period and change, sessions over time (partial buckets marked), by experiment, by team,
  annotation quality with 95% Wilson intervals; the Engagement tab's headline numbers
  (``engagement``: metric, value, base, base_unit); plus the canonical filters, notices about
  dropped parameters, the window, the data generation and the last sync time.
* ``GET /api/v1/sessions?<page filters>&limit=100&cursor=<opaque>`` — the filtered sessions,
  newest first, with the columns of the Sessions table and its CSV (participant identifiers
  masked unless ``SHOW_PARTICIPANT_IDS``); ``count`` is the total, ``next`` the cursor of the
  next page (null on the last page).

Filters are the page's URL query (``range``, ``start``, ``end``, ``experiment``, ``team``,
``tag``, ``tag_mode``, ``platform``, ``status``, ``version``, ``granularity``) with the page's
rules: unknown values are dropped and listed in ``notices``, never an error. Only ``limit``,
``cursor`` and dates outside 2000-01-01 … 2100-12-31 are refused (400 with a message). Numbers come from the same view model
and metrics functions as the page.

Cursors are keyset positions (the last row's start time and session id), so paging stays
consistent while a sync adds newer sessions.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, urlencode

import orjson
from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from services import runtime
from services.analytics.filters import dates_outside_window, parse_query
from services.outputs import exports
from services.views import sessions
from services.views.engagement import engagement_view
from services.views.overview import overview, vocabulary

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_PAGING_KEYS = ("limit", "cursor")
_CURSOR_PREFIX = "v1."


class ApiError(Exception):
    """A client error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def json_response(body: dict, status: int = 200) -> Response:
    """An orjson-encoded response that is never cached (numbers change with each sync)."""
    response = Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status=status,
        mimetype="application/json",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def filter_query() -> str:
    """The request's query string without the paging parameters (what the page URL would hold).

    :class:`ApiError` (400) when ``start`` or ``end`` is a date outside the supported window
    (2000-01-01 … 2100-12-31): the page drops such a date with a notice, an API client is told.
    """
    text = request.query_string.decode("utf-8", errors="replace")
    pairs = [(k, v) for k, v in parse_qsl(text, keep_blank_values=True) if k not in _PAGING_KEYS]
    query = urlencode(pairs)
    problems = dates_outside_window(query)
    if problems:
        raise ApiError(" ".join(problems))
    return query


def current_dataset():
    dataset = runtime.dataset()
    if dataset is None:
        raise ApiError("no data yet: the first sync has not finished", 503)
    return dataset


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(f"limit must be a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(f"limit must be from 1 to {MAX_LIMIT} (got {limit})")
    return limit


def encode_cursor(created_ns: int, session_id: str) -> str:
    """Opaque cursor for "rows after this one" in newest-first order."""
    raw = orjson.dumps([int(created_ns), str(session_id)])
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Inverse of :func:`encode_cursor`; :class:`ApiError` (400) for anything else."""
    problem = ApiError("invalid cursor: pass the 'next' value of the previous page unchanged")
    if not cursor.startswith(_CURSOR_PREFIX) or len(cursor) > 600:
        raise problem
    body = cursor[len(_CURSOR_PREFIX) :]
    try:
        value = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise problem from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or type(value[0]) is not int
        or not isinstance(value[1], str)
    ):
        raise problem
    return value[0], value[1]


def next_url(limit: int, cursor: str) -> str:
    """This request's path and filters with the next page's ``limit`` and ``cursor``."""
    pairs = [*parse_qsl(filter_query(), keep_blank_values=True), ("limit", limit)]
    return f"{request.path}?{urlencode([*pairs, ('cursor', cursor)])}"


def summary_endpoint():
    dataset = current_dataset()
    state, notices = parse_query(filter_query(), vocabulary(dataset))
    view = overview(dataset, state)
    engagement = engagement_view(dataset, state)
    return json_response(exports.summary(view, dataset, state, notices, engagement))


def sessions_endpoint():
    limit = parse_limit(request.args.get("limit"))
    raw_cursor = request.args.get("cursor")
    cursor = decode_cursor(raw_cursor) if raw_cursor else None
    dataset = current_dataset()
    state, notices = parse_query(filter_query(), vocabulary(dataset))
    settings = runtime.settings()
    page = sessions.api_page(
        dataset, state, cursor, limit, settings.ocs_web_base_url, settings.show_participant_ids
    )
    next_cursor = encode_cursor(*page.last) if page.last is not None else None
    body = {
        "filters": state.to_query(),
        "notices": notices,
        "count": page.count,
        "limit": limit,
        "columns": list(page.rows.columns),
        "results": exports.records(page.rows),
        "next": next_cursor,
        "next_url": next_url(limit, next_cursor) if next_cursor else None,
        "generation": dataset.generation,
        "synced_at": exports.synced_at(dataset),
    }
    return json_response(body)


API_ROUTES = {"/v1/summary": summary_endpoint, "/v1/sessions": sessions_endpoint}
"""Path under ``/api`` → view; every route answers GET (and HEAD) only."""
ALLOWED = "GET, HEAD, OPTIONS"


def _unmatched(rest: str = ""):
    """Any other ``/api`` path or method: JSON 404, or 405 for a known path with another method.

    Without it Dash's catch-all page route would answer ``GET /api/x`` with the HTML page.
    """
    if request.path.removeprefix("/api") in API_ROUTES:
        if request.method == "OPTIONS":
            response = Response(status=204)
        else:
            response = json_response(
                {"error": f"method {request.method} not allowed: this path answers GET"}, 405
            )
        response.headers["Allow"] = ALLOWED
        return response
    return json_response({"error": "not found: see /api/v1/summary and /api/v1/sessions"}, 404)


def _http_error(exc: HTTPException):
    """Werkzeug's HTTP errors (405, 413, a 500 without another handler, …) under ``/api`` as
    JSON ``{"error": …}``; elsewhere unchanged (Flask's own page)."""
    if not request.path.startswith("/api/") and request.path != "/api":
        return exc
    code = exc.code or 500
    message = "internal error" if code >= 500 else (exc.name or "error").lower()
    response = json_response(
        {"error": message}, code
    )  # 500: the same words as services.web.security
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def create_blueprint() -> Blueprint:
    """The ``/api`` blueprint; register it on any Flask app (Dash's ``app.server`` or bare).

    It owns every path under ``/api``: the two endpoints, and JSON answers for anything else
    (404, 405, and werkzeug's HTTP errors through an app-wide handler limited to ``/api``).
    """
    blueprint = Blueprint("ocs_api", __name__, url_prefix="/api")
    # OPTIONS is answered by _unmatched (Flask's automatic answer would list the catch-all's
    # methods as allowed)
    for path, view in API_ROUTES.items():
        name = view.__name__.removesuffix("_endpoint")
        blueprint.add_url_rule(path, name, view, methods=["GET"], provide_automatic_options=False)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    for rule, name in (
        ("", "unmatched_root"),
        ("/", "unmatched_slash"),
        ("/<path:rest>", "unmatched"),
    ):
        blueprint.add_url_rule(
            rule, name, _unmatched, methods=methods, provide_automatic_options=False
        )

    @blueprint.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return json_response({"error": exc.message}, exc.status)

    blueprint.app_errorhandler(HTTPException)(_http_error)
    return blueprint
