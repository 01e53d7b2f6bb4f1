"""The Parquet store: generations, atomic CURRENT swap, clear errors, the dataset cache."""

from __future__ import annotations

import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.store import parquet as store_module
from services.store.cache import DatasetCache
from services.store.parquet import Store, StoreError
from services.store.tables import Tables, build_tables
from services.sync.records import parse_experiment, parse_session, summarise_transcript
from tests.conftest import session_record


def small_tables(n: int = 3, tag: str = "t") -> Tables:
    rows, transcripts, costs = [], {}, {}
    for i in range(n):
        row = parse_session(
            session_record(f"s{i}", created=f"2026-11-0{i + 1}T10:00:00Z", tags=[tag])
        )
        rows.append(row)
        detail = {
            "messages": [
                {"created_at": "2026-11-01T10:00:01Z", "role": "assistant", "tags": ["v1"]},
                {"created_at": "2026-11-01T10:00:05Z", "role": "user", "content": "a b"},
            ],
            "usage": {
                "total_cost": "0.002",
                "by_model": [{"model_name": "gpt-4o", "cost": "0.002", "tokens": 10}],
            },
        }
        transcripts[row["session_id"]], costs[row["session_id"]] = summarise_transcript(detail)
    experiment, versions = parse_experiment(
        {
            "id": "exp-1",
            "name": "Bot",
            "version_number": 2,
            "versions": [{"version_number": 1, "is_default_version": True}],
        },
        "team-a",
    )
    return build_tables(rows, transcripts, costs, [experiment], versions, {"source": "test"})


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")


def generation_dirs(store: Store) -> list[str]:
    return sorted(p.name for p in store.root.iterdir() if p.is_dir())


def test_round_trip_all_tables_and_meta(store):
    tables = small_tables()
    tables.sync_state = pa.table({"session_id": ["s0"], "fetched_at": [1.5]})
    generation = store.write(tables)
    assert generation == 1
    assert store.current_generation() == 1
    loaded = store.read()
    for name in ("sessions", "experiments", "experiment_versions", "session_costs"):
        assert loaded.__getattribute__(name).equals(getattr(tables, name)), name
    assert loaded.sessions.num_rows == 3
    assert loaded.session_costs.num_rows == 3
    assert loaded.sync_state.equals(tables.sync_state)
    assert loaded.meta["source"] == "test"
    assert loaded.meta["generation"] == 1
    assert loaded.meta["written_at"] > 0
    assert store.read_meta() == loaded.meta
    assert tables.meta == {"source": "test"}  # the caller's dict is not modified


def test_round_trip_without_sync_state(store):
    store.write(small_tables())
    assert store.read().sync_state is None


def test_generations_increase(store):
    assert store.current_generation() is None
    assert [store.write(small_tables(i + 1)) for i in range(3)] == [1, 2, 3]
    assert store.current_generation() == 3
    assert store.read().sessions.num_rows == 3
    assert store.read(2).sessions.num_rows == 2


def test_empty_store_reports_clearly(store):
    assert store.current_generation() is None
    assert store.read_meta() == {}
    with pytest.raises(StoreError, match="no data has been stored yet"):
        store.read()


def test_failed_write_leaves_current_generation_served(store, monkeypatch):
    store.write(small_tables(2))
    real_write = pq.write_table
    calls = []

    def failing(table, where, **kwargs):
        calls.append(where)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_write(table, where, **kwargs)

    monkeypatch.setattr(store_module.pq, "write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        store.write(small_tables(3))
    monkeypatch.undo()

    assert len(calls) == 2
    assert store.current_generation() == 1
    assert store.read().sessions.num_rows == 2
    assert generation_dirs(store) == ["g000001"]  # no tmp dir, no half generation
    assert not [p for p in store.root.iterdir() if ".tmp-" in p.name]
    assert store._existing() == [1]
    # and the next write works normally
    assert store.write(small_tables(3)) == 2
    assert store.read().sessions.num_rows == 3


def test_failed_pointer_swap_keeps_old_generation(store, monkeypatch):
    store.write(small_tables(2))

    def failing_replace(src, dst):
        raise OSError("replace failed")

    monkeypatch.setattr(store_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="replace failed"):
        store.write(small_tables(3))
    monkeypatch.undo()
    assert store.current_generation() == 1
    assert store.read().sessions.num_rows == 2
    assert store.write(small_tables(4)) > 2  # never reuses a number that may exist on disk
    assert store.read().sessions.num_rows == 4


def test_corrupt_parquet_raises_store_error(store):
    store.write(small_tables())
    (store.root / "g000001" / "sessions.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(StoreError, match="generation 1 cannot be read"):
        store.read()


def test_missing_file_raises_store_error(store):
    store.write(small_tables())
    (store.root / "g000001" / "experiments.parquet").unlink()
    with pytest.raises(StoreError, match=r"generation 1 is incomplete .*experiments\.parquet"):
        store.read()


def test_missing_generation_dir_raises_store_error(store):
    store.root.mkdir(parents=True)
    store.pointer.write_text("7")
    with pytest.raises(StoreError, match="generation 7"):
        store.read()


def test_corrupt_current_raises_store_error(store):
    store.write(small_tables())
    store.pointer.write_text("garbage\n")
    with pytest.raises(StoreError, match=r"CURRENT is corrupt \(holds 'garbage'\)"):
        store.current_generation()
    with pytest.raises(StoreError, match="corrupt"):
        store.read()


def test_garbage_collection_keeps_two(store):
    for i in range(4):
        store.write(small_tables(i + 1))
    assert generation_dirs(store) == ["g000003", "g000004"]
    assert store.read(3).sessions.num_rows == 3


def test_garbage_collection_never_removes_current(store):
    for i in range(3):
        store.write(small_tables(i + 1))
    store.pointer.write_text("2")  # e.g. an operator rolled back
    store.collect_garbage(keep=1)
    assert "g000002" in generation_dirs(store)
    assert store.read().sessions.num_rows == 2


def test_garbage_collection_removes_only_stale_temps(store):
    store.write(small_tables())
    stale = store.root / "g000009.tmp-1-1"
    fresh = store.root / "g000010.tmp-2-2"
    stale.mkdir()
    fresh.mkdir()
    old = time.time() - 7200
    os.utime(stale, (old, old))
    store.collect_garbage()
    assert not stale.exists()
    assert fresh.exists()
    assert store._existing() == [1]  # temps never count as generations


# ---- DatasetCache -------------------------------------------------------------------------


def test_dataset_cache_loads_new_generations(store):
    cache = DatasetCache(store, min_check_interval=0)
    assert cache.get() is None
    assert cache.notice is None
    store.write(small_tables(2))
    first = cache.get()
    assert (first.generation, first.n) == (1, 2)
    assert cache.get() is first  # unchanged generation → same object
    store.write(small_tables(3))
    second = cache.get()
    assert (second.generation, second.n) == (2, 3)
    assert cache.notice is None


def test_dataset_cache_serves_previous_when_new_generation_is_corrupt(store):
    cache = DatasetCache(store, min_check_interval=0)
    store.write(small_tables(2))
    first = cache.get()
    store.write(small_tables(3))
    (store.root / "g000002" / "sessions.parquet").write_bytes(b"\x00garbage")
    assert cache.get() is first
    assert cache.notice is not None
    assert "could not be read" in cache.notice
    assert "previous" in cache.notice
    # a later good generation replaces it and clears the notice
    store.write(small_tables(4))
    third = cache.get()
    assert (third.generation, third.n) == (3, 4)
    assert cache.notice is None


def test_dataset_cache_survives_corrupt_current(store):
    cache = DatasetCache(store, min_check_interval=0)
    store.write(small_tables(2))
    first = cache.get()
    store.pointer.write_text("oops")
    assert cache.get() is first
    assert "could not be read" in cache.notice


def test_dataset_cache_first_load_corrupt_gives_none_and_notice(store):
    store.write(small_tables(2))
    (store.root / "g000001" / "meta.json").write_text("{not json")
    cache = DatasetCache(store, min_check_interval=0)
    assert cache.get() is None
    assert "could not be read" in cache.notice
    assert "previous" not in cache.notice
