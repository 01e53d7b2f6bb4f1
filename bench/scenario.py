"""The typical interactions the benchmark replays, as filter states and as UI control changes.

Each round is the same story on a different slice, so every round's views are new to the
server's view cache (a cache hit would measure nothing): a 30-day custom range ending ``r`` days
before the anchor, then one experiment, two teams (including the experiment's own), two
annotation tags, "match all", a preset, and finally "clear all" (the default view: the one
view that is served from the cache after round one, as it is for real users).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from services.analytics.filters import FilterState
from services.store.dataset import Dataset

PRESETS = ("all", "30d", "365d", "7d")
TAG_PAIRS = (
    ("safe", "accurate"),
    ("coaching_good", "safe"),
    ("bot_performance_good", "engagement_good"),
    ("bot_performance_bad", "accurate"),
)
EXTRA_STATES = {
    # heavy cases measured in-process only (cold): the largest selections
    "all time, no filters": FilterState(range="all"),
    "last 365 days, no filters": FilterState(range="365d"),
    "default (last 90 days)": FilterState(),
}


@dataclass(frozen=True)
class Step:
    name: str
    changes: dict  # (component id, property) → new value, as the UI would send
    state: FilterState  # the filter state the change should produce


def round_steps(dataset: Dataset, anchor: date, r: int) -> list[Step]:
    """The interactions of round ``r`` (0-based)."""
    end = anchor - timedelta(days=r)
    start = end - timedelta(days=29)
    experiments = sorted(dataset.experiments)
    teams = sorted(dataset.teams)
    experiment = experiments[r % len(experiments)]
    own = dataset.experiment_team.get(experiment, teams[0])
    other = [t for t in teams if t != own][r % (len(teams) - 1)] if len(teams) > 1 else own
    pair = tuple(sorted({own, other}, key=teams.index))
    tags = TAG_PAIRS[r % len(TAG_PAIRS)]
    preset = PRESETS[r % len(PRESETS)]

    s1 = FilterState(range="custom", start=start, end=end)
    s2 = replace(s1, experiments=(experiment,))
    s3 = replace(s2, teams=pair)
    s4 = replace(s3, tags=tags)
    s5 = replace(s4, tag_mode="all")
    s6 = replace(s5, range=preset, start=None, end=None)
    return [
        Step(
            "date range (custom)",
            {
                ("f-dates", "start_date"): start.isoformat(),
                ("f-dates", "end_date"): end.isoformat(),
            },
            s1,
        ),
        Step("pick one experiment", {("f-experiment", "value"): [experiment]}, s2),
        Step("two teams", {("f-team", "value"): list(pair)}, s3),
        Step("two tags", {("f-tag", "value"): list(tags)}, s4),
        Step("tags: match all", {("f-tag-mode", "value"): "all"}, s5),
        Step(f"date preset ({preset})", {("f-range", "value"): preset}, s6),
        Step("clear all", {("f-reset", "n_clicks"): None}, FilterState()),
    ]


def step_kind(name: str) -> str:
    """The interaction without its round-specific detail (for grouping results)."""
    return name.split(" (")[0]
