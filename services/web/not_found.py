"""Unknown paths answer 404 with a small page, not the dashboard with 200.

Dash serves its page for every path (a catch-all route ``/<path:path>``, for multi-page apps);
this app has one page at ``/``. The app's routes: ``/``, ``/login``, ``/logout``, ``/health``,
``/favicon.ico``, ``/api/v1/…``, Dash's own ``/_dash-…``, ``/_favicon.ico`` and ``/assets/…``.
Any other path matched only by the catch-all gets :func:`not_found_page` (HTML for a browser,
JSON for a script). On the hosted app the sign-in guard runs first, as for every path.
"""

from __future__ import annotations

from flask import Flask, jsonify, request

CATCH_ALL = "/<path:path>"
BOOTSTRAP_CSS = "/assets/00-bootstrap-5.3.8.min.css"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Page not found · OCS Session Analytics</title>
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="{css}"></head>
<body class="bg-body-tertiary"><main class="container" style="max-width: 30rem">
<div class="card shadow-sm mt-5"><div class="card-body p-4">
<h1 class="h4 mb-3">Page not found</h1>
<p>There is no page at this address. The dashboard is at <a href="/">the start page</a>;
its filters, tab and table page are in the query string (<code>/?range=30d&amp;tab=cost</code>).</p>
</div></div></main></body></html>"""


def not_found_page():
    """(body, 404, headers): an HTML page for a browser, JSON for anything else."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if best == "application/json" or request.path.startswith(("/_dash-", "/api")):
        response = jsonify(error="not found", path=request.path[:200])
        response.status_code = 404
        return response
    return PAGE.format(css=BOOTSTRAP_CSS), 404, {"Content-Type": "text/html; charset=utf-8"}


def install(server: Flask) -> None:
    """Answer 404 for every path that only Dash's catch-all route matches."""

    @server.before_request
    def _unknown_path():
        rule = request.url_rule
        if rule is not None and rule.rule == CATCH_ALL:
            return not_found_page()
        return None
