"""The hosted web layer on the Flask server under Dash: sign-in, security headers, errors, /health.

:func:`install` is called by ``app.build_app(settings, hosted=True)`` (``wsgi.py``). It needs
only Flask and the settings, not Dash: the page's inline-script hashes (``app.csp_hashes()``)
are passed in.

What it adds:

* ``/login`` (a plain HTML form styled by the vendored Bootstrap CSS in ``assets/``) and
  ``/logout``. Each form carries a signed, single-use token bound to a nonce in the visitor's
  session, so a cross-site form cannot sign anyone in or out and a form cannot be replayed.
* A guard in front of **every** route except :data:`PUBLIC_PATHS` (``/login``, ``/logout``,
  ``/health``, ``/favicon.ico``) and static ``/assets/``: the page, ``/_dash-layout``,
  ``/_dash-dependencies``, ``/_dash-update-component`` (all callbacks, so also Refresh/sync
  and CSV downloads), ``/_dash-component-suites/``, ``/api`` and any unknown path. Browser page
  loads are redirected to ``/login?next=…``; XHR, JSON and non-GET requests get ``401`` JSON.
* Sign-in limits (Flask-Limiter, fixed windows, state shared by all workers, see
  :mod:`services.auth.shared`): per user name from any IP, per client IP for any user name
  and in total, counted atomically *before* the password is checked; password checks run
  in a bounded number of slots (:class:`services.auth.users.BoundedChecker`). The client IP
  comes from ``X-Forwarded-For`` only across ``TRUSTED_PROXY_HOPS`` proxies.
* Server-side sessions (Flask-Session; diskcache under ``DATA_DIR/cache/auth``, or Redis
  with ``REDIS_URL``): the cookie holds only a random id (``HttpOnly``, ``SameSite=Lax``,
  ``Secure`` in production). Sign-out deletes the stored session, so a copied cookie stops
  working at once; a session also ends when the user's ``DASHBOARD_USERS`` entry changes or
  disappears, and :data:`SESSION_HOURS` hours after sign-in.
* Callback bodies are checked before Dash runs them (:mod:`services.web.edge`): a body of the
  wrong shape, and a callback failing on its input, answer 400 JSON, never 500.
* Security headers on every response (Content-Security-Policy and friends, see
  :func:`content_security_policy`), HSTS on HTTPS in production.
* An error handler that answers with a generic message and logs one line, never a traceback
  to the client.
* ``GET /health`` (no sign-in): ``{"status": "ok", "generation", "data_age_seconds",
  "sync_state", "worker_pid", …}``, always 200 while the process serves requests.

``AUTH_DISABLED=true`` turns the guard off explicitly; the page then shows a warning badge.
"""

from __future__ import annotations

import hmac
import html
import logging
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

from flask import Flask, g, has_request_context, jsonify, redirect, request, session
from flask_limiter import Limiter, RateLimitExceeded
from flask_session import Session
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from services import runtime
from services.auth.shared import DiskSessionCache, OnceTokens, limits_storage_uri, redis_client
from services.auth.users import BoundedChecker, hosted_problems, password_fingerprint
from services.redis_client import redis_py_options
from services.settings import Settings, SettingsError
from services.store.locking import file_lock
from services.web.edge import (
    CALLBACK_INPUT_ERRORS,
    CallbackRequestError,
    check_callback_body,
    protect_logging,
)

__all__ = ["hosted_problems", "install"]

log = logging.getLogger("dashboard.web")

SESSION_HOURS = 12
FORM_TOKEN_MAX_AGE = 2 * 3600
"""Seconds a sign-in form stays valid after it was served."""
AUTH_OFF_NOTE = "Sign-in is turned off (AUTH_DISABLED)"
PUBLIC_PATHS = frozenset({"/login", "/logout", "/health", "/favicon.ico"})
"""Paths anyone may request (plus :data:`PUBLIC_PREFIXES`); everything else needs sign-in."""
PUBLIC_PREFIXES = ("/assets/",)
JSON_PREFIXES = ("/_dash-", "/api/")
CALLBACK_PATH = "/_dash-update-component"
BOOTSTRAP_CSS = "/assets/00-bootstrap-5.3.8.min.css"
NOT_FOUND_ERRORS = frozenset({"DependencyException"})
"""Exceptions Dash raises for a bad ``/_dash-component-suites/`` path; answered with 404."""


@dataclass
class SignInLimits:
    """Sign-in attempts allowed per fixed window (``limits`` strings, e.g. ``10 per 15 minutes``).

    Every ``POST /login`` counts, whatever its outcome, and is counted before the password is
    checked, so parallel attempts cannot overrun a limit.
    """

    per_user: str = "10 per 15 minutes"
    """One user name, from any IP (names compared case-insensitively); a successful sign-in
    starts this count again."""
    per_ip: str = "30 per 15 minutes"
    """One client IP, for any user names."""
    total: str = "300 per 15 minutes"
    """All sign-in attempts together."""
    form_per_ip: str = "120 per minute"
    """``GET /login`` (the form) per client IP: each form stores a small session."""


def content_security_policy(script_hashes: Sequence[str] = ()) -> str:
    """The Content-Security-Policy for every response.

    * ``script-src``: our own files plus the hashes of Dash's inline scripts (the renderer
      start-up line and clientside callbacks, from ``app.csp_hashes()``). No ``'unsafe-inline'``
      and no ``'unsafe-eval'``: checked in headless Chromium (tests/test_web.py) with Dash
      4.4.1 and the plotly.js 4.1.1 cartesian bundle, which is served from ``/assets/``
      (``'self'``).
    * ``style-src 'unsafe-inline'``: React and Plotly set inline styles.
    * ``img-src data: blob:``: Plotly's mode bar icons and "download plot as png".
    """
    script_src = " ".join(["'self'", *script_hashes])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {script_src}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
    )


def security_headers(script_hashes: Sequence[str] = ()) -> dict[str, str]:
    """Headers set on every response (HSTS is added separately, on HTTPS in production)."""
    return {
        "Content-Security-Policy": content_security_policy(script_hashes),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def safe_next(target: str | None) -> str:
    """``target`` when it is a local path (``/…`` but not ``//host``), else ``/``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(c in target for c in "\r\n"):
        return "/"
    return target


def _persisted_secret(settings: Settings) -> str:
    """A random secret kept in ``DATA_DIR/cache/secret_key`` (outside production only).

    All gunicorn workers on the machine read the same file, so sessions and Dash's signed
    background-callback handles work across workers without a configured ``SECRET_KEY``.
    """
    path = settings.data_dir / "cache" / "secret_key"
    with file_lock(path.with_suffix(".lock")):
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        return path.read_text().strip()


def _page(title: str, body: str, status: int = 200, headers: dict | None = None):
    """A small Bootstrap-styled HTML page (no scripts)."""
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · OCS Session Analytics</title>
<link rel="stylesheet" href="{BOOTSTRAP_CSS}"></head>
<body class="bg-body-tertiary"><main class="container" style="max-width: 26rem">
<div class="card shadow-sm mt-5"><div class="card-body p-4">
<h1 class="h4 mb-3">OCS Session Analytics</h1>
{body}
</div></div></main></body></html>"""
    return document, status, {"Content-Type": "text/html; charset=utf-8", **(headers or {})}


# -- Dash callback requests (hosted and local app) ------------------------------------------------


def _callback_output() -> str:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nesting too deep for the JSON parser
        body = None
    output = body.get("output") if isinstance(body, dict) else None
    return output[:200] if isinstance(output, str) else "?"


def _bad_callback(message: str):
    response = jsonify(error="bad callback request", message=message)
    response.status_code = 400
    return response


def refuse_bad_callback(callbacks: Mapping[str, Mapping] | None):
    """For ``POST /_dash-update-component``: 400 JSON when the body does not fit ``callbacks``
    (Dash's ``app.callback_map``, see :func:`services.web.edge.check_callback_body`), else None."""
    if callbacks is None or request.path != CALLBACK_PATH or request.method != "POST":
        return None
    try:
        check_callback_body(request.get_data(cache=True), callbacks)
    except CallbackRequestError as exc:
        log.warning("callback request refused %s: %s", _callback_output(), exc)
        return _bad_callback(str(exc))
    return None


def callback_input_error(exc: Exception):
    """400 JSON when a callback failed on a value it could not use, else None.

    The body already passed :func:`refuse_bad_callback`; a callback that still raises one of
    :data:`~services.web.edge.CALLBACK_INPUT_ERRORS` was sent values the page never sends.
    """
    if request.path != CALLBACK_PATH or not isinstance(exc, CALLBACK_INPUT_ERRORS):
        return None
    log.warning(
        "callback refused its input %s: %s: %s",
        _callback_output(),
        type(exc).__name__,
        str(exc)[:300],
    )
    return _bad_callback("this callback cannot use the values sent")


def install_callback_checks(server: Flask, callbacks: Mapping[str, Mapping]) -> None:
    """The callback checks alone, for the local app (``python app.py``, no sign-in).

    The hosted app gets them from :func:`install`.
    """

    @server.before_request
    def _check_callback():
        return refuse_bad_callback(callbacks)

    @server.errorhandler(Exception)
    def _callback_error(exc: Exception):
        if isinstance(exc, HTTPException):
            return exc
        refused = callback_input_error(exc)
        if refused is None:
            raise exc  # anything else: Flask's own 500
        return refused


class _Web:
    """Request handlers bound to one Flask server and one settings object."""

    def __init__(
        self,
        server: Flask,
        settings: Settings,
        limits: SignInLimits,
        callbacks: Mapping[str, Mapping] | None,
    ):
        self.server = server
        self.settings = settings
        self.limits = limits
        self.callbacks = callbacks
        self.users = settings.dashboard_users
        self.auth_on = not settings.auth_disabled
        self.serializer = URLSafeTimedSerializer(server.secret_key, salt="ocs-dashboard-form")
        self.checker = BoundedChecker()
        self.tokens = OnceTokens(settings.auth_dir / "tokens", settings)
        self.limiter: Limiter | None = None

    # -- session -----------------------------------------------------------------------------

    def current_user(self) -> str | None:
        """The signed-in user of this request, or None (expired, removed or changed password)."""
        if "user" in g:
            return g.user
        user = session.get("user")
        stored = self.users.get(user) if isinstance(user, str) else None
        valid = (
            stored is not None
            and isinstance(session.get("fp"), str)
            and hmac.compare_digest(
                session["fp"], password_fingerprint(stored, self.server.secret_key)
            )
            and isinstance(session.get("t"), int | float)
            and 0 <= time.time() - session["t"] < SESSION_HOURS * 3600
        )
        if user is not None and not valid:
            # revoked (entry changed or removed) or expired: delete the stored session
            log.info("session ended user=%s", user if isinstance(user, str) else "?")
            session.clear()
        g.user = user if valid else None
        return g.user

    def form_token(self) -> str:
        """A signed token for one form: the session's nonce plus a fresh single-use id."""
        nonce = session.get("csrf")
        if not isinstance(nonce, str):
            nonce = session["csrf"] = secrets.token_urlsafe(16)
        return self.serializer.dumps([nonce, secrets.token_urlsafe(16)])

    def form_token_ok(self) -> bool:
        """The posted token is ours, fresh, for this session, and was not posted before."""
        nonce = session.get("csrf")
        raw = request.form.get("token", "")
        try:
            value = self.serializer.loads(raw, max_age=FORM_TOKEN_MAX_AGE)
        except BadSignature:
            return False
        if (
            not isinstance(nonce, str)
            or not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, str) for v in value)
            or not hmac.compare_digest(value[0], nonce)
        ):
            return False
        return self.tokens.use(value[1], FORM_TOKEN_MAX_AGE)

    # -- guard -------------------------------------------------------------------------------

    def guard(self):
        """before_request: refuse every non-public route to visitors who are not signed in."""
        path = request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return None
        if self.current_user() is not None:
            return None
        if self.wants_page():
            target = request.full_path if request.query_string else path
            return redirect(f"/login?next={quote(target, safe='/')}", 302)
        response = jsonify(error="sign-in required", login="/login")
        response.status_code = 401
        return response

    @staticmethod
    def wants_page() -> bool:
        """A browser navigation (redirect to the form) rather than a script's request (401)."""
        path = request.path
        if (
            request.method not in ("GET", "HEAD")
            or path == "/api"
            or path.startswith(JSON_PREFIXES)
        ):
            return False
        if request.headers.get("X-Requested-With") or request.is_json:
            return False
        best = request.accept_mimetypes.best_match(["text/html", "application/json"])
        return best != "application/json"

    # -- pages -------------------------------------------------------------------------------

    def login_form(self, message: str = "", status: int = 200, headers: dict | None = None):
        next_path = safe_next(request.values.get("next"))
        alert = (
            f'<div class="alert alert-danger py-2" role="alert">{html.escape(message)}</div>'
            if message
            else ""
        )
        if request.args.get("signed_out") and not message:
            alert = '<div class="alert alert-success py-2" role="status">Signed out.</div>'
        body = f"""{alert}
<form method="post" action="/login" autocomplete="on">
<input type="hidden" name="token" value="{html.escape(self.form_token())}">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<div class="mb-3"><label class="form-label" for="username">User name</label>
<input class="form-control" id="username" name="username" autocomplete="username" required
 autofocus maxlength="64"></div>
<div class="mb-3"><label class="form-label" for="password">Password</label>
<input class="form-control" id="password" name="password" type="password"
 autocomplete="current-password" required maxlength="1024"></div>
<button class="btn btn-primary w-100" type="submit">Sign in</button>
</form>"""
        return _page("Sign in", body, status, headers)

    # -- sign-in limits --------------------------------------------------------------------------

    @staticmethod
    def attempted_user() -> str:
        name = request.form.get("username") if request.method == "POST" else None
        return "user:" + ((name or "").strip().lower()[:64] or "-")

    @staticmethod
    def client_ip() -> str:
        return "ip:" + (request.remote_addr or "?")[:64]

    def forget_user_attempts(self) -> None:
        """After a successful sign-in the user's own count starts again (per IP and total do not)."""
        if self.limiter is None:
            return
        for current in self.limiter.current_limits:
            if any(str(arg).startswith("user:") for arg in current.request_args):
                self.limiter.limiter.clear(current.limit, *current.request_args)

    def too_many(self, exc: RateLimitExceeded):
        """429 from a sign-in limit: the form again, with the wait and ``Retry-After``."""
        limit = self.limiter.current_limit if self.limiter is not None else None
        seconds = max(int((limit.reset_at if limit else time.time() + 60) - time.time()), 1)
        log.warning(
            "sign-in limited (%s) user=%s ip=%s retry_after=%ss",
            exc.description,
            self.attempted_user().removeprefix("user:"),
            request.remote_addr,
            seconds,
        )
        if request.path == "/login" and request.method == "GET":
            # no form (and so no new stored session) for a flood of form requests
            body = f"<p>Too many requests. Try again in {seconds} seconds.</p>"
            return _page("Sign in", body, 429, {"Retry-After": str(seconds)})
        if request.path != "/login":
            response = jsonify(error="too many requests", retry_after=seconds)
            response.status_code = 429
            response.headers["Retry-After"] = str(seconds)
            return response
        return self.login_form(
            f"Too many sign-in attempts. Try again in {seconds} seconds.",
            429,
            {"Retry-After": str(seconds)},
        )

    def login(self):
        if not self.auth_on:
            return redirect("/")
        if request.method == "GET":
            if self.current_user() is not None:
                return redirect(safe_next(request.args.get("next")))
            return self.login_form()
        if not self.form_token_ok():
            return self.login_form(
                "The sign-in form expired or was already used. Please try again.", 400
            )
        name = (request.form.get("username") or "").strip()[:64]
        password = (request.form.get("password") or "")[:1024]
        ip = request.remote_addr or "?"
        who = name if name in self.users else "(unknown user)"
        ok = self.checker.verify(self.users, name, password)
        if ok is None:
            log.warning("sign-in busy user=%s ip=%s", who, ip)
            return self.login_form(
                "Sign-in is busy. Please try again in a moment.", 503, {"Retry-After": "2"}
            )
        if not ok:
            log.warning("sign-in failed user=%s ip=%s", who, ip)
            return self.login_form("Unknown user name or wrong password.", 401)
        self.server.session_interface.regenerate(session)  # a fresh id: no session fixation
        session.clear()
        session.permanent = True
        session.update(
            user=name,
            fp=password_fingerprint(self.users[name], self.server.secret_key),
            t=int(time.time()),
            csrf=secrets.token_urlsafe(16),
        )
        g.user = name
        self.forget_user_attempts()
        log.info("sign-in ok user=%s ip=%s", name, ip)
        return redirect(safe_next(request.form.get("next")), 303)

    def logout(self):
        user = self.current_user()
        same_site = request.headers.get("Sec-Fetch-Site") in ("same-origin", "none")
        if request.method == "POST" and not self.form_token_ok():
            return self.login_form(
                "The sign-out form expired or was already used. Please try again.", 400
            )
        if request.method == "GET" and user is not None and not same_site:
            # a link from another site: ask instead of signing out silently
            body = f"""<p>Sign out of the dashboard?</p>
<form method="post" action="/logout">
<input type="hidden" name="token" value="{html.escape(self.form_token())}">
<button class="btn btn-primary w-100" type="submit">Sign out</button></form>"""
            return _page("Sign out", body)
        session.clear()
        if user is not None:
            log.info("sign-out user=%s", user)
        return redirect("/login?signed_out=1" if self.auth_on else "/", 303)

    # -- health ------------------------------------------------------------------------------

    def health(self):
        """Liveness and data freshness for load balancers and people; no secrets, no sign-in."""
        body: dict = {"status": "ok", "worker_pid": os.getpid()}
        settings = self.settings
        try:
            dataset = runtime.dataset()
            meta = dataset.meta if dataset is not None else {}
            synced_at = meta.get("synced_at")
            body.update(
                generation=dataset.generation if dataset is not None else None,
                data_source=meta.get("source"),
                data_age_seconds=round(time.time() - synced_at, 1) if synced_at else None,
            )
            body["stored_generation"] = runtime.store().current_generation()
            if dataset is None:
                body["message"] = "no data yet: the first sync has not finished"
        except Exception as exc:  # health must answer even when the store is broken
            log.warning("health: store unreadable: %s", exc)
            body.setdefault("generation", None)
            body.update(stored_generation=None, message="stored data unreadable")
        if settings.database_url or settings.redis_url:
            parts = runtime.service_health(settings)
            body.update(parts)
            if any(value.startswith("down") for value in parts.values()):
                body["status"] = "degraded"
        if settings.demo_mode:
            body["sync_state"] = "demo"
        else:
            try:
                from services.sync.status import read_status

                status = read_status(settings)
                body["sync_state"] = status["state"]
                body["sync_running"] = bool(status["running"])
                if status["running"]:
                    body["sync_progress"] = status.get("message") or ""
            except Exception as exc:
                log.warning("health: sync status unreadable: %s", exc)
                body["sync_state"] = "unknown"
        response = jsonify(body)
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- callbacks ---------------------------------------------------------------------------

    def check_callback(self):
        """before_request for ``POST /_dash-update-component``: None (run it) or 400 JSON."""
        return refuse_bad_callback(self.callbacks)

    # -- errors and headers ------------------------------------------------------------------

    def not_found(self):
        if self.wants_page():
            return _page("Not found", "<p>This page does not exist.</p>", 404)
        response = jsonify(error="not found")
        response.status_code = 404
        return response

    def error(self, exc: Exception):
        """Any unhandled exception: one log line, a generic answer, no traceback to the client."""
        if isinstance(exc, HTTPException):
            return exc
        if type(exc).__name__ in NOT_FOUND_ERRORS:
            log.warning("not found %s: %s", request.path, type(exc).__name__)
            return self.not_found()
        refused = callback_input_error(exc)
        if refused is not None:
            return refused
        frame = exc.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        where = (
            f"{Path(frame.tb_frame.f_code.co_filename).name}:{frame.tb_lineno}" if frame else "?"
        )
        log.error(
            "unhandled error %s %s: %s: %s (at %s)",
            request.method,
            request.path,
            type(exc).__name__,
            str(exc)[:300],
            where,
        )
        log.debug("traceback", exc_info=exc)
        if self.wants_page():
            return _page("Error", "<p>Something went wrong. Please try again later.</p>", 500)
        response = jsonify(error="internal error")
        response.status_code = 500
        return response


def install_sessions(server: Flask, settings: Settings) -> None:
    """Server-side sessions (Flask-Session): Redis with ``REDIS_URL``, else diskcache files.

    The cookie carries only a random 256-bit id; the data lives in the shared store, so
    deleting it (sign-out, revocation) ends the session for every copy of the cookie.
    """
    if settings.redis_url:
        server.config.update(
            SESSION_TYPE="redis",
            SESSION_REDIS=redis_client(settings),
            SESSION_KEY_PREFIX="ocs:session:",
        )
    else:
        server.config.update(
            SESSION_TYPE="cachelib",
            SESSION_CACHELIB=DiskSessionCache(settings.auth_dir / "sessions"),
            SESSION_KEY_PREFIX="session:",
        )
    server.config.update(SESSION_PERMANENT=True, SESSION_USE_SIGNER=False)
    Session(server)


def install(
    server: Flask,
    settings: Settings,
    script_hashes: Sequence[str] = (),
    *,
    callbacks: Mapping[str, Mapping] | None = None,
    limits: SignInLimits | None = None,
) -> None:
    """Add sign-in, limits, sessions, security headers, errors and ``/health`` to ``server``.

    ``callbacks`` is Dash's ``app.callback_map`` (filled at the first request; the mapping is
    read per request): callback bodies are checked against it. Raises
    :class:`~services.settings.SettingsError` when the settings are unfit for hosting (see
    :func:`hosted_problems`).
    """
    problems = hosted_problems(settings)
    if problems:
        raise SettingsError(problems)
    server.secret_key = settings.secret_key or _persisted_secret(settings)
    server.config.update(
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
        SESSION_COOKIE_NAME="ocs_dashboard_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        SESSION_REFRESH_EACH_REQUEST=False,  # the lifetime counts from sign-in
        MAX_CONTENT_LENGTH=16 * 2**20,
    )
    server.debug = False
    protect_logging()
    if settings.trusted_proxy_hops:
        # Heroku's router and Render's proxy each add one X-Forwarded-For/-Proto hop; with
        # TRUSTED_PROXY_HOPS=0 (gunicorn reached directly) client-sent headers are ignored
        hops = settings.trusted_proxy_hops
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops)
    install_sessions(server, settings)
    web = _Web(server, settings, limits or SignInLimits(), callbacks)
    server.extensions["ocs_security"] = web
    headers = security_headers(script_hashes)

    limiter = web.limiter = Limiter(
        key_func=web.client_ip,
        app=server,
        storage_uri=limits_storage_uri(settings.redis_url, settings.auth_dir / "limits"),
        storage_options=redis_py_options(settings) if settings.redis_url else {},
        strategy="fixed-window",
        key_prefix="ocs-signin",
        headers_enabled=False,
    )
    login = web.login
    for limit in (
        limiter.limit(lambda: web.limits.per_user, key_func=web.attempted_user, methods=["POST"]),
        limiter.limit(lambda: web.limits.per_ip, key_func=web.client_ip, methods=["POST"]),
        limiter.limit(lambda: web.limits.total, key_func=lambda: "all", methods=["POST"]),
        limiter.limit(lambda: web.limits.form_per_ip, key_func=web.client_ip, methods=["GET"]),
    ):
        login = limit(login)
    server.add_url_rule("/health", "ocs_health", web.health, methods=["GET"])
    server.add_url_rule("/login", "ocs_login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "ocs_logout", web.logout, methods=["GET", "POST"])
    server.register_error_handler(RateLimitExceeded, web.too_many)
    server.register_error_handler(Exception, web.error)

    @server.before_request
    def _https_and_guard():
        if (
            settings.production
            and request.headers.get("X-Forwarded-Proto") == "http"
            and request.path != "/health"
        ):
            return redirect(request.url.replace("http://", "https://", 1), 308)
        refused = web.guard() if web.auth_on else None
        return refused if refused is not None else web.check_callback()

    @server.after_request
    def _headers(response):
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if settings.production and request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not request.path.startswith(("/assets/", "/_dash-component-suites/")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    if web.auth_on:
        runtime.set_auth(
            note=None, user=lambda: web.current_user() if has_request_context() else None
        )
        log.info("sign-in on: %s user(s) configured", len(settings.dashboard_users))
    else:
        runtime.set_auth(note=AUTH_OFF_NOTE)
        log.warning("sign-in is turned off (AUTH_DISABLED=true): anyone can open the dashboard")
