"""The hosted Dash app in this process (Flask test client): what an anonymous visitor can reach,
what a page embeds, and that malformed callback bodies and API queries answer 4xx, never 500.

Dash attaches the globally registered callbacks to the first app whose first request is served
in a process, so this module builds exactly one app (module fixture) and nothing else here does.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.security import generate_password_hash

from services import runtime
from services.settings import Settings
from services.web import security

PASSWORD = "correct-horse-battery-staple"
JSON_ACCEPT = {"Accept": "application/json"}
PROBES = [
    "/",
    "/favicon.ico",
    "/_favicon.ico",
    "/api",
    "/api/",
    "/api/v1/summary",
    "/api/v1/sessions?limit=5",
    "/_dash-layout",
    "/_dash-dependencies",
    "/_dash-update-component",
    "/_reload-hash",
    "/_dash-component-suites/dash/dcc/dash_core_components.js",
    "/no/such/page",
    "/login/../_dash-layout",
    "/%2e%2e/_dash-layout",
    "/assets/../app.py",
    "/assets/%2e%2e/app.py",
    "/health/",
    "/logout/",
    "/LOGIN",
]


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    saved = (
        runtime._settings,
        runtime._store,
        runtime._cache,
        runtime._auth_note,
        runtime._user_provider,
    )
    import app as dashboard

    users = {"alice": generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")}
    chosen = Settings(
        data_dir=tmp_path_factory.mktemp("hosted-edges"),
        demo_sessions=400,
        demo_anchor=datetime.now(UTC).date(),
        dashboard_users=users,
    )
    application = dashboard.build_app(chosen, hosted=True)
    server = application.server
    server.extensions["ocs_security"].limits = security.SignInLimits(
        per_user="1000 per minute",
        per_ip="1000 per minute",
        total="1000 per minute",
        form_per_ip="1000 per minute",
    )
    application.server.test_client().get("/health")  # first request: Dash attaches callbacks
    yield application
    (
        runtime._settings,
        runtime._store,
        runtime._cache,
        runtime._auth_note,
        runtime._user_provider,
    ) = saved


@pytest.fixture(scope="module")
def names(hosted):
    """Every chatbot, team and tag name of the data (what must never reach a visitor)."""
    dataset = runtime.dataset()
    found = {
        *dataset.team_names.values(),
        *dataset.experiment_names.values(),
        *dataset.tag_names,
        *dataset.teams,
    }
    chosen = {n for n in found if isinstance(n, str) and len(n) >= 4}
    assert len(chosen) >= 5
    return chosen


@pytest.fixture(scope="module")
def member(hosted):
    client = hosted.server.test_client()
    form = client.get("/login")
    token = re.search(r'name="token" value="([^"]+)"', form.text).group(1)
    response = client.post(
        "/login", data={"token": token, "username": "alice", "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == 303
    return client


def leaked(text: str, names: set[str]) -> list[str]:
    return sorted(n for n in names if n in text)


# -- anonymous ------------------------------------------------------------------------------------


def concrete(rule) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"x\1", rule.rule)


def test_anonymous_visitors_reach_nothing_but_the_public_routes(hosted, names):
    server = hosted.server
    paths = {concrete(rule) for rule in server.url_map.iter_rules()} | set(PROBES)
    assert "/_dash-update-component" in paths and "/api/v1/summary" in paths
    seen = 0
    for path in sorted(paths):
        for method in ("GET", "POST", "PUT", "DELETE"):
            for headers in ({"Accept": "text/html"}, JSON_ACCEPT):
                response = server.test_client().open(path, method=method, headers=headers)
                body = response.get_data().decode("utf-8", errors="replace")
                assert leaked(body, names) == [], (method, path)
                assert response.status_code != 500, (method, path)
                public = path.split("?")[0] in security.PUBLIC_PATHS or path.startswith("/assets/")
                if public and response.status_code == 200:
                    continue  # harmless: the form, /health, the icon, static files
                assert response.status_code in (302, 303, 308, 400, 401, 404, 405, 429), (
                    method,
                    path,
                    response.status_code,
                )
                if response.status_code in (302, 303):
                    assert response.headers["Location"].startswith(("/login", "/")), path
                    assert response.headers["Location"].split("?")[0] in ("/login", "/")
                seen += 1
    assert seen > 100


def test_health_and_the_form_say_nothing_about_the_data(hosted, names):
    client = hosted.server.test_client()
    for path in ("/health", "/login", "/login?next=/", "/logout"):
        response = client.get(path)
        assert response.status_code in (200, 303)
        assert leaked(response.get_data(as_text=True), names) == []


def test_favicon_is_a_real_icon_without_sign_in(hosted):
    response = hosted.server.test_client().get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    data = response.get_data()
    assert data[:4] == b"\x00\x00\x01\x00" and int.from_bytes(data[4:6], "little") >= 1
    assert b"\x89PNG" in data


# -- what a page embeds ---------------------------------------------------------------------------


def dash_config(page: str) -> dict:
    match = re.search(
        r'<script id="_dash-config" type="application/json">(.*?)</script>', page, re.S
    )
    assert match, "no _dash-config in the page"
    return json.loads(match.group(1))


def test_the_embedded_validation_layout_holds_no_data(hosted, member, names):
    page = member.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200
    config = dash_config(page.get_data(as_text=True))
    assert "validation_layout" in config  # Dash still validates callbacks against it
    assert leaked(json.dumps(config), names) == []
    assert leaked(page.get_data(as_text=True), names) == []
    # ...while the signed-in layout itself does carry the names (so the check can fail)
    layout = member.get("/_dash-layout")
    assert layout.status_code == 200 and leaked(layout.get_data(as_text=True), names)


# -- callbacks ------------------------------------------------------------------------------------


def callback_spec(hosted, function_name: str) -> tuple[str, dict]:
    for output, spec in hosted.callback_map.items():
        if getattr(spec.get("callback"), "__name__", "") == function_name:
            return output, spec
    raise LookupError(function_name)


def outputs_of(output: str) -> list[dict] | dict:
    """What the browser sends: a list for a multi-output callback, else one object."""
    parts = output.strip(".").split("...")
    found = [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True)) for p in parts]
    return found if output.startswith("..") else found[0]


def body_for(output: str, spec: dict, values: list, state_values: list | None = None) -> dict:
    inputs = [{**item, "value": v} for item, v in zip(spec["inputs"], values, strict=True)]
    state = [
        {**item, "value": v} for item, v in zip(spec["state"], state_values or [], strict=False)
    ]
    return {
        "output": output,
        "outputs": outputs_of(output),
        "inputs": inputs,
        "state": state,
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
    }


def post(client, body):
    data = body if isinstance(body, str) else json.dumps(body, allow_nan=True)
    return client.post("/_dash-update-component", data=data, content_type="application/json")


def test_a_well_formed_callback_body_runs(hosted, member):
    output, spec = callback_spec(hosted, "update_overview")
    response = post(member, body_for(output, spec, [{"range": "30d"}, False, 1]))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: [],
        lambda b: None,
        lambda b: "text",
        lambda b: 3,
        lambda b: {},
        lambda b: {**b, "output": "nope.children"},
        lambda b: {**b, "output": ["x"]},
        lambda b: {k: v for k, v in b.items() if k != "inputs"},
        lambda b: {**b, "inputs": b["inputs"][:-1]},
        lambda b: {**b, "inputs": [*b["inputs"], b["inputs"][0]]},
        lambda b: {**b, "inputs": None},
        lambda b: {**b, "inputs": [None, *b["inputs"][1:]]},
        lambda b: {**b, "inputs": [{**b["inputs"][0], "id": "other"}, *b["inputs"][1:]]},
        lambda b: {**b, "inputs": [{**b["inputs"][0], "property": "x"}, *b["inputs"][1:]]},
        lambda b: {
            **b,
            "inputs": [*b["inputs"][:1], {**b["inputs"][1], "value": {"a": 1}}, b["inputs"][2]],
        },
        lambda b: {
            **b,
            "inputs": [*b["inputs"][:1], {**b["inputs"][1], "value": math.nan}, b["inputs"][2]],
        },
        lambda b: {**b, "inputs": [{**b["inputs"][0], "value": math.inf}, *b["inputs"][1:]]},
        lambda b: {**b, "outputs": "x"},
        lambda b: {**b, "outputs": [1, 2]},
        lambda b: {**b, "outputs": b["outputs"][:1]},
        lambda b: {**b, "outputs": b["outputs"][0]},
        lambda b: {**b, "changedPropIds": "x"},
        lambda b: {**b, "changedPropIds": [1]},
        lambda b: {**b, "state": {"a": 1}},
        lambda b: '{"output": ',
        lambda b: "[" * 5000 + "]" * 5000,
    ],
)
def test_a_callback_body_of_the_wrong_shape_is_400_json(hosted, member, mutate):
    output, spec = callback_spec(hosted, "update_overview")
    body = mutate(body_for(output, spec, [{"range": "30d"}, False, 1]))
    response = post(member, body)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.is_json and response.get_json()["error"] == "bad callback request"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELD_VALUES = {
    "range": st.sampled_from(["7d", "30d", "all", "custom", "x"]) | JSON_VALUES,
    "start": st.sampled_from(["2024-01-01", "0001-01-01", "9999-12-31", "2101-01-01"])
    | JSON_VALUES,
    "end": st.sampled_from(["2026-01-01", "1999-12-31", "9999-12-31"]) | JSON_VALUES,
    "experiments": st.lists(st.text(max_size=6) | JSON_VALUES, max_size=3) | JSON_VALUES,
    "teams": st.lists(st.text(max_size=6), max_size=3) | JSON_VALUES,
    "tags": st.lists(st.text(max_size=6), max_size=3) | JSON_VALUES,
    "tag_mode": st.sampled_from(["any", "all"]) | JSON_VALUES,
    "granularity": st.sampled_from(["day", "week", "month"]) | JSON_VALUES,
    "tz": st.sampled_from(["UTC", "Europe/Berlin", "../etc"]) | JSON_VALUES,
    "versions": st.lists(st.text(max_size=6), max_size=3) | JSON_VALUES,
}
FILTER_STATES = st.fixed_dictionaries({}, optional=FIELD_VALUES) | JSON_VALUES


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(state=FILTER_STATES)
def test_any_filter_state_dict_gets_an_answer_never_a_500(hosted, member, state):
    output, spec = callback_spec(hosted, "update_overview")
    response = post(member, body_for(output, spec, [state, False, 1]))
    assert response.status_code in (200, 204, 400), response.get_data(as_text=True)[:300]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_callback_with_any_values_gets_an_answer_never_a_500(hosted, member, data):
    server_side = sorted(k for k, v in hosted.callback_map.items() if v.get("callback"))
    output = data.draw(st.sampled_from(server_side))
    spec = hosted.callback_map[output]
    values = [data.draw(JSON_VALUES) for _ in spec["inputs"]]
    states = [data.draw(JSON_VALUES) for _ in spec["state"]]
    if any(i["id"].startswith("{") for i in [*spec["inputs"], *spec["state"]]):
        return  # pattern-matching ids: covered by the shape checks above
    response = post(member, body_for(output, spec, values, states))
    assert response.status_code in (200, 204, 400), (output, response.get_data(as_text=True)[:300])


# -- the API --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "range=custom&end=9999-12-31",
        "range=custom&start=0001-01-01",
        "start=1999-12-31",
        "end=2101-01-01",
        "range=custom&start=2024-01-01&end=2262-04-12",
    ],
)
def test_api_refuses_dates_outside_the_window(member, query):
    for path in ("/api/v1/summary", "/api/v1/sessions"):
        response = member.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        assert "outside 2000-01-01 … 2100-12-31" in response.get_json()["error"]


def test_the_page_link_drops_such_dates_with_a_notice(hosted, member):
    output, spec = callback_spec(hosted, "sync_filters")
    values = [None] * len(spec["inputs"])
    values[0] = "?range=custom&start=2024-01-01&end=9999-12-31"
    body = body_for(output, spec, values, [None] * len(spec.get("state") or []))
    body["changedPropIds"] = []
    response = post(member, body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    text = response.get_data(as_text=True)
    assert "The end date 9999-12-31 is outside 2000-01-01 … 2100-12-31; ignored." in text


QUERY_KEYS = st.sampled_from(
    [
        "range",
        "start",
        "end",
        "experiment",
        "team",
        "tag",
        "tag_mode",
        "platform",
        "status",
        "version",
        "granularity",
        "tz",
        "limit",
        "cursor",
        "x",
    ]
)
QUERY_VALUES = st.text(max_size=20) | st.sampled_from(
    ["custom", "0001-01-01", "9999-12-31", "2024-02-30", "v1..v999999", "-1", "0", "1001", "NaN"]
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(pairs=st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=6))
def test_any_api_query_string_gets_an_answer_never_a_500(member, pairs):
    for path in ("/api/v1/summary", "/api/v1/sessions"):
        response = member.get(f"{path}?{urlencode(pairs)}")
        assert response.status_code in (200, 400), (
            path,
            pairs,
            response.get_data(as_text=True)[:300],
        )
        assert response.is_json


def test_the_app_trims_the_heap_after_computed_answers(hosted):
    hooks = [getattr(f, "__name__", None) for f in hosted.server.after_request_funcs[None]]
    assert "trim_after_sending" in hooks
