"""The session store: normalised tables as Parquet in ``DATA_DIR/store``, swapped atomically.

Layout::

    DATA_DIR/store/
        CURRENT              "12"  – the generation readers should use
        g000012/             one complete generation (never modified once visible)
            sessions.parquet
            experiments.parquet
            experiment_versions.parquet
            session_costs.parquet
            meta.json

A writer builds ``g000013.tmp-<pid>`` completely, renames it to ``g000013`` and only then
replaces ``CURRENT`` with :func:`os.replace` (atomic on POSIX). A crash at any point leaves the
previous generation served. Readers poll ``CURRENT`` (a few bytes) and reload when it changes;
see :class:`DatasetCache`.

The interface is deliberately small (``write`` / ``read`` / ``current_generation``) so a shared
store (S3, Postgres) can replace it later without touching metrics, layouts or callbacks.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from services.store.schema import STORE_FILES
from services.store.tables import Tables

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store is missing or cannot be read; ``str(err)`` is meant for the user."""


def _gen_name(generation: int) -> str:
    return f"g{generation:06d}"


class Store:
    """Parquet generations under ``root`` with an atomically replaced ``CURRENT`` pointer."""

    kind = "parquet"

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @property
    def pointer(self) -> Path:
        return self.root / "CURRENT"

    def current_generation(self) -> int | None:
        """The generation readers should use, or None when nothing was ever written."""
        try:
            text = self.pointer.read_text().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {self.pointer}: {exc}") from exc
        try:
            return int(text)
        except ValueError as exc:
            raise StoreError(f"{self.pointer} is corrupt (holds {text[:40]!r})") from exc

    def _existing(self) -> list[int]:
        if not self.root.exists():
            return []
        found = []
        for child in self.root.iterdir():
            if child.is_dir() and child.name.startswith("g") and child.name[1:].isdigit():
                found.append(int(child.name[1:]))
        return sorted(found)

    def write(self, tables: Tables) -> int:
        """Write a new generation and make it current; returns its number."""
        self.root.mkdir(parents=True, exist_ok=True)
        current = self.current_generation() if self.pointer.exists() else None
        generation = max([current or 0, *self._existing()]) + 1
        final = self.root / _gen_name(generation)
        tmp = self.root / f"{_gen_name(generation)}.tmp-{os.getpid()}-{threading.get_ident()}"
        tmp.mkdir()
        try:
            for name, schema in STORE_FILES.items():
                table = getattr(tables, name).cast(schema)
                pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
            if tables.sync_state is not None:
                pq.write_table(tables.sync_state, tmp / "sync_state.parquet", compression="zstd")
            meta = dict(tables.meta, generation=generation, written_at=time.time())
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
            _fsync_dir(tmp)
            os.rename(tmp, final)
            pointer_tmp = self.root / f"CURRENT.tmp-{os.getpid()}-{threading.get_ident()}"
            pointer_tmp.write_text(str(generation))
            with open(pointer_tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(pointer_tmp, self.pointer)
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.collect_garbage(keep=2)
        return generation

    def read(self, generation: int | None = None) -> Tables:
        """Read a generation (default: current). Raises :class:`StoreError` with a clear text."""
        if generation is None:
            generation = self.current_generation()
        if generation is None:
            raise StoreError("no data has been stored yet")
        folder = self.root / _gen_name(generation)
        try:
            loaded = {
                name: pq.read_table(folder / f"{name}.parquet", schema=schema)
                for name, schema in STORE_FILES.items()
            }
            meta = json.loads((folder / "meta.json").read_text())
            extra = folder / "sync_state.parquet"
            sync_state = pq.read_table(extra) if extra.exists() else None
        except FileNotFoundError as exc:
            missing = exc.filename or (exc.args[0] if exc.args else "a file")  # pyarrow: args only
            raise StoreError(f"generation {generation} is incomplete (missing {missing})") from exc
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise StoreError(f"generation {generation} cannot be read: {exc}") from exc
        return Tables(meta=meta, sync_state=sync_state, **loaded)

    def read_meta(self, generation: int | None = None) -> dict:
        generation = self.current_generation() if generation is None else generation
        if generation is None:
            return {}
        try:
            return json.loads((self.root / _gen_name(generation) / "meta.json").read_text())
        except (OSError, ValueError):
            return {}

    def collect_garbage(self, keep: int = 2) -> None:
        """Remove all but the newest ``keep`` generations (never the current one) and stale temps."""
        current = self.current_generation()
        existing = self._existing()
        for generation in existing[:-keep] if keep else existing:
            if generation != current:
                shutil.rmtree(self.root / _gen_name(generation), ignore_errors=True)
        for child in self.root.iterdir():
            if ".tmp-" in child.name and time.time() - child.stat().st_mtime > 3600:
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
