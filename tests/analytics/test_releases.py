"""Release markers: the latest releases of a window, close ones merged (issue #17 item 4)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.analytics import releases
from services.analytics.filters import FilterState
from services.analytics.query import select
from tests.conftest import build_dataset

TODAY = date(2026, 11, 30)


def msg(role: str, tags=(), content: str = "hi", at: str = "2026-11-10T12:00:00Z") -> dict:
    return {"role": role, "content": content, "created_at": at, "tags": list(tags)}


def release(sid: str, day: date, exp: str, version: str) -> dict:
    created = f"{day.isoformat()}T09:00:00Z"
    return {
        "id": sid,
        "created": created,
        "exp": exp,
        "messages": [msg("user", at=created), msg("assistant", [version], at=created)],
    }


def world(n_releases: int, every_days: int, experiments: int = 1) -> list[dict]:
    """A session on the first day of the data (v1) and then one release every ``every_days``
    days ending on TODAY, round-robin over ``experiments`` experiments."""
    start = TODAY - timedelta(days=every_days * n_releases)
    specs = [release("base", start, "exp-0", "v1")]
    for i in range(n_releases):
        day = TODAY - timedelta(days=every_days * (n_releases - 1 - i))
        specs.append(release(f"r{i}", day, f"exp-{i % experiments}", f"v{i + 2}"))
    return specs


def test_a_365_day_view_keeps_the_latest_releases_not_the_earliest():
    # 19 releases, one every 18 days up to today: more than the 8 markers shown
    dataset = build_dataset(world(19, 18))
    found = releases.release_markers(dataset, select(dataset, FilterState(range="365d"), TODAY))
    assert len(found.markers) == 8
    assert found.total_releases == 19 and found.total_markers == 19
    assert found.hidden_releases == 11
    assert found.markers["day"].iloc[-1].date() == TODAY  # the newest release is marked
    assert found.markers["label"].tolist()[-1] == "v20"
    assert found.markers["day"].is_monotonic_increasing


def test_releases_on_one_day_share_one_marker_listing_each():
    day = TODAY - timedelta(days=3)
    specs = [release("base", TODAY - timedelta(days=40), "exp-a", "v1")]
    specs += [release(f"s{i}", day, exp, "v2") for i, exp in enumerate(["exp-a", "exp-b", "exp-c"])]
    dataset = build_dataset(specs)
    found = releases.release_markers(dataset, select(dataset, FilterState(range="30d"), TODAY))
    assert found.markers["releases"].tolist() == [3]
    assert found.markers["label"].tolist() == ["3 releases"]
    detail = found.markers["detail"].iloc[0].split("\n")
    assert detail == [f"{day:%d %b}: v2 · Bot exp-{e}" for e in "abc"]


def test_drafts_releases_before_the_window_and_the_data_first_day_are_not_marked():
    specs = [
        release("first", date(2026, 10, 1), "exp-a", "v1"),  # first day of the data
        release("before", date(2026, 10, 20), "exp-a", "v2"),  # before the window
        release("in", date(2026, 11, 20), "exp-a", "v3"),
        release("draft", date(2026, 11, 25), "exp-a", "v4-unreleased"),
    ]
    dataset = build_dataset(specs)
    found = releases.release_markers(dataset, select(dataset, FilterState(range="30d"), TODAY))
    assert found.markers["label"].tolist() == ["v3"]
    everything = releases.release_markers(dataset, select(dataset, FilterState(range="all"), TODAY))
    assert everything.markers["label"].tolist() == ["v2", "v3"]


def test_only_experiments_of_the_selection_and_their_names_when_several():
    specs = world(4, 5, experiments=2)
    dataset = build_dataset(specs)
    both = releases.release_markers(dataset, select(dataset, FilterState(range="30d"), TODAY))
    assert all(" · Bot exp-" in label for label in both.markers["label"])
    one = FilterState(range="30d", experiments=("exp-1",))
    only = releases.release_markers(dataset, select(dataset, one, TODAY))
    assert only.markers["label"].tolist() == ["v3", "v5"]


def test_release_day_is_the_day_in_the_view_time_zone():
    specs = [release("base", date(2026, 10, 1), "exp-a", "v1")]
    specs.append(
        {
            "id": "late",
            "created": "2026-11-20T23:30:00Z",  # 21 November in Nairobi (UTC+3)
            "exp": "exp-a",
            "messages": [msg("assistant", ["v2"], at="2026-11-20T23:30:00Z")],
        }
    )
    dataset = build_dataset(specs)
    utc = releases.release_markers(dataset, select(dataset, FilterState(range="30d"), TODAY))
    nairobi = FilterState(range="30d", tz="Africa/Nairobi")
    local = releases.release_markers(dataset, select(dataset, nairobi, TODAY))
    assert utc.markers["day"].iloc[0].date() == date(2026, 11, 20)
    assert local.markers["day"].iloc[0].date() == date(2026, 11, 21)


def test_merge_gap_grows_with_the_window():
    assert releases.merge_gap_days(7) == 1
    assert releases.merge_gap_days(62) == 1
    assert releases.merge_gap_days(90) == 3
    assert releases.merge_gap_days(365) == 10


@settings(max_examples=300, deadline=None)
@given(
    days=st.lists(st.integers(0, 400), min_size=0, max_size=60),
    gap=st.integers(1, 15),
    limit=st.integers(1, 12),
)
def test_grouping_keeps_the_newest_and_keeps_markers_apart(days, gap, limit):
    items = [(d, "exp", f"v{i}") for i, d in enumerate(sorted(days))]
    groups, total = releases.group_releases(items, gap, limit)
    assert len(groups) == min(total, limit)
    flat = [r for g in groups for r in g]
    assert flat == sorted(flat, key=lambda r: r[0])  # oldest first, inside and across markers
    if items:
        assert groups[-1][-1] == items[-1]  # the newest release is always marked
        assert total >= 1
        # what is shown is exactly the newest releases: a suffix of the sorted list
        assert flat == items[len(items) - len(flat) :]
    for a, b in itertools.pairwise(groups):
        assert b[0][0] - a[-1][0] >= gap  # markers never closer than the gap
    for group in groups:
        for a, b in itertools.pairwise(group):
            assert b[0] - a[0] < gap  # within a marker, neighbours are close
