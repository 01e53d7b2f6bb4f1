"""What was sent, when, and the delivery history: a diskcache in ``DATA_DIR/cache/alerts``.

It survives restarts and is shared by every process on the machine (web workers, the sync
CLI, cron). Rules:

* an event is **due** on a channel when that channel never delivered its ``key``, or delivered
  it with another ``fingerprint`` (the event changed), or delivered it longer than the quiet
  period ago;
* a failed delivery is **not** recorded as sent, so the next run tries again; it is written to
  the history (shown in the page's Alerts panel) with its redacted error;
* when a rule no longer reports a key (the problem went away), its sent records are dropped, so
  a later recurrence is news again;
* one run at a time: :meth:`AlertState.run_lock` is a ``diskcache.Lock`` that expires, so a
  killed run never blocks the next one for long.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import diskcache

HISTORY_KEY = "history"
LAST_RUN_KEY = "last_run"
HISTORY_SIZE = 200
RUN_LOCK_EXPIRE = 15 * 60


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
        record = self.sent(channel, key)
        if record is None or record.get("fingerprint") != fingerprint:
            return True
        return now - float(record.get("sent_at") or 0) >= quiet_s

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
