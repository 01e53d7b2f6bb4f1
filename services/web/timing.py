"""``Server-Timing`` on every response: how long the server spent on the request.

Installed as WSGI middleware around the Flask app, so the figure covers routing, the Dash
callback, JSON serialisation and gzip (flask-compress) — everything but sending the bytes. The
benchmark (``python -m bench``) reads it from the Dash update requests; browsers show it in the
network panel (``app;dur=<ms>``).
"""

from __future__ import annotations

import time


class ServerTiming:
    """WSGI middleware adding ``Server-Timing: app;dur=<ms>`` when the response starts."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()

        def timed_start_response(status, headers, exc_info=None):
            elapsed = (time.perf_counter() - started) * 1000
            headers.append(("Server-Timing", f"app;dur={elapsed:.2f}"))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, timed_start_response)


def install(server) -> None:
    """Wrap ``server.wsgi_app`` (a Flask app) once."""
    if not isinstance(server.wsgi_app, ServerTiming):
        server.wsgi_app = ServerTiming(server.wsgi_app)
