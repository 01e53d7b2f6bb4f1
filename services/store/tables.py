"""One generation's content as Arrow tables, and how normalised rows become them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from services.store.schema import (
    COST_SCHEMA,
    EXPERIMENT_SCHEMA,
    SESSION_BASE_COLUMNS,
    SESSION_SCHEMA,
    TRANSCRIPT_COLUMNS,
    VERSION_SCHEMA,
)


@dataclass
class Tables:
    """One generation's content, as Arrow tables plus a small metadata dict."""

    sessions: pa.Table
    experiments: pa.Table
    experiment_versions: pa.Table
    session_costs: pa.Table
    meta: dict = field(default_factory=dict)
    sync_state: pa.Table | None = None
    """Optional sync bookkeeping (per-session transcript fetch times, see services.sync.engine);
    written as ``sync_state.parquet`` when present, None for demo generations."""


def build_tables(
    session_rows: list[dict],
    transcripts: dict[str, dict] | None = None,
    cost_rows: dict[str, list[dict]] | None = None,
    experiments: list[dict] | None = None,
    versions: list[dict] | None = None,
    meta: dict | None = None,
) -> Tables:
    """Assemble normalised rows (from :mod:`services.sync.records`) into store tables.

    ``transcripts`` maps session id → :func:`~services.sync.records.summarise_transcript` output;
    sessions without one keep empty transcript columns (``has_transcript`` False).
    """
    transcripts = transcripts or {}
    cost_rows = cost_rows or {}
    columns: dict[str, list] = {
        name: [r[name] for r in session_rows] for name in SESSION_BASE_COLUMNS
    }
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


def sessions_frame(tables: Tables) -> pd.DataFrame:
    """The sessions table as pandas (Arrow-backed lists become Python lists)."""
    return tables.sessions.to_pandas()
