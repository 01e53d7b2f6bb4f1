"""``python -m services.store migrate``: create or update the PostgreSQL tables (DATABASE_URL).

Exit codes: 0 done (or nothing to do), 1 the database failed, 2 configuration problem.
"""

from __future__ import annotations

import argparse
import logging
import sys

from services.settings import SettingsError, load_settings
from services.store.parquet import StoreError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.store")
    parser.add_argument("command", choices=["migrate"], help="migrate: apply pending migrations")
    parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 2
    if not settings.database_url:
        print("migrate: nothing to do (DATABASE_URL is not set; the store is Parquet files)")
        return 0
    from services.store.migrate import migrate

    try:
        applied = migrate(settings.database_url)
    except StoreError as exc:
        print(f"migrate failed: {exc}", file=sys.stderr)
        return 1
    print(f"migrate: applied {', '.join(applied)}" if applied else "migrate: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
