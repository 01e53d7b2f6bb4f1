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
from services.store.cache import DatasetCache
from services.store.locking import file_lock
from services.store.parquet import Store

log = logging.getLogger(__name__)

_settings: Settings | None = None
_store: Store | None = None
_cache: DatasetCache | None = None
_auth_note: str | None = None
_user_provider: Callable[[], str | None] | None = None


def configure(settings: Settings | None = None) -> Settings:
    global _settings, _store, _cache
    _settings = settings or load_settings()
    # a demo pinned to DEMO_ANCHOR counts "last N days" back from its own last day
    pin_today(_settings.demo_anchor if _settings.demo_mode else None)
    _store = Store(_settings.store_dir)
    # every process on the machine maps one copy of the dataset (services.store.mapped)
    _cache = DatasetCache(_store, mapped_dir=_settings.data_dir / "mapped")
    return _settings


def settings() -> Settings:
    if _settings is None:
        configure()
    return _settings


def store() -> Store:
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


def prepare_data(current: Settings | None = None) -> None:
    """Make sure something can be shown: in demo mode, write today's demo world once.

    Several gunicorn workers may start together; a file lock makes one of them generate while
    the others wait and then find it done.
    """
    current = current or settings()
    if not current.demo_mode:
        return
    from services.sync.demo import ensure_demo_store

    with file_lock(current.data_dir / "demo.lock"):
        generation = ensure_demo_store(store(), current.demo_sessions, anchor=current.demo_anchor)
    log.info("demo data ready generation=%s sessions=%s", generation, current.demo_sessions)
