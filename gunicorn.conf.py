"""gunicorn settings, read automatically from the working directory by ``gunicorn wsgi:server``.

Heroku and Render set ``PORT``; Heroku also sets ``WEB_CONCURRENCY`` from the dyno size.
"""

import os

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
