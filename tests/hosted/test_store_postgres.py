"""PostgresStore against a real database; Redis TLS options; the Redis lock."""

from __future__ import annotations

import logging
import ssl
import threading
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from services.settings import load_settings
from services.store.migrate import migrate
from services.store.parquet import StoreError
from services.store.postgres import PostgresStore
from services.sync.demo import demo_tables

pytestmark = pytest.mark.hosted

KEY = ["session_id"]


@pytest.fixture(scope="module")
def store(database_url):
    migrate(database_url)
    store = PostgresStore(database_url)
    yield store
    store.close()


@pytest.fixture(scope="module")
def world():
    return demo_tables(1500, anchor=date(2026, 9, 30))


def _sorted(table: pa.Table, keys=KEY) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys])


def test_round_trip_is_the_same_world_and_a_no_change_sync_writes_nothing(store, world):
    first = store.write(world)
    assert store.last_write_counts()["rows_changed"] > world.sessions.num_rows
    back = store.read()
    assert back.meta["generation"] == first == store.current_generation()
    assert back.meta["source"] == "demo"
    assert _sorted(back.sessions).equals(_sorted(world.sessions))
    for name, keys in (
        ("experiments", ["experiment_id"]),
        ("experiment_versions", ["experiment_id", "version_number"]),
        ("session_costs", ["session_id", "model", "cost_usd"]),
    ):
        assert _sorted(getattr(back, name), keys).equals(_sorted(getattr(world, name), keys))

    second = store.write(world)
    assert second == first + 1
    counts = store.last_write_counts()
    assert (counts["rows_changed"], counts["rows_deleted"]) == (0, 0)


def test_changed_and_removed_sessions_are_upserted_and_cascade(store, world):
    sessions = world.sessions
    victim = sessions.column("session_id")[0].as_py()
    changed_id = sessions.column("session_id")[1].as_py()
    keep = pc.not_equal(sessions.column("session_id"), victim)
    status = pc.if_else(
        pc.equal(sessions.column("session_id"), changed_id),
        pa.scalar("complete"),
        sessions.column("status"),
    )
    edited = sessions.set_column(sessions.schema.get_field_index("status"), "status", status)
    world.sessions = edited.filter(keep)
    world.session_costs = world.session_costs.filter(
        pc.not_equal(world.session_costs.column("session_id"), victim)
    )
    try:
        original_status = sessions.column("status")[1].as_py()
        store.write(world)
        counts = store.last_write_counts()
        assert counts["rows_changed"] == (0 if original_status == "complete" else 1)
        assert counts["rows_deleted"] >= 1
        back = store.read()
        ids = set(back.sessions.column("session_id").to_pylist())
        assert victim not in ids and changed_id in ids
        assert victim not in set(back.session_costs.column("session_id").to_pylist())
        row = back.sessions.filter(pc.equal(back.sessions.column("session_id"), changed_id))
        assert row.column("status")[0].as_py() == "complete"
    finally:
        world.sessions = sessions


def test_readers_never_see_a_half_written_sync(store, world, monkeypatch):
    """A reader during a write (held open mid-transaction) still gets the previous generation."""
    import services.store.postgres as pg

    before = store.current_generation()
    reached, release = threading.Event(), threading.Event()
    real_merge = pg.merge_stage

    def slow_merge(cur, name, *args):
        result = real_merge(cur, name, *args)
        if name == "session_aggregates":  # sessions and tags are merged, not committed
            reached.set()
            release.wait(30)
        return result

    monkeypatch.setattr(pg, "merge_stage", slow_merge)
    writer = threading.Thread(target=lambda: PostgresStore(store.url).write(world))
    writer.start()
    try:
        assert reached.wait(60)
        reader = PostgresStore(store.url)
        assert reader.current_generation() == before
        assert reader.read().meta["generation"] == before
    finally:
        release.set()
        writer.join(60)
    assert store.current_generation() == before + 1


def test_a_sync_committed_during_a_parallel_read_is_not_mixed_in(store, world, monkeypatch):
    """The read's parallel connections share one exported snapshot: a generation committed
    after the snapshot was taken (before any table was read) is invisible to the whole read."""
    import services.store.postgres as pg

    store.write(world)
    before = store.current_generation()
    expected = _sorted(store.read(source="tables").sessions)
    sessions = world.sessions
    other = pc.if_else(pa.scalar(True), pa.scalar("changed-meanwhile"), sessions.column("status"))
    changed = pg.Tables(
        sessions=sessions.set_column(sessions.schema.get_field_index("status"), "status", other),
        experiments=world.experiments,
        experiment_versions=world.experiment_versions,
        session_costs=world.session_costs,
        meta=world.meta,
    )
    real_part, once = pg._read_part, threading.Lock()
    written = []

    def part_after_a_write(owner, snapshot, names):
        with once:
            if not written:
                written.append(PostgresStore(store.url).write(changed))
        return real_part(owner, snapshot, names)

    monkeypatch.setattr(pg, "_read_part", part_after_a_write)
    back = store.read(source="tables")
    assert written == [before + 1] and store.current_generation() == before + 1
    assert back.meta["generation"] == before
    assert _sorted(back.sessions).equals(expected)
    monkeypatch.undo()
    for source in ("auto", "tables"):
        statuses = store.read(source=source).sessions.column("status").to_pylist()
        assert set(statuses) == {"changed-meanwhile"}
    store.write(world)


def test_the_columnar_snapshot_equals_the_rows_and_only_the_current_one_is_kept(
    store, world, caplog
):
    import psycopg

    import services.store.postgres as pg

    generation = store.write(world)
    fast, rows = store.read(), store.read(source="tables")
    assert fast.meta == rows.meta and fast.meta["generation"] == generation
    assert _sorted(fast.sessions).equals(_sorted(rows.sessions))
    assert _sorted(fast.sync_state).equals(_sorted(rows.sync_state))
    for name, keys in (
        ("experiments", ["experiment_id"]),
        ("experiment_versions", ["experiment_id", "version_number"]),
        ("session_costs", ["session_id", "model", "cost_usd"]),
    ):
        assert _sorted(getattr(fast, name), keys).equals(_sorted(getattr(rows, name), keys))
    with psycopg.connect(store.url, autocommit=True) as conn:
        kept = conn.execute("SELECT DISTINCT generation FROM store_snapshots").fetchall()
        assert kept == [(generation,)]
        chunks = conn.execute(
            "SELECT count(*) FROM store_snapshots WHERE part = 'sessions'"
        ).fetchone()[0]
        assert chunks == -(-world.sessions.num_rows // pg.SNAPSHOT_ROWS)
        # a damaged chunk: the rows are read instead, with a warning
        conn.execute("UPDATE store_snapshots SET data = 'not arrow' WHERE part = 'sessions'")
        with caplog.at_level("WARNING"):
            damaged = store.read()
        assert "unreadable" in caplog.text
        assert _sorted(damaged.sessions).equals(_sorted(rows.sessions))
        # a generation without a snapshot (written before migration 0003): the rows
        conn.execute("DELETE FROM store_snapshots")
        assert _sorted(store.read().sessions).equals(_sorted(rows.sessions))
    store.write(world)  # a snapshot again for the tests after this one


def test_assembled_tags_and_aggregates_follow_position_and_fill_gaps():
    from services.store.postgres import AGGREGATE_COLUMNS, assemble_sessions

    sessions = pa.table({"session_id": ["a", "b", "c"], "status": ["x", "y", "z"]})
    tags = pa.table(
        {
            "session_id": ["c", "a", "c", "a"],
            "position": [1, 0, 0, 1],
            "tag": ["c1", "a0", "c0", "a1"],
        }
    )
    aggregates = pa.table(
        {name: pa.array([None], pa.int32()) for name in AGGREGATE_COLUMNS}
        | {"session_id": ["b"], "has_transcript": [True]}
    )
    out = assemble_sessions(sessions, aggregates, tags)
    assert out.column("tags").to_pylist() == [["a0", "a1"], [], ["c0", "c1"]]
    assert out.column("has_transcript").to_pylist() == [False, True, False]
    assert out.column("status").to_pylist() == ["x", "y", "z"]


def test_an_old_generation_and_an_empty_or_missing_store_are_clear_errors(store, database_url):
    with pytest.raises(StoreError, match="no longer stored"):
        store.read(1)
    unreachable = PostgresStore("postgresql://postgres@127.0.0.1:9/x")
    with pytest.raises(StoreError, match="the database is unreachable"):
        unreachable.current_generation()


# -- Redis TLS options -----------------------------------------------------------------------


def _settings(tmp_path, **env):
    return load_settings(env={"DATA_DIR": str(tmp_path), **env}, dotenv=False)


def test_rediss_verifies_by_default_and_turning_it_off_is_explicit_and_logged(tmp_path, caplog):
    import services.redis_client as rc

    assert rc.tls_options(_settings(tmp_path, REDIS_URL="redis://h:6379")) == {}
    default = rc.tls_options(_settings(tmp_path, REDIS_URL="rediss://h:6379"))
    assert default == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    with_ca = rc.tls_options(_settings(tmp_path, REDIS_URL="rediss://h:6379", REDIS_CA_CERT=pem))
    assert with_ca["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    with open(with_ca["ssl_ca_certs"]) as handle:
        assert handle.read().strip() == pem.strip()
    with caplog.at_level(logging.WARNING):
        off = rc.tls_options(
            _settings(tmp_path, REDIS_URL="rediss://h:6379", REDIS_TLS_VERIFY="false")
        )
    assert off == {"ssl_cert_reqs": ssl.CERT_NONE}
    assert any("NOT checked" in r.getMessage() for r in caplog.records)


def test_an_untrusted_certificate_names_both_settings():
    import services.redis_client as rc

    text = rc.describe(ssl.SSLCertVerificationError("certificate verify failed: self-signed"))
    assert "REDIS_CA_CERT" in text and "REDIS_TLS_VERIFY=false" in text


# -- the Redis lock --------------------------------------------------------------------------


def test_redis_lock_is_exclusive_and_released(tmp_path, redis_url, key_prefix):
    from services.sync import status as sync_status

    settings = _settings(
        tmp_path, REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix, OCS_API_KEY="k"
    )
    with sync_status.sync_lock(settings) as held:
        assert sync_status.is_running(settings)
        with pytest.raises(sync_status.SyncAlreadyRunning, match="already running"):
            sync_status.acquire_lock(settings)
        assert sync_status.request_cancel(settings)
        assert held.cancel_requested()
        assert sync_status.read_status(settings)["message"] == "cancelling…"
    assert not sync_status.is_running(settings)
    assert not sync_status.request_cancel(settings)
