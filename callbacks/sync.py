"""Refresh: a Dash background callback that runs the OCS sync.

Embedded (no REDIS_URL): DiskcacheManager; the job runs ``python -m services.sync`` and waits.
With REDIS_URL: CeleryManager; the job runs on the worker and queues the ``ocs.sync`` task.

The callback is only a trigger: the sync itself takes the cross-process lock and writes its
progress into the shared status, which :mod:`callbacks.status` shows to every viewer (also
after a reload). The click timestamp is passed as an argument so each click has its own cache
key — the workaround for Dash ≤ 4.4.1 returning a stale result after a page reload
(docs/dash-notes.md §1.6).
"""

from __future__ import annotations

import logging

from dash import Input, Output, State, callback

from layouts import ids
from services import runtime
from services.redis_client import RedisUnavailable
from services.sync import status as sync_status

log = logging.getLogger(__name__)


def run_refresh(settings) -> dict:
    """Run one sync as ``python -m services.sync`` and wait for it (never raises).

    The sync runs in its own exec'd process rather than in the forked background job: it then
    shares nothing with the web process (SQLite handles must not cross a fork), it survives
    page reloads, and it is exactly the command schedulers run.
    """
    from services.sync import engine as sync
    from services.worker.trigger import start_detached_sync

    process = start_detached_sync(settings, capture=True)
    output, _ = process.communicate()
    line = (output or "").strip().splitlines()[-1:] or [""]
    message = line[0]
    if process.returncode == sync.EXIT_OK:
        return {"state": "ok", "message": message}
    if process.returncode == sync.EXIT_ALREADY_RUNNING:
        return {"state": "already-running", "message": "A sync is already running."}
    if process.returncode == sync.EXIT_CANCELLED:
        return {"state": "cancelled", "message": "Sync cancelled; the previous data is kept."}
    return {"state": "error", "message": message or "Sync failed (previous data kept)."}


def queue_refresh(settings) -> dict:
    """With REDIS_URL: send the sync to the Celery worker; progress shows in the shared status.

    (This callback itself runs on the worker through ``CeleryManager``.)
    """
    from services.worker.trigger import request_sync

    request_sync(settings)
    return {"state": "queued", "message": "Sync queued on the worker…"}


@callback(
    Output(ids.SYNC_RESULT, "data"),
    Input(ids.REFRESH_BUTTON, "n_clicks"),
    State(ids.REFRESH_BUTTON, "n_clicks_timestamp"),
    background=True,
    running=[(Output(ids.REFRESH_BUTTON, "children"), "Syncing…", "↻ Refresh")],
    prevent_initial_call=True,
)
def refresh(_clicks, _click_nonce):
    settings = runtime.settings()
    if settings.demo_mode:
        return {"state": "error", "message": "Demo mode: configure an OCS API key to sync."}
    try:
        if sync_status.is_running(settings):
            return {"state": "already-running", "message": "A sync is already running."}
        result = queue_refresh(settings) if settings.redis_url else run_refresh(settings)
    except RedisUnavailable as exc:
        return {"state": "error", "message": f"Refresh is unavailable: {exc}."}
    log.info("refresh %s: %s", result["state"], result["message"])
    return result


@callback(
    Output(ids.SYNC_CANCEL_ACK, "data"),
    Input(ids.CANCEL_BUTTON, "n_clicks"),
    prevent_initial_call=True,
)
def cancel(_clicks):
    try:
        return {"requested": sync_status.request_cancel(runtime.settings())}
    except RedisUnavailable:
        return {"requested": False}
