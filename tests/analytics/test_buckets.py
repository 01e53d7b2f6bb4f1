"""Time buckets (issue #17 item 7): partial buckets are marked, ticks follow the bucket, and the
previous period is cut like for like."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from services.analytics import metrics
from services.analytics.filters import FilterState
from services.analytics.query import data_as_of_ns, previous_cut, select, select_previous
from services.views.charts import base
from tests.conftest import build_dataset

TODAY = date(2026, 11, 26)  # a Thursday


def daily(first: date, last: date, hour: int = 9) -> list[dict]:
    days = (last - first).days + 1
    return [
        {"id": f"s{i}", "created": f"{first + timedelta(days=i)}T{hour:02d}:00:00Z", "human": 1}
        for i in range(days)
    ]


def test_ninety_days_by_week_marks_first_and_last_week_partial():
    dataset = build_dataset(daily(date(2026, 8, 1), TODAY, hour=9))
    dataset.meta["synced_at"] = pd.Timestamp("2026-11-26T14:05:00Z").timestamp()
    state = FilterState(range="90d", granularity="week")
    spans = metrics.bucket_spans(select(dataset, state, TODAY))
    # the window starts on Saturday 29 August: 2 days of the week of Monday 24 August
    first, last = spans.iloc[0], spans.iloc[-1]
    assert first["bucket"] == pd.Timestamp("2026-08-24")
    assert (first["days"], first["bucket_days"], bool(first["complete"])) == (2, 7, False)
    assert first["note"] == "partial week: 2 of 7 days"
    # the last week: Monday to Thursday, Thursday still going on at 14:05
    assert last["bucket"] == pd.Timestamp("2026-11-23")
    assert (last["days"], bool(last["complete"])) == (4, False)
    assert last["note"] == "partial week: 4 of 7 days, the last one up to 14:05"
    assert spans["complete"].iloc[1:-1].all()


def test_month_buckets_count_the_month_length_and_a_finished_day_is_complete():
    dataset = build_dataset(daily(date(2026, 1, 1), date(2026, 3, 31), hour=9))
    dataset.meta["synced_at"] = pd.Timestamp("2026-04-02T00:00:00Z").timestamp()
    state = FilterState(range="custom", start=date(2026, 1, 15), end=date(2026, 3, 31))
    spans = metrics.bucket_spans(select(dataset, state.with_changes(granularity="month"), TODAY))
    assert spans["bucket_days"].tolist() == [31, 28, 31]
    assert spans["days"].tolist() == [17, 28, 31]
    assert spans["complete"].tolist() == [False, True, True]
    days = metrics.bucket_spans(select(dataset, state.with_changes(granularity="day"), TODAY))
    assert days["complete"].all()  # synced after the window: every day is whole


def test_today_so_far_is_a_partial_day():
    dataset = build_dataset(daily(date(2026, 11, 1), TODAY, hour=9))
    dataset.meta["synced_at"] = pd.Timestamp("2026-11-26T11:30:00Z").timestamp()
    spans = metrics.bucket_spans(select(dataset, FilterState(range="7d"), TODAY))
    assert spans["complete"].tolist() == [True] * 6 + [False]
    assert spans["note"].iloc[-1] == "partial day: data up to 11:30"


@settings(max_examples=120, deadline=None)
@given(
    start=st.integers(0, 500),
    length=st.integers(1, 200),
    granularity=st.sampled_from(["day", "week", "month"]),
    data_end=st.integers(0, 800),
    minute=st.integers(0, 24 * 60),
)
def test_spans_partition_the_window(start, length, granularity, data_end, minute):
    """Every day of the window up to the data's last day is in exactly one bucket; a complete
    bucket is whole; only the first bucket and the buckets from the data's last day on can be
    partial."""
    origin = date(2025, 1, 1)
    first, last = origin + timedelta(days=start), origin + timedelta(days=start + length - 1)
    dataset = build_dataset([{"id": "a", "created": "2024-06-01T00:00:00Z", "human": 1}])
    as_of = pd.Timestamp(origin + timedelta(days=data_end), tz="UTC") + pd.Timedelta(minutes=minute)
    dataset.meta["synced_at"] = as_of.timestamp()
    state = FilterState(range="custom", start=first, end=last, granularity=granularity)
    spans = metrics.bucket_spans(select(dataset, state, TODAY))
    last_data_day = (as_of - pd.Timedelta(1, "ns")).date()
    covered = max(0, min((last - first).days + 1, (last_data_day - first).days + 1))
    assert int(spans["days"].sum()) == covered
    assert (spans["days"] <= spans["bucket_days"]).all()
    whole = spans["complete"].to_numpy()
    assert (spans["days"].to_numpy()[whole] == spans["bucket_days"].to_numpy()[whole]).all()
    assert ((spans["note"] == "") == spans["complete"]).all()
    incomplete = np.nonzero(~whole)[0]
    limit = pd.Timestamp(min(last, last_data_day))
    for i in incomplete:
        bucket_end = spans["bucket"].iloc[i + 1] if i + 1 < len(spans) else pd.Timestamp.max
        assert i == 0 or bucket_end > limit


@settings(max_examples=200, deadline=None)
@given(
    length_days=st.integers(1, 400),
    offset_hours=st.integers(-24 * 500, 24 * 500),
)
def test_previous_window_is_as_long_as_the_filled_part_of_the_current(length_days, offset_hours):
    dataset = build_dataset([{"id": "a", "created": "2026-06-01T12:00:00Z", "human": 1}])
    state = FilterState(range="custom", start=TODAY - timedelta(days=length_days - 1), end=TODAY)
    selection = select(dataset, state, TODAY)
    as_of = selection.end_ns + offset_hours * 3600 * 10**9
    dataset.meta["synced_at"] = as_of / 1e9
    prev_start, prev_end = previous_cut(selection)
    length = selection.end_ns - selection.start_ns
    filled = min(selection.end_ns, max(selection.start_ns, data_as_of_ns(dataset)))
    assert prev_start == selection.start_ns - length
    assert prev_end - prev_start == filled - selection.start_ns
    assert prev_end <= selection.start_ns


def test_last_seven_days_mid_day_compares_the_same_hours():
    # 10 sessions every day at 09:00 and 10 at 18:00; synced at 12:00 today: today so far has
    # 10 sessions, so does the same hour range a week earlier
    specs = []
    for d in range(30):
        day = TODAY - timedelta(days=d)
        for hour in (9, 18):
            if d == 0 and hour == 18:
                continue
            specs += [
                {"id": f"{d}-{hour}-{i}", "created": f"{day}T{hour:02d}:00:00Z"} for i in range(10)
            ]
    dataset = build_dataset(specs)
    dataset.meta["synced_at"] = pd.Timestamp(f"{TODAY}T12:00:00Z").timestamp()
    current = select(dataset, FilterState(range="7d"), TODAY)
    kpi = {k.key: k for k in metrics.kpis(current, select_previous(dataset, current))}
    assert kpi["sessions"].value == 6 * 20 + 10
    assert kpi["sessions"].previous == 6 * 20 + 10  # not 140: a whole previous week
    assert kpi["sessions"].change == 0
    assert "same span of the previous period" in kpi["sessions"].help


def test_ticks_follow_the_bucket():
    months = pd.to_datetime(["2026-09-01", "2026-10-01", "2026-11-01", "2026-12-01"])
    axis = base.time_axis("month", months)
    assert axis["dtick"] == "M1" and axis["tick0"] == "2026-09-01"
    assert axis["tickformat"] == "%b %Y"
    many = pd.date_range("2020-01-01", periods=60, freq="MS")
    assert base.time_axis("month", many)["dtick"] == "M6"
    weeks = pd.date_range("2026-08-24", periods=14, freq="7D")
    axis = base.time_axis("week", weeks)
    assert axis["dtick"] == 7 * base.DAY_MS and axis["tick0"] == "2026-08-24"
    assert (
        base.time_axis("week", pd.date_range("2026-01-05", periods=52, freq="7D"))["dtick"]
        == 4 * 7 * base.DAY_MS
    )
