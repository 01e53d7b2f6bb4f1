"""Repeated tab requests are answered from the response cache (services/web/response_cache.py).

Real servers over real sockets, driven by the benchmark's Dash client (bench/http.py), which
sends the renderer's request bodies: the same request twice → the second is a hit with the
same JSON; another filter, another theme or a new data generation → a miss; callbacks outside
the tab list are never cached; and a hit is never served past the sign-in guard.
"""

from __future__ import annotations

import json
import sys

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from bench.http import DashClient
from services.web.response_cache import CACHED_OUTPUTS, first_output
from tests.support.hosted_support import (
    HttpSession,
    Server,
    clean_env,
    free_port,
    start_test_server,
    user_entry,
)
from tests.support.hosted_support import sign_in as sign_in_from
from tests.web.test_local_callbacks import wait_for_dependencies

HIT = "X-Response-Cache"


def post(client: DashClient, output_id: str) -> requests.Response:
    """POST the client's last request of the callback whose first output is ``output_id``."""
    return client.http.post(
        client.base + "/_dash-update-component", data=json.dumps(client.last[output_id])
    )


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("..kpi-row.children...fig-time.figure..", "kpi-row"),
        ("sessions-count.children", "sessions-count"),
        ("url.search@7085b65a", "url"),
    ],
)
def test_first_output_reads_dash_output_strings(output, expected):
    assert first_output(json.dumps({"output": output}).encode()) == expected


@given(st.binary(max_size=200))
def test_first_output_never_raises_on_any_body(body):
    result = first_output(body)
    assert result is None or isinstance(result, str)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    port = free_port()
    env = clean_env(
        PORT=str(port), DATA_DIR=str(tmp_path_factory.mktemp("rc")), DEMO_SESSIONS="400"
    )
    server = Server([sys.executable, "app.py"], env, f"http://127.0.0.1:{port}")
    wait_for_dependencies(server)
    yield server
    server.stop()


def test_a_repeated_tab_request_is_a_hit_with_the_same_answer(local):
    client = DashClient(local.base)
    client.open_link("")
    for tab, output in (
        ("quality", "fig-compare"),
        ("engagement", "eng-cards"),
        ("cost", "cost-budget"),
    ):
        client.change({("tabs", "active_tab"): tab})
        first, again = post(client, output), post(client, output)
        assert first.status_code == again.status_code == 200
        assert again.headers.get(HIT) == "hit", tab
        assert again.json() == first.json(), tab
    overview = post(client, "kpi-row")
    assert overview.headers.get(HIT) == "hit"  # the page load asked for it already


def _with_input(body: dict, component: str, value) -> dict:
    inputs = [
        dict(item, value=value) if item["id"] == component else item for item in body["inputs"]
    ]
    assert inputs != body["inputs"], component
    return dict(body, inputs=inputs)


def test_another_filter_or_theme_is_a_miss_then_a_hit(local):
    client = DashClient(local.base)
    client.open_link("")
    body = client.last["kpi-row"]
    state = next(item["value"] for item in body["inputs"] if item["id"] == "filter-state")
    url = local.base + "/_dash-update-component"
    for changed in (
        _with_input(body, "filter-state", dict(state, range="30d")),
        _with_input(body, "theme-switch", True),
    ):
        first = requests.post(url, json=changed, timeout=30)
        assert first.status_code == 200 and HIT not in first.headers
        again = requests.post(url, json=changed, timeout=30)
        assert again.headers.get(HIT) == "hit" and again.json() == first.json()
    light = requests.post(url, json=body, timeout=30).json()
    dark = requests.post(url, json=_with_input(body, "theme-switch", True), timeout=30).json()
    assert light != dark


def test_the_key_follows_the_loaded_generation_and_the_clock(monkeypatch):
    from flask import Flask

    from services import runtime
    from services.web import response_cache

    class Loaded:
        generation = 7

    loaded = Loaded()
    monkeypatch.setattr(runtime, "dataset", lambda: loaded)
    app = Flask(__name__)
    body = b'{"output": "..kpi-row.children...fig-time.figure..", "inputs": []}'
    with app.test_request_context("/_dash-update-component?endId=x", method="POST", data=body):
        first = response_cache.request_key()
        loaded.generation = 8
        assert response_cache.request_key() != first
        monkeypatch.setattr(
            response_cache.time, "time", lambda: 10**9 + 2 * response_cache.WINDOW_S
        )
        assert response_cache.request_key()[2] != first[2]
    with app.test_request_context("/_dash-update-component?endId=y", method="POST", data=body):
        assert response_cache.request_key()[:2] == (first[0], 8)  # endId is not in the key
    monkeypatch.setattr(runtime, "dataset", lambda: None)
    with app.test_request_context("/_dash-update-component", method="POST", data=body):
        assert response_cache.request_key() is None  # no data yet: never cached
    with app.test_request_context(
        "/_dash-update-component?cacheKey=k&job=1", method="POST", data=body
    ):
        assert response_cache.request_key() is None  # a background callback's poll


def test_callbacks_outside_the_tab_list_are_never_cached(local):
    client = DashClient(local.base)
    client.open_link("")
    assert set(client.last) - CACHED_OUTPUTS  # some ran
    for output in set(client.last) - CACHED_OUTPUTS:
        response = post(client, output)
        assert HIT not in response.headers, output
        assert HIT not in post(client, output).headers, output


def test_a_hit_is_never_served_past_the_sign_in_guard(tmp_path):
    server = start_test_server(
        clean_env(DATA_DIR=str(tmp_path), DEMO_SESSIONS="300", DASHBOARD_USERS=user_entry())
    )
    try:
        session = HttpSession()
        sign_in_from(session, server.base)
        client = DashClient(server.base, http=session)
        client.open_link("")
        assert post(client, "kpi-row").headers.get(HIT) == "hit"
        stranger = requests.post(
            server.base + "/_dash-update-component", json=client.last["kpi-row"], timeout=10
        )
        assert stranger.status_code == 401
        assert HIT not in stranger.headers
    finally:
        server.stop()


def test_every_time_zone_midnight_starts_a_new_window():
    """The key's 15-minute windows start at multiples of 900 s UTC; every current time zone
    offset is a multiple of 15 minutes, so no cached relative range outlives its day."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo, available_timezones

    from services.web.response_cache import WINDOW_S

    moments = [datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC)]
    zones = sorted(available_timezones())
    assert len(zones) > 300
    for name in zones:
        for moment in moments:
            offset = moment.astimezone(ZoneInfo(name)).utcoffset().total_seconds()
            assert offset % WINDOW_S == 0, (name, offset)
