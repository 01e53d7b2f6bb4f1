"""What was sent, when, and the delivery history.

Two backends with one interface, chosen by :func:`open_state`:

* **embedded** (no ``REDIS_URL``): :class:`AlertState`, a diskcache in ``DATA_DIR/cache/alerts``;
  it survives restarts and is shared by every process on the machine (web workers, the sync
  CLI, cron);
* **hosted** (``REDIS_URL`` set): :class:`RedisAlertState`, keys under ``REDIS_KEY_PREFIX``
  (``ocs:alerts:*``) in the shared Redis, so a restarted worker dyno (empty disk) still knows
  what it sent, and every web dyno's Alerts panel shows the worker's deliveries.

Rules:

* an event is **due** on a channel when that channel never delivered its ``key``, or delivered
  it with another ``fingerprint`` (the event changed), or delivered it longer than the quiet
  period ago;
* a failed delivery is **not** recorded as sent, so the next run tries again; it is written to
  the history (shown in the page's Alerts panel) with its redacted error;
* when a rule no longer reports a key (the problem went away), its sent records are dropped, so
  a later recurrence is news again;
* one run at a time: :meth:`AlertState.run_lock` is a ``diskcache.Lock`` (hosted: redis-py's
  ``Lock``) that expires, so a killed run never blocks the next one for long.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import diskcache

HISTORY_KEY = "history"
LAST_RUN_KEY = "last_run"
HISTORY_SIZE = 200
RUN_LOCK_EXPIRE = 15 * 60


def is_due(record: dict | None, fingerprint: str, now: float, quiet_s: float) -> bool:
    """The rule above for one sent ``record`` (None: never delivered), for both backends."""
    if record is None or record.get("fingerprint") != fingerprint:
        return True
    return now - float(record.get("sent_at") or 0) >= quiet_s


def state_dir(settings) -> Path:
    return Path(settings.data_dir) / "cache" / "alerts"


class AlertState:
    def __init__(self, settings):
        directory = state_dir(settings)
        directory.mkdir(parents=True, exist_ok=True)
        self.cache = diskcache.Cache(str(directory), eviction_policy="none", timeout=30)

    def close(self) -> None:
        self.cache.close()

    def __enter__(self) -> AlertState:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def run_lock(self):
        lock = diskcache.Lock(self.cache, "run-lock", expire=RUN_LOCK_EXPIRE)
        lock.acquire()
        try:
            yield
        finally:
            lock.release()

    # ---- de-duplication -------------------------------------------------------------------

    @staticmethod
    def _sent_key(channel: str, key: str) -> tuple:
        return ("sent", channel, key)

    def sent(self, channel: str, key: str) -> dict | None:
        record = self.cache.get(self._sent_key(channel, key))
        return record if isinstance(record, dict) else None

    def due(self, channel: str, key: str, fingerprint: str, now: float, quiet_s: float) -> bool:
        return is_due(self.sent(channel, key), fingerprint, now, quiet_s)

    def mark_sent(self, channel: str, key: str, fingerprint: str, rule: str, now: float) -> None:
        self.cache.set(
            self._sent_key(channel, key),
            {"fingerprint": fingerprint, "sent_at": now, "rule": rule},
        )

    def forget_resolved(self, rule: str, active_keys: set[str]) -> int:
        """Drop sent records of ``rule`` whose key is no longer reported; returns how many."""
        dropped = 0
        for cache_key in list(self.cache.iterkeys()):
            if not (isinstance(cache_key, tuple) and cache_key[:1] == ("sent",)):
                continue
            record = self.cache.get(cache_key)
            if (
                isinstance(record, dict)
                and record.get("rule") == rule
                and cache_key[2] not in active_keys
                and not cache_key[2].startswith("report:")
            ):
                self.cache.delete(cache_key)
                dropped += 1
        return dropped

    # ---- history --------------------------------------------------------------------------

    def record(self, entries: list[dict]) -> None:
        if not entries:
            return
        with self.cache.transact():
            history = self.cache.get(HISTORY_KEY) or []
            history = (list(entries) + list(history))[:HISTORY_SIZE]
            self.cache.set(HISTORY_KEY, history)

    def history(self, limit: int = 50) -> list[dict]:
        """Newest first: ``at``, ``rule``, ``key``, ``channel``, ``status`` (delivered |
        failed), ``title``, ``error``."""
        return list(self.cache.get(HISTORY_KEY) or [])[:limit]

    def set_last_run(self, summary: dict) -> None:
        self.cache.set(LAST_RUN_KEY, dict(summary, at=summary.get("at", time.time())))

    def last_run(self) -> dict | None:
        value = self.cache.get(LAST_RUN_KEY)
        return value if isinstance(value, dict) else None


class RedisAlertState:
    """:class:`AlertState` in the shared Redis (hosted mode); the same methods and rules.

    Keys (``P`` = ``REDIS_KEY_PREFIX``): ``P alerts:sent`` a hash of ``channel\\x1fkey`` → the
    JSON sent record; ``P alerts:history`` a list, newest first, trimmed to
    :data:`HISTORY_SIZE`; ``P alerts:last-run`` JSON; ``P alerts:run-lock`` the run lock.
    Redis errors propagate as :class:`services.redis_client.RedisUnavailable` (one line, no URL).
    """

    def __init__(self, settings):
        from services import redis_client

        self._redis_client = redis_client
        self.redis = redis_client.client(settings, decode=True)
        prefix = f"{settings.redis_key_prefix}alerts:"
        self.sent_key = f"{prefix}sent"
        self.history_key = f"{prefix}history"
        self.last_run_key = f"{prefix}last-run"
        self.lock_key = f"{prefix}run-lock"

    def close(self) -> None:
        """Nothing to close: the process-wide client is shared (redis_client.client)."""

    def __enter__(self) -> RedisAlertState:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _errors(self):
        import redis

        try:
            yield
        except (redis.RedisError, OSError) as exc:
            if isinstance(exc, redis.exceptions.LockError):
                raise
            raise self._redis_client.RedisUnavailable(
                f"the alert state in Redis could not be used ({self._redis_client.describe(exc)})"
            ) from exc

    @contextmanager
    def run_lock(self):
        with self._errors():
            lock = self.redis.lock(self.lock_key, timeout=RUN_LOCK_EXPIRE, blocking_timeout=None)
            lock.acquire()
        try:
            yield
        finally:
            import redis

            # expired meanwhile (a run longer than the lock's timeout): nothing to release
            with suppress(redis.exceptions.LockError), self._errors():
                lock.release()

    @staticmethod
    def _field(channel: str, key: str) -> str:
        return f"{channel}\x1f{key}"

    def sent(self, channel: str, key: str) -> dict | None:
        with self._errors():
            raw = self.redis.hget(self.sent_key, self._field(channel, key))
        record = _loads(raw)
        return record if isinstance(record, dict) else None

    def due(self, channel: str, key: str, fingerprint: str, now: float, quiet_s: float) -> bool:
        return is_due(self.sent(channel, key), fingerprint, now, quiet_s)

    def mark_sent(self, channel: str, key: str, fingerprint: str, rule: str, now: float) -> None:
        record = {"fingerprint": fingerprint, "sent_at": now, "rule": rule}
        with self._errors():
            self.redis.hset(self.sent_key, self._field(channel, key), json.dumps(record))

    def forget_resolved(self, rule: str, active_keys: set[str]) -> int:
        with self._errors():
            records = self.redis.hgetall(self.sent_key)
            stale = []
            for name, raw in records.items():
                _channel, _, key = name.partition("\x1f")
                record = _loads(raw)
                if (
                    isinstance(record, dict)
                    and record.get("rule") == rule
                    and key not in active_keys
                    and not key.startswith("report:")
                ):
                    stale.append(name)
            if stale:
                self.redis.hdel(self.sent_key, *stale)
        return len(stale)

    def record(self, entries: list[dict]) -> None:
        if not entries:
            return
        with self._errors():
            pipe = self.redis.pipeline()
            # LPUSH of a reversed list leaves ``entries[0]`` first, like the diskcache backend
            pipe.lpush(self.history_key, *[json.dumps(e, default=str) for e in reversed(entries)])
            pipe.ltrim(self.history_key, 0, HISTORY_SIZE - 1)
            pipe.execute()

    def history(self, limit: int = 50) -> list[dict]:
        with self._errors():
            raw = self.redis.lrange(self.history_key, 0, max(0, limit - 1))
        return [e for e in (_loads(r) for r in raw) if isinstance(e, dict)]

    def set_last_run(self, summary: dict) -> None:
        value = dict(summary, at=summary.get("at", time.time()))
        with self._errors():
            self.redis.set(self.last_run_key, json.dumps(value, default=str))

    def last_run(self) -> dict | None:
        with self._errors():
            value = _loads(self.redis.get(self.last_run_key))
        return value if isinstance(value, dict) else None


def _loads(raw):
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None


def open_state(settings) -> AlertState | RedisAlertState:
    """The alert state for these settings: in Redis when ``REDIS_URL`` is set, else on disk."""
    if getattr(settings, "redis_url", ""):
        return RedisAlertState(settings)
    return AlertState(settings)
