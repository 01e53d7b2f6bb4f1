"""The previous store generation, kept columnar: what an incremental sync builds on.

An incremental sync needs to know, for every stored session, when it was created and updated,
its status, whether it has a transcript and when that was fetched; and, for the few sessions the
sync touches (listed again, re-checked, fetched), their full rows. Holding every stored session
as Python dicts cost about 6 KB a session (595 MB peak at 100k sessions, 4.5 GB at 1M), so the
generation stays in its Arrow tables here: the per-session facts are numpy arrays, whole rows are
materialised only for the positions asked for, and sessions nobody touched are copied into the
next generation by position (:func:`merge_sessions`), never as Python objects.

Positions are row numbers in :attr:`Previous.sessions`. Timestamps are epoch nanoseconds (0 for
null), like :mod:`services.sync.records` emits them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services import memory
from services.store.schema import SESSION_BASE_COLUMNS, SYNC_STATE_SCHEMA, TRANSCRIPT_COLUMNS
from services.store.tables import Tables, build_tables


def tune_allocation() -> None:
    """Allocate this process's memory the way a sync at scale needs it.

    * Arrow's system allocator instead of its default pool (mimalloc), which keeps a heap per
      reader thread: reading and merging a generation held ~50 MB more PSS at 100k sessions
      (``python -m bench.sync_memory``: 333 → 279 MB peak for a changing sync).
    * glibc: at most two arenas, and blocks from 1 MiB up mapped on their own
      (:mod:`services.memory`), so the previous generation's columns, freed one by one as the
      next generation is merged, leave the process.

    Every sync calls it first; buffers allocated before keep their own pool.
    """
    pa.set_memory_pool(pa.system_memory_pool())
    memory.limit_arenas(2)
    memory.map_large_blocks(1 << 20)


def rows_of(table: pa.Table) -> list[dict]:
    """Arrow rows as dicts, timestamps as epoch nanoseconds (like services.sync.records emits)."""
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        columns[name] = column
    return pa.table(columns).to_pylist()


def _ns(column: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as int64 epoch nanoseconds, 0 where null."""
    return pc.fill_null(column.cast(pa.int64()), 0).to_numpy()


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """(int32 code per row, the distinct values) of a string column; null → its own code."""
    encoded = column.dictionary_encode(null_encoding="encode").combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary.to_pylist()


@dataclass
class Previous:
    """One stored generation of an OCS sync, columnar (see the module docstring)."""

    generation: int
    meta: dict
    sessions: pa.Table
    costs: pa.Table
    fetched: np.ndarray
    """Per position: when the transcript was last fetched (ns, 0 = unknown)."""
    experiments: dict[str, dict]
    versions: dict[str, list[dict]]
    created: np.ndarray = field(init=False)
    updated: np.ndarray = field(init=False)
    last_message: np.ndarray = field(init=False)
    has_transcript: np.ndarray = field(init=False)
    team_positions: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        s = self.sessions
        self.created = _ns(s.column("created_at"))
        self.updated = _ns(s.column("updated_at"))
        self.last_message = _ns(s.column("last_message_at"))
        self.has_transcript = pc.fill_null(s.column("has_transcript"), False).to_numpy()
        self._status_codes, self._statuses = _codes(s.column("status"))
        team_codes, slugs = _codes(s.column("team_slug"))
        self.team_positions = {
            slug: np.flatnonzero(team_codes == code) for code, slug in enumerate(slugs)
        }
        self._ids = s.column("session_id").combine_chunks()
        # one copy of the ids: the table's column becomes the combined array
        self.sessions = s.set_column(
            s.schema.get_field_index("session_id"),
            s.schema.field("session_id"),
            pa.chunked_array([self._ids]),
        )

    @classmethod
    def from_tables(cls, tables: Tables) -> Previous:
        n = tables.sessions.num_rows
        fetched = np.zeros(n, dtype=np.int64)
        state = tables.sync_state
        if state is not None and state.num_rows:
            where = pc.index_in(
                state.column("session_id"), value_set=tables.sessions.column("session_id")
            )
            at = _ns(state.column("transcript_fetched_at"))
            found = pc.is_valid(where).to_numpy(zero_copy_only=False)
            fetched[pc.fill_null(where, 0).to_numpy()[found]] = at[found]
        versions: dict[str, list[dict]] = {}
        for row in tables.experiment_versions.to_pylist():
            versions.setdefault(row["experiment_id"], []).append(row)
        experiments = {row["experiment_id"]: row for row in tables.experiments.to_pylist()}
        return cls(
            int(tables.meta.get("generation") or 0),
            tables.meta,
            tables.sessions,
            tables.session_costs,
            fetched,
            experiments,
            versions,
        )

    # lookups ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.sessions.num_rows

    def positions(self, ids: Sequence[str]) -> np.ndarray:
        """Position of each id in the generation, -1 where it has none."""
        if not len(ids):
            return np.zeros(0, dtype=np.int64)
        where = pc.index_in(pa.array(list(ids), pa.string()), value_set=self._ids)
        return pc.fill_null(where, -1).to_numpy().astype(np.int64)

    def id_array(self, positions: np.ndarray) -> pa.Array:
        return self._ids.take(pa.array(positions, pa.int64()))

    def ids(self, positions: np.ndarray) -> list[str]:
        return self.id_array(positions).to_pylist()

    def status_in(self, statuses: Iterable[str | None]) -> np.ndarray:
        """Per position: whether the session's status is one of ``statuses``."""
        wanted = set(statuses)
        codes = [code for code, value in enumerate(self._statuses) if value in wanted]
        return np.isin(self._status_codes, codes)

    def status(self, position: int) -> str | None:
        return self._statuses[self._status_codes[position]]

    def base_rows(self, positions: np.ndarray) -> list[dict]:
        """The list-endpoint fields of these sessions, as :func:`parse_session` emits them."""
        taken = self.sessions.select(list(SESSION_BASE_COLUMNS))
        return rows_of(taken.take(pa.array(positions, pa.int64())))

    def transcripts(self, positions: np.ndarray) -> list[dict | None]:
        """The transcript summaries of these sessions (None where it has none)."""
        taken = self.sessions.select(["has_transcript", *TRANSCRIPT_COLUMNS])
        rows = rows_of(taken.take(pa.array(positions, pa.int64())))
        return [
            {k: row[k] for k in TRANSCRIPT_COLUMNS} if row["has_transcript"] else None
            for row in rows
        ]

    def costs_of(self, ids: Iterable[str]) -> dict[str, list[dict]]:
        """Session id → its cost rows (model, cost_usd, tokens), for these sessions."""
        ids = list(ids)
        if not ids or not self.costs.num_rows:
            return {}
        mask = pc.is_in(self.costs.column("session_id"), value_set=pa.array(ids, pa.string()))
        out: dict[str, list[dict]] = {}
        for row in self.costs.filter(mask).to_pylist():
            out.setdefault(row.pop("session_id"), []).append(row)
        return out

    def newest_experiment_names(self, positions: np.ndarray) -> dict[str, tuple[int, str]]:
        """Experiment id → (created_at, experiment_name) of its newest session among these."""
        if not len(positions):
            return {}
        taken = self.sessions.select(["experiment_id", "experiment_name"]).take(
            pa.array(positions, pa.int64())
        )
        codes, values = _codes(taken.column("experiment_id"))
        created = self.created[positions]
        order = np.argsort(-created, kind="stable")
        _, first = np.unique(codes[order], return_index=True)
        chosen = order[first]
        names = taken.column("experiment_name").take(pa.array(chosen, pa.int64())).to_pylist()
        return {
            values[codes[i]]: (int(created[i]), name)
            for i, name in zip(chosen.tolist(), names, strict=True)
        }


def merge_sessions(
    prev: Previous | None, positions: np.ndarray, patch: Tables
) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """The next generation's sessions, costs and per-session fetch indices, without Python rows.

    ``positions`` are rows of ``prev`` copied as they are; ``patch`` holds the sessions built
    anew (:func:`~services.store.tables.build_tables`). Sessions come out newest first, ties by
    session id descending (as the store always held them); cost rows follow their session's
    order, keeping each session's own order. The third value maps each output row to its index
    in ``[*positions, *patch rows]``, for callers that carry per-session values alongside (e.g.
    fetch times).

    **Consumes** ``prev``'s tables: each column is dropped from it as soon as it has been copied
    (so a million sessions need one copy of a column at a time on top of the data, not two
    copies of the data); ``prev`` is not usable for rows afterwards.
    """
    schema = patch.sessions.schema
    n_prev = len(positions) if prev is not None else 0
    index = np.concatenate(
        [
            np.asarray(positions, dtype=np.int64)[:n_prev],
            np.arange(patch.sessions.num_rows, dtype=np.int64)
            + (len(prev) if prev is not None else 0),
        ]
    )

    def column(name: str) -> pa.ChunkedArray:
        chunks = list(patch.sessions.column(name).chunks)
        if prev is not None:
            chunks = [*prev.sessions.column(name).cast(schema.field(name).type).chunks, *chunks]
        return pa.chunked_array(chunks, schema.field(name).type)

    taken = pa.array(index, pa.int64())
    keys = pa.table(
        {
            "created_at": column("created_at").take(taken),
            "session_id": column("session_id").take(taken),
        }
    )
    order = pc.sort_indices(
        keys, sort_keys=[("created_at", "descending"), ("session_id", "descending")]
    ).to_numpy()
    del keys, taken
    final = pa.array(index[order], pa.int64())
    columns = []
    for name in schema.names:
        columns.append(column(name).take(final))
        if prev is not None:  # this column of the previous generation is no longer needed
            prev.sessions = prev.sessions.drop_columns([name])
    sessions = pa.Table.from_arrays(columns, schema=schema)
    del columns
    # cost rows: the kept sessions' from ``prev`` and the patch's, in one take
    cost_schema = patch.session_costs.schema
    kept_rows = np.zeros(0, dtype=bool)
    cost_tables = [patch.session_costs]
    if prev is not None and prev.costs.num_rows:
        kept_rows = pc.is_in(
            prev.costs.column("session_id"), value_set=prev.id_array(positions)
        ).to_numpy(zero_copy_only=False)
        cost_tables.insert(0, prev.costs.cast(cost_schema))
    combined = pa.concat_tables(cost_tables)
    costs = combined.slice(0, 0)
    if combined.num_rows:
        rank = pc.index_in(combined.column("session_id"), value_set=sessions.column("session_id"))
        rank = pc.fill_null(rank, -1).to_numpy()
        wanted = np.flatnonzero(
            np.concatenate([kept_rows, np.ones(patch.session_costs.num_rows, dtype=bool)])
        )
        wanted = wanted[np.argsort(rank[wanted], kind="stable")]
        costs = combined.take(pa.array(wanted, pa.int64()))
    del combined, cost_tables
    if prev is not None:
        prev.costs = prev.costs.slice(0, 0)
    return sessions, costs, order


def next_generation(
    base: Previous | None,
    kept: Sequence[tuple[np.ndarray, np.ndarray]],
    rows: list[dict],
    transcripts: dict[str, dict],
    costs: dict[str, list[dict]],
    fetched_at: dict[str, int],
    experiments: list[dict],
    versions: list[dict],
    meta: dict,
) -> Tables:
    """The tables of the next generation, with ``sync_state``.

    ``kept`` are (positions in ``base``, their fetch times in ns, 0 = unknown): sessions copied
    as they are. ``rows`` are the sessions built anew, with their ``transcripts``, ``costs`` and
    ``fetched_at`` (:func:`~services.store.tables.build_tables`).
    """
    patch = build_tables(rows, transcripts, costs, experiments, versions, meta)
    new_fetched = np.array([fetched_at.get(r["session_id"]) or 0 for r in rows], dtype=np.int64)
    positions = np.concatenate([p for p, _ in kept]) if kept else np.zeros(0, dtype=np.int64)
    fetched = np.concatenate([f for _, f in kept] + [new_fetched])
    sessions, session_costs, order = merge_sessions(
        base if len(positions) else None, positions, patch
    )
    fetched = fetched[order]
    return Tables(
        sessions=sessions,
        experiments=patch.experiments,
        experiment_versions=patch.experiment_versions,
        session_costs=session_costs,
        meta=patch.meta,
        sync_state=pa.table(
            {
                "session_id": sessions.column("session_id"),
                "transcript_fetched_at": pa.array(fetched, pa.int64(), mask=fetched == 0),
            }
        ).cast(SYNC_STATE_SCHEMA),
    )
