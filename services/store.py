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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services.records import TRANSCRIPT_COLUMNS

log = logging.getLogger(__name__)

SESSION_SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("url", pa.string()),
        ("team_slug", pa.string()),
        ("team_name", pa.string()),
        ("experiment_id", pa.string()),
        ("experiment_name", pa.string()),
        ("participant_identifier", pa.string()),
        ("participant_remote_id", pa.string()),
        ("created_at", pa.timestamp("ns", tz="UTC")),
        ("updated_at", pa.timestamp("ns", tz="UTC")),
        ("status", pa.string()),
        ("platform", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("has_transcript", pa.bool_()),
        ("human_messages", pa.int32()),
        ("ai_messages", pa.int32()),
        ("first_message_at", pa.timestamp("ns", tz="UTC")),
        ("last_message_at", pa.timestamp("ns", tz="UTC")),
        ("user_words", pa.int32()),
        ("versions", pa.list_(pa.string())),
        ("thumbs_up", pa.int32()),
        ("thumbs_down", pa.int32()),
        ("cost_usd", pa.float64()),
        # participant messages matching services.lexicon; null in stores written before them
        ("appreciation_hits", pa.int32()),
        ("dissatisfaction_hits", pa.int32()),
    ]
)
EXPERIMENT_SCHEMA = pa.schema(
    [
        ("experiment_id", pa.string()),
        ("team_slug", pa.string()),
        ("name", pa.string()),
        ("description", pa.string()),
        ("working_version", pa.int32()),
    ]
)
VERSION_SCHEMA = pa.schema(
    [
        ("experiment_id", pa.string()),
        ("version_number", pa.int32()),
        ("is_default", pa.bool_()),
        ("description", pa.string()),
    ]
)
COST_SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("model", pa.string()),
        ("cost_usd", pa.float64()),
        ("tokens", pa.int64()),
    ]
)
_FILES = {
    "sessions": SESSION_SCHEMA,
    "experiments": EXPERIMENT_SCHEMA,
    "experiment_versions": VERSION_SCHEMA,
    "session_costs": COST_SCHEMA,
}
_SESSION_BASE = [
    "session_id",
    "url",
    "team_slug",
    "team_name",
    "experiment_id",
    "experiment_name",
    "participant_identifier",
    "participant_remote_id",
    "created_at",
    "updated_at",
    "status",
    "platform",
    "tags",
]


class StoreError(RuntimeError):
    """The store is missing or cannot be read; ``str(err)`` is meant for the user."""


@dataclass
class Tables:
    """One generation's content, as Arrow tables plus a small metadata dict."""

    sessions: pa.Table
    experiments: pa.Table
    experiment_versions: pa.Table
    session_costs: pa.Table
    meta: dict = field(default_factory=dict)
    sync_state: pa.Table | None = None
    """Optional sync bookkeeping (per-session transcript fetch times, see services.sync);
    written as ``sync_state.parquet`` when present, None for demo generations."""


def build_tables(
    session_rows: list[dict],
    transcripts: dict[str, dict] | None = None,
    cost_rows: dict[str, list[dict]] | None = None,
    experiments: list[dict] | None = None,
    versions: list[dict] | None = None,
    meta: dict | None = None,
) -> Tables:
    """Assemble normalised rows (from :mod:`services.records`) into store tables.

    ``transcripts`` maps session id → :func:`~services.records.summarise_transcript` output;
    sessions without one keep empty transcript columns (``has_transcript`` False).
    """
    transcripts = transcripts or {}
    cost_rows = cost_rows or {}
    columns: dict[str, list] = {name: [r[name] for r in session_rows] for name in _SESSION_BASE}
    summaries = [transcripts.get(r["session_id"]) for r in session_rows]
    columns["has_transcript"] = [s is not None for s in summaries]
    for name in TRANSCRIPT_COLUMNS:
        columns[name] = [None if s is None else s.get(name) for s in summaries]
    sessions = pa.table(columns, schema=SESSION_SCHEMA)
    costs = [
        {"session_id": sid, **row}
        for sid in (r["session_id"] for r in session_rows)
        for row in cost_rows.get(sid, ())
    ]
    return Tables(
        sessions=sessions,
        experiments=pa.Table.from_pylist(experiments or [], schema=EXPERIMENT_SCHEMA),
        experiment_versions=pa.Table.from_pylist(versions or [], schema=VERSION_SCHEMA),
        session_costs=pa.Table.from_pylist(costs, schema=COST_SCHEMA),
        meta=dict(meta or {}),
    )


def _gen_name(generation: int) -> str:
    return f"g{generation:06d}"


class Store:
    """Parquet generations under ``root`` with an atomically replaced ``CURRENT`` pointer."""

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
            for name, schema in _FILES.items():
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
                for name, schema in _FILES.items()
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


def sessions_frame(tables: Tables) -> pd.DataFrame:
    """The sessions table as pandas (Arrow-backed lists become Python lists)."""
    return tables.sessions.to_pandas()


class DatasetCache:
    """Per-process holder of the in-memory :class:`~services.dataset.Dataset`.

    ``get()`` compares the store's ``CURRENT`` with the loaded generation (one tiny file read)
    and reloads when it moved, so every gunicorn worker serves a new generation on its next
    request. When reading fails, the previously loaded dataset keeps being served and the
    problem is reported as a notice.
    """

    def __init__(self, store: Store, min_check_interval: float = 0.5):
        self.store = store
        self.min_check_interval = min_check_interval
        self._lock = threading.Lock()
        self._dataset = None
        self._checked_at = 0.0
        self.notice: str | None = None

    def get(self):
        now = time.monotonic()
        if self._dataset is not None and now - self._checked_at < self.min_check_interval:
            return self._dataset
        with self._lock:
            self._checked_at = time.monotonic()
            try:
                generation = self.store.current_generation()
            except StoreError as exc:
                self.notice = (
                    f"The stored data could not be read ({exc}); showing what was loaded before."
                )
                return self._dataset
            if generation is None:
                self.notice = None
                return self._dataset
            if self._dataset is not None and self._dataset.generation == generation:
                return self._dataset
            from services.dataset import Dataset

            try:
                tables = self.store.read(generation)
                self._dataset = Dataset.from_tables(tables, generation)
                del tables  # the columns the dataset does not keep: give their memory back
                pa.default_memory_pool().release_unused()
                self.notice = None
                log.info("loaded generation=%s sessions=%s", generation, self._dataset.n)
            except StoreError as exc:
                log.error("store read failed: %s", exc)
                self.notice = f"The stored data could not be read ({exc})." + (
                    " Showing the previous data." if self._dataset is not None else ""
                )
            return self._dataset
