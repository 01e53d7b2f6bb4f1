"""One command for the performance figures of issue #5: ``PYTHONPATH=. .venv/bin/python -m bench``
(``--help`` lists the options).

Per store size (demo world at a fixed anchor, cached under bench/out):

1. store load: ``Store.read`` + ``Dataset.from_tables``;
2. in-process compute of every interaction's numbers, fast path vs the naive pandas baseline
   (outputs asserted identical), and the cold full view (numbers + figures + JSON);
3. ``python app.py`` on the store: worker RSS, first page bytes (Chromium), and the full view
   update per interaction over HTTP (filter → overview + count callbacks), p50/p95;

then the sync benchmark (bench/sync_bench.py). ``--quick`` does fewer rounds; ``--sizes 100000``
picks sizes; ``--first-page`` measures only the first page load (seconds, not minutes). Results
are printed and written to bench/out/results-<time>.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench import tabs
from bench.data import ANCHOR, OUT, SEED, ensure_store, ensure_tiled_store
from bench.naive import compare, fast_numbers, naive_frame, overview_numbers
from bench.scenario import EXTRA_STATES, round_steps, step_kind
from services.analytics import metrics
from services.analytics.filters import FilterState
from services.store.dataset import Dataset
from services.store.parquet import Store
from services.views import cache as view_cache
from services.views import overview as views
from services.views.charts.overview import overview_figures

KB = 1024


def machine() -> dict:
    """nproc, CPU model and RAM of this machine (for the results table)."""
    import os

    import psutil

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def timed(fn, *args, repeat: int = 1):
    """(median seconds, last result) of ``repeat`` calls."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def measure_load(data_dir: Path, repeat: int) -> tuple[dict, Dataset, object]:
    store = Store(data_dir / "store")
    read_s, dataset_s = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        tables = store.read()
        middle = time.perf_counter()
        dataset = Dataset.from_tables(tables, int(tables.meta["generation"]))
        read_s.append(middle - started)
        dataset_s.append(time.perf_counter() - middle)
    read, build = statistics.median(read_s), statistics.median(dataset_s)
    return {"read_s": read, "dataset_s": build, "total_s": read + build}, dataset, tables


def view_json(view) -> int:
    """Serialise the view's figures as Dash does (plotly's JSON, orjson engine); bytes."""
    from plotly.io.json import to_json_plotly

    return sum(len(to_json_plotly(fig)) for fig in overview_figures(view, "light").values())


def measure_compute(dataset, tables, rounds: int, naive_rounds: int) -> dict:
    """Fast vs naive numbers per interaction (identical outputs asserted), and cold full views."""
    frame = naive_frame(tables)
    categories = metrics.annotation_categories(dataset.tag_names)
    cases = []
    for r in range(rounds):
        cases += [(s.name, s.state, r < naive_rounds) for s in round_steps(dataset, ANCHOR, r)]
    cases += [(name, state, True) for name, state in EXTRA_STATES.items()]
    rows = []
    for name, state, with_naive in cases:
        fast_s, fast = timed(fast_numbers, dataset, state, ANCHOR, repeat=3)
        view_cache.clear()
        started = time.perf_counter()
        view = views.overview(dataset, state, today=ANCHOR)
        figure_bytes = view_json(view)
        view_s = time.perf_counter() - started
        row = {"name": name, "fast_s": fast_s, "view_s": view_s, "figure_bytes": figure_bytes}
        if with_naive:
            naive_s, naive = timed(overview_numbers, frame, state, ANCHOR, categories)
            compare(fast, naive, name)
            row["naive_s"] = naive_s
        rows.append(row)
    paired = [r for r in rows if "naive_s" in r]
    return {
        "rows": rows,
        "fast_total_s": sum(r["fast_s"] for r in paired),
        "naive_total_s": sum(r["naive_s"] for r in paired),
        "ratio": sum(r["naive_s"] for r in paired) / sum(r["fast_s"] for r in paired),
        "ratio_median": statistics.median(r["naive_s"] / r["fast_s"] for r in paired),
        "cases_compared": len(paired),
    }


def _by_callback(chain) -> dict[str, float]:
    """Server ms per callback (named by its first output id), summed if it ran twice."""
    parts: dict[str, float] = {}
    for label, t in chain:
        parts[label] = parts.get(label, 0.0) + t.server_ms
    return parts


def measure_http(data_dir: Path, n: int, dataset, rounds: int, browser: bool) -> dict:
    from bench.http import DashClient, page_load
    from bench.server import running_app

    result: dict = {}
    started = time.perf_counter()
    with running_app(data_dir, n, ANCHOR) as (base, proc):
        result["startup_s"] = time.perf_counter() - started
        result["rss_loaded_mb"] = proc.memory_info().rss / 1024**2
        first = round_steps(dataset, ANCHOR, rounds)[0].state  # not one of the measured views
        if browser:
            result["page"] = page_load(base, first.to_query())
        client = DashClient(base)
        client.open_link(first.to_query())
        for step in round_steps(dataset, ANCHOR, rounds + 1):  # warm-up round, not recorded
            client.change(step.changes)
        samples = []
        peak = proc.memory_info().rss
        for r in range(rounds):
            for step in round_steps(dataset, ANCHOR, r):
                chain = client.change(step.changes)
                got = FilterState.from_dict(client.filter_state)
                assert got == step.state, (step.name, client.filter_state)
                peak = max(peak, proc.memory_info().rss)
                samples.append(
                    {
                        "name": step.name,
                        "kind": step_kind(step.name),
                        "server_ms": sum(t.server_ms for _, t in chain),
                        "wall_ms": sum(t.wall_ms for _, t in chain),
                        "parts_ms": _by_callback(chain),
                        "wire_bytes": sum(t.wire_bytes for _, t in chain),
                        "raw_bytes": sum(t.raw_bytes for _, t in chain),
                        "callbacks": [label for label, _ in chain],
                    }
                )
        result["rss_peak_mb"] = peak / 1024**2
    result["samples"] = samples
    return result


def print_size(n: int, res: dict) -> None:
    load = res["load"]
    print(f"\n=== {n:,} sessions ===")
    print(
        f"store load: Store.read {load['read_s']:.2f} s + Dataset.from_tables "
        f"{load['dataset_s']:.2f} s = {load['total_s']:.2f} s"
    )
    comp = res["compute"]
    print(
        f"compute (in-process, numbers only): fast {comp['fast_total_s'] * 1000:.0f} ms vs naive "
        f"{comp['naive_total_s'] * 1000:.0f} ms over {comp['cases_compared']} identical answers → "
        f"{comp['ratio']:.1f}× (median per case {comp['ratio_median']:.1f}×)"
    )
    print(
        f"  {'case':<32} {'fast ms':>8} {'naive ms':>9} {'ratio':>6} {'cold view ms':>13} {'fig KB':>7}"
    )
    seen = set()
    for row in comp["rows"]:
        if row["name"] in seen or ("naive_s" not in row and step_kind(row["name"]) in seen):
            continue
        seen.add(row["name"])
        seen.add(step_kind(row["name"]))
        naive = row.get("naive_s")
        print(
            f"  {row['name']:<32} {row['fast_s'] * 1000:8.1f} "
            f"{naive * 1000 if naive else float('nan'):9.1f} "
            f"{naive / row['fast_s'] if naive else float('nan'):6.1f} "
            f"{row['view_s'] * 1000:13.1f} {row['figure_bytes'] / KB:7.1f}"
        )
    views_ms = [r["view_s"] * 1000 for r in comp["rows"]]
    print(
        f"  cold full view (numbers+figures+JSON): p50 {pct(views_ms, 50):.1f} ms, p95 {pct(views_ms, 95):.1f} ms, max {max(views_ms):.1f} ms"
    )
    http = res.get("http")
    if not http:
        return
    print(
        f"app: up in {http['startup_s']:.1f} s, RSS {http['rss_loaded_mb']:.0f} MB after load, "
        f"peak {http['rss_peak_mb']:.0f} MB during the interactions"
    )
    samples = http["samples"]
    print(
        f"  {'interaction (filter+overview+count)':<36} {'server p50':>10} {'p95':>7} "
        f"{'wall p50':>9} {'p95':>7} {'gzip KB':>8} {'raw KB':>7}"
    )
    kinds = list(dict.fromkeys(s["kind"] for s in samples))
    for kind in [*kinds, "ALL"]:
        chosen = [s for s in samples if kind in ("ALL", s["kind"])]
        server = [s["server_ms"] for s in chosen]
        wall = [s["wall_ms"] for s in chosen]
        print(
            f"  {kind:<36} {pct(server, 50):10.1f} {pct(server, 95):7.1f} {pct(wall, 50):9.1f} "
            f"{pct(wall, 95):7.1f} {max(s['wire_bytes'] for s in chosen) / KB:8.1f} "
            f"{max(s['raw_bytes'] for s in chosen) / KB:7.1f}"
        )
    per_callback: dict[str, list[float]] = {}
    for sample in samples:
        for label, ms in sample["parts_ms"].items():
            per_callback.setdefault(label, []).append(ms)
    print(
        "  per callback (first output id), server ms p50/p95: "
        + ", ".join(
            f"{label} {pct(v, 50):.1f}/{pct(v, 95):.1f}"
            for label, v in sorted(per_callback.items(), key=lambda kv: -pct(kv[1], 50))
        )
    )
    page = http.get("page")
    if page:
        print_page(page)


def print_page(page: dict) -> None:
    """The first-page bytes (bench.http.page_load) and the biggest files."""
    if page:
        print(
            f"first page (gzip): {page['total_gzip'] / KB:.0f} KB total = {page['static_gzip'] / KB:.0f} KB "
            f"cacheable static + {page['dynamic_gzip'] / KB:.0f} KB HTML/layout/dependencies "
            f"(+ {page['update_requests']} callback responses, {page['browser_updates'] / KB:.0f} KB); "
            f"raw {page['total_raw'] / KB:.0f} KB; Chromium saw {page['browser_total'] / KB:.0f} KB "
            f"(zstd/br); charts drawn after {page['rendered_s']:.1f} s"
        )
        for row in sorted(page["rows"], key=lambda r: -r["gzip"])[:10]:
            print(
                f"    {row['gzip'] / KB:8.1f} KB gzip  {row['raw'] / KB:8.1f} KB raw  {row['path']}"
            )


def measure_first_page(data_dir: Path, n: int) -> dict:
    """Only the first page load: ``python app.py`` on the store, Chromium, gzip re-fetch."""
    from bench.http import page_load
    from bench.server import running_app

    with running_app(data_dir, n, ANCHOR) as (base, _proc):
        return page_load(base, "")


FULL_SIZES = [100_000, 1_000_000]
FIRST_PAGE_SIZES = [20_000]
"""``--first-page`` alone measures the default demo world's size: seconds, no large stores."""


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m bench",
        description="Dashboard performance benchmark (issue #5): store load, compute (fast path "
        "vs a naive pandas baseline), python app.py over HTTP and in Chromium, and the sync. "
        "Stores are generated once and cached under bench/out/; results are printed and "
        "written to bench/out/results-<time>.json. Needs the dev tools: "
        ".venv/bin/pip install -r requirements-dev.txt (bash scripts/test.sh does it).",
    )
    cli.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        metavar="N",
        help="demo store sizes in sessions (default: 100000 1000000; with --first-page: 20000)",
    )
    cli.add_argument("--quick", action="store_true", help="3 HTTP rounds and one store load")
    cli.add_argument(
        "--rounds", type=int, metavar="N", help="HTTP rounds of all interactions (default 12)"
    )
    cli.add_argument("--no-http", action="store_true", help="in-process numbers only")
    cli.add_argument("--no-browser", action="store_true", help="skip the Chromium page load")
    cli.add_argument(
        "--no-sync",
        action="store_true",
        help="skip the sync benchmark, the sync process, the Refresh job and the incremental "
        "sync memory (bench.sync_memory)",
    )
    cli.add_argument(
        "--first-page",
        action="store_true",
        help="only the first page load's bytes (seconds; builds no large store unless --sizes)",
    )
    cli.add_argument(
        "--no-tabs", action="store_true", help="skip every tab under the Procfile's gunicorn"
    )
    cli.add_argument(
        "--tab-rounds",
        type=int,
        metavar="N",
        help="cache misses per tab under gunicorn (default 20)",
    )
    cli.add_argument(
        "--soak",
        type=int,
        metavar="N",
        help="interactions per soak half (default 300; memory after each)",
    )
    cli.add_argument(
        "--only-tabs",
        action="store_true",
        help="only the per-tab part (fast vs naive, gunicorn, memory) and the sync process",
    )
    cli.add_argument(
        "--tab-parts",
        choices=["both", "compute", "gunicorn", "restart", "cold-soak"],
        default="both",
        help="per-tab parts to run: in-process fast vs naive, the gunicorn server, or both; "
        "restart: only kill-every-worker → first full page, 3 times, with PSS; cold-soak: only "
        "the memory soak, started with one worker just replaced (cold)",
    )
    cli.add_argument(
        "--run-start",
        action="store_true",
        help="only the README's ./run: the first start, then 5 timed second starts (seconds)",
    )
    cli.add_argument(
        "--tiled",
        action="store_true",
        help="sizes above 100,000: the 100k demo world copied (bench.data.ensure_tiled_store)",
    )
    return cli


def main(argv: list[str] | None = None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    if args.run_start:
        from bench import startup

        startup.print_results(startup.measure_run_start(rounds=args.rounds or 5))
        return
    if any(n < 1 for n in args.sizes or []):
        cli.error("--sizes must be positive numbers of sessions")
    if args.rounds is not None and args.rounds < 1:
        cli.error("--rounds must be at least 1")
    browser = args.first_page or not (args.no_http or args.no_browser)
    if browser and importlib.util.find_spec("playwright") is None:
        cli.exit(
            2,
            "python -m bench: playwright is missing (the Chromium measurements need it); install "
            "the dev tools with .venv/bin/pip install -r requirements-dev.txt, or pass "
            "--no-browser\n",
        )
    if args.sizes is None:
        args.sizes = FIRST_PAGE_SIZES if args.first_page else FULL_SIZES
    rounds = args.rounds or (3 if args.quick else 12)
    info = machine()
    print(
        f"benchmark: {info['nproc']} cores, {info['cpu']}, {info['ram_gb']} GB RAM, "
        f"Python {info['python']}, {info['date']}; demo seed {SEED}, anchor {ANCHOR}"
    )
    results: dict = {"machine": info, "anchor": ANCHOR.isoformat(), "sizes": {}}
    for n in args.sizes:
        data_dir = ensure_tiled_store(n) if args.tiled and n > 100_000 else ensure_store(n)
        results["sizes_tiled"] = bool(args.tiled and n > 100_000)
        if args.first_page:
            page = measure_first_page(data_dir, n)
            results["sizes"][n] = {"http": {"page": page}}
            print(f"\n=== {n:,} sessions ===")
            print_page(page)
            continue
        if args.tab_parts == "restart":
            dataset = Dataset.from_tables(Store(data_dir / "store").read(), 1)
            res = tabs.measure_restarts(data_dir, n, dataset, ANCHOR)
            results["sizes"][n] = {"restart": res}
            print(
                f"\n=== {n:,} sessions: gunicorn restart ===\nstart {res['startup_s']:.1f} s; "
                f"every worker killed → first full page: median {res['restart_median_s']:.2f} s, "
                f"max {res['restart_max_s']:.2f} s ({len(res['restarts'])} rounds); total PSS "
                f"{res['pss_start']['total']:.0f} MB at start, "
                f"{res['pss_after_restart']['total']:.0f} MB after"
            )
            continue
        if args.tab_parts == "cold-soak":
            _, dataset, tables = measure_load(data_dir, 1)
            del tables
            res = tabs.measure_cold_soak(data_dir, n, dataset, ANCHOR, args.soak or 300)
            results["sizes"][n] = {"cold_soak": res}
            tabs.print_cold_soak(n, res)
            continue
        load, dataset, tables = measure_load(data_dir, 1 if args.quick else 3)
        res = {"load": load}
        if not args.only_tabs:
            res["compute"] = measure_compute(
                dataset, tables, rounds=max(2, rounds // 2), naive_rounds=1 if args.quick else 2
            )
        if not args.no_tabs and args.tab_parts != "gunicorn":
            res["tab_compute"] = tabs.measure_tab_compute(
                dataset, tables, ANCHOR, cases=2 if args.quick else 4
            )
            tabs.print_results(n, res["tab_compute"], None)
        del tables
        if not args.no_http and not args.only_tabs:
            res["http"] = measure_http(data_dir, n, dataset, rounds, browser=not args.no_browser)
        if not args.no_tabs and args.tab_parts != "compute":
            res["gunicorn"] = tabs.measure_gunicorn(
                data_dir,
                n,
                dataset,
                ANCHOR,
                rounds=args.tab_rounds or (5 if args.quick else 20),
                soak_n=args.soak or (60 if args.quick else 300),
            )
        results["sizes"][n] = res
        if not args.only_tabs:
            print_size(n, res)
        tabs.print_results(n, None, res.get("gunicorn"))
        del dataset
    if not args.no_tabs and not args.no_sync and not args.first_page:
        results["sync_process"] = tabs.measure_sync_process()
        sync = results["sync_process"]
        print(
            f"\nsync process (python -m services.sync, first sync of {sync['sessions']:,} "
            f"sessions, fake OCS): peak PSS {sync['peak_pss_mb']:.0f} MB, {sync['seconds']:.1f} s, "
            f"exit {sync['exit']}"
        )
        from bench import refresh

        results["refresh_job"] = refresh.measure_refresh_job()
        refresh.print_refresh(results["refresh_job"])
        from bench import sync_memory

        print("\nincremental sync at scale (bench.sync_memory):")
        results["sync_memory"] = {}
        for n in args.sizes:
            results["sync_memory"][n] = sync_memory.measure(n)
            sync_memory.print_result(n, results["sync_memory"][n])
    if not args.no_sync and not args.first_page and not args.only_tabs:
        from bench import sync_bench

        print()
        sync_bench.main(["--sessions", "10000", "--teams", "3"])
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"results-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nresults written to {path}")


if __name__ == "__main__":
    main()
