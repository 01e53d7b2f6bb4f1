"""``python -m bench.sync_memory``: an incremental sync's load of the previous generation,
measured in a fresh process on a copy of a demo store marked as an OCS sync."""

from __future__ import annotations

from bench import sync_memory
from services.store.parquet import Store
from services.sync.demo import ensure_demo_store
from tests.conftest import DEMO_ANCHOR


def test_measures_the_previous_generation_load(tmp_path, monkeypatch):
    def small_store(n):
        ensure_demo_store(Store(tmp_path / "store"), n, 7, DEMO_ANCHOR)
        return tmp_path

    monkeypatch.setattr(sync_memory, "ensure_store", small_store)
    result = sync_memory.measure(1500)
    assert result["sessions"] == 1500  # taken as a previous OCS generation, every row loaded
    assert result["peak_mb"] >= result["before_mb"] > 10
    assert result["seconds"] > 0
    # the cached store itself is untouched (a copy was marked)
    assert Store(tmp_path / "store").read_meta()["source"] == "demo"
