"""Benchmark stores: the demo world at a fixed anchor, generated once and cached under bench/out.

Each store is a normal ``DATA_DIR`` (``<dir>/store/g…``) written by
:func:`services.sync.demo.ensure_demo_store`, i.e. the same generator and the same normalisation
path (:mod:`services.sync.records`) as the app's demo mode. The folder name carries size, seed and
anchor, so a rerun with the same parameters reuses it (generating 1M sessions takes minutes).

    PYTHONPATH=. .venv/bin/python -m bench.data --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from services.store.parquet import Store
from services.sync.demo import ensure_demo_store

OUT = Path(__file__).resolve().parent / "out"
ANCHOR = date(2026, 9, 30)
"""Fixed "today" of the benchmark world (the demo's last day); never the real date."""
SEED = 7


def data_dir(n: int, seed: int = SEED, anchor: date = ANCHOR) -> Path:
    """The ``DATA_DIR`` of the cached store for these parameters."""
    return OUT / f"data-{n}-s{seed}-{anchor.isoformat()}"


def ensure_store(n: int, seed: int = SEED, anchor: date = ANCHOR, quiet: bool = False) -> Path:
    """Generate the store unless it is cached; returns its ``DATA_DIR``."""
    folder = data_dir(n, seed, anchor)
    store = Store(folder / "store")
    started = time.perf_counter()
    generation = ensure_demo_store(store, n, seed, anchor)
    took = time.perf_counter() - started
    if not quiet and took > 1:
        print(f"generated {n:,} sessions (seed {seed}, anchor {anchor}) in {took:.0f} s → {folder}")
    del generation
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args(argv)
    for n in args.sizes:
        print(ensure_store(n))


if __name__ == "__main__":
    main()


def tiled_dir(n: int, base: int, seed: int = SEED, anchor: date = ANCHOR) -> Path:
    return OUT / f"data-{n}-s{seed}-{anchor.isoformat()}-tiled-from-{base}"


def ensure_tiled_store(
    n: int, base: int = 100_000, seed: int = SEED, anchor: date = ANCHOR
) -> Path:
    """An ``n``-session store made of ``n // base`` copies of the ``base`` demo world (seconds,
    where generating 1M demo sessions takes 3–100 minutes on a busy machine).

    Copy ``k`` > 0 gets ``-k`` appended to every session id and participant identifier (its
    cost rows follow), so there are ``n // base`` times the sessions and participants on the
    same days, experiments, tags and versions: the load of an ``n``-session world on the same
    calendar. Its meta says demo, ``n`` sessions, the same seed/anchor/format, so the app in
    demo mode serves it as is.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from services.store.tables import Tables

    if n % base:
        raise ValueError(f"{n} is not a multiple of {base}")
    folder = tiled_dir(n, base, seed, anchor)
    store = Store(folder / "store")
    if store.read_meta().get("demo_sessions") == n:
        return folder
    source = Store(ensure_store(base, seed, anchor) / "store").read()
    started = time.perf_counter()
    sessions, costs = [], []
    for k in range(n // base):
        s, c = source.sessions, source.session_costs
        if k:
            suffix = f"-{k}"
            for table, names in (
                (s, ("session_id", "participant_identifier")),
                (c, ("session_id",)),
            ):
                for name in names:
                    index = table.schema.get_field_index(name)
                    table = table.set_column(
                        index,
                        table.schema.field(index),
                        pc.binary_join_element_wise(table[name], suffix, ""),
                    )
                if table.schema.get_field_index("participant_identifier") >= 0:
                    s = table
                else:
                    c = table
        sessions.append(s)
        costs.append(c)
    meta = dict(source.meta, demo_sessions=n, demo_tiled_from=base)
    meta.pop("generation", None)
    meta.pop("written_at", None)
    tables = Tables(
        sessions=pa.concat_tables(sessions),
        experiments=source.experiments,
        experiment_versions=source.experiment_versions,
        session_costs=pa.concat_tables(costs),
        meta=meta,
    )
    store.write(tables)
    print(f"tiled {base:,} → {n:,} sessions in {time.perf_counter() - started:.0f} s → {folder}")
    return folder
