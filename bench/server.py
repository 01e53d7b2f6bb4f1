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


PROCFILE_COMMAND = ("gunicorn", "wsgi:server")
"""``web: gunicorn wsgi:server`` from the Procfile (gunicorn.conf.py is read from the cwd)."""


def procfile_command() -> list[str]:
    """The Procfile's web command, with gunicorn from this interpreter's environment."""
    line = (ROOT / "Procfile").read_text().split("web:", 1)[1].splitlines()[0].split()
    if tuple(line) != PROCFILE_COMMAND:
        raise RuntimeError(f"Procfile web command changed: {line}; update bench/server.py")
    return [str(Path(sys.executable).with_name("gunicorn")), *line[1:]]


def tree(master: psutil.Process) -> list[psutil.Process]:
    """The master and every live descendant (workers, background-callback jobs)."""
    try:
        return [master, *master.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def pss_mb(master: psutil.Process) -> dict:
    """Total PSS (``memory_full_info().pss``) of the process tree, per process, and split into
    file-backed pages (``files``: mapped data and libraries) and the rest (``anon``), in MB.

    PSS divides every shared page by the number of processes mapping it, so pages of a file
    mapped by both workers count once in the total.
    """
    per = {}
    files = 0.0
    for proc in tree(master):
        try:
            info = proc.memory_full_info()
            name = "master" if proc.pid == master.pid else f"{proc.name()} {proc.pid}"
            per[name] = info.pss / 1024**2
            files += (
                sum(m.pss for m in proc.memory_maps(grouped=True) if m.path.startswith("/"))
                / 1024**2
            )
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    total = sum(per.values())
    # file-backed: the memory-mapped data and the libraries; the rest is heap, stacks, caches
    return {"total": total, "files": files, "anon": total - files, "processes": per}


def workers(master: psutil.Process) -> list[psutil.Process]:
    try:
        return master.children()
    except psutil.NoSuchProcess:
        return []


@contextmanager
def running_gunicorn(data_dir: Path, n: int, anchor: date, timeout: float = 600.0, extra_env=None):
    """Yield ``(base_url, master psutil.Process)`` of the Procfile's gunicorn on the store.

    Everything else comes from gunicorn.conf.py (2 workers, gthread); only the bind is
    narrowed to loopback with ``GUNICORN_CMD_ARGS`` (the config file binds 0.0.0.0:PORT).
    Returns once one worker has served ``/_dash-layout`` (which loads the dataset).
    """
    port = free_port()
    env = dict(
        os.environ,
        DATA_DIR=str(data_dir),
        DEMO_SESSIONS=str(n),
        DEMO_ANCHOR=anchor.isoformat(),
        PORT=str(port),
        APP_ENV="development",
        AUTH_DISABLED="true",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port}",
    )
    for key in ("OCS_API_KEY", "OCS_API_KEYS", "WEB_CONCURRENCY"):
        env.pop(key, None)
    env.update(extra_env or {})  # e.g. an OCS key: the app then syncs instead of the demo
    log = open(data_dir / "gunicorn.log", "w")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(
        procfile_command(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({proc.returncode}); see {log.name}")
            try:
                if requests.get(base + "/_dash-layout", timeout=120).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not come up in time")
            time.sleep(0.2)
        yield base, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
