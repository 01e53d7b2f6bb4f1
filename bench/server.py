"""Start ``python app.py`` on a benchmark store as a subprocess, and stop it again.

The app runs exactly as a user runs it locally (``python app.py``) with ``DATA_DIR`` pointing
at the cached store and ``DEMO_SESSIONS`` / ``DEMO_ANCHOR`` matching it, so the demo check in
``prepare_data`` finds the store current and serves it without regenerating.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(data_dir: Path, n: int, anchor: date, timeout: float = 300.0):
    """Yield ``(base_url, psutil.Process)`` of a running app; terminate it afterwards."""
    port = free_port()
    env = dict(
        os.environ,
        DATA_DIR=str(data_dir),
        DEMO_SESSIONS=str(n),
        DEMO_ANCHOR=anchor.isoformat(),
        PORT=str(port),
        APP_ENV="development",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    for key in ("OCS_API_KEY", "OCS_API_KEYS"):
        env.pop(key, None)
    log = open(data_dir / "server.log", "w")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited ({proc.returncode}); see {data_dir / 'server.log'}")
            try:
                if requests.get(base + "/_dash-layout", timeout=60).ok:
                    break  # the layout loads the dataset, so it is in memory now
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("app did not come up in time")
            time.sleep(0.2)
        yield base, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
