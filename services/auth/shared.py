"""Sign-in state shared by every gunicorn worker: sessions, rate-limit counters, used form tokens.

Two back ends, chosen by ``REDIS_URL``:

* **Redis** (``REDIS_URL`` set): Flask-Session's Redis interface, Flask-Limiter's (``limits``)
  Redis storage and ``SET NX EX`` for used form tokens. Shared by every worker and instance.
* **diskcache** (default): one SQLite-backed :class:`diskcache.Cache` per kind under
  ``DATA_DIR/cache/auth``. Shared by every worker process on the machine; diskcache
  transactions (``BEGIN IMMEDIATE``) make each counter update atomic across processes.

Why a diskcache storage for Flask-Limiter: its storages (``limits``) are memory, Redis,
Memcached, MongoDB and etcd. Memory is per process, so with 2 gunicorn workers each worker
would count separately (twice the allowed attempts, more with more workers), and the others
are servers this app does not need for one machine. ``limits`` lets a package register a
storage scheme; :class:`DiskcacheLimitStorage` adds ``diskcache://<directory>`` with the
fixed-window operations (``incr``/``get``/``get_expiry``) done in one transaction each.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

import diskcache
from cachelib.base import BaseCache
from limits.storage import Storage

from services.redis_client import client

__all__ = [
    "DiskSessionCache",
    "DiskcacheLimitStorage",
    "OnceTokens",
    "limits_storage_uri",
    "redis_client",
]

CACHE_TIMEOUT = 10
"""Seconds a diskcache operation waits for SQLite's write lock before giving up."""
SIZE_LIMIT = 64 * 2**20
"""Bytes per diskcache directory; beyond it the least recently stored entries are dropped."""


def _open(directory: Path | str) -> diskcache.Cache:
    Path(directory).mkdir(parents=True, exist_ok=True)
    return diskcache.Cache(str(directory), size_limit=SIZE_LIMIT, timeout=CACHE_TIMEOUT)


def redis_client(settings):
    """The process's bytes-returning Redis client for ``settings.redis_url`` (with the TLS
    settings every Redis user shares, :func:`services.redis_client.client`)."""
    return client(settings, decode=False)


def limits_storage_uri(redis_url: str, directory: Path) -> str:
    """The ``limits`` storage URI: Redis when configured, else diskcache in ``directory``."""
    if redis_url:
        if redis_url.startswith("unix://"):
            return "redis+unix://" + redis_url.removeprefix("unix://")
        return redis_url
    return "diskcache://" + str(Path(directory).resolve())


class DiskcacheLimitStorage(Storage):
    """``limits`` storage on a diskcache directory: ``diskcache:///abs/path``.

    Supports the fixed-window strategy (what :mod:`services.web.security` uses). Each key
    holds ``(count, reset_at)``; an increment reads and writes it inside one diskcache
    transaction, so concurrent workers never lose or double-count a hit.
    """

    STORAGE_SCHEME: ClassVar[list[str]] = ["diskcache"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        path = unquote(urlsplit(uri or "").path)
        if not path:
            raise ValueError("diskcache storage needs a directory: diskcache:///path/to/dir")
        self.cache = _open(path)
        self.clock = time.time

    @property
    def base_exceptions(self):
        return (diskcache.Timeout, sqlite3.OperationalError)

    def _record(self, key: str) -> tuple[int, float] | None:
        record = self.cache.get(key)
        if record is None or record[1] <= self.clock():
            return None
        return record

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        with self.cache.transact():
            now = self.clock()
            record = self._record(key)
            count, reset_at = record if record else (0, now + expiry)
            count += amount
            self.cache.set(key, (count, reset_at), expire=max(reset_at - now, 0.001))
        return count

    def get(self, key: str) -> int:
        record = self._record(key)
        return record[0] if record else 0

    def get_expiry(self, key: str) -> float:
        record = self._record(key)
        return record[1] if record else self.clock()

    def check(self) -> bool:
        try:
            self.cache.get("__check__")
        except Exception:
            return False
        return True

    def reset(self) -> int | None:
        return self.cache.clear()

    def clear(self, key: str) -> None:
        self.cache.delete(key)


class DiskSessionCache(BaseCache):
    """A :mod:`cachelib` cache on diskcache, for Flask-Session's ``cachelib`` interface.

    Flask-Session stores each session under its random id with the session lifetime as
    timeout; a deleted record (sign-out) is gone for every worker at once.
    """

    def __init__(self, directory: Path | str, default_timeout: int = 300):
        super().__init__(default_timeout=default_timeout)
        self.cache = _open(directory)

    def _expire(self, timeout: int | None) -> float | None:
        timeout = self._normalize_timeout(timeout)
        return None if timeout == 0 else timeout

    def get(self, key: str):
        return self.cache.get(key)

    def set(self, key: str, value, timeout: int | None = None) -> bool:
        return self.cache.set(key, value, expire=self._expire(timeout))

    def add(self, key: str, value, timeout: int | None = None) -> bool:
        return self.cache.add(key, value, expire=self._expire(timeout))

    def delete(self, key: str) -> bool:
        return self.cache.delete(key)

    def has(self, key: str) -> bool:
        return key in self.cache

    def clear(self) -> bool:
        self.cache.clear()
        return True


class OnceTokens:
    """Remembers used form-token ids, so each sign-in/sign-out form can be posted once.

    :meth:`use` is atomic across workers (diskcache ``add`` in a transaction, Redis
    ``SET NX``): of two requests with the same id exactly one gets True.
    """

    def __init__(self, directory: Path | str, settings=None):
        """``settings`` with a ``redis_url``: the used ids live in Redis, else in ``directory``."""
        self.redis = redis_client(settings) if settings is not None and settings.redis_url else None
        self.cache = None if self.redis is not None else _open(directory)

    def use(self, token_id: str, ttl: float) -> bool:
        """Mark ``token_id`` used; False when it was used before (within ``ttl`` seconds)."""
        key = f"ocs:form-token:{token_id}"
        if self.redis is not None:
            return bool(self.redis.set(key, b"1", nx=True, ex=max(int(ttl), 1)))
        return bool(self.cache.add(key, 1, expire=ttl))
