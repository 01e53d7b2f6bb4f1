"""``python app.py`` as a newcomer sees it: progress, one line with the URL, a quiet log.

The real process on a real port, its stdout a pipe (not a terminal), as under ./run in a log.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import requests

from tests.support.hosted_support import ROOT, Server, clean_env, free_port

pytestmark = pytest.mark.deploy


def start_local(tmp_path, *args: str) -> tuple[Server, str]:
    port = free_port()
    env = clean_env(DATA_DIR=str(tmp_path), DEMO_SESSIONS="300", DEMO_ANCHOR="2026-11-22")
    server = Server([sys.executable, "app.py", "--port", str(port), *args], env, "")
    url = f"http://127.0.0.1:{port}"
    if not server.wait_for_output(url, timeout=120):
        server.stop()
        raise AssertionError(f"no start line with {url}:\n{server.output}")
    return server, url


def test_first_and_second_start_log_one_line_with_the_url(tmp_path):
    server, url = start_local(tmp_path)
    try:
        assert requests.get(url + "/", timeout=30).status_code == 200
        assert requests.get(url + "/_dash-layout", timeout=30).status_code == 200
        assert requests.get(url + "/_dash-dependencies", timeout=30).status_code == 200
    finally:
        server.stop()
    out = server.output
    assert "generating the demo world: 300 sessions…" in out
    assert out.index("generating the demo world") < out.index(url)
    assert sum(url in line for line in server.lines) == 1, out
    assert "Dash is running" not in out
    assert "development server" not in out
    assert "\x1b[" not in out  # no colour codes in a log that is not a terminal
    assert "GET /" not in out and "POST /" not in out  # per-request lines only at DEBUG

    again, url = start_local(tmp_path)  # the demo world is already there
    again.stop()
    assert "generating the demo world" not in again.output


def test_requests_are_logged_at_debug(tmp_path):
    port = free_port()
    env = clean_env(DATA_DIR=str(tmp_path), DEMO_SESSIONS="300", LOG_LEVEL="DEBUG")
    server = Server([sys.executable, "app.py", "--port", str(port)], env, "")
    try:
        assert server.wait_for_output(f"http://127.0.0.1:{port}", timeout=120), server.output
        requests.get(f"http://127.0.0.1:{port}/_dash-layout", timeout=30)
        assert server.wait_for_output("GET /_dash-layout", timeout=10), server.output
    finally:
        server.stop()
    assert "\x1b[" not in server.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--port", "0"], "--port must be 1-65535"), (["--bogus"], "unrecognized arguments")],
)
def test_bad_arguments_get_one_message(tmp_path, args, message):
    result = subprocess.run(
        [sys.executable, "app.py", *args],
        cwd=ROOT,
        env=clean_env(DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_port_is_said_at_once(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=ROOT,
            env=clean_env(DATA_DIR=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2
    assert f"port {port} is not free" in result.stderr
    assert f"--port {port + 1}" in result.stderr
    assert "generating" not in result.stdout + result.stderr  # before the slow part
    assert "Traceback" not in result.stderr
