"""HTTP client for the OpenChatStudio (OCS) REST API, read-only, one API key = one team.

What it does (see docs/ocs-api.md §2, §4, §7, §12, and docs/sync.md):

* ``X-Api-Key`` header, trailing-slash paths (a slash-less path costs an extra 301).
* Cursor pagination: ``page_size=1500`` on the first request, then ``next`` followed verbatim;
  ``count`` is read from the first page only (absent on 2025 servers); results de-duplicated by
  ``id`` (a ``tags=a,b`` filter returns a session with both tags twice). A ``next`` link that
  repeats stops the listing with :class:`BadAnswer` instead of looping.
* 401/403 → :class:`AuthError` ("API key rejected for team …"); the key itself never appears in
  messages or logs, only a fingerprint such as ``key …abcd``.
* **Retries cover the whole request, body included.** Failures before the response headers
  (refused/dropped connections, read timeouts, 5xx) are retried by urllib3 ``Retry`` on the
  ``HTTPAdapter``; a connection that breaks while the body is read (``IncompleteRead`` →
  requests' ``ChunkedEncodingError``, or a read timeout mid-body) is retried by
  :meth:`OCSClient.get_json` itself. Both are bounded (``ClientPolicy.retries`` each) with
  exponential backoff and jitter, and every retry is counted (:attr:`OCSClient.retries_made`).
* **Pacing by wall clock** (:class:`RateBudget`): all threads of a client share one budget for
  the team, fed by ``X-RateLimit-Limit/Remaining/Reset`` when the server sends them and by the
  documented 2,000 requests per fixed 5-minute window (aligned to the epoch) otherwise. When the
  budget is down to ``rate_reserve`` every thread waits for the window to reset, so an enforcing
  server never has to answer 429. A 429 anyway (another client of the same team) blocks the
  shared budget for ``Retry-After``/``available_in`` (capped), a limited number of times.
* An answer that is not JSON, or a list page without a ``results`` list → :class:`BadAnswer`
  with a clear message.
* Every HTTP request that reaches the wire is counted (:attr:`OCSClient.requests_made`).

The sleep function and the clocks are injectable so tests record waits instead of waiting.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from services.settings import DEFAULT_BASE_URL

log = logging.getLogger(__name__)

PAGE_SIZE = 1500
USER_AGENT = "ocs-session-dashboard/0.1 (+analytics sync)"
DOCUMENTED_LIMIT = 2000
DOCUMENTED_WINDOW_S = 300.0


class OCSError(RuntimeError):
    """A problem talking to OCS; ``str(err)`` is meant for the user and never contains a key."""


class AuthError(OCSError):
    """The API key was rejected (HTTP 401, or 403 on servers before 2025-11-25)."""


class NotFound(OCSError):
    """HTTP 404: unknown route (older server) or a session that no longer exists."""


class RateLimited(OCSError):
    """HTTP 429 kept coming back after the allowed number of waits."""


class ServerError(OCSError):
    """HTTP 5xx (after retries) or another unexpected status."""


class ConnectionFailed(OCSError):
    """Timeouts / refused / dropped connections that persisted after retries."""


class BadAnswer(ServerError):
    """OCS answered, but not with what the API promises (not JSON, wrong shape, cursor loop)."""


@dataclass(frozen=True)
class ClientPolicy:
    """Timeouts, retry and rate-limit caps. Tests shrink these so they run fast."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 4  # retries per request, before the headers (urllib3) and of the body (ours)
    backoff_factor: float = 0.5  # 0.5, 1, 2, 4 s … (+ jitter)
    backoff_max: float = 30.0
    backoff_jitter: float = 0.5
    max_429_retries: int = 5
    max_429_wait: float = 60.0  # cap on one Retry-After wait
    rate_limit: int = DOCUMENTED_LIMIT  # budget per window when the server sends no headers
    rate_window: float = DOCUMENTED_WINDOW_S  # fixed window, aligned to multiples since the epoch
    rate_reserve: int = 20  # keep this many requests of a window unused (clock skew, other tools)
    max_budget_wait: float = DOCUMENTED_WINDOW_S + 10  # cap on one "wait for the reset" pause
    pool_size: int = 16
    page_size: int = PAGE_SIZE  # OCS clamps to 1,500; tests use small pages to get many


def key_fingerprint(api_key: str) -> str:
    """A label for a key that is safe to show: ``key …abcd`` (last 4 characters only)."""
    tail = api_key[-4:] if len(api_key) >= 8 else "?"
    return f"key …{tail}"


class RateBudget:
    """One team's request budget per rate window, shared by all threads, paced by wall clock.

    :meth:`acquire` before each request takes one request of the current window, or waits until
    the window resets when only ``reserve`` are left. :meth:`observe` corrects the estimate from
    ``X-RateLimit-*`` headers (the server's own count, which also includes other clients of the
    team); :meth:`block` empties the budget after a 429. Without headers the window is the
    documented fixed one: ``limit`` requests per ``window`` seconds, aligned to the epoch.
    """

    def __init__(
        self,
        limit: int = DOCUMENTED_LIMIT,
        window: float = DOCUMENTED_WINDOW_S,
        reserve: int = 20,
        *,
        max_wait: float = DOCUMENTED_WINDOW_S + 10,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.limit = limit
        self.window = window
        self.reserve = max(0, min(reserve, limit - 1))
        self.max_wait = max_wait
        self._sleep, self._clock, self._wall = sleep, clock, wall
        self._lock = threading.Lock()
        self._end: float | None = None  # clock() time at which the current window ends
        self._remaining = 0
        self._in_flight = 0
        self.pauses = 0
        self.waited_s = 0.0

    def _open_window(self, now: float) -> None:
        wall = self._wall()
        self._end = now + ((wall // self.window) + 1) * self.window - wall
        self._remaining = self.limit

    def acquire(self) -> None:
        """Take one request of the team's budget, waiting for the next window if needed."""
        while True:
            with self._lock:
                now = self._clock()
                if self._end is None or now >= self._end:
                    self._open_window(now)
                if self._remaining > self.reserve:
                    self._remaining -= 1
                    self._in_flight += 1
                    return
                end = self._end
                wait = min(max(0.0, end - now) + 0.5, self.max_wait)
                self.pauses += 1
                self.waited_s += wait
            log.info("team rate budget used up; pausing %.1f s until the window resets", wait)
            self._sleep(wait)
            with self._lock:
                if self._end == end:  # first thread back opens the next window
                    self._end = None

    def release(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def observe(self, headers) -> None:
        """Update from ``X-RateLimit-Limit/Remaining/Reset`` of an answer (if present)."""
        try:
            remaining = int(headers["X-RateLimit-Remaining"])
            reset = float(headers.get("X-RateLimit-Reset") or self.window)
            limit = int(headers.get("X-RateLimit-Limit") or self.limit)
        except (KeyError, TypeError, ValueError):
            return
        with self._lock:
            now = self._clock()
            end = now + max(0.0, reset)
            self.limit = max(1, limit)
            self.reserve = min(self.reserve, self.limit - 1)
            others = max(0, self._in_flight - 1)  # sent by us, not yet counted in this answer
            if self._end is None or abs(end - self._end) > min(5.0, self.window / 2):
                self._end = end  # the server's window (first reading, or a new window)
                self._remaining = max(0, remaining - others)
            else:
                self._remaining = max(0, min(self._remaining, remaining - others))

    def block(self, seconds: float) -> None:
        """A 429: nobody sends until ``seconds`` from now."""
        with self._lock:
            self._end = self._clock() + max(0.0, seconds)
            self._remaining = 0


class _CountingRetry(Retry):
    """urllib3 ``Retry`` that counts each retry and sleeps through an injectable function.

    It retries below ``requests`` at the connection-pool level: refused connections, connections
    dropped before the response headers (``RemoteDisconnected``), read timeouts and 5xx statuses,
    with exponential backoff and jitter, for idempotent GETs. It cannot see a body that breaks
    after the headers (that surfaces later, while ``requests`` reads the body), so
    :meth:`OCSClient.get_json` retries those itself. 429 is *not* in its status list: ``Retry``
    cannot read the body's ``available_in`` and would honour any ``Retry-After`` without our cap.
    """

    def __init__(self, *args, on_retry=None, sleep_fn=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_retry = on_retry
        self._sleep_fn = sleep_fn or time.sleep

    def new(self, **kw):
        new = super().new(**kw)
        new._on_retry = self._on_retry
        new._sleep_fn = self._sleep_fn
        return new

    def sleep(self, response=None) -> None:
        if self._on_retry is not None:
            self._on_retry()
        backoff = self.get_backoff_time()
        if backoff > 0:
            self._sleep_fn(backoff)


@dataclass
class Page:
    """One page of a cursor-paginated list: its results and (first page only) the total count."""

    results: list
    count: int | None
    next: str | None
    number: int


def _body_broken(exc: requests.RequestException) -> bool:
    """Whether ``exc`` happened while reading the body, after the headers had arrived."""
    if isinstance(
        exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    ):
        return True
    # requests turns a read timeout while streaming the body into a plain ConnectionError;
    # failures before the headers arrive wrapped in urllib3's MaxRetryError (already retried)
    return isinstance(exc, requests.ConnectionError) and not isinstance(
        exc.args[0] if exc.args else None, MaxRetryError
    )


class OCSClient:
    """Client for one OCS API key (= one team). Thread-safe for concurrent GETs."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,  # the API root, e.g. https://host/api
        *,
        policy: ClientPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        if not api_key:
            raise AuthError("no API key given")
        self._key = api_key
        self.fingerprint = key_fingerprint(api_key)
        self.base_url = base_url.rstrip("/")
        self._host = urlsplit(self.base_url).hostname
        self.policy = policy or ClientPolicy()
        self._sleep = sleep
        self.team: dict | None = None  # {"slug", "name"} once known
        self._lock = threading.Lock()
        self.requests_made = 0
        self.retries_made = 0
        self.rate_limited = 0  # 429 answers received
        self._waited_429 = 0.0
        self.budget = RateBudget(
            self.policy.rate_limit,
            self.policy.rate_window,
            self.policy.rate_reserve,
            max_wait=self.policy.max_budget_wait,
            sleep=sleep,
            clock=clock,
            wall=wall,
        )

        self.http = requests.Session()
        self.http.headers.update(
            {"X-Api-Key": api_key, "Accept": "application/json", "User-Agent": USER_AGENT}
        )
        retry = _CountingRetry(
            total=self.policy.retries,
            connect=self.policy.retries,
            read=self.policy.retries,
            status=self.policy.retries,
            other=0,
            allowed_methods=frozenset({"GET", "HEAD"}),
            status_forcelist=(500, 502, 503, 504),
            backoff_factor=self.policy.backoff_factor,
            backoff_max=self.policy.backoff_max,
            backoff_jitter=self.policy.backoff_jitter,
            respect_retry_after_header=False,  # keep waits bounded by our backoff
            raise_on_status=False,  # hand back the last 5xx so we can word the error
            on_retry=self._count_retry,
            sleep_fn=sleep,
        )
        adapter = HTTPAdapter(
            max_retries=retry, pool_connections=2, pool_maxsize=self.policy.pool_size
        )
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)

    # -- bookkeeping -------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """``team <slug>`` when known, else the key fingerprint; used in every message."""
        return f"team {self.team['slug']}" if self.team else self.fingerprint

    @property
    def waited_s(self) -> float:
        """Seconds asked of sleep() for rate-budget pauses and 429 waits (not backoff)."""
        return self.budget.waited_s

    def _count_retry(self) -> None:
        with self._lock:
            self.requests_made += 1
            self.retries_made += 1

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> OCSClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:  # never show the key
        return f"OCSClient({self.base_url!r}, {self.fingerprint})"

    # -- requests ------------------------------------------------------------------------------

    def _url(self, path_or_url: str, params: dict | None = None) -> str:
        if path_or_url.startswith(("http://", "https://")):
            url = path_or_url
            if urlsplit(url).hostname != self._host:
                # Never send the key to another host, whatever a `next` link says.
                raise BadAnswer(f"OCS returned a link to another host ({urlsplit(url).hostname})")
        else:
            path = path_or_url if path_or_url.startswith("/") else "/" + path_or_url
            if not path.endswith("/"):
                path += "/"
            url = self.base_url + path
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        return url

    def _backoff(self, attempt: int) -> None:
        policy = self.policy
        delay = min(policy.backoff_max, policy.backoff_factor * (2**attempt))
        delay += random.uniform(0, policy.backoff_jitter) if policy.backoff_jitter else 0.0
        if delay > 0:
            self._sleep(delay)

    def _get(self, url: str, shown: str) -> requests.Response:
        """One GET, body read completely; broken bodies retried here (bounded, backoff)."""
        attempt = 0
        while True:
            self.budget.acquire()
            with self._lock:
                self.requests_made += 1
            try:
                response = self.http.get(
                    url, timeout=(self.policy.connect_timeout, self.policy.read_timeout)
                )
                self.budget.observe(response.headers)
                return response
            except requests.RequestException as exc:
                if _body_broken(exc) and attempt < self.policy.retries:
                    with self._lock:
                        self.retries_made += 1
                    log.info(
                        "connection broke while reading %s for %s (%s); retrying",
                        shown,
                        self.label,
                        type(exc).__name__,
                    )
                    self._backoff(attempt)
                    attempt += 1
                    continue
                if _body_broken(exc):
                    raise ConnectionFailed(
                        f"the connection to OCS kept breaking while reading {shown} for "
                        f"{self.label} (after {self.policy.retries} retries)"
                    ) from exc
                if isinstance(exc, requests.ConnectionError | requests.Timeout):
                    raise ConnectionFailed(
                        f"could not reach OCS at {self._host} for {self.label} "
                        f"(after {self.policy.retries} retries): {type(exc).__name__}"
                    ) from exc
                raise ConnectionFailed(f"request to OCS failed for {self.label}: {exc}") from exc
            finally:
                self.budget.release()

    def get_json(self, path_or_url: str, params: dict | None = None) -> Any:
        """GET one resource and return its JSON; raises an :class:`OCSError` subclass."""
        url = self._url(path_or_url, params)
        shown = urlsplit(url).path
        attempts_429 = 0
        while True:
            response = self._get(url, shown)
            status = response.status_code
            if status == 200:
                try:
                    return response.json()
                except ValueError as exc:
                    kind = response.headers.get("Content-Type") or "no content type"
                    start = response.text[:60].strip().replace("\n", " ")
                    raise BadAnswer(
                        f"OCS answered {shown} for {self.label} with something that is not JSON "
                        f"({kind}: {start!r}); is OCS_API_BASE_URL the API root (…/api)?"
                    ) from exc
            detail = _detail(response)
            if status in (401, 403):
                raise AuthError(f"API key rejected for {self.label} (HTTP {status}: {detail})")
            if status == 404:
                raise NotFound(f"not found: {shown} ({detail})")
            if status == 429:
                attempts_429 += 1
                with self._lock:
                    self.rate_limited += 1
                if attempts_429 > self.policy.max_429_retries:
                    raise RateLimited(
                        f"OCS rate limit still exceeded for {self.label} after "
                        f"{self.policy.max_429_retries} waits"
                    )
                wait = min(_retry_after(response), self.policy.max_429_wait)
                log.info("rate limited (429) for %s; waiting %.1f s", self.label, wait)
                self.budget.block(wait)
                continue
            if status >= 500:
                raise ServerError(
                    f"OCS server error {status} on {shown} for {self.label} "
                    f"(after {self.policy.retries} retries)"
                )
            raise ServerError(f"OCS answered HTTP {status} on {shown}: {detail}")

    # -- pagination ----------------------------------------------------------------------------

    def iter_pages(
        self, path: str, params: dict | None = None, start: str | None = None
    ) -> Iterator[Page]:
        """Pages of a cursor-paginated list; ``next`` is followed exactly as given.

        ``start`` is a ``next`` link from an earlier listing: the walk continues there (resume,
        rotating re-check). A ``next`` link that repeats raises :class:`BadAnswer`.
        """
        if start:
            body = self.get_json(start)
            seen = {start}
        else:
            body = self.get_json(path, {"page_size": self.policy.page_size, **(params or {})})
            seen = set()
        number = 1
        while True:
            if isinstance(body, list):  # very old servers: a bare list, no envelope
                yield Page(results=body, count=len(body), next=None, number=number)
                return
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise BadAnswer(
                    f"OCS sent an unexpected answer on {path} for {self.label} "
                    "(expected a page with a results list)"
                )
            count = body.get("count") if number == 1 and not start else None
            next_url = body.get("next") or None
            if next_url is not None and not isinstance(next_url, str):
                raise BadAnswer(f"OCS sent a next link that is not a URL on {path}")
            yield Page(
                results=body["results"],
                count=count if isinstance(count, int) else None,
                next=next_url,
                number=number,
            )
            if not next_url or not body["results"]:
                return
            if next_url in seen:
                raise BadAnswer(
                    f"OCS sent the same next-page link twice while listing {path} for "
                    f"{self.label}; stopped instead of looping"
                )
            seen.add(next_url)
            body = self.get_json(next_url)
            number += 1

    def iter_results(
        self,
        path: str,
        params: dict | None = None,
        on_page: Callable[[Page], None] | None = None,
        start: str | None = None,
    ) -> Iterator[Any]:
        """All items of a list, de-duplicated by ``id`` (items without an id pass through)."""
        seen: set[str] = set()
        for page in self.iter_pages(path, params, start):
            if on_page is not None:
                on_page(page)
            for item in page.results:
                item_id = item.get("id") if isinstance(item, dict) else None
                if isinstance(item_id, str | int):
                    if item_id in seen:
                        continue
                    seen.add(item_id)
                yield item

    # -- OCS resources -------------------------------------------------------------------------

    def probe(self) -> dict | None:
        """Check the key and learn its team: ``/api/v2/me/``, else ``/api/experiments/``.

        Returns ``{"slug", "name"}`` or None on servers without ``/api/v2/me/`` (before
        2026-06); the team then comes from the first session record. The sync calls this only
        when the session list itself could not name the team (a team without sessions).
        """
        try:
            me = self.get_json("/v2/me/")
        except NotFound:
            # very old server: if this 404s too, the session list will tell
            with contextlib.suppress(NotFound):
                self.get_json("/experiments/", {"page_size": 1})
            return None
        team = me.get("team") if isinstance(me, dict) else None
        if isinstance(team, dict) and (team.get("slug") or team.get("name")):
            self.team = {
                "slug": str(team.get("slug") or team.get("name")),
                "name": str(team.get("name") or team.get("slug")),
            }
        return self.team

    def experiments(self) -> list:
        """The team's working chatbots (experiments) with published versions; [] if 404."""
        try:
            return list(self.iter_results("/experiments/"))
        except NotFound:
            return []

    def sessions(
        self,
        on_page: Callable[[Page], None] | None = None,
        start: str | None = None,
        **filters: str,
    ) -> Iterator[Any]:
        """Session list items, newest first (``ordering=-created_at``), de-duplicated.

        ``start``: continue an earlier listing at that ``next`` link.
        """
        params = {"ordering": "-created_at", **filters}
        return self.iter_results("/sessions/", params, on_page=on_page, start=start)

    def session_detail(self, session_id: str) -> Any:
        """One session with its messages (and ``usage`` on 2026 servers)."""
        return self.get_json(f"/sessions/{quote(session_id, safe='')}/")


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason or f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"]
    return str(body)[:200]


def _retry_after(response: requests.Response) -> float:
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    try:
        body = response.json()
        value = body.get("available_in") if isinstance(body, dict) else None
        if isinstance(value, int | float):
            return max(0.0, float(value))
    except ValueError:
        pass
    return 5.0
