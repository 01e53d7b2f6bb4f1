"""Serve the hosted app (``wsgi.server``) with werkzeug for tests: ``python tests/support/hosted_server.py PORT``.

Adds two routes that raise, to check the error handler: ``/api/boom`` (JSON) and ``/boom`` (page).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from werkzeug.serving import make_server

import wsgi


def _boom():
    raise RuntimeError("boom at /srv/secret/path")


wsgi.server.add_url_rule("/api/boom", "test_boom_api", _boom)
wsgi.server.add_url_rule("/boom", "test_boom_page", _boom)

if __name__ == "__main__":
    httpd = make_server("127.0.0.1", int(sys.argv[1]), wsgi.server, threaded=True)
    print(f"test server on port {sys.argv[1]}", flush=True)
    httpd.serve_forever()
