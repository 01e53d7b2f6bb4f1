"""HTTP client for the OpenChatStudio (OCS) REST API, read-only, one API key = one team.

What it does (see docs/ocs-api.md §2, §4, §7, §12):

* ``X-Api-Key`` header, trailing-slash paths (a slash-less path costs an extra 301).
* Cursor pagination: ``page_size=1500`` on the first request, then ``next`` followed verbatim;
  ``count`` is read from the first page only (absent on 2025 servers); results de-duplicated by
  ``id`` (a ``tags=a,b`` filter returns a session with both tags twice).
* 401/403 → :class:`AuthError` ("API key rejected for team …"); the key itself never appears in
  messages or logs, only a fingerprint such as ``key …abcd``.
* 5xx, timeouts and dropped connections → retried by urllib3 ``Retry`` with exponential backoff
  and jitter, bounded; then :class:`ServerError` / :class:`ConnectionFailed`.
* 429 → wait ``Retry-After`` (or the body's ``available_in``), capped, a limited number of times.
* ``X-RateLimit-Remaining``/``X-RateLimit-Reset`` → pause until the window resets before the
  team's shared budget (2000 requests / 5 min) runs out. Bounded, because a log-only server
  reports ``Remaining: 0`` with HTTP 200 and keeps serving.
* Every HTTP request that reaches the wire is counted (:attr:`OCSClient.requests_made`).

The sleep function is injectable (``sleep=``) so tests record waits instead of waiting.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from services.settings import DEFAULT_BASE_URL

log = logging.getLogger(__name__)

PAGE_SIZE = 1500
USER_AGENT = "ocs-session-dashboard/0.1 (+analytics sync)"


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


@dataclass(frozen=True)
class ClientPolicy:
    """Timeouts, retry and rate-limit caps. Tests shrink these so they run fast."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 4  # 5xx / connection / read-timeout retries per request
    backoff_factor: float = 0.5  # 0.5, 1, 2, 4 s … (+ jitter)
    backoff_max: float = 30.0
    backoff_jitter: float = 0.5
    max_429_retries: int = 5
    max_429_wait: float = 60.0  # cap on one Retry-After wait
    rate_reserve: int = 20  # pause when X-RateLimit-Remaining drops to this
    max_budget_wait: float = 300.0  # cap on one "wait for the window to reset" pause
    max_total_budget_wait: float = 900.0  # after this much pausing, stop pausing (log-only server)
    pool_size: int = 16


def key_fingerprint(api_key: str) -> str:
    """A label for a key that is safe to show: ``key …abcd`` (last 4 characters only)."""
    tail = api_key[-4:] if len(api_key) >= 8 else "?"
    return f"key …{tail}"


class _CountingRetry(Retry):
    """urllib3 ``Retry`` that counts each retry and sleeps through an injectable function.

    Why urllib3 ``Retry`` on an ``HTTPAdapter``: it retries below ``requests`` at the
    connection-pool level, so it covers refused connections, connections dropped mid-response
    (``RemoteDisconnected``), read timeouts and 5xx statuses uniformly, with exponential backoff
    and jitter, and it knows GET is idempotent. 429 is *not* in its status list: ``Retry`` cannot
    read the body's ``available_in`` and would honour any ``Retry-After`` without our cap, so
    :class:`OCSClient` handles 429 itself.
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
    ):
        if not api_key:
            raise AuthError("no API key given")
        self._key = api_key
        self.fingerprint = key_fingerprint(api_key)
        self.base_url = base_url.rstrip("/")
        self._host = urlsplit(self.base_url).hostname
        self.policy = policy or ClientPolicy()
        self._sleep = sleep
        self._clock = clock
        self.team: dict | None = None  # {"slug", "name"} once known
        self._lock = threading.Lock()
        self.requests_made = 0
        self.retries_made = 0
        self.waited_s = 0.0  # total time asked of sleep() for 429 / budget pauses
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._budget_waited = 0.0
        self._budget_gave_up = False

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

    # -- rate budget ---------------------------------------------------------------------------

    def _note_rate_headers(self, response: requests.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        if remaining is None:
            return
        try:
            remaining_n = int(remaining)
            reset_s = float(reset) if reset is not None else 60.0
        except ValueError:
            return
        with self._lock:
            self._remaining = remaining_n
            self._reset_at = self._clock() + max(0.0, reset_s)

    def _pause_for_budget(self) -> None:
        """Sleep until the rate window resets when the team's budget is nearly used up."""
        with self._lock:
            if (
                self._budget_gave_up
                or self._remaining is None
                or self._remaining > self.policy.rate_reserve
            ):
                return
            wait = (self._reset_at or 0.0) - self._clock()
            if wait <= 0:
                self._remaining = None
                return
            room = self.policy.max_total_budget_wait - self._budget_waited
            if room <= 0:
                self._budget_gave_up = True
                log.warning(
                    "rate budget still reported exhausted for %s after %.0f s of pauses; "
                    "continuing without pausing (server in log-only mode?)",
                    self.label,
                    self._budget_waited,
                )
                return
            wait = min(wait + 0.5, self.policy.max_budget_wait, room)
            self._budget_waited += wait
            self.waited_s += wait
            # Forget the reading: the next response tells us the new window's budget.
            self._remaining = None
        log.info("rate budget low for %s; pausing %.1f s until the window resets", self.label, wait)
        self._sleep(wait)

    # -- requests ------------------------------------------------------------------------------

    def _url(self, path_or_url: str, params: dict | None = None) -> str:
        if path_or_url.startswith(("http://", "https://")):
            url = path_or_url
            if urlsplit(url).hostname != self._host:
                # Never send the key to another host, whatever a `next` link says.
                raise OCSError(f"OCS returned a link to another host ({urlsplit(url).hostname})")
        else:
            path = path_or_url if path_or_url.startswith("/") else "/" + path_or_url
            if not path.endswith("/"):
                path += "/"
            url = self.base_url + path
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        return url

    def get_json(self, path_or_url: str, params: dict | None = None) -> Any:
        """GET one resource and return its JSON; raises an :class:`OCSError` subclass."""
        url = self._url(path_or_url, params)
        shown = urlsplit(url).path
        attempts_429 = 0
        while True:
            self._pause_for_budget()
            with self._lock:
                self.requests_made += 1
            try:
                response = self.http.get(
                    url, timeout=(self.policy.connect_timeout, self.policy.read_timeout)
                )
            except requests.exceptions.RetryError as exc:  # pragma: no cover - raise_on_status off
                raise ServerError(f"OCS kept failing on {shown} for {self.label}") from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise ConnectionFailed(
                    f"could not reach OCS at {self._host} for {self.label} "
                    f"(after {self.policy.retries} retries): {type(exc).__name__}"
                ) from exc
            except requests.RequestException as exc:
                raise ConnectionFailed(f"request to OCS failed for {self.label}: {exc}") from exc
            self._note_rate_headers(response)
            status = response.status_code
            if status == 200:
                try:
                    return response.json()
                except ValueError as exc:
                    raise ServerError(f"OCS sent invalid JSON on {shown}") from exc
            detail = _detail(response)
            if status in (401, 403):
                raise AuthError(f"API key rejected for {self.label} (HTTP {status}: {detail})")
            if status == 404:
                raise NotFound(f"not found: {shown} ({detail})")
            if status == 429:
                attempts_429 += 1
                if attempts_429 > self.policy.max_429_retries:
                    raise RateLimited(
                        f"OCS rate limit still exceeded for {self.label} after "
                        f"{self.policy.max_429_retries} waits"
                    )
                wait = min(_retry_after(response), self.policy.max_429_wait)
                with self._lock:
                    self.waited_s += wait
                log.info("rate limited (429) for %s; waiting %.1f s", self.label, wait)
                self._sleep(wait)
                continue
            if status >= 500:
                raise ServerError(
                    f"OCS server error {status} on {shown} for {self.label} "
                    f"(after {self.policy.retries} retries)"
                )
            raise ServerError(f"OCS answered HTTP {status} on {shown}: {detail}")

    # -- pagination ----------------------------------------------------------------------------

    def iter_pages(self, path: str, params: dict | None = None) -> Iterator[Page]:
        """Pages of a cursor-paginated list; ``next`` is followed exactly as given."""
        query = {"page_size": PAGE_SIZE, **(params or {})}
        body = self.get_json(path, query)
        number = 1
        while True:
            if isinstance(body, list):  # very old servers: a bare list, no envelope
                yield Page(results=body, count=len(body), next=None, number=number)
                return
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise ServerError(f"OCS sent an unexpected page on {path} (no results list)")
            count = body.get("count") if number == 1 else None
            next_url = body.get("next") or None
            yield Page(
                results=body["results"],
                count=count if isinstance(count, int) else None,
                next=next_url,
                number=number,
            )
            if not next_url or not body["results"]:
                return
            body = self.get_json(next_url)
            number += 1

    def iter_results(
        self, path: str, params: dict | None = None, on_page: Callable[[Page], None] | None = None
    ) -> Iterator[Any]:
        """All items of a list, de-duplicated by ``id`` (items without an id pass through)."""
        seen: set[str] = set()
        for page in self.iter_pages(path, params):
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
        2026-06); the team then comes from the first session record.
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
        self, on_page: Callable[[Page], None] | None = None, **filters: str
    ) -> Iterator[Any]:
        """Session list items, newest first (``ordering=-created_at``), de-duplicated."""
        params = {"ordering": "-created_at", **filters}
        return self.iter_results("/sessions/", params, on_page=on_page)

    def session_detail(self, session_id: str) -> Any:
        """One session with its messages (and ``usage`` on 2026 servers)."""
        from urllib.parse import quote

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
