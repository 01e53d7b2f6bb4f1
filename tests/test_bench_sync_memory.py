"""``python -m bench.sync_memory``: an incremental sync's memory, measured in fresh processes on
a copy of a demo store marked as an OCS sync (against the fake OCS serving the same world)."""

from __future__ import annotations

from bench import sync_memory
from bench.data import ANCHOR, SEED
from services.store.parquet import Store
from services.sync.demo import ensure_demo_store


def _small_store(tmp_path, monkeypatch):
    def small_store(n):
        ensure_demo_store(Store(tmp_path / "store"), n, SEED, ANCHOR)
        return tmp_path

    monkeypatch.setattr(sync_memory, "ensure_store", small_store)


def test_syncs_against_the_fake_serving_the_stores_world(tmp_path, monkeypatch):
    _small_store(tmp_path, monkeypatch)
    result = sync_memory.measure(1500)
    assert result["load"]["sessions"] == 1500  # taken as a previous OCS generation
    quiet, changed = result["sync_quiet"], result["sync_changed"]
    # the copy equals what a sync of the fake stores: nothing to change, no generation written
    assert not quiet["full"] and not quiet["changed"], quiet["line"]
    assert "no changes" in quiet["line"]
    assert result["changed_sessions"] == 15
    assert changed["changed"] and "15 updated" in changed["line"], changed["line"]
    for res in (result["load"], quiet, changed):
        assert res["peak_mb"] >= res["before_mb"] > 10 and res["seconds"] > 0
    # the cached store itself is untouched (a copy was marked)
    assert Store(tmp_path / "store").read_meta()["source"] == "demo"


def test_above_the_sync_size_measures_the_write_of_a_changed_generation(tmp_path, monkeypatch):
    _small_store(tmp_path, monkeypatch)
    result = sync_memory.measure(1500, sync_max=1000)
    assert set(result) == {"load", "write"}
    assert result["write"]["sessions"] == 1500
    assert result["write"]["peak_mb"] >= result["write"]["before_mb"] > 10


def test_cli_rejects_sizes_below_one(capsys):
    import pytest

    with pytest.raises(SystemExit) as exc:
        sync_memory.main(["--sizes", "0"])
    assert exc.value.code == 2
    assert "--sizes and --first must be positive" in capsys.readouterr().err


def test_first_sync_into_an_empty_store(monkeypatch):
    result = sync_memory.measure_first(300)
    assert result["full"] and result["changed"] and result["sessions"] == 300, result["line"]
    assert "300 new" in result["line"] and "transcripts fetched 300" in result["line"]
    assert result["peak_mb"] >= result["before_mb"] > 10
