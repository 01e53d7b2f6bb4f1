"""services.web.security on bare Flask apps (no Dash): sign-in limits, bounded hashing, server-side
sessions and revocation, single-use form tokens, proxy hops, log escaping, callback fallback.

Each app gets its own DATA_DIR (its own shared state); two apps on one DATA_DIR behave like two
gunicorn workers, or like one app restarted with changed settings.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.security import generate_password_hash

from services import runtime
from services.auth import users as auth
from services.settings import Settings
from services.web import api, security
from services.web.edge import SafeLogFilter

PASSWORD = "correct-horse-battery-staple"
SECRET = "test-secret-key-0123456789abcdef"
JSON = {"Accept": "application/json"}
# cheap hashes keep these tests fast; the limits and slots do not depend on the hash cost
HASHES = {
    name: generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    for name in ("alice", "bob", "carol")
}


@pytest.fixture(autouse=True)
def _keep_runtime():
    saved = (runtime._settings, runtime._auth_note, runtime._user_provider)
    yield
    runtime._settings, runtime._auth_note, runtime._user_provider = saved


def make_app(data_dir: Path, users: dict | None = None, **settings) -> Flask:
    """A bare Flask app with the security layer, the API blueprint and a page holding data."""
    server = Flask(f"security-test-{uuid.uuid4().hex[:6]}")
    server.register_blueprint(api.create_blueprint())
    server.add_url_rule("/data", "data", lambda: {"team": "Secret Team"})

    def failing_callback():
        raise TypeError("list indices must be integers")  # what a callback does on bad input

    server.add_url_rule("/_dash-update-component", "callback", failing_callback, methods=["POST"])
    chosen = Settings(
        data_dir=data_dir,
        secret_key=SECRET,
        dashboard_users=HASHES if users is None else users,
        **settings,
    )
    security.install(server, chosen)
    return server


def web_of(server: Flask) -> security._Web:
    return server.extensions["ocs_security"]


def token_of(text: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', text)
    assert match, text[:300]
    return match.group(1)


def sign_in(client, user="alice", password=PASSWORD, ip="10.0.0.1", headers=None):
    environ = {"REMOTE_ADDR": ip}
    form = client.get("/login", environ_base=environ, headers=headers)
    assert form.status_code == 200, form.status_code
    return client.post(
        "/login",
        data={"token": token_of(form.text), "username": user, "password": password, "next": "/"},
        environ_base=environ,
        headers=headers,
    )


@pytest.fixture
def server(tmp_path):
    return make_app(tmp_path)


# -- public paths ---------------------------------------------------------------------------------


def test_public_paths_are_exactly_these():
    assert {"/login", "/logout", "/health", "/favicon.ico"} == security.PUBLIC_PATHS
    assert security.PUBLIC_PREFIXES == ("/assets/",)


def test_api_without_slash_answers_json(server):
    client = server.test_client()
    for path in ("/api", "/api/", "/api/v1/summary"):
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 401, path
        assert response.get_json() == {"error": "sign-in required", "login": "/login"}
    assert sign_in(client).status_code == 303
    response = client.get("/api", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.is_json


# -- sign-in limits -------------------------------------------------------------------------------


def test_per_user_limit_holds_from_any_ip(server):
    web_of(server).limits.per_user = "3 per 15 minutes"
    for n in range(3):
        response = sign_in(server.test_client(), "bob", "wrong-password", ip=f"10.1.0.{n}")
        assert response.status_code == 401
    refused = sign_in(server.test_client(), "BOB ", PASSWORD, ip="10.1.0.99")
    assert refused.status_code == 429  # even the right password, from a new IP, waits
    assert "Too many sign-in attempts" in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 15 * 60
    assert sign_in(server.test_client(), "alice", ip="10.1.0.99").status_code == 303


def test_a_successful_sign_in_starts_the_users_count_again(server):
    web_of(server).limits.per_user = "3 per 15 minutes"
    for _ in range(2):
        assert sign_in(server.test_client(), "bob", "wrong-password").status_code == 401
    assert sign_in(server.test_client(), "bob").status_code == 303
    for _ in range(3):
        assert sign_in(server.test_client(), "bob", "wrong-password").status_code == 401
    assert sign_in(server.test_client(), "bob").status_code == 429


def test_per_ip_limit_holds_for_any_user(server):
    web_of(server).limits.per_ip = "3 per 15 minutes"
    for name in ("nobody1", "nobody2", "nobody3"):
        assert sign_in(server.test_client(), name, "x" * 12, ip="10.2.0.1").status_code == 401
    assert sign_in(server.test_client(), "alice", ip="10.2.0.1").status_code == 429
    assert sign_in(server.test_client(), "alice", ip="10.2.0.2").status_code == 303


def test_total_limit_holds_across_users_and_ips(server):
    web_of(server).limits.total = "4 per 15 minutes"
    for n in range(4):
        response = sign_in(server.test_client(), f"user{n}", "x" * 12, ip=f"10.3.0.{n}")
        assert response.status_code == 401
    assert sign_in(server.test_client(), "carol", ip="10.3.1.1").status_code == 429


def test_parallel_attempts_get_exactly_the_allowed_password_checks(server, monkeypatch):
    """The attempt is counted before the password is checked, atomically across threads."""
    web = web_of(server)
    web.limits.per_user = "5 per 15 minutes"
    web.checker = auth.BoundedChecker(slots=1, wait=60)  # here every admitted attempt is checked
    checks = []
    real = web.checker.verify
    monkeypatch.setattr(web.checker, "verify", lambda *a: checks.append(1) or real(*a))
    forms = []
    for n in range(30):
        client = server.test_client()
        page = client.get("/login", environ_base={"REMOTE_ADDR": f"10.4.0.{n}"})
        forms.append((client, token_of(page.text), f"10.4.0.{n}"))

    def attempt(form):
        client, token, ip = form
        data = {"token": token, "username": "bob", "password": "wrong-password", "next": "/"}
        return client.post("/login", data=data, environ_base={"REMOTE_ADDR": ip}).status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        codes = list(pool.map(attempt, forms))
    assert len(checks) == 5
    assert sorted(codes) == [401] * 5 + [429] * 25


def test_limits_are_shared_by_workers_on_one_data_dir(tmp_path):
    first, second = make_app(tmp_path), make_app(tmp_path)
    web_of(first).limits.per_user = web_of(second).limits.per_user = "2 per 15 minutes"
    assert sign_in(first.test_client(), "bob", "x" * 12).status_code == 401
    assert sign_in(second.test_client(), "bob", "x" * 12).status_code == 401
    assert sign_in(first.test_client(), "bob").status_code == 429
    assert sign_in(second.test_client(), "bob").status_code == 429


def test_the_form_itself_is_limited_per_ip(server):
    web_of(server).limits.form_per_ip = "3 per minute"
    client = server.test_client()
    codes = [
        client.get("/login", environ_base={"REMOTE_ADDR": "10.5.0.1"}).status_code for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    refused = server.test_client().get("/login", environ_base={"REMOTE_ADDR": "10.5.0.1"})
    assert "Too many requests" in refused.text and 'name="token"' not in refused.text
    assert "Set-Cookie" not in refused.headers  # a flood of forms stores no sessions
    assert client.get("/login", environ_base={"REMOTE_ADDR": "10.5.0.2"}).status_code == 200


# -- bounded password hashing ---------------------------------------------------------------------


def test_password_checks_run_in_one_slot_and_a_flood_is_told_to_retry(server, monkeypatch):
    web = web_of(server)
    web.checker = auth.BoundedChecker(slots=1, wait=0.05)
    inside, release, running = threading.Event(), threading.Event(), []
    peak = []

    def slow_verify(users, name, password):
        running.append(1)
        peak.append(len(running))
        inside.set()
        release.wait(10)
        running.pop()
        return False

    monkeypatch.setattr(auth, "verify_user", slow_verify)
    first = server.test_client()
    page = first.get("/login")
    holder = threading.Thread(
        target=lambda: first.post(
            "/login", data={"token": token_of(page.text), "username": "bob", "password": "x"}
        )
    )
    holder.start()
    assert inside.wait(10)
    try:
        for n in range(6):  # while the slot is taken, others are answered at once
            busy = sign_in(server.test_client(), "alice", ip=f"10.6.0.{n}")
            assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
            assert "Sign-in is busy" in busy.text
        signed_in = server.test_client()
        monkeypatch.setattr(auth, "verify_user", lambda *a: True)
    finally:
        release.set()
        holder.join(10)
    assert max(peak) == 1
    assert sign_in(signed_in, "alice").status_code == 303
    assert signed_in.get("/data", headers=JSON).status_code == 200


# -- sessions --------------------------------------------------------------------------------------


def test_the_cookie_holds_only_a_random_id(server):
    client = server.test_client()
    response = sign_in(client)
    cookie = response.headers["Set-Cookie"]
    value = cookie.split(";")[0].split("=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/data", headers=JSON).get_json() == {"team": "Secret Team"}


def test_sign_in_issues_a_new_session_id(server):
    client = server.test_client()
    client.get("/login")
    before = client.get_cookie("ocs_dashboard_session").value
    sign_in(client)
    assert client.get_cookie("ocs_dashboard_session").value != before


def test_logout_revokes_every_copy_of_the_cookie(server):
    client = server.test_client()
    assert sign_in(client).status_code == 303
    stolen = server.test_client()
    stolen.set_cookie("ocs_dashboard_session", client.get_cookie("ocs_dashboard_session").value)
    assert stolen.get("/data", headers=JSON).status_code == 200
    out = client.get("/logout", headers={"Sec-Fetch-Site": "same-origin"})
    assert out.status_code == 303
    assert client.get("/data", headers=JSON).status_code == 401
    assert stolen.get("/data", headers=JSON).status_code == 401  # the copy is dead too


def test_a_changed_or_removed_user_entry_revokes_at_the_next_request(tmp_path):
    client = make_app(tmp_path).test_client()
    assert sign_in(client).status_code == 303
    cookie = client.get_cookie("ocs_dashboard_session").value

    def with_cookie(app: Flask):
        other = app.test_client()
        other.set_cookie("ocs_dashboard_session", cookie)
        return other.get("/data", headers=JSON).status_code

    assert with_cookie(make_app(tmp_path)) == 200  # same settings, restarted: still valid
    changed = {
        **HASHES,
        "alice": generate_password_hash("another password", method="pbkdf2:sha256:1000"),
    }
    assert with_cookie(make_app(tmp_path, users=changed)) == 401
    assert with_cookie(make_app(tmp_path)) == 401  # the revoked session was deleted
    assert (
        sign_in(make_app(tmp_path, users={"bob": HASHES["bob"]}).test_client()).status_code == 401
    )


# -- form tokens -----------------------------------------------------------------------------------


def test_a_sign_in_form_can_be_posted_once(server):
    client = server.test_client()
    token = token_of(client.get("/login").text)
    data = {"token": token, "username": "alice", "password": "wrong-password", "next": "/"}
    assert client.post("/login", data=data).status_code == 401
    data["password"] = PASSWORD
    again = client.post("/login", data=data)
    assert again.status_code == 400 and "already used" in again.text
    assert client.get("/data", headers=JSON).status_code == 401


def test_parallel_posts_of_one_form_sign_in_once(server):
    client = server.test_client()
    token = token_of(client.get("/login").text)
    cookie = client.get_cookie("ocs_dashboard_session").value
    data = {"token": token, "username": "alice", "password": PASSWORD, "next": "/"}

    def post(_):
        other = server.test_client()
        other.set_cookie("ocs_dashboard_session", cookie)
        return other.post("/login", data=data).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(post, range(8)))
    assert codes == [303] + [400] * 7


def test_a_sign_out_form_can_be_posted_once(server):
    client = server.test_client()
    sign_in(client)
    ask = client.get("/logout", headers={"Sec-Fetch-Site": "cross-site"})
    token = token_of(ask.text)
    assert client.post("/logout", data={"token": token}).status_code == 303
    sign_in(client)
    assert client.post("/logout", data={"token": token}).status_code == 400
    assert client.get("/data", headers=JSON).status_code == 200


# -- trusted proxy hops ----------------------------------------------------------------------------


def test_forwarded_for_is_ignored_without_trusted_hops(tmp_path):
    server = make_app(tmp_path, trusted_proxy_hops=0)
    web_of(server).limits.per_ip = "2 per 15 minutes"
    for n in range(2):
        headers = {"X-Forwarded-For": f"203.0.113.{n}"}
        assert sign_in(server.test_client(), f"x{n}", "x" * 12, headers=headers).status_code == 401
    rotated = sign_in(server.test_client(), "alice", headers={"X-Forwarded-For": "198.51.100.1"})
    assert rotated.status_code == 429  # a client-sent header does not make a new IP


def test_one_trusted_hop_takes_the_address_the_router_added(tmp_path):
    server = make_app(tmp_path, trusted_proxy_hops=1)
    web_of(server).limits.per_ip = "2 per 15 minutes"
    for n in range(2):
        # the client sent "1.2.3.4"; the router appended the real address
        headers = {"X-Forwarded-For": f"1.2.3.4, 203.0.113.{7}"}
        assert sign_in(server.test_client(), f"x{n}", "x" * 12, headers=headers).status_code == 401
    spoofed = {"X-Forwarded-For": "9.9.9.9, 203.0.113.7"}
    assert sign_in(server.test_client(), "alice", headers=spoofed).status_code == 429
    colleague = {"X-Forwarded-For": "198.51.100.9"}
    assert sign_in(server.test_client(), "alice", headers=colleague).status_code == 303


# -- callbacks and logs ----------------------------------------------------------------------------


def test_a_callback_failing_on_its_input_is_400_json(server):
    client = server.test_client()
    sign_in(client)
    response = client.post("/_dash-update-component", json={"output": "x"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad callback request"


def test_log_lines_escape_control_characters_and_are_capped(server):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SafeLogFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        name = "eve\n2026-01-01 INFO dashboard.web sign-in ok user=admin\x1b[31m" + "x" * 5000
        sign_in(server.test_client(), name, "x" * 12)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = [line for line in stream.getvalue().splitlines() if line]
    assert lines and all(len(line) < 2100 for line in lines)
    assert not any(line.startswith("2026-01-01") for line in lines)
    assert not any("\x1b" in line for line in lines)
    logged = "\n".join(lines)
    assert "ok user=admin" not in logged or "\\x0a" in logged


# -- Redis ------------------------------------------------------------------------------------------

REDIS_TEST_URL = "redis://127.0.0.1:6379/13"


def _redis_up() -> bool:
    try:
        from services.auth.shared import redis_client

        return bool(redis_client(Settings(redis_url=REDIS_TEST_URL)).ping())
    except Exception:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_with_redis_sessions_limits_and_tokens_are_shared_between_instances(tmp_path):
    """Two apps on different DATA_DIRs (two dynos) share everything through REDIS_URL."""
    first = make_app(tmp_path / "a", redis_url=REDIS_TEST_URL)
    second = make_app(tmp_path / "b", redis_url=REDIS_TEST_URL)
    web_of(first).limiter.reset()
    client = first.test_client()
    assert sign_in(client).status_code == 303
    copy = second.test_client()
    copy.set_cookie("ocs_dashboard_session", client.get_cookie("ocs_dashboard_session").value)
    assert copy.get("/data", headers=JSON).status_code == 200  # the session lives in Redis
    assert client.get("/logout", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303
    assert copy.get("/data", headers=JSON).status_code == 401  # ...and is gone for both
    web_of(first).limits.per_user = web_of(second).limits.per_user = "2 per 15 minutes"
    assert sign_in(first.test_client(), "carol", "x" * 12).status_code == 401
    assert sign_in(second.test_client(), "carol", "x" * 12).status_code == 401
    assert sign_in(first.test_client(), "carol").status_code == 429
    web_of(first).limiter.reset()
