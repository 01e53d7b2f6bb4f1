"""The Celery worker (``REDIS_URL``): runs the sync off the web processes.

See :mod:`services.worker.app` (the Celery app, the sync task and the beat schedule) and the
top-level ``worker.py`` (the ``celery -A worker`` entry point, which also registers the Dash
background callbacks for ``CeleryManager``).
"""
