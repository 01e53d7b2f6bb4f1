"""Per-process objects shared by the app, the CLI and the callbacks.

``configure(settings)`` is called once by the entry point (``app.py``, ``wsgi.py``, tests);
afterwards ``settings()``, ``store()`` and ``dataset()`` return the same objects everywhere.

The hosted web layer (:mod:`services.web.security`) reports how sign-in is set up through
:func:`set_auth` so the page can show it without importing Flask session details:
:func:`auth_note` (a warning such as "sign-in is off") and :func:`signed_in_user`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from services.analytics.filters import pin_today
from services.settings import Settings, load_settings
from services.store.backend import StoreBackend, open_store
from services.store.cache import DatasetCache
from services.store.locking import file_lock

log = logging.getLogger(__name__)

WATCH_INTERVAL = 5.0
"""Seconds between background checks for a new generation in the shared store (upper bound:
a writer's NOTIFY wakes the watcher at once)."""

_settings: Settings | None = None
_store: StoreBackend | None = None
_cache: DatasetCache | None = None
_auth_note: str | None = None
_user_provider: Callable[[], str | None] | None = None


def configure(settings: Settings | None = None) -> Settings:
    global _settings, _store, _cache
    _settings = settings or load_settings()
    # a demo pinned to DEMO_ANCHOR counts "last N days" back from its own last day
    pin_today(_settings.demo_anchor if _settings.demo_mode else None)
    _store = open_store(_settings)
    # every process on the machine maps one copy of the dataset (services.store.mapped)
    mapped_dir = _settings.data_dir / "mapped"
    if _store.kind == "postgres":
        # shared store: one small query per check; a watcher thread (LISTEN/NOTIFY, else every
        # WATCH_INTERVAL s) loads a new generation before any request asks for it
        _cache = DatasetCache(
            _store, min_check_interval=2.0, watch_interval=WATCH_INTERVAL, mapped_dir=mapped_dir
        )
    else:
        _cache = DatasetCache(_store, mapped_dir=mapped_dir)
    return _settings


def settings() -> Settings:
    if _settings is None:
        configure()
    return _settings


def store() -> StoreBackend:
    if _store is None:
        configure()
    return _store


def datasets() -> DatasetCache:
    if _cache is None:
        configure()
    return _cache


def set_auth(note: str | None = None, user: Callable[[], str | None] | None = None) -> None:
    """Record the sign-in setup: a warning ``note`` for the page, and who is signed in.

    ``user`` is called during a request and returns the signed-in user's name (or None).
    """
    global _auth_note, _user_provider
    _auth_note, _user_provider = note, user


def auth_note() -> str | None:
    """A warning about sign-in to show on the page (e.g. it is turned off), or None."""
    return _auth_note


def signed_in_user() -> str | None:
    """The name of the user making the current request, when sign-in is on."""
    return _user_provider() if _user_provider is not None else None


def dataset():
    """The current in-memory dataset (reloaded when a new generation lands), or None."""
    return datasets().get()


def service_health(current: Settings | None = None) -> dict[str, str]:
    """``{"database": …, "redis": …}``: "ok", "not used", or "down: <one line>" for each."""
    from services.redis_client import RedisUnavailable, ping
    from services.store.parquet import StoreError

    current = current or settings()
    parts = {"database": "not used", "redis": "not used"}
    if current.database_url:
        try:
            check = getattr(store(), "ping", None)
            if check is not None:
                check()
            parts["database"] = "ok"
        except StoreError as exc:
            parts["database"] = f"down: {exc}"
    if current.redis_url:
        try:
            ping(current)
            parts["redis"] = "ok"
        except RedisUnavailable as exc:
            parts["redis"] = f"down: {exc}"
    return parts


def check_services(current: Settings | None = None) -> dict[str, str]:
    """At start: log one line per service that is down, and create/migrate the tables.

    Never fatal: an instance that starts while PostgreSQL or Redis is down serves what it can
    (``/health`` names the broken part) and recovers when the service is back.
    """
    from services.store.parquet import StoreError

    current = current or settings()
    parts = service_health(current)
    if current.database_url and not parts["database"].startswith("down: the database is unr"):
        from services.store.migrate import migrate

        try:
            migrate(current.database_url)
            parts["database"] = "ok"
        except StoreError as exc:
            parts["database"] = f"down: {exc}"
    if current.redis_url and not current.database_url:
        log.warning(
            "REDIS_URL without DATABASE_URL: the worker's syncs land in the worker's own DATA_DIR "
            "and reach this instance only if both share that directory (set DATABASE_URL)"
        )
    for name, setting in (("database", "DATABASE_URL"), ("redis", "REDIS_URL")):
        if parts[name].startswith("down"):
            log.error("%s: %s", setting, parts[name][len("down: ") :])
    return parts


def prepare_data(current: Settings | None = None) -> None:
    """Make sure something can be shown: in demo mode, write today's demo world once.

    Several gunicorn workers may start together; a file lock makes one of them generate while
    the others wait and then find it done.
    """
    current = current or settings()
    if current.database_url or current.redis_url:
        check_services(current)
    if not current.demo_mode:
        return
    from services.sync.demo import ensure_demo_store

    with file_lock(current.data_dir / "demo.lock"):
        generation = ensure_demo_store(store(), current.demo_sessions, anchor=current.demo_anchor)
    log.info("demo data ready generation=%s sessions=%s", generation, current.demo_sessions)
