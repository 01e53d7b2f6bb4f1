"""The Celery app: Redis broker and result backend, the ``ocs.sync`` task, the beat schedule.

* ``ocs.sync`` runs :func:`services.sync.engine.run_sync` under the shared Redis lock, so it
  never overlaps a CLI sync (``python -m services.sync``) or another worker's sync.
* With ``SYNC_EVERY_MINUTES`` the worker started with ``--beat`` sends ``ocs.sync`` every N
  minutes. Should two workers both run beat (e.g. the worker process type scaled to 2), each
  scheduled run first claims that period's slot in Redis (``SET NX EX``): at most one scheduled
  sync per period across all workers.
* With an alert channel configured (docs/alerts.md) the beat also sends ``ocs.alerts`` every
  :data:`ALERTS_EVERY_SECONDS` (one run per period across workers, like the sync), and every
  sync the worker runs is followed by the alerts' after-sync hook.
* A worker killed mid-sync loses nothing: the store is written in one transaction at the end,
  the lock expires after its TTL (:data:`services.sync.shared.LOCK_TTL`), and the task is not
  redelivered (``acks_late`` off) — the next Refresh or scheduled run syncs again.
"""

from __future__ import annotations

import logging
import threading

from services.redis_client import client, tls_options

log = logging.getLogger(__name__)

SYNC_TASK = "ocs.sync"
ALERTS_TASK = "ocs.alerts"
ALERTS_EVERY_SECONDS = 3600.0
"""How often the worker's beat runs the alert rules (they also run after every sync)."""
_apps: dict[tuple, object] = {}
_apps_lock = threading.Lock()


def queue_name(settings) -> str:
    return f"{settings.redis_key_prefix}celery"


def make_celery(settings):
    """A Celery app for ``settings`` (REDIS_URL as broker and result backend)."""
    from celery import Celery

    app = Celery("ocs_dashboard", broker=settings.redis_url, backend=settings.redis_url)
    prefix = settings.redis_key_prefix
    conf = {
        "task_default_queue": queue_name(settings),
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"global_keyprefix": prefix, "visibility_timeout": 3600},
        "result_backend_transport_options": {"global_keyprefix": prefix},
        "result_expires": 24 * 3600,
        "worker_prefetch_multiplier": 1,
        "task_acks_late": False,
        "worker_hijack_root_logger": False,
        "beat_schedule_filename": str(settings.data_dir / "celerybeat-schedule"),
        "timezone": "UTC",
    }
    tls = tls_options(settings)
    if tls:
        conf["broker_use_ssl"] = dict(tls)
        conf["redis_backend_use_ssl"] = dict(tls)
    schedule = {}
    if settings.sync_every_minutes:
        schedule["periodic-sync"] = {
            "task": SYNC_TASK,
            "schedule": settings.sync_every_minutes * 60.0,
            "kwargs": {"scheduled": True},
        }
    if settings.alerts.channels:
        schedule["periodic-alerts"] = {
            "task": ALERTS_TASK,
            "schedule": ALERTS_EVERY_SECONDS,
            "kwargs": {"scheduled": True},
        }
    if schedule:
        conf["beat_schedule"] = schedule
    app.conf.update(conf)
    app.task(name=SYNC_TASK, ignore_result=False)(sync_task)
    app.task(name=ALERTS_TASK, ignore_result=False)(alerts_task)
    return app


def celery_app(settings):
    """The process's Celery app for ``settings`` (created once)."""
    key = (settings.redis_url, settings.redis_key_prefix)
    with _apps_lock:
        found = _apps.get(key)
        if found is None:
            found = _apps[key] = make_celery(settings)
        return found


def claim_schedule_slot(settings, job: str = "sync") -> bool:
    """True for the first scheduled run of ``job`` ("sync" or "alerts") in a period across all
    workers."""
    period = settings.sync_every_minutes * 60 if job == "sync" else ALERTS_EVERY_SECONDS
    ttl = max(10, int(period * 0.8))
    key = f"{settings.redis_key_prefix}{job}:schedule-slot"
    return bool(client(settings).set(key, "1", nx=True, ex=ttl))


def alerts_task(scheduled: bool = False) -> dict:
    """The worker's alert run: ``{"state": ok|skipped|error, "message"}`` (docs/alerts.md)."""
    from services import runtime
    from services.alerts import run_alerts

    settings = runtime.settings()
    if scheduled and not claim_schedule_slot(settings, "alerts"):
        return {"state": "skipped", "message": "another worker ran this period's alerts"}
    try:
        summary = run_alerts(settings)
    except Exception as exc:
        log.exception("alerts task failed")
        return {"state": "error", "message": f"alerts failed: {type(exc).__name__}"}
    return {"state": "ok", "message": summary.line()}


def sync_task(full: bool = False, scheduled: bool = False) -> dict:
    """The worker's sync: ``{"state": ok|already-running|skipped|cancelled|error, "message"}``."""
    from services import runtime
    from services.alerts import after_sync
    from services.sync import engine
    from services.sync.client import OCSError
    from services.sync.status import SyncAlreadyRunning

    settings = runtime.settings()
    if scheduled and not claim_schedule_slot(settings):
        return {"state": "skipped", "message": "another worker ran this period's sync"}
    try:
        summary = engine.run_sync(settings, full=full, after_success=after_sync)
    except SyncAlreadyRunning as exc:
        log.info("sync task: %s", exc)
        return {"state": "already-running", "message": str(exc)}
    except engine.SyncCancelled as exc:
        return {"state": "cancelled", "message": str(exc)}
    except (OCSError, engine.SyncError) as exc:
        log.warning("sync task failed: %s", exc)
        return {"state": "error", "message": f"sync failed: {exc} (previous data kept)"}
    except Exception as exc:
        log.exception("sync task failed")
        return {
            "state": "error",
            "message": f"sync failed: {type(exc).__name__} (previous data kept)",
        }
    return {"state": "ok", "message": summary.line()}


def enqueue_sync(settings, full: bool = False):
    """Send ``ocs.sync`` to the worker; raises RedisUnavailable when Redis cannot take it."""
    from services.redis_client import RedisUnavailable, describe

    app = celery_app(settings)
    try:
        return app.send_task(
            SYNC_TASK, kwargs={"full": full}, queue=queue_name(settings), retry=False
        )
    except Exception as exc:  # kombu raises OperationalError and several socket errors
        raise RedisUnavailable(f"Redis is unreachable ({describe(exc)})") from exc
