"""services/web/heap.py: the heap is trimmed after a computed answer has been sent (over a real
socket: the WSGI server calls the response's close after writing it), at most once per
INTERVAL_S per process, never for a static file; and the app installs it."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from services import memory
from services.web import heap


@pytest.fixture
def served(monkeypatch):
    trims: list[str] = []
    sent: list[str] = []
    flask_app = Flask("heap-test")

    @flask_app.post("/_dash-update-component")
    def update():
        def body():
            yield b'{"ok":'
            sent.append("body")
            yield b"true}"

        return flask_app.response_class(body(), mimetype="application/json")

    @flask_app.get("/api/v1/summary")
    def summary():
        return {"kpis": []}

    heap.install(flask_app)
    monkeypatch.setattr(memory, "release_free_memory", lambda: trims.append(",".join(sent)))
    monkeypatch.setattr(heap, "_last", [float("-inf")])
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", trims
    server.shutdown()


def wait_for(trims: list, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(trims) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(trims) == count


def test_a_callback_answer_is_trimmed_after_its_body_is_sent(served):
    base, trims = served
    response = requests.post(base + "/_dash-update-component", json={}, timeout=5)
    assert response.json() == {"ok": True}
    wait_for(trims, 1)
    assert trims == ["body"]  # after the whole body was produced


def test_at_most_one_trim_per_interval(served, monkeypatch):
    base, trims = served
    monkeypatch.setattr(heap, "INTERVAL_S", 3600.0)
    for _ in range(3):
        assert requests.post(base + "/_dash-update-component", json={}, timeout=5).ok
    assert requests.get(base + "/api/v1/summary", timeout=5).ok
    wait_for(trims, 1)
    monkeypatch.setattr(heap, "INTERVAL_S", 0.0)  # the interval over: the next answer trims
    assert requests.get(base + "/api/v1/summary", timeout=5).ok
    wait_for(trims, 2)


@pytest.mark.parametrize(
    ("method", "path", "trimmed"),
    [
        ("POST", "/_dash-update-component", True),
        ("POST", "/login", True),
        ("GET", "/api/v1/sessions", True),
        ("GET", "/assets/style.css", False),
        ("GET", "/_dash-component-suites/dash/dcc/async-graph.js", False),
        ("GET", "/favicon.ico", False),
        ("GET", "/", False),
    ],
)
def test_which_requests_are_trimmed(method, path, trimmed):
    with Flask("heap-test").test_request_context(path, method=method):
        assert heap.wants_trim() is trimmed
