"""The viewer's time zone: days, weeks, windows and displayed times follow it."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from services.analytics import metrics
from services.analytics.filters import FilterState, Vocabulary, local_days, parse_query, window
from services.analytics.query import select
from services.sync.records import parse_timestamp
from tests.conftest import build_dataset

LAGOS = "Africa/Lagos"  # UTC+1, no DST
NEW_YORK = "America/New_York"


def test_local_days_shift_late_utc_sessions_to_the_next_local_day():
    late = parse_timestamp("2026-11-10T23:30:00Z")
    assert local_days(np.array([late]), "UTC")[0] == (date(2026, 11, 10) - date(1970, 1, 1)).days
    assert local_days(np.array([late]), LAGOS)[0] == (date(2026, 11, 11) - date(1970, 1, 1)).days


def test_local_days_follow_daylight_saving_time():
    # New York: UTC-4 in summer, UTC-5 in winter; 03:30 UTC is the previous evening in both
    summer = parse_timestamp("2026-07-01T03:30:00Z")
    winter = parse_timestamp("2026-12-01T04:30:00Z")
    days = local_days(np.array([summer, winter]), NEW_YORK)
    assert days.tolist() == [
        (date(2026, 6, 30) - date(1970, 1, 1)).days,
        (date(2026, 11, 30) - date(1970, 1, 1)).days,
    ]


def test_window_starts_at_local_midnight():
    state = FilterState(range="7d", tz=LAGOS)
    start, end = window(state, today=date(2026, 11, 22))
    assert start == parse_timestamp("2026-11-15T23:00:00Z")  # local midnight on the 16th
    assert end == parse_timestamp("2026-11-22T23:00:00Z")
    custom = FilterState(range="custom", start=date(2026, 11, 1), end=date(2026, 11, 1), tz=LAGOS)
    assert window(custom) == (
        parse_timestamp("2026-10-31T23:00:00Z"),
        parse_timestamp("2026-11-01T23:00:00Z"),
    )


def test_buckets_and_table_times_in_the_viewer_time_zone():
    dataset = build_dataset(
        [
            {"id": "late", "created": "2026-11-10T23:30:00Z", "human": 1, "ai": 1},
            {"id": "noon", "created": "2026-11-10T12:00:00Z", "human": 1, "ai": 1},
        ]
    )
    utc = select(dataset, FilterState(range="all", granularity="day"))
    lagos = select(dataset, FilterState(range="all", granularity="day", tz=LAGOS))
    by_day_utc = metrics.sessions_over_time(utc).set_index("bucket")["sessions"]
    by_day_lagos = metrics.sessions_over_time(lagos).set_index("bucket")["sessions"]
    assert by_day_utc.to_dict() == {np.datetime64("2026-11-10"): 2}
    assert by_day_lagos[np.datetime64("2026-11-10")] == 1
    assert by_day_lagos[np.datetime64("2026-11-11")] == 1
    rows = metrics.session_rows(lagos, metrics.table_order(lagos))
    assert set(rows["created_at"]) == {"2026-11-11 00:30", "2026-11-10 13:00"}


@pytest.mark.parametrize("zone", ["Not/AZone", "../../etc/passwd", "x" * 100])
def test_unknown_time_zone_in_a_link_gives_a_notice(zone):
    state, notices = parse_query(f"?tz={zone}", Vocabulary())
    assert state.tz == "UTC"
    assert any("time zone" in n for n in notices)


def test_time_zone_round_trips_through_the_url():
    state = FilterState(range="30d", tz=NEW_YORK)
    assert state.to_query() == "?range=30d&tz=America/New_York"
    parsed, notices = parse_query(state.to_query())
    assert parsed == state and notices == []
    assert FilterState.from_dict(state.to_dict()) == state


def test_views_count_last_n_days_to_today_where_the_viewer_is(monkeypatch, demo_dataset):
    """At 23:30 UTC on 31 Oct it is already 1 Nov in Kolkata: "last 7 days" ends 1 Nov there."""
    import datetime as dt

    from services.analytics import filters
    from services.views import engagement as views_engagement
    from services.views import overview as views

    fixed = dt.datetime(2026, 10, 31, 23, 30, tzinfo=dt.UTC)

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return fixed.astimezone(tz) if tz else fixed.replace(tzinfo=None)

    monkeypatch.setattr(filters, "datetime", Frozen)
    monkeypatch.setattr(filters, "_pinned_today", None)
    kolkata = FilterState(range="7d", tz="Asia/Kolkata")
    local_end = pd.Timestamp("2026-11-02", tz="Asia/Kolkata").value
    assert views.overview(demo_dataset, kolkata).scope.end_ns == local_end
    assert views_engagement.engagement_view(demo_dataset, kolkata).scope.end_ns == local_end
    utc = FilterState(range="7d")
    assert views.overview(demo_dataset, utc).scope.end_ns == pd.Timestamp("2026-11-01").value


def test_engagement_labels_name_the_viewers_time_zone(demo_dataset):
    from callbacks.engagement import render_engagement
    from layouts.engagement import anomaly_list

    state = FilterState(range="90d", tz="Asia/Kolkata")
    out = render_engagement(state.to_dict(), False, dataset=demo_dataset)
    texts = [o for o in out if isinstance(o, str)]
    assert any("(Asia/Kolkata)" in t for t in texts) and not any("UTC" in t for t in texts)
    flag = pd.DataFrame(
        {
            "day": [pd.Timestamp("2026-11-01")],
            "metric": ["sessions"],
            "value": [40.0],
            "expected": [20.0],
            "low": [10.0],
            "high": [30.0],
            "direction": ["up"],
            "n": [40],
        }
    )
    table = str(anomaly_list(flag, state.tz))
    assert "Day (Asia/Kolkata)" in table and "Sun 01 Nov 2026" in table
