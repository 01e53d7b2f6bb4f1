"""The WSGI entry point for gunicorn (``Procfile``: ``web: gunicorn wsgi:server``).

Builds the hosted dashboard: sign-in, security headers, ``/health`` (see :mod:`services.web.security`).
A configuration problem stops the process with one readable line on stderr and exit code 3.
Under ``gunicorn wsgi:server`` the master finds it first (``on_starting`` in gunicorn.conf.py),
before any worker starts, so the line is printed once and gunicorn exits with 3; the checks
here cover other servers and a ``gunicorn -c`` without that file.
"""

from __future__ import annotations

import sys

from services import memory
from services.auth.users import hosted_problems
from services.settings import SettingsError, load_settings

EXIT_CONFIG = 3


def _fail(problems: list[str]) -> None:
    print("dashboard not started: " + "; ".join(problems), file=sys.stderr, flush=True)
    raise SystemExit(EXIT_CONFIG)


try:
    _settings = load_settings()
except SettingsError as exc:
    _fail(exc.problems)
if _problems := hosted_problems(_settings):
    _fail(_problems)

import app as dashboard  # noqa: E402  (after the checks: importing Dash and pandas is slow)

dashboard.configure_logging(_settings.log_level)
try:
    application = dashboard.build_app(_settings, hosted=True)
except SettingsError as exc:
    _fail(exc.problems)

server = application.server
"""The Flask server gunicorn serves."""

memory.freeze_long_lived()  # the built app lives as long as the worker (services/memory.py)
