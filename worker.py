"""The Celery worker entry point (``Procfile``: ``worker: celery -A worker worker --beat``).

Reads the settings once (one readable line and exit code 3 on a problem, like ``wsgi.py``),
builds the Celery app (:mod:`services.worker.app`) and registers the dashboard's Dash
background callbacks as Celery tasks (``CeleryManager``), so the web instances' background
callbacks run here. Web and worker must run the same code (same deploy).
"""

from __future__ import annotations

import logging
import sys

from services.settings import SettingsError, load_settings

try:
    _settings = load_settings()
except SettingsError as exc:
    print("worker not started: " + "; ".join(exc.problems), file=sys.stderr, flush=True)
    raise SystemExit(3) from None
if not _settings.redis_url:
    print("worker not started: REDIS_URL is not set (the worker needs Redis)", file=sys.stderr)
    raise SystemExit(3)

from dash import CeleryManager

import callbacks  # noqa: F401  (registers the background callbacks)
from services import runtime
from services.worker.app import celery_app

logging.basicConfig(
    stream=sys.stdout, level=_settings.log_level, format="%(levelname)s %(name)s %(message)s"
)
runtime.configure(_settings)
runtime.check_services(_settings)  # migrates the tables; one log line per service that is down
celery = celery_app(_settings)
manager = CeleryManager(celery)
"""Registers every Dash background callback on ``celery``."""
