"""The read-only JSON API (services/api.py) on a bare Flask app over a temporary demo store.

The blueprint needs no Dash, so these tests never build the Dash app (whose global callback
registry attaches to the first app of a process). Numbers are compared with the metrics
functions the page uses, for random filter states.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services import runtime
from services.analytics import metrics
from services.analytics.filters import UNTAGGED, FilterState, parse_query
from services.analytics.query import select, select_previous
from services.settings import Settings
from services.store.parquet import Store
from services.sync import demo
from services.views import sessions
from services.views.overview import vocabulary
from services.web import api

N_SESSIONS = 1500


def _save_runtime():
    return (
        runtime._settings,
        runtime._store,
        runtime._cache,
        runtime._auth_note,
        runtime._user_provider,
    )


def _restore_runtime(saved) -> None:
    (
        runtime._settings,
        runtime._store,
        runtime._cache,
        runtime._auth_note,
        runtime._user_provider,
    ) = saved


@pytest.fixture(scope="module")
def api_runtime(tmp_path_factory):
    """runtime configured on a temporary DATA_DIR holding today's demo world."""
    saved = _save_runtime()
    data_dir = tmp_path_factory.mktemp("api-data")
    current = runtime.configure(Settings(data_dir=data_dir))
    demo.ensure_demo_store(Store(current.store_dir), N_SESSIONS, anchor=datetime.now(UTC).date())
    dataset = runtime.dataset()
    assert dataset is not None and dataset.n == N_SESSIONS
    yield dataset
    _restore_runtime(saved)


@pytest.fixture(scope="module")
def client(api_runtime):
    app = Flask("api-test")
    app.register_blueprint(api.create_blueprint())
    return app.test_client()


def nan_to_none(value):
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


# ---- random filter states from the data's own vocabulary ----------------------------------


@st.composite
def filter_queries(draw, dataset):
    today = datetime.now(UTC).date()
    range_ = draw(st.sampled_from(["7d", "30d", "90d", "365d", "all", "custom"]))
    start = end = None
    if range_ == "custom":
        start = today - timedelta(days=draw(st.integers(0, 400)))
        end = start + timedelta(days=draw(st.integers(0, 120)))

    def some(values):
        return tuple(draw(st.lists(st.sampled_from(sorted(values)), max_size=3, unique=True)))

    state = FilterState(
        range=range_,
        start=start,
        end=end,
        experiments=some(dataset.experiments),
        teams=some(dataset.teams),
        tags=some([*dataset.tag_names, UNTAGGED]),
        tag_mode=draw(st.sampled_from(["any", "all"])),
        platforms=some(dataset.platforms) if draw(st.booleans()) else (),
        statuses=some(dataset.statuses) if draw(st.booleans()) else (),
        granularity=draw(st.sampled_from(["auto", "day", "week", "month"])),
    )
    query = state.to_query().lstrip("?")
    if draw(st.booleans()):  # unknown values are dropped with a notice, as on the page
        query += ("&" if query else "") + "team=no-such-team"
    return query


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_summary_equals_page_metrics(client, api_runtime, data):
    dataset = api_runtime
    query = data.draw(filter_queries(dataset))
    response = client.get(f"/api/v1/summary?{query}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()

    state, notices = parse_query(query, vocabulary(dataset))
    assert body["filters"] == state.to_query()
    assert body["notices"] == notices
    assert ("no-such-team" in query) == any("no-such-team" in n for n in body["notices"])
    sel = select(dataset, state)
    prev = select_previous(dataset, sel)

    expected_kpis = metrics.kpis(sel, prev)
    assert [k["key"] for k in body["kpis"]] == [k.key for k in expected_kpis]
    for got, want in zip(body["kpis"], expected_kpis, strict=True):
        assert got["value"] == nan_to_none(want.value)
        assert got["previous"] == nan_to_none(want.previous)
        assert got["change"] == nan_to_none(want.change)
    assert body["kpis"][0]["value"] == sel.n

    series = metrics.sessions_over_time(sel)
    assert [p["sessions"] for p in body["sessions_over_time"]] == series["sessions"].tolist()
    assert [p["bucket"] for p in body["sessions_over_time"]] == [
        d.strftime("%Y-%m-%d") for d in series["bucket"]
    ]
    assert body["granularity"] == sel.granularity
    for key, dimension in (("by_experiment", "experiment"), ("by_team", "team")):
        frame = metrics.sessions_by(sel, dimension)
        assert [(r["value"], r["sessions"]) for r in body[key]] == list(
            zip(frame["value"], frame["sessions"].tolist(), strict=True)
        )
        assert sum(r["sessions"] for r in body[key]) == sel.n
    quality = metrics.annotation_breakdown(sel)
    assert [a["category"] for a in body["annotations"]] == quality["category"].tolist()
    for got, want in zip(body["annotations"], quality.to_dict("records"), strict=True):
        for column in ("good", "bad", "undetermined", "n"):
            assert got[column] == want[column]
        for column in ("rate", "ci_low", "ci_high"):
            assert got[column] == nan_to_none(want[column])

    assert body["generation"] == dataset.generation
    assert body["timezone"] == "UTC"
    if sel.start_ns is not None:
        assert body["window"]["start"] == datetime.fromtimestamp(sel.start_ns / 1e9, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )


def test_summary_shape_and_sync_time(client, api_runtime):
    body = client.get("/api/v1/summary").get_json()
    assert set(body) >= {
        "filters",
        "notices",
        "window",
        "kpis",
        "sessions_over_time",
        "by_experiment",
        "by_team",
        "annotations",
        "generation",
        "synced_at",
    }
    assert body["filters"] == ""  # the default view
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00Z", body["synced_at"])
    assert {"key", "label", "value", "previous", "change"} <= set(body["kpis"][0])
    assert {"category", "good", "bad", "undetermined", "n", "rate", "ci_low", "ci_high"} <= set(
        body["annotations"][0]
    )


def test_unknown_values_become_notices_not_errors(client):
    response = client.get("/api/v1/summary?range=forever&experiment=nope&colour=blue")
    assert response.status_code == 200
    notices = " ".join(response.get_json()["notices"])
    assert "forever" in notices and "nope" in notices and "colour" in notices
    response = client.get("/api/v1/sessions?tag=no-such-tag&limit=5")
    assert response.status_code == 200
    assert "no-such-tag" in response.get_json()["notices"][0]


# ---- sessions and pagination --------------------------------------------------------------


def walk(client, query: str, limit: int) -> tuple[list[dict], list[dict]]:
    """Every page of /api/v1/sessions → (rows, page bodies)."""
    rows, pages, cursor = [], [], None
    for _ in range(10_000):
        url = f"/api/v1/sessions?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        pages.append(body)
        rows.extend(body["results"])
        cursor = body["next"]
        if cursor is None:
            return rows, pages
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize(
    ("query", "limit"),
    [("range=30d", 7), ("range=all", 100), ("range=90d&tag=__untagged__", 33), ("range=7d", 1000)],
)
def test_pagination_walks_the_filtered_set_newest_first(client, api_runtime, query, limit):
    dataset = api_runtime
    state, _ = parse_query(query, vocabulary(dataset))
    sel = select(dataset, state)
    current = runtime.settings()
    expected = metrics.session_rows(
        sel, metrics.table_order(sel), current.ocs_web_base_url, current.show_participant_ids
    )
    rows, pages = walk(client, query, limit)
    assert all(p["count"] == sel.n for p in pages)
    assert all(len(p["results"]) == limit for p in pages[:-1])
    assert len(pages) == max(1, math.ceil(sel.n / limit))
    ids = [r["session_id"] for r in rows]
    assert len(ids) == len(set(ids)) == sel.n
    assert ids == expected["session_id"].tolist()  # same order as the table and the CSV
    assert pages[0]["columns"] == list(expected.columns)
    assert [r["participant"] for r in rows] == expected["participant"].tolist()
    assert all("•" in r["participant"] for r in rows if len(r["participant"]) > 4)
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    if len(pages) > 1:
        assert pages[0]["next_url"].startswith("/api/v1/sessions?")
        assert f"limit={limit}" in pages[0]["next_url"]


def test_cursor_survives_newer_sessions(make_dataset):
    """A sync that adds newer sessions between two pages neither repeats nor skips rows."""
    base = [
        {"id": f"s{i:02d}", "created": f"2026-11-{1 + i // 3:02d}T12:00:00Z"} for i in range(12)
    ]
    before = make_dataset(base)
    after = make_dataset([*base, {"id": "new", "created": "2026-11-20T09:00:00Z"}], generation=2)
    state = FilterState(range="all")
    first = sessions.rows_after(select(before, state), None)[:5]
    last = int(first[-1])
    cursor = api.decode_cursor(api.encode_cursor(before.created_ns[last], before.session_id[last]))
    rest = sessions.rows_after(select(after, state), cursor)
    seen = [before.session_id[p] for p in first] + [after.session_id[p] for p in rest]
    assert sorted(seen) == sorted(s["id"] for s in base)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "ten", "1.5"])
def test_bad_limit_is_a_clear_400(client, limit):
    response = client.get(f"/api/v1/sessions?limit={limit}")
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert "limit" in response.get_json()["error"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "v1.",
        "v1.!!!",
        "v1.bm90IGpzb24",
        api.encode_cursor(1, "x")[:-3] + "AAA",
        "v1.WzFd",
    ],
)
def test_bad_cursor_is_a_clear_400(client, cursor):
    response = client.get(f"/api/v1/sessions?cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.get_json()["error"]


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/experiments")
    assert response.status_code == 404
    assert response.get_json()["error"].startswith("not found")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "OPTIONS"])
@pytest.mark.parametrize(
    "path", ["/api", "/api/", "/api/x", "/api/v1", "/api/v1/", "/api/v2/summary", "/api/v1/x/y"]
)
def test_every_unknown_api_path_is_json_404(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 404, (method, path)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"].startswith("not found")


@pytest.mark.parametrize("path", ["/api/v1/summary", "/api/v1/sessions"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_are_json_405_with_allow(client, method, path):
    response = client.open(path, method=method, json={"x": 1})
    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert f"method {method} not allowed" in response.get_json()["error"]


def test_options_and_head_on_an_endpoint(client):
    options = client.open("/api/v1/summary", method="OPTIONS")
    assert options.status_code == 204
    assert options.headers["Allow"] == "GET, HEAD, OPTIONS"
    head = client.head("/api/v1/summary?range=7d")
    assert head.status_code == 200 and head.mimetype == "application/json"


def test_http_errors_under_api_are_json_and_elsewhere_unchanged(api_runtime):
    """werkzeug's errors (413, 500 without another handler) answer JSON under /api only."""
    from werkzeug.exceptions import abort

    app = Flask("api-errors")
    app.config["MAX_CONTENT_LENGTH"] = 10
    app.register_blueprint(api.create_blueprint())

    def teapot():
        abort(418)

    def crash():
        raise RuntimeError("secret detail")

    def upload():
        from flask import request

        return {"n": len(request.get_data())}

    app.add_url_rule("/api/teapot", "teapot", teapot)
    app.add_url_rule("/api/crash", "crash", crash)
    app.add_url_rule("/api/upload", "upload", upload, methods=["POST"])
    app.add_url_rule("/page/teapot", "page_teapot", teapot)
    client = app.test_client()

    response = client.get("/api/teapot")
    assert (response.status_code, response.mimetype) == (418, "application/json")
    assert response.get_json() == {"error": "i'm a teapot"}
    response = client.get("/api/crash")
    assert (response.status_code, response.mimetype) == (500, "application/json")
    assert response.get_json() == {"error": "internal error"}  # as on the hosted app
    response = client.post("/api/upload", data=b"x" * 100)
    assert (response.status_code, response.mimetype) == (413, "application/json")
    page = client.get("/page/teapot")
    assert page.status_code == 418 and page.mimetype == "text/html"


def test_identifiers_shown_when_configured(client, api_runtime):
    masked = client.get("/api/v1/sessions?range=all&limit=20").get_json()["results"]
    saved = runtime._settings
    runtime._settings = Settings(data_dir=saved.data_dir, show_participant_ids=True)
    try:
        shown = client.get("/api/v1/sessions?range=all&limit=20").get_json()["results"]
    finally:
        runtime._settings = saved
    assert [r["session_id"] for r in shown] == [r["session_id"] for r in masked]
    assert not any("•" in r["participant"] for r in shown)
    assert any("•" in r["participant"] for r in masked)


def test_no_data_yet_is_503(tmp_path):
    saved = _save_runtime()
    try:
        runtime.configure(Settings(data_dir=tmp_path))
        app = Flask("api-empty")
        app.register_blueprint(api.create_blueprint())
        response = app.test_client().get("/api/v1/summary")
    finally:
        _restore_runtime(saved)
    assert response.status_code == 503
    assert "no data yet" in response.get_json()["error"]


# ---- behind the sign-in guard -------------------------------------------------------------


def test_api_requires_sign_in_when_hosted(tmp_path, api_runtime):
    """With services.web.security installed (as wsgi.py does), /api/* answers 401 until signed in."""
    web = pytest.importorskip("services.web.security")
    from services.auth.users import hash_password

    saved = _save_runtime()
    data_dir = runtime.settings().data_dir
    try:
        hosted = Settings(
            data_dir=data_dir,
            dashboard_users={"alice": hash_password("s3cret-pass")},
            secret_key="k" * 40,
        )
        runtime._settings = hosted
        app = Flask("api-hosted")
        app.secret_key = hosted.secret_key
        app.register_blueprint(api.create_blueprint())
        web.install(app, hosted)
        client = app.test_client()
        for path in ("/api/v1/summary", "/api/v1/sessions?limit=5", "/api/v1/nothing"):
            response = client.get(path)
            assert response.status_code == 401, path
            assert response.get_json()["error"] == "sign-in required"
        form = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="token" value="([^"]+)"', form).group(1)
        signed_in = client.post(
            "/login", data={"token": token, "username": "alice", "password": "s3cret-pass"}
        )
        assert signed_in.status_code == 303
        response = client.get("/api/v1/summary?range=30d")
        assert response.status_code == 200
        assert response.get_json()["filters"] == "?range=30d"
    finally:
        _restore_runtime(saved)


def test_api_module_has_no_dash_import():
    import services.outputs.exports
    import services.web.api

    for module in (services.web.api, services.outputs.exports):
        source = Path(module.__file__).read_text()
        assert not re.search(r"^\s*(import|from)\s+dash\b", source, re.M)


def test_rows_after_without_cursor_is_table_order(api_runtime):
    sel = select(api_runtime, FilterState(range="90d"))
    assert np.array_equal(sessions.rows_after(sel, None), metrics.table_order(sel))
