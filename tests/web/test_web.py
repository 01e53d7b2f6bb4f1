"""The hosted web layer (services.web.security via wsgi.py): sign-in guard, login form, cookies, headers,
errors, /health and start-up refusals.

Every app runs in its own interpreter (tests/support/hosted_server.py), see tests/support/hosted_support.py.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import shutil
import subprocess
import sys

import pytest
import requests

from tests.support.hosted_support import (
    PASSWORD,
    ROOT,
    SECRET,
    allow_cookies_over_http,
    clean_env,
    form_token,
    start_test_server,
    user_entry,
)
from tests.support.hosted_support import sign_in as sign_in_from

_client_numbers = itertools.count(1)


def sign_in(session, base, *args, headers=None, **kwargs):
    """Sign in as a new client IP each time (the servers here trust one proxy hop), so the
    per-IP sign-in limit does not add up over this module's many sign-ins."""
    n = next(_client_numbers)
    headers = {"X-Forwarded-For": f"10.9.{n // 250}.{n % 250}", **(headers or {})}
    return sign_in_from(session, base, *args, headers=headers, **kwargs)


SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Permissions-Policy",
)


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """Hosted app outside production (no PORT/APP_ENV): demo data, two users."""
    data = tmp_path_factory.mktemp("web-dev")
    users = f"{user_entry('alice')} {user_entry('bob')}"
    server = start_test_server(
        clean_env(
            DATA_DIR=str(data), DEMO_SESSIONS="600", DASHBOARD_USERS=users, TRUSTED_PROXY_HOPS="1"
        )
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    """Hosted app in production (APP_ENV=production, SECRET_KEY), as behind Heroku's router."""
    data = tmp_path_factory.mktemp("web-prod")
    server = start_test_server(
        clean_env(
            APP_ENV="production",
            SECRET_KEY=SECRET,
            DATA_DIR=str(data),
            DEMO_SESSIONS="600",
            DASHBOARD_USERS=user_entry("alice"),
        )
    )
    yield server
    server.stop()


def _get(base: str, path: str, **kw) -> requests.Response:
    return requests.get(base + path, allow_redirects=False, timeout=10, **kw)


# -- public routes -------------------------------------------------------------------------------


def test_health_is_public_and_reports_data(dev):
    response = _get(dev.base, "/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["generation"] == 1 and body["data_source"] == "demo"
    assert body["sync_state"] == "demo"
    assert isinstance(body["worker_pid"], int)
    assert body["data_age_seconds"] >= 0
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_security_headers_on_every_response(dev):
    for path in ("/health", "/login", "/", "/_dash-layout", "/assets/10-app.css", "/nope"):
        response = _get(dev.base, path)
        for name in SECURITY_HEADERS:
            assert name in response.headers, (path, name)
        csp = response.headers["Content-Security-Policy"]
        script_src = csp.split("; ")[1]
        assert script_src.startswith("script-src 'self'")
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_csp_lists_hashes_of_the_inline_scripts(dev):
    sign_in(session := requests.Session(), dev.base)
    page = session.get(dev.base + "/", timeout=10)
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    script_src = next(p for p in csp.split("; ") if p.startswith("script-src"))
    text = re.sub(r"<!--.*?-->", "", page.text, flags=re.S)  # e.g. Dash's <!--[if IE]> alert
    executable = [
        body
        for tag, body in re.findall(r"(<script[^>]*>)(.*?)</script>", text, flags=re.S)
        if "src=" not in tag and "application/json" not in tag and body
    ]
    assert executable, "expected Dash's inline renderer script"
    for script in executable:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src


def test_assets_are_public(dev):
    assert _get(dev.base, "/assets/00-bootstrap-5.3.8.min.css").status_code == 200


# -- the guard -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_dash-layout"),
        ("GET", "/_dash-dependencies"),
        ("POST", "/_dash-update-component"),
        ("GET", "/_dash-component-suites/dash/dcc/dash_core_components.js"),
        ("GET", "/api/sessions"),
        ("POST", "/"),
    ],
)
def test_unauthenticated_requests_get_401_json(dev, method, path):
    response = requests.request(method, dev.base + path, json={}, allow_redirects=False, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"error": "sign-in required", "login": "/login"}


def test_unauthenticated_page_redirects_to_login_with_next(dev):
    response = _get(dev.base, "/?team=acme&range=30d", headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/%3Fteam%3Dacme%26range%3D30d"
    xhr = _get(dev.base, "/", headers={"Accept": "application/json"})
    assert xhr.status_code == 401


def test_login_form_is_plain_html_with_token(dev):
    response = _get(dev.base, "/login?next=/x")
    assert response.status_code == 200
    assert "<script" not in response.text
    assert "/assets/00-bootstrap-5.3.8.min.css" in response.text
    assert form_token(response.text)
    assert 'name="next" value="/x"' in response.text
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # not production


def test_login_without_a_valid_form_token_is_refused(dev):
    session = requests.Session()
    data = {"username": "alice", "password": PASSWORD, "next": "/"}
    assert session.post(dev.base + "/login", data=data, timeout=10).status_code == 400
    # a token from another visitor's form does not match this visitor's cookie
    other = requests.get(dev.base + "/login", timeout=10)
    data["token"] = form_token(other.text)
    response = session.post(dev.base + "/login", data=data, allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert _get(dev.base, "/_dash-layout", cookies=session.cookies).status_code == 401


def test_sign_in_then_everything_works_then_sign_out(dev):
    session = requests.Session()
    response = sign_in(session, dev.base, next_path="/?team=acme")
    assert response.status_code == 303
    assert response.headers["Location"] == "/?team=acme"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    page = session.get(dev.base + "/", timeout=10)
    assert page.status_code == 200 and "_dash-config" in page.text
    layout = session.get(dev.base + "/_dash-layout", timeout=10)
    assert layout.status_code == 200
    assert '"sign-out"' in layout.text  # the Sign out link
    assert session.get(dev.base + "/_dash-dependencies", timeout=10).status_code == 200
    # the form again: already signed in → straight on
    again = session.get(dev.base + "/login?next=/", allow_redirects=False, timeout=10)
    assert again.status_code == 302
    # a sign-out link from another site asks first
    ask = session.get(
        dev.base + "/logout", headers={"Sec-Fetch-Site": "cross-site"}, allow_redirects=False
    )
    assert ask.status_code == 200 and 'action="/logout"' in ask.text
    assert session.get(dev.base + "/_dash-layout", timeout=10).status_code == 200
    out = session.get(
        dev.base + "/logout", headers={"Sec-Fetch-Site": "same-origin"}, allow_redirects=False
    )
    assert out.status_code == 303 and out.headers["Location"] == "/login?signed_out=1"
    assert session.get(dev.base + "/_dash-layout", timeout=10).status_code == 401


def test_sign_in_never_redirects_off_site(dev):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = sign_in(requests.Session(), dev.base, next_path=target)
        assert response.status_code == 303
        assert response.headers["Location"] == "/"


def test_a_tampered_session_cookie_is_refused(dev):
    session = requests.Session()
    sign_in(session, dev.base)
    name = next(iter(session.cookies)).name
    value = session.cookies[name]
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    response = _get(dev.base, "/_dash-layout", cookies={name: forged})
    assert response.status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(dev):
    wrong = sign_in(requests.Session(), dev.base, user="alice", password="nope-nope-nope")
    unknown = sign_in(requests.Session(), dev.base, user="mallory", password="nope-nope-nope")
    assert wrong.status_code == unknown.status_code == 401
    assert "Unknown user name or wrong password." in wrong.text
    assert wrong.text.replace(form_token(wrong.text), "") == unknown.text.replace(
        form_token(unknown.text), ""
    )


def test_repeated_failures_are_limited_per_user_from_any_ip(dev):
    for n in range(10):  # SignInLimits.per_user: 10 per 15 minutes
        response = sign_in(requests.Session(), dev.base, user="bob", password="x" * 12)
        assert response.status_code == 401, n
    limited = sign_in(requests.Session(), dev.base, user="bob", password=PASSWORD)
    assert limited.status_code == 429  # even the right password waits
    assert 1 <= int(limited.headers["Retry-After"]) <= 900
    assert "Too many sign-in attempts" in limited.text
    assert dev.wait_for_output("sign-in limited (10 per 15 minute) user=bob")
    # other users are not affected
    assert sign_in(requests.Session(), dev.base, user="alice").status_code == 303


def test_errors_show_no_traceback_and_log_one_line(dev):
    session = requests.Session()
    sign_in(session, dev.base)
    api = session.get(dev.base + "/api/boom", timeout=10)
    assert api.status_code == 500
    assert api.json() == {"error": "internal error"}
    page = session.get(dev.base + "/boom", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 500
    assert "Something went wrong" in page.text
    for text in (api.text, page.text):
        assert "Traceback" not in text and "RuntimeError" not in text and "/srv/secret" not in text
    logged = dev.wait_for_output("unhandled error GET /api/boom")
    assert len(logged) == 1 and "RuntimeError" in logged[0]
    assert not any(line.startswith("Traceback") for line in dev.lines)


def test_every_api_answer_is_json_on_the_dash_app(dev):
    """Dash's catch-all page route never answers under /api: 404/405 are JSON too."""
    anonymous = requests.post(dev.base + "/api/v1/summary", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "sign-in required"
    session = requests.Session()
    sign_in(session, dev.base)
    anonymous = requests.get(dev.base + "/api", headers={"Accept": "text/html"}, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "sign-in required"
    for path in ("/api", "/api/", "/api/x", "/api/v1", "/api/v1/nope"):
        response = session.get(dev.base + path, headers={"Accept": "text/html"}, timeout=10)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"] == "application/json", path
        assert response.json()["error"].startswith("not found")
    response = session.post(dev.base + "/api/v1/summary", timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json()["error"] == "method POST not allowed: this path answers GET"
    assert session.get(dev.base + "/api/v1/summary", timeout=10).json()["generation"] is not None
    # outside /api nothing changed: an unknown page path is still the page
    assert "<html" in session.get(dev.base + "/no-such-page", timeout=10).text.lower()


def test_unknown_route_is_a_plain_404_for_signed_in_users(dev):
    session = requests.Session()
    sign_in(session, dev.base)
    response = session.get(dev.base + "/_dash-component-suites/nope/nope.js", timeout=10)
    assert response.status_code == 404
    assert "Traceback" not in response.text


# -- production ----------------------------------------------------------------------------------


def test_production_cookie_is_secure_and_https_is_enforced(prod):
    session = requests.Session()
    response = sign_in(session, prod.base, headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"]
    allow_cookies_over_http(session)
    page = session.get(prod.base + "/", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = _get(prod.base, "/login", headers={"X-Forwarded-Proto": "http"})
    assert plain.status_code == 308 and plain.headers["Location"].startswith("https://")
    # the platform's health check is never redirected
    assert _get(prod.base, "/health", headers={"X-Forwarded-Proto": "http"}).status_code == 200


def test_production_limits_key_on_the_client_ip_from_the_router(prod):
    """TRUSTED_PROXY_HOPS defaults to 1 in production: the router's X-Forwarded-For entry is the
    client; rotating it makes other IPs, but the per-user limit holds from any IP."""
    for n in range(10):
        headers = {"X-Forwarded-For": f"203.0.113.{n}", "X-Forwarded-Proto": "https"}
        response = sign_in(requests.Session(), prod.base, "mallory", "x" * 12, headers=headers)
        assert response.status_code == 401
    rotated = {"X-Forwarded-For": "203.0.113.99", "X-Forwarded-Proto": "https"}
    assert sign_in(requests.Session(), prod.base, "mallory", headers=rotated).status_code == 429
    assert prod.wait_for_output("sign-in limited (10 per 15 minute) user=mallory ip=203.0.113.99")
    colleague = {"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"}
    assert sign_in(requests.Session(), prod.base, headers=colleague).status_code == 303


# -- AUTH_DISABLED -------------------------------------------------------------------------------


def test_auth_disabled_serves_everyone_and_says_so(tmp_path):
    server = start_test_server(
        clean_env(DATA_DIR=str(tmp_path), DEMO_SESSIONS="300", AUTH_DISABLED="true")
    )
    try:
        assert _get(server.base, "/").status_code == 200
        layout = _get(server.base, "/_dash-layout")
        assert layout.status_code == 200
        assert "Sign-in is turned off (AUTH_DISABLED)" in layout.text
        assert '"sign-out"' not in layout.text
        assert _get(server.base, "/login").status_code == 302
        assert "Content-Security-Policy" in layout.headers
    finally:
        server.stop()


# -- start-up refusals ---------------------------------------------------------------------------


def _import_wsgi(tmp_path, **settings) -> subprocess.CompletedProcess:
    env = clean_env(DATA_DIR=str(tmp_path / "data"), DEMO_SESSIONS="300", **settings)
    return subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"APP_ENV": "production", "DASHBOARD_USERS": "USERS"}, "SECRET_KEY is required"),
        ({"PORT": "5000", "DASHBOARD_USERS": "USERS"}, "SECRET_KEY is required"),
        ({"APP_ENV": "production", "SECRET_KEY": "short", "DASHBOARD_USERS": "USERS"}, "too short"),
        ({"APP_ENV": "production", "SECRET_KEY": SECRET}, "DASHBOARD_USERS is empty"),
        ({"DASHBOARD_USERS": "alice:hunter2hunter2"}, "not a password hash"),
        ({"PORT": "abc", "SECRET_KEY": SECRET, "DASHBOARD_USERS": "USERS"}, "PORT must be"),
    ],
)
def test_wsgi_refuses_to_start_with_one_clear_line(tmp_path, settings, expected):
    settings = {k: (user_entry() if v == "USERS" else v) for k, v in settings.items()}
    result = _import_wsgi(tmp_path, **settings)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dashboard not started: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr  # a plain password pasted by mistake is not echoed
    assert not (tmp_path / "data").exists()  # refused before doing any work


# -- the browser ---------------------------------------------------------------------------------


@pytest.mark.browser
def test_page_renders_under_the_csp_in_chromium(dev):
    """Headless Chromium: sign in, render the overview (plotly.js from /assets/) and the sessions
    table, sort it, switch theme; no CSP violations or other console errors."""
    if shutil.which("chromium") is None:
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=args)
        try:
            page = browser.new_page(viewport={"width": 2000, "height": 900})
            messages: list[str] = []
            page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
            page.goto(dev.base + "/")
            assert "/login" in page.url
            page.fill("#username", "alice")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#kpi-sessions", timeout=60_000)
            page.wait_for_selector("#fig-annotations .main-svg", timeout=60_000)
            page.get_by_role("tab", name="Sessions").click()
            page.wait_for_selector("#sessions-table tbody tr td a", timeout=30_000)
            page.locator("#sessions-table thead button", has_text="Cost").click()
            page.wait_for_selector("th[aria-sort='descending'] >> text=Cost", timeout=30_000)
            page.click("#theme-switch")
            page.wait_for_function(
                "document.documentElement.getAttribute('data-bs-theme') === 'dark'"
            )
            costs = [
                t
                for t in page.locator("#sessions-table tbody tr td:last-child").all_inner_texts()
                if t
            ]
            assert costs and all("." in t and len(t.split(".")[1]) == 4 for t in costs)
            assert page.evaluate("typeof window.Plotly") == "object"
            assert page.locator("#sign-out").count() == 1
        finally:
            browser.close()
    csp = [m for m in messages if "Content Security Policy" in m or "Refused to" in m]
    assert csp == []
    assert [m for m in messages if m.startswith("pageerror")] == []
