"""The newcomer's second start (issue #16): seconds from ``./run`` to a served page.

``python -m bench --run-start`` runs the README's run command (``./run``, so scripts/run.sh and
its venv check are included) in a scratch ``DATA_DIR``: once to make the demo world (the first
run; .venv must already exist), then ``rounds`` more times, each timed from the exec until

* ``/health`` answers 200 (the server accepts requests), and
* ``/`` and ``/_dash-layout`` answer 200 (a browser could draw the page).

Each run is stopped (SIGINT, like Ctrl+C) before the next one starts.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            resp.read()
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_until(url: str, deadline: float) -> float | None:
    """Monotonic time when ``url`` first answers 200 (polled every 20 ms), None on timeout."""
    while time.monotonic() < deadline:
        if answers(url):
            return time.monotonic()
        time.sleep(0.02)
    return None


def one_run(data_dir: Path, timeout: float) -> dict:
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(data_dir), "PORT": str(port)}
    for name in ("DATABASE_URL", "REDIS_URL", "OCS_API_KEY", "OCS_API_KEYS", "DASHBOARD_USERS"):
        env.pop(name, None)
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(ROOT / "run")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = started + timeout
        health = wait_until(f"{base}/health", deadline)
        page = wait_until(f"{base}/", deadline) if health else None
        layout = wait_until(f"{base}/_dash-layout", deadline) if page else None
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if layout is None:
        raise RuntimeError(f"./run did not serve {base} within {timeout:.0f} s")
    return {"health_s": health - started, "page_s": layout - started}


def measure_run_start(rounds: int = 5, timeout: float = 600.0) -> dict:
    """The first ``./run`` (demo world) once, then ``rounds`` timed second starts."""
    if not (ROOT / ".venv" / "bin" / "python").exists():
        raise SystemExit("python -m bench --run-start: make .venv first (./run once)")
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        data_dir = Path(tmp)
        first = one_run(data_dir, timeout)
        runs = [one_run(data_dir, timeout) for _ in range(rounds)]
    pages = [r["page_s"] for r in runs]
    return {
        "first_run": first,
        "runs": runs,
        "median_page_s": statistics.median(pages),
        "max_page_s": max(pages),
        "median_health_s": statistics.median(r["health_s"] for r in runs),
        "load_avg": os.getloadavg()[0],
    }


def print_results(res: dict) -> None:
    first = res["first_run"]
    print(
        f"./run first start (makes the demo world): page after {first['page_s']:.1f} s\n"
        f"./run second start, {len(res['runs'])} runs: page after median "
        f"{res['median_page_s']:.2f} s, max {res['max_page_s']:.2f} s "
        f"(/health median {res['median_health_s']:.2f} s; 1-min load {res['load_avg']:.2f})"
    )
