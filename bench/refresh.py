"""Memory while the Refresh button's background callback runs a sync (issue #15).

The embedded deployment (no ``REDIS_URL``) runs Refresh as a Dash background callback: the
``DiskcacheManager`` forks a job process from the gunicorn worker that got the click, and that
job runs ``python -m services.sync`` as its own exec'd process and waits for it
(callbacks/sync.py). While it runs the dyno holds four kinds of process: the master, the
workers, the job fork and the sync. This measures all of them at once:

1. a fake OCS (tests/support/fake_ocs.py, real HTTP on 127.0.0.1) with ``sessions`` sessions
   in 3 teams (4,500: each team's first sync fits one OCS rate window of 2,000 requests, so
   the run measures memory, not the client's pacing); a first sync into a scratch
   ``DATA_DIR`` by the CLI (peak PSS of that process alone);
2. the Procfile's gunicorn on that ``DATA_DIR`` with the OCS key set (not demo mode);
   ``new`` sessions are added to the fake so the Refresh has something to fetch;
3. Debian Chromium opens the page and clicks Refresh; the process tree's PSS
   (``memory_full_info().pss``) is sampled every 100 ms until the job and the sync are gone
   and the button says "Refresh" again. Reported: total before, the peak sample with each
   process's role, and total after.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import psutil

from bench.http import CHROMIUM_ARGS
from bench.server import ROOT, running_gunicorn, tree
from bench.tabs import sync_peak_pss


def role(proc: psutil.Process, master: psutil.Process) -> str:
    """master / worker / sync (``python -m services.sync``) / job (a background-callback fork)."""
    if proc.pid == master.pid:
        return "master"
    try:
        if proc.ppid() == master.pid:
            return "worker"
        if "services.sync" in " ".join(proc.cmdline()):
            return "sync"
    except psutil.NoSuchProcess:
        return "gone"
    return "job"


def sample(master: psutil.Process) -> dict:
    """One PSS sample of the whole tree: total and (role, pid, MB) per process."""
    rows = []
    for proc in tree(master):
        try:
            rows.append((role(proc, master), proc.pid, proc.memory_full_info().pss / 1024**2))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return {"total": sum(mb for _, _, mb in rows), "processes": rows}


def measure_refresh_job(
    sessions: int = 4_500, new: int = 150, teams: int = 3, limit_s: float = 900
) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.support.fake_ocs import FakeOCS

    result: dict = {"sessions": sessions, "new_sessions": new}
    with FakeOCS.from_demo(sessions, teams) as fake, tempfile.TemporaryDirectory() as tmp:
        fake.rate_limit = 1_000_000  # announced in the headers: memory, not OCS pacing, is measured
        data_dir = Path(tmp)
        ocs = {"OCS_API_BASE_URL": fake.base_url, "OCS_API_KEYS": ",".join(fake.keys)}
        env = dict(os.environ, DATA_DIR=tmp, PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING", **ocs)
        env.pop("OCS_API_KEY", None)
        result["first_sync"] = sync_peak_pss(env)
        if result["first_sync"]["exit"] != 0:
            raise RuntimeError(f"the first sync failed: {result['first_sync']}")
        for k, team in enumerate(sorted(fake.teams)):
            fake.add_sessions(team, new // teams + (k < new % teams))
        with (
            running_gunicorn(data_dir, sessions, date.today(), extra_env=ocs) as (base, master),
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(
                executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page()
                page.goto(base + "/")
                page.wait_for_selector("#fig-time .main-svg", timeout=120_000)
                result["before"] = sample(master)
                button = page.locator("#refresh-button")
                started = time.perf_counter()
                button.click()
                peak = sample(master)
                seen_job = False
                while time.perf_counter() - started < limit_s:
                    now = sample(master)
                    roles = {r for r, _, _ in now["processes"]}
                    seen_job = seen_job or bool(roles & {"job", "sync"})
                    if now["total"] > peak["total"]:
                        peak = now
                    if seen_job and not roles & {"job", "sync"}:
                        text = button.inner_text()
                        if "Syncing" not in text:
                            break
                    time.sleep(0.1)
                result["seconds"] = time.perf_counter() - started
                result["saw_job"] = seen_job
                result["peak"] = peak
                page.wait_for_timeout(500)
                result["after"] = sample(master)
            finally:
                browser.close()
    return result


def print_refresh(res: dict) -> None:
    first = res["first_sync"]
    print(
        f"\n=== Refresh as a background callback ({res['sessions']:,} sessions, "
        f"{res['new_sessions']} new) ===\n"
        f"first sync by the CLI: peak PSS {first['peak_pss_mb']:.0f} MB, "
        f"{first['seconds']:.1f} s (exit {first['exit']})\n"
        f"total PSS before {res['before']['total']:.0f} MB, peak during the refresh "
        f"{res['peak']['total']:.0f} MB, after {res['after']['total']:.0f} MB "
        f"({res['seconds']:.1f} s; job seen: {res['saw_job']})"
    )
    for name, pid, mb in sorted(res["peak"]["processes"]):
        print(f"  at the peak: {name:<7} {pid:>7} {mb:6.0f} MB")
