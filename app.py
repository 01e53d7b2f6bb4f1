"""The OCS session dashboard.

``python app.py`` serves it at http://127.0.0.1:8050 (``PORT`` to change) for local use: no
sign-in, and demo data when no OCS key is configured. ``wsgi.py`` builds the hosted variant
(sign-in, security headers) for gunicorn.
"""

from __future__ import annotations

import logging
import secrets
import sys
from pathlib import Path

import dash_bootstrap_components as dbc  # noqa: F401  (registers component scripts)
import diskcache
from dash import Dash, DiskcacheManager
from flask import Flask
from flask_compress import Compress

import callbacks  # noqa: F401  (registers every callback)
from layouts.page import dropdown_options, page
from services import runtime
from services.settings import Settings, SettingsError, load_settings
from services.web import timing
from services.web.api import create_blueprint as api_blueprint

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("dashboard")

COMPRESS_CONFIG = {
    # Static files (``/assets/``) are streamed responses, and flask-compress compresses streams
    # only with zstd/br/deflate by default: a gzip-only client (curl, proxies, older clients)
    # got the 227 KB Bootstrap CSS uncompressed. gzip for streams too.
    "COMPRESS_ALGORITHM_STREAMING": ["zstd", "br", "gzip", "deflate"],
    # ...and answer a revalidation of a compressed asset (ETag "…:gzip") with 304.
    "COMPRESS_STREAMING_ENDPOINT_CONDITIONAL": ["static", "_dash_assets.static"],
}


def enable_compression(server: Flask) -> None:
    """gzip/br/zstd for every text response: callbacks, Dash's component JS, ``/assets/``."""
    server.config.update(COMPRESS_CONFIG)
    Compress(server)


def configure_logging(level: str = "INFO") -> None:
    """One line per event on stdout; never secrets (keys are not logged anywhere)."""
    logging.basicConfig(
        stream=sys.stdout,
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        force=True,
    )


def serve_layout():
    """Built per page load, so a reload shows the newest data and options."""
    current = runtime.settings()
    cache = runtime.datasets()
    dataset = cache.get()
    return page(
        dropdown_options(dataset),
        current.demo_mode,
        runtime.auth_note(),
        cache.notice,
        user=runtime.signed_in_user(),
    )


def background_manager(settings: Settings):
    """Where Dash background callbacks run: a Celery worker with REDIS_URL, else local processes."""
    if settings.redis_url:
        from dash import CeleryManager

        from services.worker.app import celery_app

        return CeleryManager(celery_app(settings))
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    return DiskcacheManager(diskcache.Cache(str(settings.cache_dir)))


def build_app(settings: Settings, *, hosted: bool = False) -> Dash:
    """Create the Dash app on ``settings``; ``hosted`` adds sign-in and security headers."""
    runtime.configure(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    runtime.prepare_data(settings)
    manager = background_manager(settings)
    app = Dash(
        __name__,
        title="OCS Session Analytics",
        update_title=None,
        assets_folder=str(ROOT / "assets"),
        background_callback_manager=manager,
        serve_locally=True,
        compress=False,  # enable_compression below: Dash's own set-up leaves assets uncompressed
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    enable_compression(app.server)
    app.server.secret_key = settings.secret_key or secrets.token_hex(32)
    app.layout = serve_layout
    app.server.register_blueprint(api_blueprint())  # read-only JSON API, /api/v1/
    timing.install(app.server)
    if hosted:
        from services.web import security as web

        web.install(app.server, settings, script_hashes=app.csp_hashes())
    return app


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    app = build_app(settings, hosted=False)
    mode = "demo data" if settings.demo_mode else f"{len(settings.ocs_api_keys)} OCS team key(s)"
    log.info("serving on http://127.0.0.1:%s (%s, no sign-in)", settings.port, mode)
    app.run(host="127.0.0.1", port=settings.port, debug=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
