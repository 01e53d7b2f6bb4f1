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
