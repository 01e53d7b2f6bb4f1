"""The local app (``python app.py``, no sign-in) checks callback bodies too: 400 JSON, never 500."""

from __future__ import annotations

import sys
import time

import requests

from tests.support.hosted_support import Server, clean_env, free_port


def wait_for_dependencies(server: Server, timeout: float = 120.0) -> list[dict]:
    """Poll ``/_dash-dependencies`` (the local app has no JSON /health) until it answers."""
    deadline = time.monotonic() + timeout
    while True:
        assert server.process.poll() is None, server.output[-2000:]
        try:
            response = requests.get(server.base + "/_dash-dependencies", timeout=5)
            if response.status_code == 200:
                return response.json()
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, server.output[-2000:]
        time.sleep(0.2)


def test_local_app_answers_bad_callback_bodies_with_400(tmp_path):
    port = free_port()
    env = clean_env(PORT=str(port), DATA_DIR=str(tmp_path), DEMO_SESSIONS="300")
    server = Server([sys.executable, "app.py"], env, f"http://127.0.0.1:{port}")
    try:
        deps = wait_for_dependencies(server)
        url = server.base + "/_dash-update-component"
        spec = next(
            d for d in deps if len(d["inputs"]) >= 2 and not d["state"] and "{" not in d["output"]
        )
        for body in ([], None, {"output": "nope.children"}, {**spec, "inputs": []}):
            response = requests.post(url, json=body, timeout=30)
            assert response.status_code == 400, (body, response.text[:200])
            assert response.json()["error"] == "bad callback request"
        nan = '{"output": NaN}'
        response = requests.post(
            url, data=nan, headers={"Content-Type": "application/json"}, timeout=30
        )
        assert response.status_code == 400
        assert "Traceback" not in server.output
    finally:
        server.stop()
