"""Shared helpers for tests that start the real app and drive Debian's headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(
    url: str, timeout: float = 120.0, process: subprocess.Popen | None = None
) -> None:
    """Poll ``url`` until it answers (any status below 500) or fail with the process output."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            log = getattr(process, "log_path", None)
            out = log.read_text(errors="replace") if log and log.exists() else ""
            raise RuntimeError(f"server exited with {process.returncode}:\n{out[-3000:]}")
        try:
            response = requests.get(url, timeout=2, allow_redirects=False)
            if response.status_code < 500:
                return
            last = response.status_code
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up within {timeout}s (last: {last})")


def start_app(data_dir: Path, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Run ``python app.py`` (the README's command) on a free port; returns (process, base URL)."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OCS_", "DASHBOARD_", "AUTH_", "APP_ENV"))
    }
    env.update(
        PORT=str(port),
        DATA_DIR=str(data_dir),
        DEMO_SESSIONS="4000",
        PYTHONPATH=str(ROOT),
        **(extra_env or {}),
    )
    # output goes to a file: an undrained pipe fills up (~64 KB of request log lines) and
    # then blocks the server mid-request, which looked like page loads timing out
    log_path = data_dir / "app.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    process.log_path = log_path
    base = f"http://127.0.0.1:{port}"
    wait_for_http(base + "/", process=process)
    return process, base


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Debian chromium is missing: run `bash scripts/test.sh` to install it")
    return path
