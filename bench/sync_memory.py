"""Memory of an incremental sync at scale.

``python -m bench.sync_memory --sizes 100000 1000000``

An incremental sync (``python -m services.sync``, the Refresh button, the worker's periodic
sync) builds on the current generation (:mod:`services.sync.previous`). Each measurement runs
in a fresh process while a thread samples its PSS every 50 ms; printed: PSS before (imports
done), peak, held at the end, seconds. On a copy of the cached demo store of each size
(``bench.data``), its meta marked as an OCS sync of the server in use:

1. **load** — the previous generation read back (``engine._load_previous``), any size.
2. **sync** — a whole incremental ``run_sync`` against the fake OCS (tests/support/fake_ocs.py,
   in its own process) serving the same demo world the store holds, for sizes up to
   ``--sync-max`` (the fake holds its world as JSON: about 1 GB at 100k). First with nothing
   changed (the sync lists the head, re-checks its share and writes no generation), then with
   the newest 1% of stored sessions differing from the server (their tags), so it writes one:
   previous generation, merge and write.
3. **write** — above ``--sync-max``, the sync's last step on its own: the previous generation
   plus 1% of its sessions rebuilt (``previous.next_generation``) written as a new generation,
   what a changing sync does after it has listed and fetched.

``--first N …`` instead measures a first sync of N sessions into an empty store (the fake
announcing a limit high enough that the client never waits for the next rate window).
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

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.data import ANCHOR, SEED, ensure_store
from bench.server import ROOT

BASE_URL = "http://127.0.0.1:9/api"
SYNC_MAX = 200_000
CHANGED_SHARE = 0.01

SAMPLER = """
import json, threading, time, psutil
me = psutil.Process()
peak = [0.0]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], me.memory_full_info().pss / 2**20)
        time.sleep(0.05)
def measured(fn):
    before = me.memory_full_info().pss / 2**20
    threading.Thread(target=sample, daemon=True).start()
    started = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - started
    held = me.memory_full_info().pss / 2**20
    done.set()
    return out, {"before_mb": before, "peak_mb": max(peak[0], held), "held_mb": held,
                 "seconds": seconds}
"""

STORE = """
from services.settings import load_settings
from services.store.backend import open_store
from services.sync import engine
from services.sync.previous import tune_allocation
tune_allocation()  # as run_sync does
settings = load_settings()
store = open_store(settings)
"""

CHILD_LOAD = (
    SAMPLER
    + STORE
    + """
previous, res = measured(lambda: engine._load_previous(store, settings))
assert previous is not None, "the store was not taken as a previous OCS generation"
print(json.dumps(dict(res, sessions=len(previous))))
"""
)

CHILD_SYNC = (
    SAMPLER
    + """
from services.settings import load_settings
from services.sync.engine import run_sync
import services.store.backend, services.sync.previous  # imported before the first sample
settings = load_settings()
summary, res = measured(lambda: run_sync(settings))
print(json.dumps(dict(res, sessions=summary.sessions_total, changed=summary.changed,
                      full=summary.full, line=summary.line())))
"""
)

CHILD_WRITE = (
    SAMPLER
    + STORE
    + """
import numpy as np
from services.sync.previous import next_generation
share = float(__import__("os").environ["BENCH_CHANGED_SHARE"])

def write():
    prev = engine._load_previous(store, settings)
    n = len(prev)
    rebuilt = np.arange(0, n, max(1, round(1 / share)), dtype=np.int64)
    kept = np.setdiff1d(np.arange(n, dtype=np.int64), rebuilt)
    ids = prev.ids(rebuilt)
    rows = [dict(r, tags=["rebuilt"]) for r in prev.base_rows(rebuilt)]
    transcripts = {s: t for s, t in zip(ids, prev.transcripts(rebuilt)) if t is not None}
    tables = next_generation(
        prev, [(kept, prev.fetched[kept])], rows, transcripts, prev.costs_of(ids),
        {}, list(prev.experiments.values()),
        [v for vs in prev.versions.values() for v in vs], dict(prev.meta),
    )
    del prev
    store.write(tables)
    return tables.sessions.num_rows

sessions, res = measured(write)
print(json.dumps(dict(res, sessions=sessions)))
"""
)


def _mark_as_ocs(store_dir: Path, base_url: str, origin: str | None = None) -> Path:
    """Mark the current generation as an OCS sync of ``base_url``; with ``origin``, store each
    session's URL as that server's (what a full sync of it stores). Returns the folder."""
    current = (store_dir / "CURRENT").read_text().strip()
    folder = store_dir / f"g{int(current):06d}"
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(source="ocs", sync_format=1, base_url=base_url, sync_transcripts="all")
    meta_path.write_text(json.dumps(meta))
    if origin is not None:
        path = folder / "sessions.parquet"
        sessions = pq.read_table(path)
        url = pc.binary_join_element_wise(
            f"{origin}/api/sessions/", sessions.column("session_id"), "/", ""
        )
        sessions = sessions.set_column(sessions.schema.get_field_index("url"), "url", url)
        pq.write_table(sessions, path, compression="zstd")
    return folder


def _change_newest(folder: Path, share: float) -> int:
    """Give the newest ``share`` of stored sessions a tag the server does not have."""
    path = folder / "sessions.parquet"
    sessions = pq.read_table(path)
    n = max(1, int(sessions.num_rows * share))
    tags = sessions.column("tags").to_pylist()
    for i in range(n):
        tags[i] = [*(tags[i] or []), "bench-stale"]
    column = pa.array(tags, sessions.schema.field("tags").type)
    sessions = sessions.set_column(sessions.schema.get_field_index("tags"), "tags", column)
    pq.write_table(sessions, path, compression="zstd")
    return n


def _run_child(code: str, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if out.returncode:
        raise RuntimeError(f"measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _env(data_dir: str, base_url: str, keys: list[str]) -> dict:
    env = dict(
        os.environ,
        DATA_DIR=data_dir,
        OCS_API_BASE_URL=base_url,
        OCS_API_KEYS=",".join(keys),
        SYNC_TRANSCRIPTS="all",
        PYTHONPATH=str(ROOT),
        LOG_LEVEL="WARNING",
        BENCH_CHANGED_SHARE=str(CHANGED_SHARE),
    )
    env.pop("OCS_API_KEY", None)
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


def _start_fake(n: int, rate_limit: int = 2000) -> tuple[subprocess.Popen, str, list[str]]:
    """The fake OCS serving the demo world of ``n`` sessions; (process, base URL, keys).
    ``rate_limit``: the requests per team and 5 minutes it announces (OCS: 2,000)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.fake_ocs",
            "--port",
            "0",
            "--sessions",
            str(n),
            "--seed",
            str(SEED),
            "--anchor",
            ANCHOR.isoformat(),
            "--rate-limit",
            str(rate_limit),
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = None
    for line in proc.stdout:  # the fake prints its address, then the keys; EOF if it died
        if line.startswith("fake OCS at "):
            base_url = line.split(" at ", 1)[1].strip()
        if line.startswith("OCS_API_KEYS="):
            keys = line.split("=", 1)[1].strip().split(",")
            return proc, base_url, keys
    proc.wait(timeout=10)
    raise RuntimeError(f"the fake OCS exited ({proc.returncode}) before it served")


def measure(n: int, sync_max: int = SYNC_MAX) -> dict:
    """{"load": …, and "sync_quiet" + "sync_changed" (n ≤ sync_max) or "write"}."""
    source = ensure_store(n) / "store"
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "store"
        shutil.copytree(source, target)
        if n > sync_max:
            _mark_as_ocs(target, BASE_URL)
            env = _env(tmp, BASE_URL, ["bench"])
            results["load"] = _run_child(CHILD_LOAD, env)
            results["write"] = _run_child(CHILD_WRITE, env)
            return results
        proc, base_url, keys = _start_fake(n)
        try:
            origin = base_url.removesuffix("/api")
            folder = _mark_as_ocs(target, base_url, origin)
            env = _env(tmp, base_url, keys)
            results["load"] = _run_child(CHILD_LOAD, env)
            results["sync_quiet"] = _run_child(CHILD_SYNC, env)
            results["changed_sessions"] = _change_newest(folder, CHANGED_SHARE)
            results["sync_changed"] = _run_child(CHILD_SYNC, env)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return results


def measure_first(n: int) -> dict:
    """A first sync of ``n`` sessions into an empty store, against the fake OCS announcing a
    limit high enough that the client never waits for a rate window."""
    proc, base_url, keys = _start_fake(n, rate_limit=10**9)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return _run_child(CHILD_SYNC, _env(tmp, base_url, keys))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _line(label: str, res: dict) -> str:
    return (
        f"  {label}: {res['seconds']:.1f} s; PSS {res['before_mb']:.0f} MB before, peak "
        f"{res['peak_mb']:.0f} MB, held {res['held_mb']:.0f} MB"
    )


def print_result(n: int, res: dict) -> None:
    print(f"{n:,} sessions:", flush=True)
    print(_line("load of the previous generation", res["load"]), flush=True)
    if "sync_quiet" in res:
        quiet, changed = res["sync_quiet"], res["sync_changed"]
        print(_line("incremental sync, nothing changed", quiet), flush=True)
        print(f"    {quiet['line']}", flush=True)
        label = f"incremental sync, newest {res['changed_sessions']:,} sessions changed"
        print(_line(label, changed), flush=True)
        print(f"    {changed['line']}", flush=True)
    else:
        label = f"write of a new generation with {CHANGED_SHARE:.0%} of sessions rebuilt"
        print(_line(label, res["write"]), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sync_memory",
        description="Peak PSS of an incremental sync: loading the previous generation, a whole "
        "sync against the fake OCS, or the write of a changed generation.",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--sync-max",
        type=int,
        default=SYNC_MAX,
        help=f"largest size synced against the fake OCS (default {SYNC_MAX:,})",
    )
    parser.add_argument(
        "--first",
        type=int,
        nargs="+",
        metavar="N",
        help="instead: a first sync of N sessions from the fake OCS into an empty store",
    )
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.sizes + (args.first or [])):
        parser.error("--sizes and --first must be positive numbers of sessions")
    if args.first:
        for n in args.first:
            res = measure_first(n)
            print(f"{n:,} sessions:", flush=True)
            print(_line("first sync into an empty store", res), flush=True)
            print(f"    {res['line']}", flush=True)
        return
    for n in args.sizes:
        print_result(n, measure(n, args.sync_max))


if __name__ == "__main__":
    main()
