"""The OCS session dashboard.

``python app.py`` serves it at http://127.0.0.1:8050 (``PORT`` to change) for local use: no
sign-in, and demo data when no OCS key is configured. ``wsgi.py`` builds the hosted variant
(sign-in, security headers) for gunicorn.
"""

from __future__ import annotations

import argparse
import logging
import re
import secrets
import socket
import sys
from dataclasses import replace
from pathlib import Path

import dash_bootstrap_components as dbc  # noqa: F401  (registers component scripts)
import diskcache
from dash import Dash, DiskcacheManager
from flask import Flask, send_from_directory
from flask_compress import Compress
from werkzeug.serving import make_server

import callbacks  # noqa: F401  (registers every callback)
from layouts.page import dropdown_options, page
from services import memory, runtime
from services.settings import Settings, SettingsError, load_settings
from services.web import heap, not_found, response_cache, timing
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


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class PlainFormatter(logging.Formatter):
    """Drops terminal colour codes (werkzeug adds them) when stdout is not a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return ANSI_ESCAPE.sub("", super().format(record))


def configure_logging(level: str = "INFO") -> None:
    """One line per event on stdout; never secrets (keys are not logged anywhere).

    The development server's per-request lines (logger ``werkzeug``) show only at ``DEBUG``;
    colour codes are kept only when stdout is a terminal.
    """
    handler = logging.StreamHandler(sys.stdout)
    fmt = "%(asctime)s %(levelname)s %(name)s %(message)s"
    tty = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
    handler.setFormatter(logging.Formatter(fmt) if tty else PlainFormatter(fmt))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("werkzeug").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


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


def serve_favicon():
    """``/favicon.ico`` (browsers ask for it): the icon from ``assets/``, public."""
    return send_from_directory(ROOT / "assets", "favicon.ico", max_age=86_400)


def index_string(template: str) -> str:
    """Dash's page template with ``lang="en"`` (screen readers pick the language from it)."""
    return template.replace("<html>", '<html lang="en">', 1)


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
        add_log_handler=False,  # Dash's own stdout handler would print every line twice
        serve_locally=True,
        compress=False,  # enable_compression below: Dash's own set-up leaves assets uncompressed
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    enable_compression(app.server)
    app.server.secret_key = settings.secret_key or secrets.token_hex(32)
    # Dash embeds a validation layout in every page; for a layout function it would call the
    # function (with today's chatbots, teams, tags…). Give it the same page built from no data.
    app.validation_layout = page(dropdown_options(None), settings.demo_mode)
    app.layout = serve_layout
    app.server.add_url_rule("/favicon.ico", "favicon", serve_favicon)
    # Dash's own /_favicon.ico (its logo) serves the project's icon too
    app.server.view_functions["/_favicon.ico"] = serve_favicon
    app.index_string = index_string(app.index_string)
    app.server.register_blueprint(api_blueprint())  # read-only JSON API, /api/v1/
    timing.install(app.server)
    heap.install(app.server)  # free heap memory given back now and then (services/web/heap.py)
    from services.web import security as web

    if hosted:
        web.install(
            app.server, settings, script_hashes=app.csp_hashes(), callbacks=app.callback_map
        )
    else:
        web.install_callback_checks(app.server, app.callback_map)  # 400, never 500
    response_cache.install(app.server)  # after the sign-in guard and the callback checks
    not_found.install(app.server)  # after the sign-in guard: unknown paths answer 404
    return app


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python app.py",
        description="The dashboard for one person at http://127.0.0.1:PORT: demo data until an "
        "OCS key is set, no sign-in. Settings come from the environment and .env "
        "(docs/configuration.md).",
    )
    parser.add_argument(
        "--port", type=int, metavar="N", help="port to serve on (default: PORT, else 8050)"
    )
    return parser.parse_args(argv)


def port_taken(port: int) -> str | None:
    """Why 127.0.0.1:``port`` cannot be served on (checked before the slow start), or None."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug's server
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.port is not None:
        if not 0 < args.port < 65536:
            print(f"--port must be 1-65535 (got {args.port})", file=sys.stderr)
            return 2
        settings = replace(settings, port=args.port)
    if problem := port_taken(settings.port):
        print(
            f"dashboard not started: port {settings.port} is not free ({problem}); "
            f"choose another, e.g. PORT={settings.port + 1} or --port {settings.port + 1}",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level)
    app = build_app(settings, hosted=False)
    memory.freeze_long_lived()  # full collections skip the built app (services/memory.py)
    # werkzeug's threaded server without Flask's banner and development-server warning: this
    # serves one person on 127.0.0.1; the hosted entry is gunicorn (wsgi.py).
    server = make_server("127.0.0.1", settings.port, app.server, threaded=True)
    mode = "demo data" if settings.demo_mode else f"{len(settings.ocs_api_keys)} OCS team key(s)"
    log.info("open http://127.0.0.1:%s (%s, no sign-in; Ctrl+C stops)", settings.port, mode)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
