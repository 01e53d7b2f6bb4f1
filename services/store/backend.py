"""Which store a process uses: Parquet files in ``DATA_DIR/store`` or PostgreSQL (``DATABASE_URL``).

Both implement the same small interface, :class:`StoreBackend`; the sync writes through it and
:class:`~services.store.cache.DatasetCache` reads through it, so nothing else knows which one
is configured.
"""

from __future__ import annotations

from typing import Protocol

from services.store.parquet import Store
from services.store.tables import Tables


class StoreBackend(Protocol):
    kind: str

    def current_generation(self) -> int | None:
        """The generation readers should use (None: nothing stored); StoreError when unreadable."""

    def read(self, generation: int | None = None) -> Tables:
        """One complete generation (default: the current one)."""

    def read_meta(self, generation: int | None = None) -> dict:
        """A generation's metadata (sync time, teams, …); {} when there is none."""

    def write(self, tables: Tables) -> int:
        """Make ``tables`` the next generation atomically; returns its number."""


def open_store(settings) -> StoreBackend:
    """The store ``settings`` ask for: PostgreSQL when ``DATABASE_URL`` is set, else Parquet."""
    if settings.database_url:
        from services.store.postgres import PostgresStore

        return PostgresStore(settings.database_url)
    return Store(settings.store_dir)
