"""Memory of an incremental sync's first step at scale: loading the previous generation.

``python -m bench.sync_memory --sizes 100000 1000000``

An incremental sync (``python -m services.sync``, the Refresh button, the worker's periodic
sync) starts by reading the current generation back as Python rows
(``services.sync.engine._load_previous``), to know what it has. No fake OCS can serve a
million sessions in reasonable time, so this measures that step on its own: the cached demo
store of each size (``bench.data``) is copied to a scratch ``DATA_DIR`` with its meta marked
as an OCS sync of the configured server, and a fresh process runs ``_load_previous`` while a
thread samples its PSS every 50 ms. Printed: PSS before, peak, held afterwards, seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.data import ensure_store
from bench.server import ROOT

BASE_URL = "http://127.0.0.1:9/api"

CHILD = """
import json, threading, time, psutil
me = psutil.Process()
peak = [0.0]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], me.memory_full_info().pss / 2**20)
        time.sleep(0.05)
from services.settings import load_settings
from services.store.backend import open_store
from services.sync import engine
settings = load_settings()
store = open_store(settings)
before = me.memory_full_info().pss / 2**20
threading.Thread(target=sample, daemon=True).start()
started = time.perf_counter()
previous = engine._load_previous(store, settings)
seconds = time.perf_counter() - started
held = me.memory_full_info().pss / 2**20
done.set()
assert previous is not None, "the store was not taken as a previous OCS generation"
print(json.dumps({"sessions": sum(len(r) for r in previous.rows.values()), "before_mb": before,
                  "peak_mb": max(peak[0], held), "held_mb": held, "seconds": seconds}))
"""


def measure(n: int) -> dict:
    source = ensure_store(n) / "store"
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "store"
        shutil.copytree(source, target)
        current = (target / "CURRENT").read_text().strip()
        meta_path = target / f"g{int(current):06d}" / "meta.json"
        meta = json.loads(meta_path.read_text())
        meta.update(source="ocs", sync_format=1, base_url=BASE_URL)
        meta_path.write_text(json.dumps(meta))
        env = dict(
            os.environ,
            DATA_DIR=tmp,
            OCS_API_BASE_URL=BASE_URL,
            OCS_API_KEY="bench",
            PYTHONPATH=str(ROOT),
            LOG_LEVEL="WARNING",
        )
        env.pop("OCS_API_KEYS", None)
        out = subprocess.run(
            [sys.executable, "-c", CHILD],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sync_memory",
        description="Peak PSS of an incremental sync loading the previous generation.",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args(argv)
    for n in args.sizes:
        res = measure(n)
        print(
            f"{n:,} sessions: previous generation of {res['sessions']:,} sessions loaded in "
            f"{res['seconds']:.1f} s; PSS {res['before_mb']:.0f} MB before, peak "
            f"{res['peak_mb']:.0f} MB, held {res['held_mb']:.0f} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
