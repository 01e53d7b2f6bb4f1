"""Per-process objects shared by the app, the CLI and the callbacks.

``configure(settings)`` is called once by the entry point (``app.py``, ``wsgi.py``, tests);
afterwards ``settings()``, ``store()`` and ``dataset()`` return the same objects everywhere.
"""

from __future__ import annotations

import fcntl
import logging
from contextlib import contextmanager
from pathlib import Path

from services.settings import Settings, load_settings
from services.store import DatasetCache, Store

log = logging.getLogger(__name__)

_settings: Settings | None = None
_store: Store | None = None
_cache: DatasetCache | None = None


def configure(settings: Settings | None = None) -> Settings:
    global _settings, _store, _cache
    _settings = settings or load_settings()
    _store = Store(_settings.store_dir)
    _cache = DatasetCache(_store)
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


def dataset():
    """The current in-memory dataset (reloaded when a new generation lands), or None."""
    return datasets().get()


@contextmanager
def file_lock(path: Path):
    """An exclusive advisory lock on ``path`` (blocks until granted)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_data(current: Settings | None = None) -> None:
    """Make sure something can be shown: in demo mode, write today's demo world once.

    Several gunicorn workers may start together; a file lock makes one of them generate while
    the others wait and then find it done.
    """
    current = current or settings()
    if not current.demo_mode:
        return
    from services.demo import ensure_demo_store

    with file_lock(current.data_dir / "demo.lock"):
        generation = ensure_demo_store(store(), current.demo_sessions)
    log.info("demo data ready generation=%s sessions=%s", generation, current.demo_sessions)
