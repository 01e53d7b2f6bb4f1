"""The store in PostgreSQL (``DATABASE_URL``): documented tables, one transaction per generation.

Tables (created by :mod:`services.store.migrate`, see ``migrations/`` and docs/hosted.md):
``sessions``, ``session_tags``, ``session_aggregates`` (transcript counts per session),
``session_costs``, ``experiments``, ``experiment_versions`` and ``store_generations`` (one row
per sync: its number, time, counts and the metadata the page shows).

**Writing** (:meth:`PostgresStore.write`) happens in one transaction: the new generation's rows
are bulk-loaded (COPY, through the ADBC PostgreSQL driver) into temporary staging tables, then
merged — rows that disappeared are deleted, new rows inserted and changed rows updated
(``ON CONFLICT … DO UPDATE … WHERE … IS DISTINCT FROM``), unchanged rows are not touched — and
the ``store_generations`` row is inserted last, followed by ``NOTIFY``. Readers see either the
whole sync or none of it (PostgreSQL MVCC); an error or a killed process rolls everything back.

Each write also stores a columnar copy of the generation (``store_snapshots``: Arrow IPC, LZ4).

**Reading** (:meth:`PostgresStore.read`) runs in one ``REPEATABLE READ`` read-only transaction,
so the generation number and every table come from the same snapshot: the columnar copy when
the generation has one, else the rows as Arrow columns (``COPY … TO STDOUT (FORMAT BINARY)``
inside the ADBC driver, on parallel connections sharing the snapshot), with no Python objects
per row.

Only the current generation is kept; :meth:`read` of an older number raises :class:`StoreError`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress

import pyarrow as pa
import pyarrow.compute as pc

from services.store.parquet import StoreError
from services.store.schema import (
    COST_SCHEMA,
    EXPERIMENT_SCHEMA,
    SESSION_BASE_COLUMNS,
    SESSION_SCHEMA,
    SYNC_STATE_SCHEMA,
    TRANSCRIPT_COLUMNS,
    VERSION_SCHEMA,
)
from services.store.tables import Tables

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "ocs_store_generation"
WRITE_LOCK_KEY = 0x0C5_5708E
"""``pg_advisory_xact_lock`` key: generation numbers are handed out one writer at a time."""
CONNECT_TIMEOUT = 5

BASE_COLUMNS = tuple(c for c in SESSION_BASE_COLUMNS if c != "tags")
AGGREGATE_COLUMNS = ("has_transcript", *TRANSCRIPT_COLUMNS, "transcript_fetched_at")


def describe_error(exc: BaseException) -> str:
    """One line about a database error, without the connection URL or password."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # libpq messages name host and port, never the password; drop any URL just in case
    for word in text.split():
        if "://" in word:
            text = text.replace(word, "<url>")
    return text[:300]


def _adbc():
    import adbc_driver_postgresql.dbapi as dbapi

    return dbapi


def libpq_uri(url: str) -> str:
    """libpq wants ``postgresql://`` or ``postgres://`` and nothing SQLAlchemy-like."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def _with_timeout(url: str) -> str:
    if "connect_timeout=" in url:
        return url
    return url + ("&" if "?" in url else "?") + f"connect_timeout={CONNECT_TIMEOUT}"


def connection_url(url: str) -> str:
    """``DATABASE_URL`` as libpq wants it, with a connect timeout unless it names one."""
    return _with_timeout(libpq_uri(url))


def _table(result: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a query result (ADBC types, field metadata) to the store schema."""
    arrays = [result.column(field.name).cast(field.type) for field in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


class PostgresStore:
    """The store interface (``write`` / ``read`` / ``read_meta`` / ``current_generation``)."""

    kind = "postgres"

    def __init__(self, url: str):
        self.url = connection_url(url)
        self._conn = None
        self._conn_pid = None
        self._conn_lock = threading.Lock()
        self._listen = None
        self._listen_pid = None

    # -- small queries (psycopg, one connection per process) ----------------------------------

    @contextmanager
    def _small(self):
        import psycopg

        with self._conn_lock:
            try:
                if self._conn is None or self._conn.closed or self._conn_pid != os.getpid():
                    self._conn = psycopg.connect(self.url, autocommit=True)
                    self._conn_pid = os.getpid()
                yield self._conn
            except psycopg.Error as exc:
                if self._conn is not None:
                    with suppress(Exception):
                        self._conn.close()
                self._conn = None
                raise StoreError(f"the database is unreachable ({describe_error(exc)})") from exc

    def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers and the schema is in place."""
        with self._small() as conn:
            found = conn.execute("SELECT to_regclass('store_generations')").fetchone()[0]
        if found is None:
            raise StoreError(
                "the database has no dashboard tables yet: run `python -m services.store migrate`"
            )

    def current_generation(self) -> int | None:
        try:
            with self._small() as conn:
                row = conn.execute("SELECT max(generation) FROM store_generations").fetchone()
        except StoreError as exc:
            if "store_generations" in str(exc) and "does not exist" in str(exc):
                raise StoreError(
                    "the database has no dashboard tables yet: run "
                    "`python -m services.store migrate`"
                ) from exc
            raise
        return None if row[0] is None else int(row[0])

    def read_meta(self, generation: int | None = None) -> dict:
        with self._small() as conn:
            if generation is None:
                row = conn.execute(
                    "SELECT generation, meta FROM store_generations "
                    "ORDER BY generation DESC LIMIT 1"
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT generation, meta FROM store_generations WHERE generation = %s",
                    (generation,),
                ).fetchone()
        if row is None:
            return {}
        return dict(row[1], generation=int(row[0]))

    def wait_for_change(self, known: int | None, timeout: float) -> None:
        """Block up to ``timeout`` s or until a writer NOTIFYs; errors just wait and return.

        One ``LISTEN`` connection per process, kept open between calls (reopened after errors
        and after a fork).
        """
        import psycopg

        try:
            if self._listen is None or self._listen.closed or self._listen_pid != os.getpid():
                self._listen = psycopg.connect(self.url, autocommit=True)
                self._listen_pid = os.getpid()
                self._listen.execute(f"LISTEN {NOTIFY_CHANNEL}")
            for _ in self._listen.notifies(timeout=timeout, stop_after=1):
                return
        except psycopg.Error:
            if self._listen is not None:
                with suppress(Exception):
                    self._listen.close()
            self._listen = None
            time.sleep(min(timeout, 2.0))

    # -- bulk paths (ADBC: COPY BINARY <-> Arrow) ----------------------------------------------

    @contextmanager
    def _bulk(self):
        dbapi = _adbc()
        try:
            conn = dbapi.connect(self.url, autocommit=False)
        except dbapi.Error as exc:
            raise StoreError(f"the database is unreachable ({describe_error(exc)})") from exc
        try:
            yield conn
        except dbapi.Error as exc:
            with suppress(dbapi.Error):
                conn.rollback()
            raise StoreError(f"database error ({describe_error(exc)})") from exc
        finally:
            with suppress(dbapi.Error):
                conn.close()

    def read(self, generation: int | None = None, source: str = "auto") -> Tables:
        """The current generation (all tables from one snapshot) as Arrow tables.

        The fast path is the generation's columnar copy (``store_snapshots``: Arrow IPC
        chunks written by the same transaction as the rows; :func:`_read_snapshot`); a
        generation without one (written before migration 0003), an unreadable one, or
        ``source="tables"`` reads the rows themselves:

        one transaction exports its snapshot (``pg_export_snapshot``); :data:`READ_PARTS`
        run on parallel connections that import it (``SET TRANSACTION SNAPSHOT``), so every
        table comes from the same instant while the server and the Arrow decoding use more
        than one core. Tag lists and the per-session aggregates are joined in Arrow
        (:func:`assemble_sessions`), not by the server (the ``array_agg`` join was the
        slowest query).
        """
        with self._bulk() as conn:
            cur = conn.cursor()
            try:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute(
                    "SELECT generation, meta::text, pg_export_snapshot() FROM store_generations "
                    "ORDER BY generation DESC LIMIT 1"
                )
                head = cur.fetchone()
                if head is None:
                    raise StoreError("no data has been stored yet")
                current = int(head[0])
                if generation is not None and generation != current:
                    raise StoreError(
                        f"generation {generation} is no longer stored (current: {current})"
                    )
                meta = dict(json.loads(head[1]), generation=current)
                if source != "tables":
                    loaded = _read_snapshot(cur, current)
                    if loaded is not None:
                        conn.commit()
                        return _tables_from(loaded, meta)
                with ThreadPoolExecutor(len(READ_PARTS), thread_name_prefix="pg-read") as pool:
                    parts = list(pool.map(lambda part: _read_part(self, head[2], part), READ_PARTS))
                conn.commit()
            finally:
                cur.close()
        results: dict[str, pa.Table] = {}
        for part in parts:
            results.update(part)
        results["sessions"] = assemble_sessions(
            results["sessions"], results["session_aggregates"], results["session_tags"]
        )
        return _tables_from(results, meta)

    def write(self, tables: Tables) -> int:
        """Merge ``tables`` into the database as the next generation (one transaction)."""
        sessions = _unique(tables.sessions.cast(SESSION_SCHEMA), ["session_id"])
        n = sessions.num_rows
        base = sessions.select(list(BASE_COLUMNS))
        tags = _positions(sessions, "tags", "tag")
        fetched = _fetched_at(tables, sessions)
        aggregates = sessions.select(["session_id", *AGGREGATE_COLUMNS[:-1]]).append_column(
            "transcript_fetched_at", fetched
        )
        aggregates = aggregates.filter(pc.field("has_transcript"))
        costs = _with_position(tables.session_costs.cast(COST_SCHEMA))
        experiments = _unique(tables.experiments.cast(EXPERIMENT_SCHEMA), ["experiment_id"])
        versions = _unique(
            tables.experiment_versions.cast(VERSION_SCHEMA), ["experiment_id", "version_number"]
        )
        staged = {
            "sessions": (base, ("session_id",)),
            "session_tags": (tags, ("session_id", "position")),
            "session_aggregates": (aggregates, ("session_id",)),
            "session_costs": (costs, ("session_id", "position")),
            "experiments": (experiments, ("experiment_id",)),
            "experiment_versions": (versions, ("experiment_id", "version_number")),
        }
        with self._bulk() as conn:
            cur = conn.cursor()
            try:
                cur.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
                cur.fetchall()
                cur.execute("SELECT coalesce(max(generation), 0) + 1 FROM store_generations")
                generation = int(cur.fetchone()[0])
                changed = deleted = 0
                # parents first for inserts; deleting a session cascades to its child rows
                for name, (table, key) in staged.items():
                    cur.adbc_ingest(f"stage_{name}", table, mode="create", temporary=True)
                    cur.execute(f"ANALYZE stage_{name}")  # temp tables have no statistics
                    d, c = merge_stage(cur, name, table.column_names, key, generation)
                    changed += c
                    deleted += d
                # the columnar copy of exactly what :meth:`read` would assemble from the rows
                cur.execute("DELETE FROM store_snapshots")
                snapshot = {
                    "sessions": assemble_sessions(base, aggregates, tags),
                    "session_costs": costs.select(list(COST_SCHEMA.names)),
                    "experiments": experiments,
                    "experiment_versions": versions,
                }
                for part, table in snapshot.items():
                    for rows in _snapshot_rows(generation, part, table):
                        cur.adbc_ingest("store_snapshots", rows, mode="append")
                meta = dict(tables.meta, generation=generation, written_at=time.time())
                cur.execute(
                    "INSERT INTO store_generations "
                    "(generation, written_at, sessions, rows_changed, rows_deleted, meta) "
                    f"VALUES ({generation}, clock_timestamp(), {n}, {changed}, {deleted}, "
                    f"{_literal(json.dumps(meta, sort_keys=True, default=str))}::jsonb)"
                )
                cur.execute(f"NOTIFY {NOTIFY_CHANNEL}, '{generation}'")
                conn.commit()
            finally:
                cur.close()
        log.info(
            "stored generation=%s sessions=%s rows changed=%s deleted=%s",
            generation,
            n,
            changed,
            deleted,
        )
        return generation

    def last_write_counts(self) -> dict:
        with self._small() as conn:
            row = conn.execute(
                "SELECT generation, sessions, rows_changed, rows_deleted FROM store_generations "
                "ORDER BY generation DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return {}
        return dict(
            zip(("generation", "sessions", "rows_changed", "rows_deleted"), row, strict=True)
        )

    def close(self) -> None:
        with self._conn_lock:
            if self._conn is not None:
                with suppress(Exception):
                    self._conn.close()
                self._conn = None


READ_QUERIES = {
    "sessions": f"SELECT {', '.join(BASE_COLUMNS)} FROM sessions",
    "session_aggregates": f"SELECT session_id, {', '.join(AGGREGATE_COLUMNS)} "
    "FROM session_aggregates",
    "session_tags": "SELECT session_id, position, tag FROM session_tags",
    # no ORDER BY: analytics/cost.py orders cost rows by session itself (the sort made this
    # query 3x slower)
    "session_costs": "SELECT session_id, model, cost_usd, tokens FROM session_costs",
    "experiments": "SELECT experiment_id, team_slug, name, description, working_version "
    "FROM experiments",
    "experiment_versions": "SELECT experiment_id, version_number, is_default, description "
    "FROM experiment_versions ORDER BY experiment_id, version_number",
}
READ_PARTS = (
    ("sessions",),
    ("session_aggregates",),
    ("session_tags", "session_costs", "experiments", "experiment_versions"),
)
"""The queries of one :meth:`PostgresStore.read`, grouped by connection (about equal work)."""


SNAPSHOT_ROWS = 100_000
"""Rows per ``store_snapshots`` chunk (about 20 MB of LZ4 Arrow IPC for sessions): the load
holds one chunk's bytes at a time besides the tables."""
SNAPSHOT_PARTS = ("sessions", "session_costs", "experiments", "experiment_versions")


def _snapshot_rows(generation: int, part: str, table: pa.Table):
    """``store_snapshots`` rows for one table, one small Arrow table per chunk."""
    import pyarrow.ipc as ipc

    options = ipc.IpcWriteOptions(compression="lz4")
    starts = range(0, max(table.num_rows, 1), SNAPSHOT_ROWS)
    for chunk, start in enumerate(starts):
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema, options=options) as writer:
            writer.write_table(table.slice(start, SNAPSHOT_ROWS))
        yield pa.table(
            {
                "generation": pa.array([generation], pa.int64()),
                "part": pa.array([part]),
                "chunk": pa.array([chunk], pa.int32()),
                "data": _one_binary(sink.getvalue()),
            }
        )


def _one_binary(buffer: pa.Buffer) -> pa.Array:
    """A one-value binary array over ``buffer`` (no copy into a Python ``bytes``)."""
    offsets = pa.array([0, buffer.size], pa.int32()).buffers()[1]
    return pa.Array.from_buffers(pa.binary(), 1, [None, offsets, buffer])


def _read_snapshot(cur, generation: int) -> dict | None:
    """The generation's tables from ``store_snapshots``, chunk by chunk; ``None`` when it has
    no complete snapshot (then the rows are read)."""
    import pyarrow.ipc as ipc

    cur.execute(
        "SELECT part, count(*) FROM store_snapshots "
        f"WHERE generation = {int(generation)} GROUP BY part"
    )
    chunks = dict(cur.fetchall())
    if set(chunks) != set(SNAPSHOT_PARTS):
        return None
    out = {}
    try:
        for part in SNAPSHOT_PARTS:
            batches, schema = [], None
            for chunk in range(int(chunks[part])):
                cur.execute(
                    "SELECT data FROM store_snapshots WHERE generation = "
                    f"{int(generation)} AND part = {_literal(part)} AND chunk = {chunk}"
                )
                data = cur.fetch_arrow_table().column("data")[0].as_buffer()
                stream = ipc.open_stream(data)
                schema = stream.schema
                batches.extend(stream.read_all().to_batches())
                del data, stream
            out[part] = pa.Table.from_batches(batches, schema=schema)
    except (pa.ArrowException, IndexError, KeyError) as exc:
        log.warning(
            "store snapshot of generation %s unreadable (%s): reading the rows", generation, exc
        )
        return None
    return out


def _tables_from(parts: dict, meta: dict) -> Tables:
    """:class:`Tables` from the parts of a read (rows or snapshot), in the store schemas."""
    raw = parts["sessions"]
    sessions = _table(raw, SESSION_SCHEMA)
    fetched = raw.column("transcript_fetched_at").cast(pa.timestamp("ns", tz="UTC"))
    sync_state = pa.Table.from_arrays(
        [sessions.column("session_id"), fetched], schema=SYNC_STATE_SCHEMA
    )
    return Tables(
        sessions=sessions,
        experiments=_table(parts["experiments"], EXPERIMENT_SCHEMA),
        experiment_versions=_table(parts["experiment_versions"], VERSION_SCHEMA),
        session_costs=_table(parts["session_costs"], COST_SCHEMA),
        meta=meta,
        sync_state=sync_state,
    )


def _read_part(store: PostgresStore, snapshot: str, names: tuple[str, ...]) -> dict:
    """Run ``names``' queries on a new connection inside the exported ``snapshot``."""
    with store._bulk() as conn:
        cur = conn.cursor()
        try:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute(f"SET TRANSACTION SNAPSHOT {_literal(snapshot)}")
            out = {}
            for name in names:
                cur.execute(READ_QUERIES[name])
                out[name] = cur.fetch_arrow_table()
            conn.commit()
            return out
        finally:
            cur.close()


def assemble_sessions(sessions: pa.Table, aggregates: pa.Table, tags: pa.Table) -> pa.Table:
    """``sessions`` with its ``tags`` list (by ``position``; ``[]`` when none) and the
    aggregate columns (null when a session has no aggregates row; ``has_transcript`` false)."""
    import numpy as np

    ids = sessions.column("session_id")
    n = sessions.num_rows
    columns = {name: sessions.column(name) for name in sessions.column_names}
    # tags: each tag row's session position, then one list per session in position order
    owner = pc.index_in(tags.column("session_id"), value_set=ids).to_numpy(zero_copy_only=False)
    position = tags.column("position").to_numpy(zero_copy_only=False)
    order = np.lexsort((position, owner))
    counts = np.bincount(owner.astype(np.int64), minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = tags.column("tag").take(pa.array(order)).combine_chunks()
    columns["tags"] = pa.ListArray.from_arrays(pa.array(offsets), values)
    # aggregates: left join on session_id
    where = pc.index_in(ids, value_set=aggregates.column("session_id"))
    for name in AGGREGATE_COLUMNS:
        taken = aggregates.column(name).take(where)
        if name == "has_transcript":
            taken = pc.fill_null(taken, False)
        columns[name] = taken
    return pa.table(columns)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def merge_stage(cur, name: str, columns: list[str], key: tuple[str, ...], generation: int):
    """Delete rows missing from the stage, upsert the rest; returns (deleted, inserted+changed)."""
    stage = f"stage_{name}"
    match = " AND ".join(f"s.{k} = t.{k}" for k in key)
    cur.execute(
        f"WITH gone AS (DELETE FROM {name} t WHERE NOT EXISTS "
        f"(SELECT 1 FROM {stage} s WHERE {match}) RETURNING 1) SELECT count(*) FROM gone"
    )
    deleted = int(cur.fetchone()[0])
    values = [c for c in columns if c not in key]
    cols = ", ".join(columns)
    update = ", ".join(f"{c} = EXCLUDED.{c}" for c in values)
    if values:
        differs = (
            f"({', '.join(f'{name}.{c}' for c in values)}) IS DISTINCT FROM "
            f"({', '.join(f'EXCLUDED.{c}' for c in values)})"
        )
        action = f"DO UPDATE SET {update}, generation = EXCLUDED.generation WHERE {differs}"
    else:
        action = "DO NOTHING"
    cur.execute(
        f"WITH up AS (INSERT INTO {name} ({cols}, generation) "
        f"SELECT {cols}, {generation} FROM {stage} "
        f"ON CONFLICT ({', '.join(key)}) {action} RETURNING 1) SELECT count(*) FROM up"
    )
    changed = int(cur.fetchone()[0])
    return deleted, changed


def _unique(table: pa.Table, keys: list[str]) -> pa.Table:
    """Keep the first row of each key (the upsert needs unique keys)."""
    if table.num_rows == 0:
        return table
    if len(keys) == 1:
        distinct = pc.count_distinct(table.column(keys[0])).as_py()
        if distinct == table.num_rows:
            return table
    indexed = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    first = indexed.group_by(keys, use_threads=False).aggregate([("__row", "min")])
    if first.num_rows == table.num_rows:
        return table
    log.warning("dropping %s duplicate rows by %s", table.num_rows - first.num_rows, keys)
    return table.take(pc.sort(first.column("__row_min")))


def _positions(sessions: pa.Table, column: str, value_name: str) -> pa.Table:
    """A list column flattened into (session_id, position, value) rows."""
    lists = sessions.column(column).combine_chunks()
    lists = pc.fill_null(lists, pa.scalar([], lists.type)) if lists.null_count else lists
    parents = pc.list_parent_indices(lists)
    offsets = lists.offsets.to_numpy()
    parent_np = parents.to_numpy()
    position = (pa.array(range(len(parent_np)), pa.int64()).to_numpy() - offsets[parent_np]).astype(
        "int32"
    )
    return pa.table(
        {
            "session_id": sessions.column("session_id").take(parents),
            "position": pa.array(position, pa.int32()),
            value_name: pc.list_flatten(lists),
        }
    )


def _with_position(costs: pa.Table) -> pa.Table:
    """Number each session's cost rows 0, 1, … in their stored order."""
    if costs.num_rows == 0:
        return costs.append_column("position", pa.array([], pa.int32())).select(
            ["session_id", "position", "model", "cost_usd", "tokens"]
        )
    ids = costs.column("session_id").to_pandas()
    position = ids.groupby(ids, sort=False).cumcount().to_numpy().astype("int32")
    table = costs.append_column("position", pa.array(position, pa.int32()))
    return table.select(["session_id", "position", "model", "cost_usd", "tokens"])


def _fetched_at(tables: Tables, sessions: pa.Table) -> pa.ChunkedArray:
    """``transcript_fetched_at`` per session from ``tables.sync_state`` (null when absent)."""
    ns = pa.timestamp("ns", tz="UTC")
    state = tables.sync_state
    if state is None or state.num_rows == 0:
        return pa.chunked_array([pa.nulls(sessions.num_rows, ns)])
    state = state.cast(SYNC_STATE_SCHEMA)
    index = pc.index_in(sessions.column("session_id"), state.column("session_id"))
    return state.column("transcript_fetched_at").take(index)
