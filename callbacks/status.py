"""Data freshness and sync status for every viewer.

An interval reads the store's current generation and the shared sync status. When a new
generation lands, ``data-generation`` changes and every view recomputes; the dropdown options
follow the new data. With a key configured and no data yet, the first poll starts the sync.
"""

from __future__ import annotations

import time

from dash import Input, Output, State, callback, html, no_update

from layouts import ids
from layouts.header import sync_progress, sync_result_message
from layouts.page import dropdown_options, store_notice
from services import runtime
from services.analytics.filters import UNTAGGED
from services.redis_client import RedisUnavailable
from services.sync import status as sync_status
from services.worker.trigger import maybe_auto_start


def age_text(seconds: float) -> str:
    if seconds < 90:
        return "just now"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min ago"
    hours = minutes / 60
    if hours < 36:
        return f"{hours:.0f} h ago"
    return f"{hours / 24:.0f} days ago"


def freshness(dataset, now: float | None = None, checked_at: float | None = None) -> str:
    """The header's one-line data status (``checked_at``: the last sync that found no changes)."""
    if dataset is None:
        return "No data yet"
    now = now or time.time()
    meta = dataset.meta
    count = f"{dataset.n:,} sessions"
    if meta.get("source") == "demo":
        return f"Demo data · {count} · generated for {meta.get('demo_anchor', '')}"
    synced = meta.get("synced_at")
    teams = meta.get("teams") or []
    team_text = f" · {len(teams)} team{'s' if len(teams) != 1 else ''}" if teams else ""
    if synced:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(synced))
        checked = ""
        if checked_at and checked_at > synced + 60:
            checked = f" · checked {age_text(now - checked_at)}, no changes since"
        return f"Last synced {age_text(now - synced)} ({stamp}){checked} · {count}{team_text}"
    return f"{count}{team_text}"


def status_outputs(dataset, settings, status: dict, started: bool):
    """(freshness text, progress component, refresh disabled, cancel class) for the header."""
    running = bool(status.get("running")) or started
    text = freshness(dataset, checked_at=status.get("last_checked_at"))
    if dataset is None and not settings.demo_mode:
        text = "No data yet — syncing" if running else "No data yet"
    progress = sync_progress(
        status if not started else dict(status, running=True, message="starting the first sync…")
    )
    outcome = None if started else sync_status.outcome_text(status)
    if outcome and status.get("state") == "partial":
        progress = html.Div(outcome, id="sync-message", className="text-warning")
    cancel_class = "btn btn-outline-secondary btn-sm" + ("" if running else " d-none")
    return text, progress, running or settings.demo_mode, cancel_class


@callback(
    Output(ids.SYNC_RESULT_MESSAGE, "children"),
    Input(ids.SYNC_RESULT, "data"),
    prevent_initial_call=True,
)
def show_sync_result(result):
    """The outcome of this tab's Refresh click (already running, failed, cancelled, done).

    Kept apart from :func:`poll_data`: Dash holds back callbacks whose inputs are outputs of a
    running (background) callback, and the poll must keep running during a sync.
    """
    return sync_result_message(result)


@callback(
    Output(ids.DATA_GENERATION, "data"),
    Output(ids.DATA_FRESHNESS, "children"),
    Output(ids.STORE_NOTICE, "children"),
    Output(ids.SYNC_PROGRESS, "children"),
    Output(ids.REFRESH_BUTTON, "disabled"),
    Output(ids.CANCEL_BUTTON, "className"),
    Output(ids.F_EXPERIMENT, "options"),
    Output(ids.F_TEAM, "options"),
    Output(ids.F_TAG, "options"),
    Output(ids.F_PLATFORM, "options"),
    Output(ids.F_STATUS, "options"),
    Input(ids.STATUS_POLL, "n_intervals"),
    State(ids.DATA_GENERATION, "data"),
)
def poll_data(_n, known_generation):
    """Every few seconds: pick up a new generation, show sync progress, maybe start a sync."""
    settings = runtime.settings()
    cache = runtime.datasets()
    dataset = cache.get()
    started = False
    status = {}
    coordination_down = False
    if not settings.demo_mode:
        # stored data that cannot be read right now (database down) is not "no data yet"
        has_data = dataset is not None or not cache.store_ok or cache.notice is not None
        try:
            started = maybe_auto_start(settings, has_data=has_data)
            status = sync_status.read_status(settings)
        except RedisUnavailable as exc:
            coordination_down = True
            status = {"state": "error", "last_error": f"{exc}; Refresh is unavailable"}
    text, progress, disabled, cancel_class = status_outputs(dataset, settings, status, started)
    disabled = disabled or coordination_down
    generation = dataset.generation if dataset is not None else None
    notice = store_notice(cache.notice)
    head = (text, notice, progress, disabled, cancel_class)
    if generation == known_generation:
        return (no_update, *head, *([no_update] * 5))
    options = dropdown_options(dataset)
    return (
        generation,
        *head,
        options["experiments"],
        options["teams"],
        [{"label": "(untagged)", "value": UNTAGGED}, *options["tags"]],
        options["platforms"],
        options["statuses"],
    )
