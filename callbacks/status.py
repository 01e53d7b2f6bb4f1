"""Data freshness: watch the store generation, show when data was synced, reload views."""

from __future__ import annotations

import time

from dash import Input, Output, State, callback, no_update

from layouts.page import dropdown_options
from services import runtime


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


def freshness(dataset, now: float | None = None) -> str:
    """The header's one-line data status."""
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
        return f"Last synced {age_text(now - synced)} ({stamp}) · {count}{team_text}"
    return f"{count}{team_text}"


@callback(
    Output("data-generation", "data"),
    Output("data-freshness", "children"),
    Output("store-notice", "children"),
    Output("f-experiment", "options"),
    Output("f-team", "options"),
    Output("f-tag", "options"),
    Output("f-platform", "options"),
    Output("f-status", "options"),
    Input("status-poll", "n_intervals"),
    State("data-generation", "data"),
)
def poll_data(_n, known_generation):
    """Every few seconds: reload when a new generation landed and refresh the freshness text."""
    from layouts.page import _notice

    cache = runtime.datasets()
    dataset = cache.get()
    generation = dataset.generation if dataset is not None else None
    notice = _notice(cache.notice) if cache.notice else None
    if generation == known_generation:
        return (no_update, freshness(dataset), notice, *([no_update] * 5))
    options = dropdown_options(dataset)
    from services.filters import UNTAGGED

    return (
        generation,
        freshness(dataset),
        notice,
        options["experiments"],
        options["teams"],
        [{"label": "(untagged)", "value": UNTAGGED}, *options["tags"]],
        options["platforms"],
        options["statuses"],
    )
