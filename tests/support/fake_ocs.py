"""A fake OpenChatStudio (OCS) API server for tests, manual runs and the sync benchmark.

Behaviour follows docs/ocs-api.md §12: one API key per team; ``/api/v2/me/``, ``/api/experiments/``,
``/api/sessions/``, ``/api/sessions/{id}/`` (any non-slash id, e.g. Slack ``1712.000123``);
cursor envelope with first-page-only ``count``; opaque base64 cursors (``p=`` position, ``o=``
offset) and 404 on a bad one; ``page_size`` default 100, max 1500, invalid → 100; ``experiment``
must be a UUID (400); ``tags`` any-of filter that returns a session once per matching tag (the
inferred real duplicate bug); 301 for slash-less paths (query kept); 401 ``Invalid token.`` with
``WWW-Authenticate`` (or legacy 403); ``X-RateLimit-*`` headers, optional enforcement with 429.

Fault injection (attributes of :class:`FakeOCS`, change them at any time): ``fail_requests``
(request numbers answered 500), ``fail_every`` (every Nth), ``fail_from`` (500 for every request
from that number on, optionally only for paths starting with ``fail_path_prefix``),
``drop_requests`` / ``drop_every`` (close the socket without answering), ``mid_body_requests`` /
``mid_body_every`` (send the headers and half of the body, then close), ``delay`` (seconds before
each answer, optionally only for ``delay_path_prefix``), random faults at given rates
(:meth:`FakeOCS.set_fault_rates`: 5xx, drops before the headers, drops mid-body, slow answers;
seeded, so a run is reproducible), ``force_429`` (request numbers answered 429), ``rate_enforce``
(429 over ``rate_limit`` per ``rate_window`` s, counted per team like OCS), ``shape`` ("2026" or
"2025"), ``legacy_403``, malformed records, and bad answers: ``non_json_prefix`` (200 with an HTML
page for paths starting with it), ``wrong_shape_prefix`` (200 with JSON that is not a page),
``repeat_next`` (the session list's ``next`` link always points at the same page), and
``fail_teams`` (every request of those teams answered 503).

Usage::

    with FakeOCS.from_demo(n_sessions=500) as fake:      # serving on fake.base_url
        key = fake.keys[0]
        ...

    python -m tests.support.fake_ocs --port 8765 --sessions 10000 --teams 3
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import itertools
import json
import math
import random
import socket
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from services.sync import demo
from services.sync.records import parse_timestamp

DEFAULT_PAGE = 100
MAX_PAGE = 1500


def _ts(moment: datetime) -> str:
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeOCS:
    """State and behaviour of the fake server; ``start()``/``stop()`` or use as a context manager."""

    def __init__(
        self,
        teams: list[tuple[str, str]],
        sessions: list[dict],
        experiments: dict[str, list[dict]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.host, self.port = host, port
        self.teams = {slug: {"slug": slug, "name": name} for slug, name in teams}
        self.keys: list[str] = [
            f"fk{i}.{uuid.uuid5(uuid.NAMESPACE_DNS, s).hex}" for i, (s, _) in enumerate(teams)
        ]
        self.key_team = dict(zip(self.keys, self.teams, strict=True))
        self.experiments = {slug: list(experiments.get(slug, [])) for slug in self.teams}
        self._lock = threading.RLock()
        self._sessions: dict[str, dict] = {}  # id → detail record
        self._ordered: dict[str, list[tuple[int, str]]] = {}
        for record in sessions:
            if record["team"]["slug"] in self.teams:
                self._sessions[record["id"]] = record
        self._reorder()
        # options
        self.shape = "2026"
        self.legacy_403 = False
        self.has_me = True
        self.has_experiments = True
        self.rate_limit: int | None = 2000
        self.rate_window = 300
        self.rate_enforce = False
        self.rate_reset: int | None = None  # fixed X-RateLimit-Reset (tests), else real window
        self.fail_requests: set[int] = set()
        self.fail_every = 0
        self.fail_from: int | None = None
        self.fail_path_prefix = ""
        self.drop_requests: set[int] = set()
        self.drop_every = 0
        self.delay = 0.0
        self.delay_path_prefix = ""
        self.mid_body_requests: set[int] = set()
        self.mid_body_every = 0
        self.force_429: set[int] = set()
        self.rates = {"error": 0.0, "drop": 0.0, "mid_body": 0.0, "slow": 0.0}
        self.slow_delay = 2.0
        self._rng = random.Random(0)
        self.non_json_prefix = ""
        self.wrong_shape_prefix = ""
        self.repeat_next = False
        self.fail_teams: set[str] = set()  # 503 for every request of these teams (unreachable)
        self.received_429 = 0  # 429 answers sent (rate enforcement or force_429)
        self.retry_after = 7
        self.send_retry_after_header = True  # False: only the body's available_in says how long
        self.malformed_list_ids: set[str] = set()
        self.malformed_detail_ids: set[str] = set()
        # bookkeeping
        self.request_count = 0
        self.log: list[dict] = []
        self._buckets: dict[tuple[str, int], int] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_demo(cls, n_sessions: int = 500, teams: int = 3, seed: int = 7, anchor=None, **kw):
        """Serve the demo world (services.sync.demo) for the first ``teams`` demo teams."""
        world = demo.generate(n_sessions, seed, anchor)
        chosen = demo.TEAMS[:teams]
        return cls(chosen, world.sessions, world.experiments, **kw)

    # -- server lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeOCS:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOCS:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the client's ``OCS_API_BASE_URL`` should be."""
        return f"{self.origin}/api"

    # -- data access & mutation helpers ---------------------------------------------------------

    def _reorder(self) -> None:
        ordered: dict[str, list[tuple[int, str]]] = {slug: [] for slug in self.teams}
        for sid, record in self._sessions.items():
            ordered[record["team"]["slug"]].append((parse_timestamp(record["created_at"]), sid))
        for rows in ordered.values():
            rows.sort(reverse=True)
        self._ordered = ordered

    def session_ids(self, team_slug: str | None = None) -> list[str]:
        """Ids newest first (one team, or all)."""
        with self._lock:
            slugs = [team_slug] if team_slug else list(self.teams)
            return [sid for slug in slugs for _, sid in self._ordered[slug]]

    def session(self, session_id: str) -> dict:
        with self._lock:
            return self._sessions[session_id]

    def add_sessions(
        self, team_slug: str, n: int, status: str = "active", messages: int = 2
    ) -> list[str]:
        """Add ``n`` new sessions (newer than any existing one) cloned from the team's newest."""
        with self._lock:
            template = self._sessions[self._ordered[team_slug][0][1]]
            newest = max(parse_timestamp(r["created_at"]) for r in self._sessions.values())
            start = max(datetime.fromtimestamp(newest / 1e9, UTC), datetime.now(UTC))
            ids = []
            for i in range(n):
                sid = str(uuid.uuid4())
                created = start + timedelta(seconds=i + 1, microseconds=123)
                record = copy.deepcopy(template)
                record.update(
                    id=sid,
                    url=f"{self.origin}/api/sessions/{sid}/",
                    created_at=_ts(created),
                    updated_at=_ts(created),
                    status=status,
                    tags=[],
                    messages=[],
                )
                self._sessions[sid] = record
                ids.append(sid)
                self.append_messages(sid, messages)
            self._reorder()
            return ids

    def set_tags(self, session_id: str, tags: list[str]) -> None:
        """Session tags change; like OCS, ``updated_at`` does not move."""
        with self._lock:
            self._sessions[session_id]["tags"] = list(tags)

    def set_status(self, session_id: str, status: str) -> None:
        """Status change (a full save in OCS), so ``updated_at`` moves."""
        with self._lock:
            record = self._sessions[session_id]
            record["status"] = status
            record["updated_at"] = _ts(datetime.now(UTC))

    def append_messages(self, session_id: str, n: int = 2, tags: tuple[str, ...] = ("v1",)) -> None:
        """Append ``n`` alternating user/assistant messages; ``updated_at`` does not move."""
        with self._lock:
            record = self._sessions[session_id]
            last = (
                record["messages"][-1]["created_at"] if record["messages"] else record["created_at"]
            )
            moment = datetime.fromtimestamp(parse_timestamp(last) / 1e9, UTC)
            for i in range(n):
                moment += timedelta(seconds=30)
                role = "user" if i % 2 == 0 else "assistant"
                record["messages"].append(
                    {
                        "created_at": _ts(moment),
                        "role": role,
                        "content": "new message from the fake server",
                        "metadata": {},
                        "tags": list(tags) if role == "assistant" else [],
                        "attachments": [],
                    }
                )

    def delete_session(self, session_id: str) -> None:
        with self._lock:
            del self._sessions[session_id]
            self._reorder()

    def inject_malformed(self, n: int, detail: bool = False) -> list[str]:
        """Mark ``n`` sessions (every 7th) as malformed in the list (or in the detail)."""
        with self._lock:
            ids = self.session_ids()[3::7][:n]
            (self.malformed_detail_ids if detail else self.malformed_list_ids).update(ids)
            return ids

    def set_fault_rates(
        self,
        error: float = 0.0,
        drop: float = 0.0,
        mid_body: float = 0.0,
        slow: float = 0.0,
        slow_delay: float = 2.0,
        seed: int = 0,
    ) -> None:
        """Random faults per request: ``error`` share answered 500, ``drop`` closed before the
        headers, ``mid_body`` closed after the headers and half the body, ``slow`` answered
        ``slow_delay`` seconds late. Seeded for reproducible runs."""
        with self._lock:
            self.rates = {"error": error, "drop": drop, "mid_body": mid_body, "slow": slow}
            self.slow_delay = slow_delay
            self._rng = random.Random(seed)

    def statuses(self) -> dict:
        """How many requests ended with each status (200, 500, "dropped", "mid-body", 429 …)."""
        with self._lock:
            counts: dict = {}
            for entry in self.log:
                counts[entry["status"]] = counts.get(entry["status"], 0) + 1
            return counts

    def requests_for(self, prefix: str = "") -> int:
        with self._lock:
            return sum(1 for entry in self.log if entry["path"].startswith(prefix))

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    # -- shapes -----------------------------------------------------------------------------------

    def _experiment_2025(self, stub: dict, team: str) -> dict:
        for record in self.experiments.get(team, []):
            if record["id"] == stub["id"]:
                return {k: record[k] for k in ("id", "name", "url", "version_number", "versions")}
        return {k: stub[k] for k in ("id", "name", "url", "version_number")} | {"versions": []}

    def list_item(self, record: dict) -> dict:
        if record["id"] in self.malformed_list_ids:
            return {"id": record["id"], "team": "broken", "created_at": "yesterday-ish"}
        item = demo.list_item(record)
        item["url"] = f"{self.origin}/api/sessions/{record['id']}/"
        if self.shape == "2025":
            for key in ("status", "platform", "state"):
                item.pop(key, None)
            item["experiment"] = self._experiment_2025(record["experiment"], record["team"]["slug"])
        return item

    def detail(self, record: dict) -> dict:
        item = self.list_item(record)
        if record["id"] in self.malformed_detail_ids:
            item["messages"] = "not a list"
            return item
        item["messages"] = record["messages"]
        if self.shape != "2025":
            item["usage"] = record.get("usage") or {"total_cost": "0.00000000", "by_model": []}
        return item


def _encode_cursor(position: str, offset: int) -> str:
    raw = urlencode({"p": position, **({"o": offset} if offset else {})})
    return base64.b64encode(raw.encode()).decode()


def _decode_cursor(token: str) -> tuple[str, int]:
    try:
        fields = dict(parse_qsl(base64.b64decode(token.encode(), validate=True).decode()))
        return fields["p"], int(fields.get("o", 0))
    except Exception as exc:  # any garbage → "Invalid cursor"
        raise ValueError("Invalid cursor") from exc


def _page_size(raw: str | None) -> int:
    try:
        value = int(raw) if raw is not None else DEFAULT_PAGE
    except ValueError:
        return DEFAULT_PAGE
    if value <= 0:
        return DEFAULT_PAGE
    return min(value, MAX_PAGE)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeOCS

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes; without NODELAY, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- plumbing ------------------------------------------------------------------------------

    def _send(self, status: int, body=None, headers: dict | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self._status = status
        if getattr(self, "_entry", None) is not None:
            self._entry["status"] = status  # before the client can see the answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if getattr(self, "_mid_body", False) and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._status = "mid-body"
            if getattr(self, "_entry", None) is not None:
                self._entry["status"] = "mid-body"
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)
        self._status = status

    def _send_raw(self, status: int, data: bytes, content_type: str, headers: dict) -> None:
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        path, query = parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))
        with fake._lock:
            fake.request_count += 1
            number = fake.request_count
            entry = {
                "n": number,
                "path": path,
                "query": parts.query,
                "status": None,
                "team": None,
                "t": time.time(),
            }
            fake.log.append(entry)
            drop = number in fake.drop_requests or (
                fake.drop_every and number % fake.drop_every == 0
            )
            fail = (
                number in fake.fail_requests
                or (fake.fail_every and number % fake.fail_every == 0)
                or (
                    fake.fail_from is not None
                    and number >= fake.fail_from
                    and path.startswith(fake.fail_path_prefix)
                )
            )
            force_429 = number in fake.force_429
            delay = fake.delay if path.startswith(fake.delay_path_prefix) else 0.0
            mid_body = number in fake.mid_body_requests or (
                fake.mid_body_every and number % fake.mid_body_every == 0
            )
            rates, rng = fake.rates, fake._rng
            if any(rates.values()):
                roll = rng.random()
                edge = rates["error"]
                fail = fail or roll < edge
                drop = drop or edge <= roll < (edge := edge + rates["drop"])
                mid_body = mid_body or edge <= roll < edge + rates["mid_body"]
                if rng.random() < rates["slow"]:
                    delay += fake.slow_delay
        if delay:
            time.sleep(delay)
        if drop:
            entry["status"] = "dropped"
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._status = None
        self._entry = entry
        self._mid_body = mid_body
        try:
            self._route(path, parts.query, query, entry, fail, force_429)
        finally:
            entry["status"] = self._status

    # -- routing -------------------------------------------------------------------------------

    def _route(self, path, raw_query, query, entry, fail, force_429) -> None:
        fake = self.fake
        if not path.endswith("/") and path.startswith("/api/"):
            location = path + "/" + (f"?{raw_query}" if raw_query else "")
            self._send(301, None, {"Location": location})
            return
        if fail:
            self._send(500, {"detail": "Internal Server Error (injected)"})
            return
        key = self.headers.get("X-Api-Key")
        auth = self.headers.get("Authorization", "")
        if not key and auth.startswith("Bearer "):
            key = auth[len("Bearer ") :]
        status = 403 if fake.legacy_403 else 401
        challenge = {} if fake.legacy_403 else {"WWW-Authenticate": 'Bearer realm="api"'}
        if not key:
            self._send(
                status, {"detail": "Authentication credentials were not provided."}, challenge
            )
            return
        team = fake.key_team.get(key)
        if team is None:
            self._send(status, {"detail": "Invalid token."}, challenge)
            return
        entry["team"] = team
        if team in fake.fail_teams:
            self._send(503, {"detail": "Service Unavailable (injected for this team)"})
            return
        headers = self._rate(team) or {}
        over = headers.pop("_over", False)
        if force_429 or (over and fake.rate_enforce):
            wait = int(headers["X-RateLimit-Reset"]) if over and not force_429 else fake.retry_after
            extra = dict(headers)
            if fake.send_retry_after_header:
                extra["Retry-After"] = str(wait)
            with fake._lock:
                fake.received_429 += 1
            self._send(429, {"detail": "Rate limit exceeded.", "available_in": wait}, extra)
            return
        if fake.non_json_prefix and path.startswith(fake.non_json_prefix):
            self._send_raw(200, b"<html><body>Maintenance</body></html>", "text/html", headers)
            return
        if fake.wrong_shape_prefix and path.startswith(fake.wrong_shape_prefix):
            self._send(200, {"data": [], "detail": "not a page"}, headers)
            return
        if path == "/api/v2/me/":
            if not fake.has_me:
                self._send(404, {"detail": "Not found."}, headers)
                return
            body = {
                "id": 1,
                "username": "fake",
                "email": "fake@example.org",
                "first_name": "",
                "last_name": "",
                "email_verified": True,
                "team": fake.teams[team],
            }
            self._send(200, body, headers)
        elif path == "/api/experiments/":
            if not fake.has_experiments:
                self._send(404, {"detail": "Not found."}, headers)
                return
            self._experiments(team, query, headers)
        elif path == "/api/sessions/":
            self._sessions(team, query, headers)
        elif path.startswith("/api/sessions/") and path.count("/") == 4:
            session_id = unquote(path[len("/api/sessions/") : -1])
            with fake._lock:
                record = fake._sessions.get(session_id)
                body = fake.detail(record) if record and record["team"]["slug"] == team else None
            if body is None:
                self._send(
                    404, {"detail": "No ExperimentSession matches the given query."}, headers
                )
            else:
                self._send(200, body, headers)
        else:
            self._send(404, {"detail": "Not found."}, headers)

    def _rate(self, team: str) -> dict | None:
        fake = self.fake
        if fake.rate_limit is None:
            return None
        now = time.time()
        window = int(now // fake.rate_window)
        with fake._lock:
            used = fake._buckets.get((team, window), 0) + 1
            fake._buckets[(team, window)] = used
        reset = math.ceil((window + 1) * fake.rate_window - now)
        if fake.rate_reset is not None:
            reset = fake.rate_reset
        return {
            "X-RateLimit-Limit": str(fake.rate_limit),
            "X-RateLimit-Remaining": str(max(0, fake.rate_limit - used)),
            "X-RateLimit-Reset": str(reset),
            "_over": used > fake.rate_limit,
        }

    def _paginate(
        self, rows: list, keys: list[int], descending: bool, query: dict, path: str
    ) -> dict | None:
        """DRF-style cursor page over ``rows`` ordered by ``keys``; None → invalid cursor.

        The cursor holds the last row's position ``p`` and how many rows at that position were
        already served (``o``), like DRF; new rows elsewhere never shift later pages.
        """
        size = _page_size(query.get("page_size"))
        start = 0
        cursor = query.get("cursor")
        if cursor is not None:
            try:
                position, offset = _decode_cursor(cursor)
                position_key = int(position)
            except ValueError:
                return None
            beyond = (lambda k: k < position_key) if descending else (lambda k: k > position_key)
            first_equal = next((i for i, k in enumerate(keys) if k == position_key), None)
            if first_equal is None:
                start = next((i for i, k in enumerate(keys) if beyond(k)), len(rows))
            else:
                start = first_equal + offset
        page = rows[start : start + size]
        body: dict = {"next": None, "previous": None, "results": page}
        params = {k: v for k, v in query.items() if k != "cursor"}
        if start + size < len(rows) and page:
            last = keys[start + len(page) - 1]
            first_equal = next(i for i, k in enumerate(keys) if k == last)
            served = start + len(page) - first_equal
            next_params = dict(params, cursor=_encode_cursor(str(last), served))
            body["next"] = f"{self.fake.origin}{path}?{urlencode(sorted(next_params.items()))}"
        if cursor is not None:
            prev_params = dict(
                params,
                cursor=base64.b64encode(f"p={keys[start] if page else 0}&r=1".encode()).decode(),
            )
            body["previous"] = f"{self.fake.origin}{path}?{urlencode(sorted(prev_params.items()))}"
        elif self.fake.shape != "2025":
            body["count"] = len(rows)
        return body

    def _experiments(self, team: str, query: dict, headers: dict) -> None:
        fake = self.fake
        with fake._lock:
            records = copy.deepcopy(fake.experiments[team])
        for record in records:
            record["url"] = f"{fake.origin}/api/experiments/{record['id']}/"
        body = self._paginate(records, list(range(len(records))), False, query, "/api/experiments/")
        if body is None:
            self._send(404, {"detail": "Invalid cursor"}, headers)
        else:
            self._send(200, body, headers)

    def _sessions(self, team: str, query: dict, headers: dict) -> None:
        fake = self.fake
        experiment = query.get("experiment")
        if experiment:
            try:
                uuid.UUID(experiment)
            except ValueError:
                self._send(400, {"experiment": [f'"{experiment}" is not a valid UUID.']}, headers)
                return
        tags = [t for t in (query.get("tags") or "").split(",") if t]
        versions = {v for v in (query.get("versions") or "").split(",") if v}
        with fake._lock:
            rows, keys = [], []
            descending = query.get("ordering") != "created_at"
            ordered = fake._ordered[team]
            if query.get("ordering") == "created_at":
                ordered = list(reversed(ordered))
            for created_ns, sid in ordered:
                record = fake._sessions[sid]
                if experiment and record["experiment"]["id"] != experiment:
                    continue
                if versions and not any(
                    versions.intersection(m.get("tags") or ()) for m in record["messages"]
                ):
                    continue
                copies = 1
                if tags:
                    copies = sum(
                        1 for t in record.get("tags", []) if t in tags
                    )  # join, no DISTINCT
                item = fake.list_item(record)
                for _ in range(copies):
                    rows.append(item)
                    keys.append(created_ns)
        body = self._paginate(rows, keys, descending, query, "/api/sessions/")
        if body is not None and fake.repeat_next and body["next"] and "cursor" in query:
            # a broken server: every later page links back to itself
            body["next"] = f"{fake.origin}/api/sessions/?{urlencode(sorted(query.items()))}"
        if body is None:
            self._send(404, {"detail": "Invalid cursor"}, headers)
        else:
            self._send(200, body, headers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OCS API seeded with the demo world.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--anchor", type=date.fromisoformat, default=None, help="the demo world's last day"
    )
    parser.add_argument("--shape", choices=("2025", "2026"), default="2026")
    parser.add_argument("--enforce-rate-limit", action="store_true")
    parser.add_argument(
        "--rate-limit", type=int, default=2000, help="requests per team and window it announces"
    )
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    args = parser.parse_args(argv)
    fake = FakeOCS.from_demo(
        args.sessions, args.teams, args.seed, args.anchor, host=args.host, port=args.port
    )
    fake.shape = args.shape
    fake.rate_enforce = args.enforce_rate_limit
    fake.rate_limit = args.rate_limit
    fake.delay = args.delay
    fake.start()
    print(f"fake OCS at {fake.base_url}", flush=True)
    for key, team in fake.key_team.items():
        print(f"  team {team}: OCS_API_KEY={key}", flush=True)
    print(f"OCS_API_KEYS={','.join(fake.keys)}", flush=True)
    try:
        for _ in itertools.count():
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
