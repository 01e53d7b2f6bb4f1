"""The one place that reads configuration: environment variables, then `.env` (python-dotenv).

Real environment variables win over `.env` (``override=False``), so Heroku/Render config vars
always take precedence. Every setting is listed in `.env.example` and in
`docs/configuration.md` (tests/test_docs.py checks both).

Invalid values never produce a traceback: :func:`load_settings` raises :class:`SettingsError`
with one readable line per problem, and the entry points print it and exit.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://www.openchatstudio.com/api"
TRANSCRIPT_POLICIES = ("all", "recent", "none")
MAX_PROXY_HOPS = 5
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_HASH_SHAPE = re.compile(r"(scrypt|pbkdf2)(:[A-Za-z0-9:]+)?\$[^$\s,]+\$[0-9a-f]+")
"""werkzeug's password hash format, ``method[:params]$salt$hexdigest`` (scrypt or pbkdf2)."""


def looks_like_password_hash(value: str) -> bool:
    """Whether ``value`` is shaped like a werkzeug scrypt/pbkdf2 hash (not a plain password)."""
    return _HASH_SHAPE.fullmatch(value) is not None


class SettingsError(ValueError):
    """One or more settings are missing or invalid; ``str(err)`` is meant for the user."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Configuration problem:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class AlertSettings:
    """``ALERTS_*``: where alerts and the weekly report go (docs/alerts.md). Rules themselves
    live in ``rules_file`` (default ``DATA_DIR/alerts.toml``)."""

    webhook_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    email_from: str = ""
    email_to: tuple[str, ...] = ()
    log: bool = False
    """The log channel (one WARNING line per alert on stderr/stdout)."""
    quiet_hours: float = 24.0
    """An unchanged event is sent again only after this many hours."""
    report: tuple[str, ...] = ()
    """Channels that get the weekly report (``email``, ``webhook``); empty = no delivery."""
    rules_file: Path | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        """The configured channels; alerts are off while this is empty."""
        found = []
        if self.webhook_url:
            found.append("webhook")
        if self.smtp_host and self.email_to:
            found.append("email")
        if self.log:
            found.append("log")
        return tuple(found)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    port: int = 8050
    ocs_api_base_url: str = DEFAULT_BASE_URL
    ocs_api_keys: tuple[str, ...] = ()
    secret_key: str = ""
    production: bool = False
    auth_disabled: bool = False
    dashboard_users: dict[str, str] = field(default_factory=dict)
    show_participant_ids: bool = False
    sync_history_days: int = 0
    sync_transcripts: str = "all"
    sync_recent_days: int = 14
    sync_overlap_days: int = 30
    sync_concurrency: int = 4
    sync_recheck_days: int = 7
    """Every stored session is re-checked by incremental syncs at least this often (days)."""
    sync_recheck_requests: int = 200
    """Cap per team and sync on re-check requests (older list pages + open transcripts)."""
    sync_auto_start: bool = True
    demo_sessions: int = 20_000
    demo_anchor: date | None = None
    """Pin the demo world's last day (and the dashboard's "today" in demo mode); None = today."""
    monthly_budget_usd: float = 0.0
    log_level: str = "INFO"
    public_url: str = ""
    """The dashboard's own address (``https://dash.example.org``), for full links in the weekly
    report, exports and alerts; empty = links are the bare ``?query``."""
    alerts: AlertSettings = field(default_factory=AlertSettings)
    trusted_proxy_hops: int = 0
    """Proxies in front of the app whose ``X-Forwarded-For``/``-Proto`` are believed (Heroku's
    router or Render's proxy = 1; gunicorn reached directly = 0). Default 1 in production."""
    database_url: str = ""
    """PostgreSQL URL (Heroku/Render set it): the durable, shared store. Empty = Parquet files."""
    redis_url: str = ""
    """Redis/Key Value URL: sessions, sign-in limits, sync lock and status, Celery broker; empty =
    diskcache in DATA_DIR."""
    redis_tls_verify: bool = True
    """``rediss://`` only: check the server certificate (against REDIS_CA_CERT when set)."""
    redis_ca_cert: str = ""
    """PEM text or a file path of the CA that signed the Redis server certificate."""
    redis_key_prefix: str = "ocs:"
    """Prefix of every key and queue name this app uses in Redis (several apps can share one)."""
    sync_every_minutes: int = 0
    """Periodic sync by the worker (Celery beat) every N minutes; 0 = only Refresh / CLI."""

    @property
    def hosted_store(self) -> bool:
        """The store is PostgreSQL (``DATABASE_URL``), shared by every instance."""
        return bool(self.database_url)

    @property
    def shared_coordination(self) -> bool:
        """Sync lock/status live in Redis (``REDIS_URL``) and a Celery worker runs the sync."""
        return bool(self.redis_url)

    @property
    def demo_mode(self) -> bool:
        """No OCS key configured: the dashboard serves the generated demo world."""
        return not self.ocs_api_keys

    @property
    def ocs_web_base_url(self) -> str:
        """The OCS web host (for links to sessions), derived from the API base URL."""
        parts = urlsplit(self.ocs_api_base_url)
        path = parts.path.rstrip("/")
        if path.endswith("/api"):
            path = path[: -len("/api")]
        return f"{parts.scheme}://{parts.netloc}{path}"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def sync_dir(self) -> Path:
        """Per-team sync journals (resume) and re-check state, beside the store."""
        return self.data_dir / "sync"

    @property
    def cache_dir(self) -> Path:
        """Dash background-callback results (DiskcacheManager)."""
        return self.data_dir / "cache" / "callbacks"

    @property
    def auth_dir(self) -> Path:
        """Sign-in state shared by all workers on the machine (sessions, limits, used tokens)."""
        return self.data_dir / "cache" / "auth"

    @property
    def status_dir(self) -> Path:
        """Sync status and the cross-process sync lock."""
        return self.data_dir / "cache" / "status"


def _bool(name: str, raw: str | None, default: bool, problems: list[str]) -> bool:
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    problems.append(f"{name} must be true or false (got {raw!r})")
    return default


def _int(name: str, raw: str | None, default: int, problems: list[str], minimum: int = 0) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        problems.append(f"{name} must be a whole number (got {raw!r})")
        return default
    if value < minimum:
        problems.append(f"{name} must be at least {minimum} (got {value})")
        return default
    return value


def _float(name: str, raw: str | None, default: float, problems: list[str]) -> float:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        problems.append(f"{name} must be a number (got {raw!r})")
        return default
    if value < 0:
        problems.append(f"{name} must not be negative (got {value})")
        return default
    return value


def _date(name: str, raw: str | None, problems: list[str]) -> date | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        problems.append(f"{name} must be a date like 2026-09-30 (got {raw!r})")
        return None


def _service_url(name: str, raw: str | None, schemes: tuple[str, ...], problems: list[str]) -> str:
    """A ``scheme://host…`` URL of a backing service, or "" when unset; never echoes a password."""
    value = (raw or "").strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        problems.append(f"{name} is not a valid URL")
        return ""
    if parts.scheme not in schemes or not parts.hostname:
        problems.append(
            f"{name} must look like {schemes[0]}://user:password@host:port/… "
            f"(got a value starting with {parts.scheme + '://' if parts.scheme else 'no scheme'})"
        )
        return ""
    return value


def parse_keys(single: str | None, many: str | None) -> tuple[str, ...]:
    """Collect API keys from ``OCS_API_KEY`` and comma-separated ``OCS_API_KEYS``, deduplicated."""
    keys: list[str] = []
    for raw in [single or "", *(many or "").split(",")]:
        key = raw.strip()
        if key and key not in keys:
            keys.append(key)
    return tuple(keys)


def parse_users(raw: str | None, problems: list[str]) -> dict[str, str]:
    """``DASHBOARD_USERS``: ``name:hash`` pairs separated by commas or whitespace.

    Hashes come from ``python -m services.auth hash`` (werkzeug's scrypt/pbkdf2 format, which
    itself contains ``:`` and ``$`` but never a comma or whitespace).
    """
    users: dict[str, str] = {}
    if not raw:
        return users
    for item in raw.replace(",", " ").split():
        name, sep, hashed = item.partition(":")
        if not sep or not name or not hashed:
            problems.append(
                "DASHBOARD_USERS entries must look like name:hash (see README, Sign-in)"
            )
            continue
        if not looks_like_password_hash(hashed):
            # never echo the value: it may be a plain password typed in by mistake
            problems.append(
                f"DASHBOARD_USERS: the entry for {name!r} is not a password hash; make one with "
                "`python -m services.auth hash` (see README, Sign-in)"
            )
            continue
        if name in users:
            problems.append(f"DASHBOARD_USERS: {name!r} is listed twice")
        users[name] = hashed
    return users


_CHANNEL_NAMES = ("email", "webhook")


def _alert_settings(env: dict[str, str], data_dir: Path, problems: list[str]) -> AlertSettings:
    """``ALERTS_*`` settings; values that are secrets are never echoed in a problem."""
    webhook = (env.get("ALERTS_WEBHOOK_URL") or "").strip()
    if webhook:
        parts = urlsplit(webhook)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append("ALERTS_WEBHOOK_URL must be an http(s) URL")
            webhook = ""
    to = tuple(a.strip() for a in (env.get("ALERTS_EMAIL_TO") or "").split(",") if a.strip())
    for address in to:
        if "@" not in address:
            problems.append(f"ALERTS_EMAIL_TO: {address!r} is not an email address")
    sender = (env.get("ALERTS_EMAIL_FROM") or "").strip()
    host = (env.get("ALERTS_SMTP_HOST") or "").strip()
    if host and to and "@" not in sender:
        problems.append("ALERTS_EMAIL_FROM must be an email address when ALERTS_SMTP_HOST is set")
    report = tuple(
        c.strip().lower() for c in (env.get("ALERTS_REPORT") or "").split(",") if c.strip()
    )
    for channel in report:
        if channel not in _CHANNEL_NAMES:
            problems.append(f"ALERTS_REPORT must list email and/or webhook (got {channel!r})")
    quiet = _float("ALERTS_QUIET_HOURS", env.get("ALERTS_QUIET_HOURS"), 24.0, problems)
    rules_file = (env.get("ALERTS_FILE") or "").strip()
    return AlertSettings(
        webhook_url=webhook,
        smtp_host=host,
        smtp_port=_int("ALERTS_SMTP_PORT", env.get("ALERTS_SMTP_PORT"), 587, problems, minimum=1),
        smtp_user=(env.get("ALERTS_SMTP_USER") or "").strip(),
        smtp_password=env.get("ALERTS_SMTP_PASSWORD") or "",
        smtp_starttls=_bool(
            "ALERTS_SMTP_STARTTLS", env.get("ALERTS_SMTP_STARTTLS"), True, problems
        ),
        email_from=sender,
        email_to=to,
        log=_bool("ALERTS_LOG", env.get("ALERTS_LOG"), False, problems),
        quiet_hours=quiet,
        report=tuple(c for c in report if c in _CHANNEL_NAMES),
        rules_file=Path(rules_file) if rules_file else data_dir / "alerts.toml",
    )


def load_settings(env: dict[str, str] | None = None, dotenv: bool = True) -> Settings:
    """Read settings from ``env`` (default: ``os.environ`` after loading ``.env``)."""
    if env is None:
        if dotenv:
            from dotenv import load_dotenv

            load_dotenv(override=False)
        env = dict(os.environ)
    problems: list[str] = []

    base_url = (env.get("OCS_API_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(
            f"OCS_API_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL} (got {base_url!r})"
        )

    transcripts = (env.get("SYNC_TRANSCRIPTS") or "all").strip().lower()
    if transcripts not in TRANSCRIPT_POLICIES:
        problems.append(f"SYNC_TRANSCRIPTS must be one of {', '.join(TRANSCRIPT_POLICIES)}")
        transcripts = "all"

    environment = (env.get("APP_ENV") or "").strip().lower()
    if environment not in ("", "production", "development"):
        problems.append(f"APP_ENV must be production or development (got {environment!r})")
    production = environment == "production" or (environment == "" and bool(env.get("PORT")))

    public_url = (env.get("PUBLIC_URL") or "").strip().rstrip("/")
    public_parts = urlsplit(public_url)
    if public_url and (
        public_parts.scheme not in ("http", "https")
        or not public_parts.netloc
        or public_parts.query
        or public_parts.fragment
    ):
        problems.append(
            "PUBLIC_URL must be the dashboard's http(s) address without a query, such as "
            f"https://dashboard.example.org (got {public_url!r})"
        )
        public_url = ""

    log_level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR (got {log_level!r})")
        log_level = "INFO"

    hops = _int("TRUSTED_PROXY_HOPS", env.get("TRUSTED_PROXY_HOPS"), int(production), problems)
    if hops > MAX_PROXY_HOPS:
        problems.append(f"TRUSTED_PROXY_HOPS must be at most {MAX_PROXY_HOPS} (got {hops})")

    settings = Settings(
        data_dir=Path(env.get("DATA_DIR") or "data"),
        port=_int("PORT", env.get("PORT"), 8050, problems, minimum=1),
        ocs_api_base_url=base_url,
        ocs_api_keys=parse_keys(env.get("OCS_API_KEY"), env.get("OCS_API_KEYS")),
        secret_key=(env.get("SECRET_KEY") or "").strip(),
        production=production,
        auth_disabled=_bool("AUTH_DISABLED", env.get("AUTH_DISABLED"), False, problems),
        dashboard_users=parse_users(env.get("DASHBOARD_USERS"), problems),
        show_participant_ids=_bool(
            "SHOW_PARTICIPANT_IDS", env.get("SHOW_PARTICIPANT_IDS"), False, problems
        ),
        sync_history_days=_int("SYNC_HISTORY_DAYS", env.get("SYNC_HISTORY_DAYS"), 0, problems),
        sync_transcripts=transcripts,
        sync_recent_days=_int("SYNC_RECENT_DAYS", env.get("SYNC_RECENT_DAYS"), 14, problems),
        sync_overlap_days=_int("SYNC_OVERLAP_DAYS", env.get("SYNC_OVERLAP_DAYS"), 30, problems),
        sync_concurrency=_int(
            "SYNC_CONCURRENCY", env.get("SYNC_CONCURRENCY"), 4, problems, minimum=1
        ),
        sync_recheck_days=_int(
            "SYNC_RECHECK_DAYS", env.get("SYNC_RECHECK_DAYS"), 7, problems, minimum=1
        ),
        sync_recheck_requests=_int(
            "SYNC_RECHECK_REQUESTS", env.get("SYNC_RECHECK_REQUESTS"), 200, problems
        ),
        sync_auto_start=_bool("SYNC_AUTO_START", env.get("SYNC_AUTO_START"), True, problems),
        demo_sessions=_int("DEMO_SESSIONS", env.get("DEMO_SESSIONS"), 20_000, problems, minimum=1),
        demo_anchor=_date("DEMO_ANCHOR", env.get("DEMO_ANCHOR"), problems),
        monthly_budget_usd=_float(
            "MONTHLY_BUDGET_USD", env.get("MONTHLY_BUDGET_USD"), 0.0, problems
        ),
        log_level=log_level,
        public_url=public_url,
        trusted_proxy_hops=hops,
        database_url=_service_url(
            "DATABASE_URL", env.get("DATABASE_URL"), ("postgres", "postgresql"), problems
        ),
        redis_url=_service_url("REDIS_URL", env.get("REDIS_URL"), ("redis", "rediss"), problems),
        redis_tls_verify=_bool("REDIS_TLS_VERIFY", env.get("REDIS_TLS_VERIFY"), True, problems),
        redis_ca_cert=(env.get("REDIS_CA_CERT") or "").strip(),
        redis_key_prefix=(env.get("REDIS_KEY_PREFIX") or "ocs:").strip(),
        sync_every_minutes=_int("SYNC_EVERY_MINUTES", env.get("SYNC_EVERY_MINUTES"), 0, problems),
    )
    settings = replace(
        settings,
        alerts=_alert_settings(env, settings.data_dir, problems),
    )
    if settings.sync_every_minutes and not settings.redis_url:
        problems.append(
            "SYNC_EVERY_MINUTES needs REDIS_URL: the periodic sync runs on the Celery worker "
            "(without Redis, schedule `python -m services.sync` with cron / Heroku Scheduler)"
        )
    if settings.sync_concurrency > 16:
        problems.append("SYNC_CONCURRENCY must be at most 16 (the team shares one rate budget)")
    if problems:
        raise SettingsError(problems)
    return settings
