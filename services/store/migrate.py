"""Create and migrate the PostgreSQL tables (yoyo-migrations, SQL files in ``migrations/``).

``python -m services.store migrate`` applies every pending migration under yoyo's lock, so a
Heroku ``release:`` phase, a Render pre-deploy command and several starting instances can all run
it: the first applies, the others find nothing to do.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from services.store.parquet import StoreError
from services.store.postgres import describe_error, libpq_uri

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _yoyo_uri(url: str) -> str:
    uri = libpq_uri(url)
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


def migrate(url: str) -> list[str]:
    """Apply pending migrations; returns the ids applied (empty when up to date)."""
    from yoyo import get_backend, read_migrations

    try:
        backend = get_backend(_yoyo_uri(url))
    except Exception as exc:  # yoyo wraps driver errors in several types
        raise StoreError(f"the database is unreachable ({describe_error(exc)})") from exc
    try:
        migrations = read_migrations(str(MIGRATIONS))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        applied = [m.id for m in pending]
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"migration failed ({describe_error(exc)})") from exc
    finally:
        with contextlib.suppress(Exception):
            backend.connection.close()
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    return applied
