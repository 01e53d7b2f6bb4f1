"""Helpers for tests that start the hosted app (``wsgi.py``) in its own process and talk HTTP.

Each server runs in a fresh interpreter, so Dash's global callback registry (docs/dash-notes.md §2.4)
and :mod:`services.runtime` state never leak between tests.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PASSWORD = "correct-horse-battery-staple"
SECRET = "test-secret-key-0123456789abcdef"
_OWN_SETTINGS = (
    "OCS_",
    "DASHBOARD_",
    "AUTH_",
    "APP_ENV",
    "SECRET_KEY",
    "PORT",
    "WEB_CONCURRENCY",
    "DATA_DIR",
    "SYNC_",
    "DEMO_",
    "SHOW_PARTICIPANT_IDS",
    "MONTHLY_BUDGET_USD",
    "LOG_LEVEL",
)


@functools.lru_cache(maxsize=8)
def user_entry(name: str = "alice", password: str = PASSWORD) -> str:
    """``name:hash`` for DASHBOARD_USERS."""
    from services.auth.users import hash_password

    return f"{name}:{hash_password(password)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**settings: str) -> dict[str, str]:
    """The current environment without any dashboard setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_SETTINGS)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def procfile_command(process_type: str = "web") -> str:
    """The command of ``process_type`` in the Procfile, exactly as Heroku would run it."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process_type:
            return command.strip()
    raise LookupError(f"no {process_type!r} process in Procfile")


class Server:
    """A server process (own process group) whose combined output is collected in ``lines``."""

    def __init__(self, args: list[str], env: dict[str, str], base: str):
        self.base = base
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_output(self, text: str, timeout: float = 10.0) -> list[str]:
        """Poll the server's log lines (read by a thread) until one contains ``text``."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in list(self.lines) if text in line]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def wait_healthy(self, timeout: float = 60.0) -> dict:
        """Poll ``/health`` until it answers 200; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(2)
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.output[-3000:]}"
                )
            try:
                response = requests.get(self.base + "/health", timeout=2)
                if response.status_code == 200:
                    return response.json()
                last = response.status_code
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.1)
        raise TimeoutError(f"/health not up after {timeout}s (last: {last})\n{self.output[-3000:]}")

    def stop(self) -> None:
        """SIGTERM the whole process group (gunicorn master, workers, sync jobs), then SIGKILL."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # stragglers (detached sync children)
        self._reader.join(5)


def start_test_server(env: dict[str, str]) -> Server:
    """``tests/support/hosted_server.py``: the hosted app under werkzeug, single process."""
    port = free_port()
    server = Server(
        [sys.executable, "tests/support/hosted_server.py", str(port)],
        env,
        f"http://127.0.0.1:{port}",
    )
    server.wait_healthy()
    return server


def start_procfile(env: dict[str, str]) -> Server:
    """The Procfile's ``web`` command under ``bash -c``, on ``env["PORT"]``."""
    server = Server(["bash", "-c", procfile_command("web")], env, f"http://127.0.0.1:{env['PORT']}")
    server.wait_healthy()
    return server


def allow_cookies_over_http(session: requests.Session) -> None:
    """Let ``session`` send ``Secure`` cookies to the plain-HTTP test server.

    (Production cookies are ``Secure``; behind Heroku/Render the browser talks HTTPS.)
    """
    for cookie in session.cookies:
        cookie.secure = False


class HttpSession(requests.Session):
    """A requests session that keeps sending ``Secure`` cookies over plain HTTP.

    Flask re-sends the (Secure, in production) session cookie on every response; a plain
    session would then stop sending it to the ``http://127.0.0.1`` test server.
    """

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        allow_cookies_over_http(self)
        return response


def form_token(html_text: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html_text)
    assert match, "no form token in the page"
    return match.group(1)


def sign_in(
    session: requests.Session,
    base: str,
    user: str = "alice",
    password: str = PASSWORD,
    next_path: str = "/",
    headers: dict | None = None,
) -> requests.Response:
    """Fetch the form (for its token and cookie), post it; returns the POST response."""
    page = session.get(f"{base}/login", params={"next": next_path}, headers=headers, timeout=10)
    assert page.status_code == 200, page.text[:500]
    allow_cookies_over_http(session)
    response = session.post(
        f"{base}/login",
        data={
            "token": form_token(page.text),
            "next": next_path,
            "username": user,
            "password": password,
        },
        headers=headers,
        allow_redirects=False,
        timeout=30,
    )
    allow_cookies_over_http(session)
    return response
