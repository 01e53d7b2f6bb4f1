"""Hosted (PostgreSQL) figures for docs/performance.md, section "Hosted".

    PYTHONPATH=. .venv/bin/python -m bench.hosted_bench --sizes 100000 1000000
    PYTHONPATH=. .venv/bin/python -m bench.hosted_bench --sizes 1000000 --instances 0 \
        --replicate-from 100000      # 1M as 10 copies of the 100k world (minutes, not an hour)

Per size, on the cached benchmark demo world (bench/data.py) and a fresh database
``ocs_bench_<random>`` on ``BENCH_DATABASE_URL`` (default: the local server's ``test`` database):

1. sync write: :meth:`PostgresStore.write` of the whole world into empty tables ("first sync"),
   the same tables again ("no-change sync": every row compared, none written), and with 1% of
   the sessions changed;
2. store load: what an instance with an empty disk does at start — ``PostgresStore.read``
   (the generation's columnar copy, ``store_snapshots``) and ``Dataset.from_tables``; median
   of 3; and for comparison the read of the rows themselves (``source="tables"``: parallel
   COPY BINARY into Arrow through ADBC), median of 3;
3. (``--instances N``, first size only) time from a sync's commit to every instance serving it:
   N ``gunicorn wsgi:server`` processes with empty DATA_DIRs on the database; a new generation
   is written and each instance's ``/health`` is polled every 50 ms until it reports it;
   median and max of 3 rounds.

The database is dropped afterwards. Results are printed and written to
bench/out/hosted-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from bench.data import OUT, ensure_store
from services.store.dataset import Dataset
from services.store.migrate import migrate
from services.store.parquet import Store
from services.store.postgres import PostgresStore

BENCH_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _database(name: str | None = None):
    import psycopg

    admin = psycopg.connect(BENCH_DATABASE_URL, autocommit=True)
    name = name or f"ocs_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {name}")
    base = BENCH_DATABASE_URL.rsplit("/", 1)[0]
    return admin, name, f"{base}/{name}"


def _changed(tables, fraction: float = 0.01):
    """The same world with ``fraction`` of the sessions' status changed."""
    sessions = tables.sessions
    n = sessions.num_rows
    flip = pa.array([(i % int(1 / fraction)) == 0 for i in range(n)])
    status = pc.if_else(flip, pa.scalar("complete-bench"), sessions.column("status"))
    index = sessions.schema.get_field_index("status")
    tables.sessions = sessions.set_column(index, "status", status)
    return tables


def _replicated(tables, factor: int):
    """``factor`` copies of a world with distinct session ids (a cheap 1M world from 100k)."""
    from services.store.tables import Tables

    def copies(table: pa.Table) -> pa.Table:
        parts = []
        for k in range(factor):
            ids = pc.binary_join_element_wise(table.column("session_id"), pa.scalar(f"~{k}"), "")
            index = table.schema.get_field_index("session_id")
            parts.append(table.set_column(index, "session_id", ids))
        return pa.concat_tables(parts)

    return Tables(
        sessions=copies(tables.sessions),
        experiments=tables.experiments,
        experiment_versions=tables.experiment_versions,
        session_costs=copies(tables.session_costs),
        meta=dict(tables.meta, replicated=factor),
    )


def _world(n: int, replicate_from: int | None):
    """The demo world of ``n`` sessions, or ``n / replicate_from`` copies of a smaller one."""
    if replicate_from and n > replicate_from and n % replicate_from == 0:
        base = Store(ensure_store(replicate_from) / "store").read()
        return _replicated(
            base, n // replicate_from
        ), f"{n // replicate_from}x the {replicate_from:,} world"
    return Store(ensure_store(n) / "store").read(), "demo world"


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def bench_size(n: int, instances: int, replicate_from: int | None = None) -> dict:
    tables, kind = _world(n, replicate_from)
    admin, name, url = _database()
    out: dict = {"sessions": tables.sessions.num_rows, "world": kind}
    try:
        migrate(url)
        store = PostgresStore(url)
        _, out["write_first_s"] = _timed(lambda: store.write(tables))
        out["write_first_rows"] = store.last_write_counts()["rows_changed"]
        _, out["write_no_change_s"] = _timed(lambda: store.write(tables))
        out["write_no_change_rows"] = store.last_write_counts()["rows_changed"]
        changed = _changed(_world(n, replicate_from)[0])
        _, out["write_1pct_changed_s"] = _timed(lambda: store.write(changed))
        out["write_1pct_changed_rows"] = store.last_write_counts()["rows_changed"]
        store.write(tables)  # back to the world itself
        reads, builds = [], []
        for _ in range(3):
            loaded, took = _timed(store.read)
            reads.append(took)
            _, took = _timed(lambda loaded=loaded: Dataset.from_tables(loaded, 1))
            builds.append(took)
            del loaded
        out["load_read_s"] = statistics.median(reads)
        rows = [_timed(lambda: store.read(source="tables"))[1] for _ in range(3)]
        out["load_rows_read_s"] = statistics.median(rows)
        out["load_dataset_s"] = statistics.median(builds)
        out["load_total_s"] = statistics.median(r + b for r, b in zip(reads, builds, strict=True))
        if instances:
            out["propagation"] = propagation(url, store, tables, instances)
        store.close()
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
    return out


def propagation(url: str, store: PostgresStore, tables, instances: int) -> dict:
    """Seconds from a generation's commit until every instance's /health reports it."""
    import tempfile

    import requests

    from tests.hosted.conftest import start_gunicorn
    from tests.support.hosted_support import SECRET, clean_env

    servers = []
    try:
        for _ in range(instances):
            env = clean_env(
                DATA_DIR=tempfile.mkdtemp(prefix="ocs-bench-web-"),
                DATABASE_URL=url,
                OCS_API_KEY="bench-key-not-used",
                SYNC_AUTO_START="false",
                SECRET_KEY=SECRET,
                AUTH_DISABLED="true",
                APP_ENV="development",
                WEB_CONCURRENCY="1",
            )
            servers.append(start_gunicorn(env))
        rounds = []
        for _ in range(3):
            generation = store.write(tables)
            committed = time.perf_counter()
            seen: dict[int, float] = {}
            deadline = committed + 120
            while len(seen) < len(servers) and time.perf_counter() < deadline:
                for i, server in enumerate(servers):
                    if i in seen:
                        continue
                    body = requests.get(server.base + "/health", timeout=30).json()
                    if body.get("generation") == generation:
                        seen[i] = time.perf_counter() - committed
                time.sleep(0.05)
            rounds.append(max(seen.values()) if len(seen) == len(servers) else None)
        done = [r for r in rounds if r is not None]
        return {
            "instances": instances,
            "rounds_s": rounds,
            "median_s": statistics.median(done) if done else None,
            "max_s": max(done) if done else None,
        }
    finally:
        for server in servers:
            server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument(
        "--replicate-from",
        type=int,
        default=None,
        help="build bigger worlds as copies of this cached size (generating 1M takes long)",
    )
    args = parser.parse_args(argv)
    results = []
    for i, n in enumerate(args.sizes):
        result = bench_size(n, args.instances if i == 0 else 0, args.replicate_from)
        print(json.dumps(result, indent=1))
        results.append(result)
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (OUT / f"hosted-{stamp}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
