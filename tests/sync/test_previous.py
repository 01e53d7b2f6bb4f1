"""The columnar previous generation (services.sync.previous) against plain Python rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.store.schema import SESSION_BASE_COLUMNS, TRANSCRIPT_COLUMNS
from services.store.tables import build_tables
from services.sync import demo
from services.sync.previous import Previous, merge_sessions, rows_of

N = 60


@pytest.fixture(scope="module")
def world():
    tables = demo.world_tables(demo.generate(N, 5))
    ids = tables.sessions.column("session_id").to_pylist()
    # every third session has a fetch time, one id of another store is ignored
    fetched = [None if i % 3 else 1_000 + i for i in range(N)]
    tables.sync_state = pa.table(
        {
            "session_id": [*ids, "not-stored"],
            "transcript_fetched_at": pa.array([*fetched, 5], pa.int64()).cast(
                pa.timestamp("ns", tz="UTC")
            ),
        }
    )
    tables.meta["generation"] = 4
    return tables, Previous.from_tables(tables)


def _python_rows(tables):
    return rows_of(tables.sessions)


def test_facts_match_the_rows(world):
    tables, prev = world
    rows = _python_rows(tables)
    assert len(prev) == N and prev.generation == 4
    assert prev.created.tolist() == [r["created_at"] for r in rows]
    assert prev.updated.tolist() == [r["updated_at"] for r in rows]
    assert prev.last_message.tolist() == [r["last_message_at"] or 0 for r in rows]
    assert prev.has_transcript.tolist() == [r["has_transcript"] for r in rows]
    assert prev.fetched.tolist() == [0 if i % 3 else 1_000 + i for i in range(N)]
    teams = {}
    for i, r in enumerate(rows):
        teams.setdefault(r["team_slug"], []).append(i)
    assert {slug: p.tolist() for slug, p in prev.team_positions.items()} == teams
    open_ = prev.status_in({"active", "setup"})
    assert open_.tolist() == [r["status"] in ("active", "setup") for r in rows]
    assert [prev.status(i) for i in range(N)] == [r["status"] for r in rows]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(picks=st.lists(st.integers(0, N + 5), max_size=12))
def test_lookups_by_position_and_id(world, picks):
    tables, prev = world
    rows = _python_rows(tables)
    ids = [rows[i]["session_id"] if i < N else f"unknown-{i}" for i in picks]
    positions = prev.positions(ids)
    assert positions.tolist() == [i if i < N else -1 for i in picks]
    known = np.array([i for i in picks if i < N], dtype=np.int64)
    assert prev.ids(known) == [rows[i]["session_id"] for i in known]
    assert prev.base_rows(known) == [{k: rows[i][k] for k in SESSION_BASE_COLUMNS} for i in known]
    assert prev.transcripts(known) == [
        {k: rows[i][k] for k in TRANSCRIPT_COLUMNS} if rows[i]["has_transcript"] else None
        for i in known
    ]
    costs: dict[str, list[dict]] = {}
    wanted = set(ids)
    for row in tables.session_costs.to_pylist():
        if row["session_id"] in wanted:
            costs.setdefault(row.pop("session_id"), []).append(row)
    assert prev.costs_of(ids) == costs
    newest: dict[str, tuple[int, str]] = {}
    for i in known.tolist():
        r = rows[i]
        if r["experiment_id"] not in newest or r["created_at"] > newest[r["experiment_id"]][0]:
            newest[r["experiment_id"]] = (r["created_at"], r["experiment_name"])
    assert prev.newest_experiment_names(known) == newest


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kept=st.sets(st.integers(0, N - 1)),
    rebuilt=st.sets(st.integers(0, N - 1)),
    same_instant=st.booleans(),
)
def test_merge_equals_building_every_row_anew(world, kept, rebuilt, same_instant):
    """Kept positions plus rebuilt rows come out exactly as build_tables of all of them."""
    tables, _prev = world
    rebuilt -= kept
    rows = _python_rows(tables)
    base = {r["session_id"]: {k: r[k] for k in SESSION_BASE_COLUMNS} for r in rows}
    txs = {
        r["session_id"]: {k: r[k] for k in TRANSCRIPT_COLUMNS} for r in rows if r["has_transcript"]
    }
    costs: dict[str, list[dict]] = {}
    for row in tables.session_costs.to_pylist():
        costs.setdefault(row.pop("session_id"), []).append(row)
    patch_rows = []
    for i in sorted(rebuilt, reverse=True):  # any order in, newest first out
        row = dict(base[rows[i]["session_id"]], tags=["rebuilt"])
        if same_instant:  # ties on created_at are ordered by id, descending
            row["created_at"] = rows[0]["created_at"]
        patch_rows.append(row)
    patch = build_tables(patch_rows, txs, costs)
    positions = np.array(sorted(kept), dtype=np.int64)
    prev = Previous.from_tables(tables)  # merging consumes it
    sessions, session_costs, order = merge_sessions(prev, positions, patch)
    assert prev.sessions.num_columns == 0 and prev.costs.num_rows == 0

    everything = [base[rows[i]["session_id"]] for i in sorted(kept)] + patch_rows
    everything.sort(key=lambda r: (r["created_at"], r["session_id"]), reverse=True)
    want = build_tables(everything, txs, costs)
    assert sessions.equals(want.sessions)
    assert session_costs.equals(want.session_costs)
    concatenated = [rows[i]["session_id"] for i in sorted(kept)] + [
        r["session_id"] for r in patch_rows
    ]
    assert [concatenated[i] for i in order] == sessions.column("session_id").to_pylist()


def test_merge_without_previous_sorts_the_patch():
    rows = [
        dict.fromkeys(SESSION_BASE_COLUMNS) | {"session_id": sid, "created_at": at, "tags": []}
        for sid, at in (("a", 1), ("c", 2), ("b", 2))
    ]
    sessions, costs, order = merge_sessions(None, np.zeros(0, np.int64), build_tables(rows))
    assert sessions.column("session_id").to_pylist() == ["c", "b", "a"]
    assert order.tolist() == [1, 2, 0] and costs.num_rows == 0
