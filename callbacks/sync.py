"""Refresh: a Dash background callback (DiskcacheManager) that runs the OCS sync.

The callback is only a trigger: the sync itself takes the cross-process lock and writes its
progress into the shared status, which :mod:`callbacks.status` shows to every viewer (also
after a reload). The click timestamp is passed as an argument so each click has its own cache
key — the workaround for Dash ≤ 4.4.1 returning a stale result after a page reload
(dash-notes.md §1.6).
"""

from __future__ import annotations

import logging

from dash import Input, Output, State, callback

from services import runtime, sync_status

log = logging.getLogger(__name__)


def run_refresh(settings) -> dict:
    """Run one sync and describe the outcome for the page (never raises)."""
    from services.ocs_client import OCSError
    from services.sync import SyncCancelled, SyncError, run_sync

    try:
        summary = run_sync(settings)
    except sync_status.SyncAlreadyRunning:
        return {"state": "already-running", "message": "A sync is already running."}
    except SyncCancelled:
        return {"state": "cancelled", "message": "Sync cancelled; the previous data is kept."}
    except (SyncError, OCSError) as exc:
        return {"state": "error", "message": f"{exc} (previous data kept)"}
    except Exception as exc:  # the page shows a message, the log keeps the details
        log.exception("sync failed")
        return {"state": "error", "message": f"Sync failed: {exc} (previous data kept)"}
    return {"state": "ok", "message": summary.line()}


@callback(
    Output("sync-result", "data"),
    Input("refresh-button", "n_clicks"),
    State("refresh-button", "n_clicks_timestamp"),
    background=True,
    running=[(Output("refresh-button", "children"), "Syncing…", "↻ Refresh")],
    prevent_initial_call=True,
)
def refresh(_clicks, _click_nonce):
    settings = runtime.settings()
    if settings.demo_mode:
        return {"state": "error", "message": "Demo mode: configure an OCS API key to sync."}
    if sync_status.is_running(settings):
        return {"state": "already-running", "message": "A sync is already running."}
    return run_refresh(settings)


@callback(
    Output("sync-cancel-ack", "data"),
    Input("cancel-button", "n_clicks"),
    prevent_initial_call=True,
)
def cancel(_clicks):
    return {"requested": sync_status.request_cancel(runtime.settings())}
