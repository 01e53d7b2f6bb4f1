"""Shared sync status and the cross-process sync lock, kept in a diskcache at ``status_dir``.

One sync of OCS sessions runs at a time across browser tabs, users, gunicorn workers and the
``python -m services.sync`` CLI. Every viewer reads the same status record, so a page reload or a
second user sees "sync in progress · team 2/3 · sessions 3,000 / 14,320" and later
"last synced at …" (docs/dash-notes.md §1.8).

The lock record is ``{pid, host, create_time, started_at, heartbeat_at, token}``. A holder that
was killed (SIGKILL, OOM, dyno restart) is detected: on the same host its pid is gone (or now
belongs to a different process, compared by process start time); on any host its heartbeat is
older than :data:`LOCK_STALE_AFTER`. A stale lock is taken over atomically inside a diskcache
transaction.

Public API (used by the Dash UI): :func:`read_status`, :func:`request_cancel`,
:func:`is_running`, :func:`sync_lock`, :func:`claim_auto_start`, :class:`SyncAlreadyRunning`,
and :func:`outcome_text` (the one-line outcome of the last sync: failed teams, "no changes").

With ``REDIS_URL`` set the same functions use Redis (:mod:`services.sync.shared`): every
instance and the worker then share one lock (TTL with heartbeat) and one status record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import diskcache
import psutil

log = logging.getLogger(__name__)

LOCK_KEY = "sync:lock"
STATUS_KEY = "sync:status"
CANCEL_KEY = "sync:cancel"
LOCK_STALE_AFTER = 30 * 60.0
"""A holder whose heartbeat is older than this is presumed dead (the running sync heartbeats on
every progress update; its longest silent period is one rate-limit pause of at most 5 min)."""
DIED_MESSAGE = "sync process stopped unexpectedly"

STATES = ("idle", "running", "ok", "partial", "error", "cancelled")
"""``partial``: some teams synced and landed, others failed (``failed_teams`` says which, why)."""
_DEFAULT_STATUS = {
    "state": "idle",
    "phase": "",
    "message": "",
    "team_index": 0,
    "team_count": 0,
    "sessions_done": 0,
    "sessions_total": None,
    "transcripts_done": 0,
    "transcripts_total": 0,
    "started_at": None,
    "finished_at": None,
    "last_ok_at": None,
    "last_checked_at": None,  # when a sync last finished checking OCS (also with no changes)
    "changed": None,  # whether that sync found changes (False: no new generation written)
    "failed_teams": [],  # [{"team": "team slug" or "key …abcd", "error": "why"}] of the last sync
    "resumed": 0,  # transcripts taken over from an interrupted run (see services.sync.checkpoint)
    "last_error": None,
    "summary": None,
    "running": False,
}

_caches: dict[tuple[int, str], diskcache.Cache] = {}
_caches_lock = threading.Lock()


class SyncAlreadyRunning(RuntimeError):
    """Another sync holds the lock; ``str(err)`` says who and since when."""

    def __init__(self, holder: dict | None):
        self.holder = holder or {}
        since = self.holder.get("started_at")
        when = time.strftime("%H:%M:%S UTC", time.gmtime(since)) if since else "a moment ago"
        who = f"pid {self.holder.get('pid', '?')} on {self.holder.get('host', '?')}"
        super().__init__(f"a sync is already running ({who}, started {when})")


def _shared(settings):
    """The Redis coordination when ``settings`` has ``REDIS_URL``, else None (diskcache)."""
    if getattr(settings, "redis_url", ""):
        from services.sync.shared import coordination

        return coordination(settings)
    return None


def _settings_dir(settings_or_dir) -> Path:
    return Path(getattr(settings_or_dir, "status_dir", settings_or_dir))


def status_cache(settings) -> diskcache.Cache:
    """The status cache for ``settings.status_dir`` (one handle per process and directory).

    A separate cache from the Dash callback-result cache; eviction is off so the lock and
    status are never culled.
    """
    directory = _settings_dir(settings)
    key = (os.getpid(), str(directory.resolve()))
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None:
            directory.mkdir(parents=True, exist_ok=True)
            cache = diskcache.Cache(str(directory), eviction_policy="none", timeout=30)
            _caches[key] = cache
        return cache


def _process_start(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        return None


def holder_alive(holder: dict | None, now: float | None = None) -> bool:
    """Whether the lock holder described by ``holder`` is still running."""
    if not holder:
        return False
    now = time.time() if now is None else now
    if now - float(holder.get("heartbeat_at") or holder.get("started_at") or 0) > LOCK_STALE_AFTER:
        return False
    if holder.get("host") != socket.gethostname():
        return True  # cannot see the process; trust the heartbeat
    pid = holder.get("pid")
    if not isinstance(pid, int) or not psutil.pid_exists(pid):
        return False
    started = _process_start(pid)
    expected = holder.get("create_time")
    if started is None:
        return False
    # pid reuse: the pid now belongs to a process started after our holder
    return not (expected is not None and abs(started - float(expected)) > 1.0)


class LockHandle:
    """The held sync lock: :meth:`heartbeat` keeps it fresh, the context manager releases it."""

    def __init__(self, cache: diskcache.Cache, record: dict):
        self.cache = cache
        self.record = record
        self.token = record["token"]

    def heartbeat(self) -> None:
        with self.cache.transact():
            current = self.cache.get(LOCK_KEY)
            if isinstance(current, dict) and current.get("token") == self.token:
                current["heartbeat_at"] = time.time()
                self.cache.set(LOCK_KEY, current)

    def cancel_requested(self) -> bool:
        flag = self.cache.get(CANCEL_KEY)
        return flag == self.token

    def release(self) -> None:
        with self.cache.transact():
            current = self.cache.get(LOCK_KEY)
            if isinstance(current, dict) and current.get("token") == self.token:
                self.cache.delete(LOCK_KEY)
            if self.cache.get(CANCEL_KEY) == self.token:
                self.cache.delete(CANCEL_KEY)


def acquire_lock(settings) -> LockHandle:
    """Take the sync lock or raise :class:`SyncAlreadyRunning`; stale locks are taken over."""
    shared = _shared(settings)
    if shared is not None:
        return shared.acquire(SyncAlreadyRunning)
    cache = status_cache(settings)
    pid = os.getpid()
    now = time.time()
    record = {
        "pid": pid,
        "host": socket.gethostname(),
        "create_time": _process_start(pid),
        "started_at": now,
        "heartbeat_at": now,
        "token": uuid.uuid4().hex,
    }
    with cache.transact():
        current = cache.get(LOCK_KEY)
        if isinstance(current, dict) and holder_alive(current, now):
            raise SyncAlreadyRunning(current)
        if current is not None:
            log.warning(
                "taking over a stale sync lock (pid %s on %s)",
                current.get("pid"),
                current.get("host"),
            )
        cache.set(LOCK_KEY, record)
        cache.delete(CANCEL_KEY)
    return LockHandle(cache, record)


@contextlib.contextmanager
def sync_lock(settings) -> Iterator[LockHandle]:
    """Hold the one-sync-at-a-time lock for the ``with`` block.

    Raises :class:`SyncAlreadyRunning` when another live process holds it.
    """
    handle = acquire_lock(settings)
    try:
        yield handle
    finally:
        handle.release()


def write_status(settings, **fields) -> dict:
    """Merge ``fields`` into the shared status record and return the new record."""
    shared = _shared(settings)
    if shared is not None:
        return shared.write_status(_DEFAULT_STATUS, fields)
    cache = status_cache(settings)
    with cache.transact():
        current = cache.get(STATUS_KEY)
        status = dict(_DEFAULT_STATUS, **(current if isinstance(current, dict) else {}))
        status.update(fields)
        cache.set(STATUS_KEY, status)
    return status


def read_status(settings) -> dict:
    """The shared sync status (keys in the module's ``_DEFAULT_STATUS``), for any viewer.

    ``running`` is True only while the state is "running" *and* the lock holder is alive; a
    "running" record whose holder died is reported as state "error" with
    ``last_error == "sync process stopped unexpectedly"``.
    """
    shared = _shared(settings)
    if shared is not None:
        raw = shared.raw_status()
        alive = shared.is_running
    else:
        cache = status_cache(settings)
        raw = cache.get(STATUS_KEY)

        def alive() -> bool:
            return holder_alive(cache.get(LOCK_KEY))

    status = dict(_DEFAULT_STATUS, **(raw if isinstance(raw, dict) else {}))
    if status["state"] == "running":
        if alive():
            status["running"] = True
        else:
            status.update(
                state="error",
                running=False,
                last_error=DIED_MESSAGE,
                message=DIED_MESSAGE,
            )
    else:
        status["running"] = False
    return status


def is_running(settings) -> bool:
    """Whether a live process holds the sync lock right now."""
    shared = _shared(settings)
    if shared is not None:
        return shared.is_running()
    return holder_alive(status_cache(settings).get(LOCK_KEY))


def request_cancel(settings) -> bool:
    """Ask the running sync to stop at its next page/transcript; its old data stays served.

    Returns False when no sync is running.
    """
    shared = _shared(settings)
    if shared is not None:
        if not shared.request_cancel():
            return False
        write_status(settings, message="cancelling…")
        return True
    cache = status_cache(settings)
    with cache.transact():
        holder = cache.get(LOCK_KEY)
        if not holder_alive(holder):
            return False
        cache.set(CANCEL_KEY, holder["token"])
    write_status(settings, message="cancelling…")
    return True


def outcome_text(status: dict) -> str | None:
    """A line about the last finished sync for the page, or None when there is nothing to say.

    ``partial`` → which teams failed and why (the others' data landed); ``ok`` without changes
    → "no changes" with the check time.
    """
    if status.get("running"):
        return None
    state = status.get("state")
    if state == "partial":
        failed = status.get("failed_teams") or []
        teams = "; ".join(f"{f.get('team')}: {f.get('error')}" for f in failed)
        return f"Last sync partly failed, other teams updated — {teams}"
    if state == "ok" and status.get("changed") is False and status.get("last_checked_at"):
        stamp = time.strftime("%H:%M UTC", time.gmtime(status["last_checked_at"]))
        return f"Last sync at {stamp}: no changes"
    return None


AUTO_START_KEY = "sync:auto-start-at"


def claim_auto_start(settings, retry_after: float, now: float | None = None) -> bool:
    """True for exactly one caller per ``retry_after`` s while no sync runs (first-run start)."""
    shared = _shared(settings)
    if shared is not None:
        return shared.claim_auto_start(retry_after)
    now = now or time.time()
    cache = status_cache(settings)
    with cache.transact():
        if is_running(settings):
            return False
        last = cache.get(AUTO_START_KEY)
        if last is not None and now - last < retry_after:
            return False
        cache.set(AUTO_START_KEY, now)
    return True
