"""gunicorn settings, read automatically from the working directory by ``gunicorn wsgi:server``.

Heroku and Render set ``PORT``; Heroku also sets ``WEB_CONCURRENCY`` from the dyno size.

A configuration problem (a bad setting, no ``SECRET_KEY`` or ``DASHBOARD_USERS`` in production)
is found by :func:`on_starting` in the master process, before any worker starts: one line
``dashboard not started: …`` on stderr and exit code 3, no traceback.
"""

import os
import sys

EXIT_CONFIG = 3

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
worker_class = "gthread"
threads = 4
# Heroku's router gives up after 30 s; a request stuck longer than 25 s gets its worker
# restarted. (Syncs run in background-callback processes, never in a request.)
timeout = 25
graceful_timeout = 20
keepalive = 5
# One line per request on stdout. %(U)s is the path WITHOUT the query string: background
# callback polls carry signed job handles (?cacheKey=…&job=…) that do not belong in logs.
# No referer either (it can hold a query string).
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
loglevel = "info"
# gunicorn ≥ 25.1 opens a control socket under $XDG_RUNTIME_DIR or ~/.gunicorn; a web dyno
# has no use for it (and a read-only home would break start-up).
control_socket_disable = True


def on_starting(server) -> None:
    """gunicorn hook, run once in the master before workers fork: check the settings."""
    from services.auth.users import hosted_problems
    from services.settings import SettingsError, load_settings

    try:
        problems = hosted_problems(load_settings())
    except SettingsError as exc:
        problems = exc.problems
    if problems:
        print("dashboard not started: " + "; ".join(problems), file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CONFIG)
    warm_imports()


def warm_imports() -> None:
    """Import the app's modules (Dash, pandas, Plotly, pyarrow and every layout and callback)
    once, in the master, after the settings check.

    Every worker gunicorn forks, at start and after one is killed or crashes, inherits them
    already imported instead of spending seconds on imports (docs/performance.md, restart),
    and the imported code's memory pages are shared copy-on-write between the workers.

    Then ``gc.freeze()`` (:func:`services.memory.freeze_long_lived`): the imported objects
    move to the collector's permanent generation, so a worker's garbage collections never
    write to them and their pages stay shared (at 100k sessions: 287 → 248 MB total PSS right
    after start, 368 → 339 MB after 300 interactions; docs/performance.md, 2026-12-06, second
    session). Nothing is *built* here: ``app.build_app`` (store, connections, watcher
    threads) runs in each worker after the fork (wsgi.py), so no thread or socket crosses a
    fork.
    """
    import app  # noqa: F401
    from services import memory

    memory.freeze_long_lived()


def post_fork(server, worker) -> None:
    """gunicorn hook, in each new worker: at most 2 malloc arenas (services/memory.py)."""
    from services import memory

    memory.limit_arenas(2)
