"""services/memory.py: the malloc arena cap the gunicorn workers set, the mapping of large
blocks a sync sets."""

from __future__ import annotations

import subprocess
import sys

from tests.support.hosted_support import ROOT


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
