"""Every tab under the Procfile's gunicorn (issue #15): server time per tab, memory, restart.

* **Per tab** (Overview, Quality with the version comparison and the period comparison — the
  co-occurrence is part of every Quality render —, Engagement, Cost, Sessions table): the tab
  is opened once, then each round sets a *different* custom date range (length and end vary,
  so no result cache can answer: a miss) and the tab's own callback time is read from the
  ``Server-Timing`` header; the same request is then posted again (a repeated filter: a hit).
  Quality also toggles its comparison mode each round (another miss); the Sessions tab also
  pages forward and sorts by a column each round.
* **Memory**: total PSS (``psutil`` ``memory_full_info().pss``) of the gunicorn master and
  every descendant (workers, background-callback jobs) right after start, after
  ``soak`` varied interactions across all tabs, and after another ``soak`` (flat = < 5 %).
* **Restart**: every worker is killed (SIGKILL); gunicorn forks new ones; the time until a
  new client has the full first page (``/``, layout, dependencies and the overview chain).
* **Sync process**: peak PSS of ``python -m services.sync`` against the fake OCS (4,500
  sessions), and the Refresh button's background job with its sync (bench/refresh.py).

Everything is bounded: a fixed number of rounds and interactions and a time limit per part.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psutil
import requests

from bench.http import DashClient
from bench.server import ROOT, pss_mb, running_gunicorn, workers

TABS = {
    "overview": "kpi-row",
    "quality": "fig-compare",
    "engagement": "eng-cards",
    "cost": "cost-budget",
    "sessions": "table-state",
}
"""Tab → an output of the callback that renders it (its server time is the tab's time)."""
WINDOW_DAYS = (30, 90, 180, 365, 14, 60, 120, 7)
SORT_COLUMNS = ("messages", "duration_min", "created_at")


def miss_window(anchor: date, i: int) -> tuple[date, date]:
    """The ``i``-th custom date range: ends ``2 i`` days before the anchor (so every range is
    new), lengths cycling through :data:`WINDOW_DAYS`."""
    end = anchor - timedelta(days=2 * i)
    return end - timedelta(days=WINDOW_DAYS[i % len(WINDOW_DAYS)] - 1), end


def data_window(anchor: date, i: int) -> tuple[date, date]:
    """The soak's ``i``-th custom range, inside the data: ends ``i mod 97`` days before the
    anchor, lengths cycling through :data:`WINDOW_DAYS` (distinct for ``i`` < 776)."""
    end = anchor - timedelta(days=i % 97)
    return end - timedelta(days=WINDOW_DAYS[i % len(WINDOW_DAYS)] - 1), end


def dates(start: date, end: date) -> dict:
    return {
        ("f-dates", "start_date"): start.isoformat(),
        ("f-dates", "end_date"): end.isoformat(),
    }


def tab_ms(chain, output_id: str) -> float | None:
    """Server ms of the callback(s) in ``chain`` that output ``output_id``."""
    times = [t.server_ms for _, t in chain if output_id in t.outputs]
    return sum(times) if times else None


def _need(value, what: str):
    if value is None:
        raise RuntimeError(f"{what}: the tab's callback did not run")
    return value


def measure_tabs(base: str, anchor: date, rounds: int, offset: int = 0) -> dict:
    """Per tab: open, misses (each a new date range), hits (the same request again)."""
    client = DashClient(base)
    client.open_link("")
    out: dict = {}
    i = offset
    for tab, output in TABS.items():
        opened = client.change({("tabs", "active_tab"): tab})
        res = {"open_ms": tab_ms(opened, output), "miss": [], "hit": [], "chain": []}
        extra: dict[str, list] = {}
        for r in range(rounds):
            chain = client.change(dates(*miss_window(anchor, i)))
            i += 1
            res["miss"].append(_need(tab_ms(chain, output), tab))
            res["chain"].append(sum(t.server_ms for _, t in chain))
            res["hit"].append(client.replay(output).server_ms)
            if tab == "quality":
                mode = "periods" if r % 2 == 0 else "versions"
                chain = client.change({("q-mode", "value"): mode})
                extra.setdefault(f"mode: {mode}", []).append(_need(tab_ms(chain, output), mode))
            if tab == "sessions":
                chain = client.change({("sessions-next", "n_clicks"): None})
                extra.setdefault("next page", []).append(_need(tab_ms(chain, output), "page"))
                column = SORT_COLUMNS[r % len(SORT_COLUMNS)]
                key = client.find("n_clicks", type="sort-header", column=column)
                if key is None:
                    raise RuntimeError(f"no sort header for {column}")
                chain = client.change({(key, "n_clicks"): None})
                extra.setdefault("sort", []).append(_need(tab_ms(chain, output), "sort"))
        res["extra"] = extra
        out[tab] = res
    return out


def soak_changes(client: DashClient, dataset, anchor: date, i: int) -> dict:
    """The ``i``-th interaction of the soak: tab switches, date ranges, an experiment, tags,
    a preset, clear all, and on the Sessions tab a page or a sort — all tabs in turn."""
    tab = list(TABS)[(i // 8) % len(TABS)]
    step = i % 8
    if step == 0:
        return {("tabs", "active_tab"): tab}
    if step in (1, 2):
        return dates(*data_window(anchor, i))
    if step == 3:
        experiments = sorted(dataset.experiments)
        return {("f-experiment", "value"): [experiments[i % len(experiments)]]}
    if step == 4:
        tags = sorted(dataset.tag_names)
        return {("f-tag", "value"): [tags[i % len(tags)]]}
    if step == 5:
        return {("f-range", "value"): ("30d", "365d", "all", "7d")[(i // 8) % 4]}
    if step == 6 and tab == "sessions":
        key = client.find("n_clicks", type="sort-header", column=SORT_COLUMNS[i % 3])
        if key is not None:
            return {(key, "n_clicks"): None}
    if step == 6 and tab == "quality":
        return {("q-mode", "value"): "periods" if (i // 8) % 2 else "versions"}
    if step == 6:
        return dates(*data_window(anchor, i))
    return {("f-reset", "n_clicks"): None}


def soak_both_workers(
    base: str, master, dataset, anchor: date, start: int, count: int, limit_s: float
) -> dict:
    """The soak with **both workers busy**: two clients in two threads, each sending
    ``Connection: close`` so every request is a new connection that either worker may accept
    (one keep-alive client stays on one worker). Interactions alternate between the clients;
    PSS is sampled every second; per-worker CPU seconds show that both did the work."""
    import threading

    clients = []
    for _ in range(2):
        client = DashClient(base)
        client.http.headers["Connection"] = "close"
        client.open_link("")
        clients.append(client)
    before = {w.pid: sum(w.cpu_times()[:2]) for w in workers(master)}
    started = time.perf_counter()
    done = [0, 0]
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            for i in range(start + k, start + count, 2):
                if time.perf_counter() - started > limit_s:
                    return
                clients[k].change(soak_changes(clients[k], dataset, anchor, i))
                done[k] += 1
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    peak = 0.0
    while any(t.is_alive() for t in threads):
        peak = max(peak, pss_mb(master)["total"])
        for thread in threads:
            thread.join(timeout=1.0)
    if errors:
        raise errors[0]
    cpu = {}
    for w in workers(master):
        if w.pid in before:
            cpu[w.pid] = round(sum(w.cpu_times()[:2]) - before[w.pid], 1)
    return {
        "interactions": sum(done),
        "seconds": time.perf_counter() - started,
        "peak_total": peak,
        "worker_cpu_s": cpu,
    }


def pss_at_rest(master, limit_s: float = 15.0) -> dict:
    """Total PSS once the workers have been quiet for longer than their idle trim
    (services/web/heap.py ``IDLE_S``) and two samples 0.25 s apart agree within 1 MB: the
    memory a worker keeps between bursts, without the free heap pages of its last answers."""
    from services.web.heap import IDLE_S

    started = time.monotonic()
    earliest = started + IDLE_S + 0.5
    last = None
    while True:
        now = time.monotonic()
        if now >= earliest:
            sample = pss_mb(master)
            if last is not None and abs(sample["total"] - last["total"]) < 1.0:
                break
            if now - started > limit_s:
                break
            last = sample
        time.sleep(0.25)
    sample["settled_s"] = round(time.monotonic() - started, 2)
    return sample


def soak_halves(base: str, master, dataset, anchor: date, soak_n: int, limit_s: float) -> dict:
    """``soak_n`` + ``soak_n`` interactions on both workers; after each half the total PSS right
    after the last answer (``pss_soak<k>_busy``) and at rest (``pss_soak<k>``), and the growth
    over the second half both ways (flat = < 5 %, judged at rest)."""
    result: dict = {}
    for k, start in ((1, 0), (2, soak_n)):
        result[f"soak{k}"] = soak_both_workers(
            base, master, dataset, anchor, start, soak_n, limit_s=limit_s
        )
        result[f"pss_soak{k}_busy"] = pss_mb(master)
        result[f"pss_soak{k}"] = pss_at_rest(master)
    for suffix in ("", "_busy"):
        after, before = result[f"pss_soak2{suffix}"], result[f"pss_soak1{suffix}"]
        result[f"growth{suffix}"] = after["total"] / before["total"] - 1
    return result


def print_pss(label: str, pss: dict) -> None:
    """One memory line: the total and each process, and its file-backed / anonymous split."""
    parts = ", ".join(f"{name} {mb:.0f}" for name, mb in pss["processes"].items())
    print(
        f"  {label:<40} {pss['total']:7.0f}  ({parts}; files {pss['files']:.0f}, anon {pss['anon']:.0f})"
    )


def first_full_page(base: str) -> DashClient:
    """What a first visit asks the server for: the page, layout, dependencies, then the
    callbacks the URL triggers (filters → overview, count, …)."""
    requests.get(base + "/", timeout=120).raise_for_status()
    client = DashClient(base)
    chain = client.open_link("")
    if tab_ms(chain, TABS["overview"]) is None:
        raise RuntimeError("the first page did not render the overview")
    return client


def measure_restart(base: str, master) -> dict:
    """Kill every worker; seconds until the first full page is served by the new ones."""
    old = {w.pid for w in workers(master)}
    started = time.perf_counter()
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    first_full_page(base)
    took = time.perf_counter() - started
    new = {w.pid for w in workers(master)}
    return {"first_page_s": took, "killed": len(old), "new_workers": len(new - old)}


def measure_restarts(data_dir: Path, n: int, dataset, anchor: date, rounds: int = 3) -> dict:
    """Only the restart: gunicorn on the store, a first page, then ``rounds`` times every
    worker killed → seconds to the first full page; total PSS at start and after."""
    from services.store import mapped

    mapped.load_or_build(data_dir / "mapped", dataset.generation, lambda: dataset)
    started = time.perf_counter()
    with running_gunicorn(data_dir, n, anchor) as (base, master):
        result: dict = {"startup_s": time.perf_counter() - started}
        for _ in range(4):
            first_full_page(base)
        result["pss_start"] = pss_mb(master)
        result["restarts"] = [measure_restart(base, master) for _ in range(rounds)]
        result["pss_after_restart"] = pss_mb(master)
    pages = [r["first_page_s"] for r in result["restarts"]]
    result["restart_median_s"] = statistics.median(pages)
    result["restart_max_s"] = max(pages)
    return result


def measure_cold_soak(data_dir: Path, n: int, dataset, anchor: date, soak_n: int) -> dict:
    """The soak with **one worker cold**, the harshest start for "flat afterwards": first pages
    and one round of the tab measurements (one keep-alive client: one worker warm), then the
    worker with the smaller PSS is killed and gunicorn's new one starts with no data mapped
    and empty caches; then ``soak_n`` + ``soak_n`` interactions on both workers, PSS after each."""
    from services.store import mapped

    mapped.load_or_build(data_dir / "mapped", dataset.generation, lambda: dataset)
    with running_gunicorn(data_dir, n, anchor) as (base, master):
        for _ in range(5):
            first_full_page(base)
        measure_tabs(base, anchor, 1)
        victim = min(workers(master), key=lambda w: w.memory_full_info().pss)
        os.kill(victim.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now = workers(master)
            if len(now) == 2 and victim.pid not in {w.pid for w in now}:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not replace the killed worker in 60 s")
            time.sleep(0.1)
        first_full_page(base)
        result: dict = {"killed_pid": victim.pid, "pss_cold": pss_mb(master)}
        result.update(soak_halves(base, master, dataset, anchor, soak_n, limit_s=900))
    return result


def print_soak_pss(res: dict) -> None:
    """The four memory lines of :func:`soak_halves`."""
    print_pss(f"after {res['soak1']['interactions']} interactions", res["pss_soak1_busy"])
    print_pss("  … at rest (idle trim done)", res["pss_soak1"])
    print_pss(f"after {res['soak2']['interactions']} more", res["pss_soak2_busy"])
    print_pss("  … at rest (idle trim done)", res["pss_soak2"])


def print_cold_soak(n: int, res: dict) -> None:
    print(f"\n=== {n:,} sessions: soak with one worker cold at its start ===")
    print("memory, total PSS of the gunicorn master + workers, MB:")
    print_pss("one worker just replaced", res["pss_cold"])
    print_soak_pss(res)
    print(
        f"  soak growth at rest {res['growth']:+.1%} (flat < 5%), right after the last answer "
        f"{res['growth_busy']:+.1%}; worker CPU seconds "
        f"{res['soak1'].get('worker_cpu_s')} / {res['soak2'].get('worker_cpu_s')}"
    )


def measure_gunicorn(
    data_dir: Path,
    n: int,
    dataset,
    anchor: date,
    rounds: int,
    soak_n: int,
    soak_limit_s: float = 900,
) -> dict:
    from services.store import mapped

    result: dict = {}
    # the mapped copy of this generation, as the first worker would write it: built here from
    # the bench's dataset so that a busy machine cannot push the first request past gunicorn's
    # 25 s timeout (the write itself is timed)
    started = time.perf_counter()
    mapped.load_or_build(data_dir / "mapped", dataset.generation, lambda: dataset)
    result["mapped_write_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with running_gunicorn(data_dir, n, anchor) as (base, master):
        result["startup_s"] = time.perf_counter() - started
        first_full_page(base)
        # both workers have loaded (or mapped) the data once the second one answered too
        for _ in range(4):
            first_full_page(base)
        result["pss_start"] = pss_mb(master)
        result["tabs"] = measure_tabs(base, anchor, rounds)
        result.update(soak_halves(base, master, dataset, anchor, soak_n, limit_s=soak_limit_s))
        result["restart"] = measure_restart(base, master)
        result["pss_after_restart"] = pss_mb(master)
    return result


def measure_sync_process(sessions: int = 4_500, teams: int = 3) -> dict:
    """Peak PSS of ``python -m services.sync`` (a first full sync) against the fake OCS.

    4,500 sessions in 3 teams: each team's first sync fits one OCS rate window (2,000
    requests), so the time is the sync's own, not the client waiting for the next window."""
    from tests.support.fake_ocs import FakeOCS

    with FakeOCS.from_demo(sessions, teams) as fake, tempfile.TemporaryDirectory() as tmp:
        fake.rate_limit = 1_000_000  # announced in the headers: memory, not OCS pacing, is measured
        env = dict(
            os.environ,
            DATA_DIR=tmp,
            OCS_API_BASE_URL=fake.base_url,
            OCS_API_KEYS=",".join(fake.keys),
            PYTHONPATH=str(ROOT),
            LOG_LEVEL="WARNING",
        )
        env.pop("OCS_API_KEY", None)
        return {"sessions": sessions, **sync_peak_pss(env, limit_s=600)}


def sync_peak_pss(env: dict, limit_s: float = 900) -> dict:
    """Run ``python -m services.sync`` with ``env``; its peak PSS (sampled every 100 ms),
    seconds and exit code (killed after ``limit_s``)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.sync"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ps, peak = psutil.Process(proc.pid), 0.0
    while proc.poll() is None and time.perf_counter() - started < limit_s:
        try:
            peak = max(peak, ps.memory_full_info().pss / 1024**2)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            break
        time.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    return {"peak_pss_mb": peak, "seconds": time.perf_counter() - started, "exit": proc.returncode}


def measure_tab_compute(dataset, tables, anchor: date, cases: int) -> dict:
    """Per tab, in-process: the tab's numbers the dashboard's way vs the naive pandas way on
    ``cases`` different date ranges (answers asserted equal); times and the ratio."""
    import statistics

    from bench.naive import TAB_FUNCTIONS, compare_tab, naive_tab_frame
    from services.analytics import metrics
    from services.analytics.filters import FilterState

    frame, costs = naive_tab_frame(tables)
    categories = metrics.annotation_categories(dataset.tag_names)
    states = [
        FilterState(range="custom", start=s, end=e)
        # ranges ending 60+ days before the anchor: inside the data, none of them the gunicorn
        # part's (which end 0-40 days before it)
        for s, e in (miss_window(anchor, 30 + i) for i in range(cases))
    ]
    states.append(FilterState(range="365d"))
    out = {}
    for tab, (fast_fn, naive_fn) in TAB_FUNCTIONS.items():
        fast_s, naive_s = [], []
        for k, state in enumerate(states):
            started = time.perf_counter()
            fast = fast_fn(dataset, state, anchor)
            fast_s.append(time.perf_counter() - started)
            pairs = list(fast.get("both", {}))
            started = time.perf_counter()
            naive = naive_fn(frame, costs, state, anchor, categories, pairs)
            naive_s.append(time.perf_counter() - started)
            compare_tab(tab, fast, naive, f"case {k}")
        out[tab] = {
            "cases": len(states),
            "fast_ms_median": statistics.median(fast_s) * 1000,
            "naive_ms_median": statistics.median(naive_s) * 1000,
            "ratio": sum(naive_s) / sum(fast_s),
        }
    return out


def _p(values, q):
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def print_results(n: int, compute: dict | None, res: dict | None) -> None:
    if compute:
        print(
            f"\nper tab, in-process numbers, fast vs naive pandas ({n:,} sessions, answers equal):"
        )
        print(f"  {'tab':<11} {'cases':>5} {'fast ms':>8} {'naive ms':>9} {'ratio':>6}")
        for tab, row in compute.items():
            print(
                f"  {tab:<11} {row['cases']:>5} {row['fast_ms_median']:8.1f} "
                f"{row['naive_ms_median']:9.1f} {row['ratio']:6.1f}"
            )
    if not res:
        return
    print(f"\nper tab under gunicorn ({n:,} sessions; server ms from Server-Timing):")
    print(
        f"  {'tab':<22} {'open':>6} {'miss p50':>9} {'p95':>7} {'hit p50':>8} {'p95':>6} "
        f"{'chain p50':>10}"
    )
    for tab, row in res["tabs"].items():
        print(
            f"  {tab:<22} {row['open_ms'] or float('nan'):6.1f} {_p(row['miss'], 50):9.1f} "
            f"{_p(row['miss'], 95):7.1f} {_p(row['hit'], 50):8.1f} {_p(row['hit'], 95):6.1f} "
            f"{_p(row['chain'], 50):10.1f}"
        )
        for name, values in row["extra"].items():
            print(f"    {name:<20} {'':>6} {_p(values, 50):9.1f} {_p(values, 95):7.1f}")
    print("memory, total PSS of the gunicorn master + workers (+ any background job), MB:")
    print_pss("after start (5 first pages)", res["pss_start"])
    print_soak_pss(res)
    print_pss("after killing the workers + first page", res["pss_after_restart"])
    print(
        f"  soak growth at rest {res['growth']:+.1%} (flat < 5%), right after the last answer "
        f"{res['growth_busy']:+.1%}; soak peaks {res['soak1']['peak_total']:.0f} / "
        f"{res['soak2']['peak_total']:.0f} MB; {res['soak1']['seconds']:.0f} + "
        f"{res['soak2']['seconds']:.0f} s; worker CPU seconds (both busy?) "
        f"{res['soak1'].get('worker_cpu_s')} / {res['soak2'].get('worker_cpu_s')}"
    )
    print(f"mapped files written (or found) before start: {res['mapped_write_s']:.1f} s")
    restart = res["restart"]
    print(
        f"restart: {restart['killed']} workers killed → first full page after "
        f"{restart['first_page_s']:.2f} s ({restart['new_workers']} new workers)"
    )
