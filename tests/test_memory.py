"""services/memory.py: the malloc arena cap the gunicorn workers set, the mapping of large
blocks a sync sets."""

from __future__ import annotations

import subprocess
import sys

from tests.support.hosted_support import ROOT, clean_env


def test_limit_arenas_takes_effect_in_a_fresh_process():
    code = "from services import memory; import sys; sys.exit(0 if memory.limit_arenas(2) else 1)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=60
    )
    assert result.returncode == 0  # this machine runs glibc: mallopt accepted the cap


def test_gunicorn_workers_cap_their_arenas(monkeypatch):
    import runpy

    from services import memory

    calls = []
    monkeypatch.setattr(memory, "limit_arenas", lambda n=2: calls.append(("arenas", n)) or True)
    monkeypatch.setattr(memory, "map_large_blocks", lambda n: calls.append(("mmap", n)) or True)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    config["post_fork"](None, None)
    assert calls == [("arenas", 2)]  # not the mmap threshold: it slowed 1M answers (memory.py)


def test_large_blocks_are_mapped_on_their_own_in_a_fresh_process():
    code = (
        "from services import memory; import sys; "
        "sys.exit(0 if memory.map_large_blocks(1 << 20) else 1)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=60
    )
    assert result.returncode == 0  # glibc accepted the threshold


def test_the_gunicorn_master_freezes_what_it_imported_before_forking():
    """warm_imports leaves the imported objects in the collector's permanent generation, so
    the workers' collections do not write to (and unshare) their pages."""
    code = (
        "import gc, runpy, sys; config = runpy.run_path('gunicorn.conf.py'); "
        "config['warm_imports'](); sys.exit(0 if gc.get_freeze_count() > 50_000 else 1)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=120
    )
    assert result.returncode == 0


def test_a_built_worker_freezes_the_app_it_serves(tmp_path):
    """wsgi.py (each gunicorn worker) freezes the built app: full collections skip it."""
    env = clean_env(DATA_DIR=str(tmp_path / "data"), DEMO_SESSIONS="300", AUTH_DISABLED="true")
    code = "import gc, sys, wsgi; sys.exit(0 if gc.get_freeze_count() > 50_000 else 1)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_freeze_long_lived_moves_what_is_alive_out_of_the_collections():
    code = (
        "import gc, sys; from services import memory; keep = [[i] for i in range(10_000)]; "
        "n = memory.freeze_long_lived(); sys.exit(0 if n >= 10_000 and not any("
        "gc.is_tracked(x) and x in gc.get_objects(2) for x in keep[:1]) else 1)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=60
    )
    assert result.returncode == 0


def test_release_free_memory_calls_glibc():
    from services import memory

    assert memory.release_free_memory() is True  # this machine runs glibc


def test_a_rollup_build_gives_its_free_memory_back(monkeypatch, make_dataset):
    """Each roll-up build (a filter set's all-time temporaries) is followed by one
    malloc_trim; a window read from a built roll-up is not."""
    from datetime import date

    from services import memory
    from services.analytics import engagement, rollups
    from services.analytics.filters import FilterState
    from services.analytics.query import select

    dataset = make_dataset(
        [{"id": f"s{i}", "created": f"2026-10-{i + 1:02d}T10:00:00Z", "human": 1} for i in range(9)]
    )  # a new dataset: no roll-up built yet
    calls = []
    monkeypatch.setattr(memory, "release_free_memory", lambda: calls.append(1) or True)
    state = FilterState(range="custom", start=date(2026, 10, 1), end=date(2026, 10, 30))
    sel = select(dataset, state)
    assert rollups.window_rows(sel, "transcripts", engagement._transcript_rollup) is not None
    assert calls == [1]
    assert rollups.window_rows(sel, "transcripts", engagement._transcript_rollup) is not None
    assert calls == [1]
