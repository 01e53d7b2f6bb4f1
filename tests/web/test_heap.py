"""services/web/heap.py: the heap is trimmed after a computed answer has been sent (over a real
socket: the WSGI server calls the response's close after writing it): at most once per
INTERVAL_S while answers keep coming, and once the process is quiet for IDLE_S; never for a
static file; and the app installs it."""

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
    fresh = {"last_trim": float("-inf"), "last_answer": float("-inf"), "untrimmed": False}
    monkeypatch.setattr(heap, "_state", {**fresh, "timer": None})
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


def test_a_burst_is_trimmed_once_at_its_start_and_once_when_quiet(served, monkeypatch):
    base, trims = served
    monkeypatch.setattr(heap, "INTERVAL_S", 3600.0)
    monkeypatch.setattr(heap, "IDLE_S", 0.05)
    for _ in range(3):
        assert requests.post(base + "/_dash-update-component", json={}, timeout=5).ok
    assert requests.get(base + "/api/v1/summary", timeout=5).ok
    wait_for(trims, 2)  # the first answer (no trim yet), then the quiet after the burst


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_trims_follow_the_interval_and_the_quiet_time(monkeypatch):
    clock, timers, trims = Clock(100.0), [], []
    monkeypatch.setattr(heap, "_clock", clock)
    monkeypatch.setattr(heap, "_start_timer", lambda delay: timers.append(delay) or delay)
    monkeypatch.setattr(memory, "release_free_memory", lambda: trims.append(clock.now))
    monkeypatch.setattr(
        heap,
        "_state",
        {
            "last_trim": float("-inf"),
            "last_answer": float("-inf"),
            "untrimmed": False,
            "timer": None,
        },
    )
    assert heap.answered()  # the first answer: no trim for INTERVAL_S
    assert timers == []
    clock.now = 101.0
    assert not heap.answered()  # inside the interval: wait for quiet
    assert timers == [heap.IDLE_S]
    clock.now = 101.5
    assert not heap.answered()
    assert timers == [heap.IDLE_S]  # one timer at a time
    clock.now = 102.0  # the timer fires, but the last answer was 0.5 s ago
    assert not heap.when_idle()
    assert timers == [heap.IDLE_S, pytest.approx(0.5)]
    clock.now = 102.5
    assert heap.when_idle()
    assert trims == [100.0, 102.5]
    clock.now = 110.0
    assert not heap.when_idle()  # nothing answered since: nothing to give back
    # answers every 0.5 s without a pause: a trim once INTERVAL_S after the last one
    for k in range(12):
        clock.now = 111.0 + 0.5 * k
        heap.answered()
    assert trims == [100.0, 102.5, 111.0, 116.0]


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
