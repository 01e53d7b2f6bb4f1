"""The per-day roll-ups (services/analytics/rollups.py) give exactly the numbers of the scans
they replace: every metric that reads them is computed both ways (``rollups.disabled()`` makes
it scan its selection, as before) and compared bit for bit."""

from __future__ import annotations

import dataclasses
import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import anomalies, cost, engagement, metrics, quality, rollups
from services.analytics.filters import FilterState
from services.analytics.query import select, select_previous, shared_selections
from tests.analytics.test_query import demo_states
from tests.conftest import DEMO_ANCHOR

TZS = ("UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "America/Havana")


def same(a, b) -> None:
    """Equal to the last bit (NaN equals NaN), frames included."""
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name))
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b)
    else:
        assert a == b and type(a) is type(b), (a, b)


ROLLUP_METRICS = [
    engagement.transcript_sessions,
    engagement.messages_per_session,
    engagement.words_per_user_message,
    engagement.words_per_bot_message,
    engagement.session_duration,
    engagement.turn_dropoff,
    engagement.ratings,
    engagement.lexicon,
    engagement.lexicon_over_time,
    engagement.retention_cohorts,
    engagement.active_participants_over_time,
    engagement.sessions_per_participant,
    metrics.annotated_count,
    metrics.annotation_breakdown,
    metrics.rated_good,
    metrics.sessions_over_time,
    lambda sel: metrics.sessions_by(sel, "experiment"),
    lambda sel: metrics.sessions_by(sel, "team"),
    lambda sel: metrics.sessions_by(sel, "platform"),
    lambda sel: metrics.sessions_by(sel, "status"),
    lambda sel: metrics.kpis(sel, select_previous(sel.dataset, sel)),
    lambda sel: quality.quality_over_time(sel, "day"),
    lambda sel: quality.quality_over_time(sel, "week"),
    lambda sel: quality.quality_over_time(sel, "month"),
    quality.coverage_over_time,
    cost.cost_over_time,
    quality.coverage_by_experiment,
    quality.cooccurrence,
    quality.sample_warnings,
    quality.version_session_counts,
    lambda sel: quality.compare(sel.dataset, sel.state, "periods", None, None, None, DEMO_ANCHOR),
    lambda sel: anomalies.daily_series(sel, DEMO_ANCHOR),
    lambda sel: anomalies.anomalies(sel, DEMO_ANCHOR),
]


def both_ways(ds, state, today=DEMO_ANCHOR) -> None:
    fresh = {}
    with shared_selections():
        sel = select(ds, state, today=today)
        for i, metric in enumerate(ROLLUP_METRICS):
            fresh[i] = metric(sel)
    with rollups.disabled(), shared_selections():
        sel = select(ds, state, today=today)
        for i, metric in enumerate(ROLLUP_METRICS):
            got, want = fresh[i], metric(sel)
            if want is None:
                assert got is None
            else:
                same(got, want)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_rollups_equal_the_scans_on_demo(demo_dataset, data):
    state = data.draw(demo_states(demo_dataset))
    state = state.with_changes(tz=data.draw(st.sampled_from(TZS)))
    both_ways(demo_dataset, state)


@pytest.mark.parametrize("tz", TZS)
@pytest.mark.parametrize("days", [1, 7, 30, 60, 90, 365])
def test_rollups_equal_the_scans_on_the_page_windows(demo_dataset, tz, days):
    end = DEMO_ANCHOR - timedelta(days=3)
    state = FilterState(range="custom", start=end - timedelta(days=days - 1), end=end, tz=tz)
    sel = select(demo_dataset, state, today=DEMO_ANCHOR)
    for name, build in (
        ("messages", engagement._messages_rollup),
        ("lexicon", engagement._lexicon_rollup),
        ("verdicts", anomalies._verdicts_rollup),
        ("cohort_counts", engagement._cohort_counts_rollup),
        ("user_words", engagement.FINE_ROLLUPS["user_words"]),
        ("bot_words", engagement.FINE_ROLLUPS["bot_words"]),
        ("duration", engagement.FINE_ROLLUPS["duration"]),
        ("cost_per_day", cost._cost_rollup),
    ):
        assert rollups.window_rows(sel, name, build) is not None  # the roll-up answers
    span = (sel.start_ns, sel.end_ns)
    for granularity in ("day", "week", "month"):
        state = state.with_changes(granularity=granularity)
        sel = select(demo_dataset, state, today=DEMO_ANCHOR)
        assert (sel.start_ns, sel.end_ns) == span
        if days >= 30 or granularity == "day":  # a window inside one bucket may need the scan
            first, last = rollups.whole_days(sel)
            every_day = np.arange(first, last + 1)
            buckets, to_bucket = np.unique(
                metrics.bucket_labels(every_day, granularity), return_inverse=True
            )
            assert (
                engagement._participants_of_rollup(sel, first, last, buckets, to_bucket) is not None
            )
        both_ways(demo_dataset, state)
    both_ways(demo_dataset, FilterState(range=f"{min(days, 365)}d", tz=tz))


def test_the_rollup_is_used_and_kept_per_filter_set(demo_dataset):
    state = FilterState(range="30d")
    sel = select(demo_dataset, state, today=DEMO_ANCHOR)
    assert rollups.window_sum(sel, "transcripts", engagement._transcript_rollup) is not None
    cache = demo_dataset._derived["daily_rollups"]
    key = state.with_changes(range="all", start=None, end=None)
    assert key in cache
    for k in range(rollups.FILTER_SETS + 2):
        other = select(demo_dataset, FilterState(range="30d", teams=(f"t{k}",)), DEMO_ANCHOR)
        engagement.transcript_sessions(other)
    assert len(cache) <= rollups.FILTER_SETS


def test_a_window_not_of_whole_days_scans(demo_dataset):
    sel = select(demo_dataset, FilterState(range="30d"), today=DEMO_ANCHOR)
    shifted = select(
        demo_dataset, sel.state, window_override=(sel.start_ns + 3600 * 10**9, sel.end_ns)
    )
    assert rollups.whole_days(sel) is not None
    assert rollups.whole_days(shifted) is None
    assert rollups.window_rows(shifted, "transcripts", engagement._transcript_rollup) is None


def test_lookback_across_a_dst_change_scans_and_agrees(demo_dataset):
    # New York's DST ended on 2026-11-01: 56 × 24 h before a midnight after it is 23:00
    state = FilterState(
        range="custom", start=date(2026, 11, 10), end=date(2026, 11, 20), tz="America/New_York"
    )
    sel = select(demo_dataset, state, today=DEMO_ANCHOR)
    assert not rollups.starts_a_day(sel.start_ns - 56 * 86400 * 10**9, state.tz)
    both_ways(demo_dataset, state)


# ---- hand-built data: unsynced transcripts, uncounted lexicon, counts beyond the cap -----------


@st.composite
def session_specs(draw) -> list[dict]:
    n = draw(st.integers(1, 40))
    specs = []
    for i in range(n):
        day = draw(st.integers(0, 20))
        spec = {
            "id": f"s{i}",
            "created": f"2026-11-{1 + day:02d}T{draw(st.integers(0, 23)):02d}:00:00Z",
            "pid": f"p{draw(st.integers(0, 6))}",
            "tags": draw(st.lists(st.sampled_from(["safe", "accurate_good", "x"]), max_size=2)),
        }
        if draw(st.integers(0, 4)):  # else: transcript not synced
            spec["human"] = draw(st.integers(0, 12))
            spec["ai"] = draw(st.integers(0, 12))
            spec["up"] = draw(st.integers(0, 2))
            spec["down"] = draw(st.integers(0, 2))
            spec["liked"] = draw(st.none() | st.integers(0, 3))
            spec["disliked"] = draw(st.none() | st.integers(0, 3))
            spec["words"] = draw(st.none() | st.integers(0, 60))
            spec["bot_words"] = draw(st.none() | st.integers(0, 400))
            spec["cost"] = draw(st.none() | st.floats(0, 3) | st.sampled_from([0.1, 0.2, 0.3]))
            spec["duration_s"] = draw(st.sampled_from([0, 30, 59, 60, 61]) | st.integers(0, 10**6))
        specs.append(spec)
    return specs


@settings(max_examples=60, deadline=None)
@given(
    specs=session_specs(),
    cap=st.sampled_from([2, 5, 256]),
    first=st.integers(0, 20),
    length=st.integers(1, 25),
    tz=st.sampled_from(TZS),
)
def test_rollups_equal_the_scans_on_hand_built_data(specs, cap, first, length, tz):
    from tests.conftest import build_dataset

    ds = build_dataset(specs)
    start = date(2026, 11, 1) + timedelta(days=first)
    state = FilterState(range="custom", start=start, end=start + timedelta(days=length - 1), tz=tz)
    before = rollups.HISTOGRAM_CAP
    rollups.HISTOGRAM_CAP = cap  # small caps: the medians and percentiles fall back to scans
    try:
        both_ways(ds, state, today=date(2026, 11, 30))
        both_ways(ds, FilterState(range="all", tz=tz), today=date(2026, 11, 30))
    finally:
        rollups.HISTOGRAM_CAP = before


@given(values=st.lists(st.integers(0, 30), min_size=1, max_size=200), cap=st.integers(1, 40))
def test_order_statistics_of_a_capped_histogram(values, cap):
    before = rollups.HISTOGRAM_CAP
    rollups.HISTOGRAM_CAP = cap
    try:
        array = np.array(values, dtype=float)
        counts = rollups.count_histogram(np.zeros(len(values), np.int64), 1, array)[0]
    finally:
        rollups.HISTOGRAM_CAP = before
    ordered = np.sort(array)
    for k in range(len(values)):
        got = rollups.order_statistic(counts, k)
        if ordered[k] < cap:
            assert got == ordered[k]
        else:
            assert got is None


@pytest.mark.parametrize(
    "state",
    [
        FilterState(range="30d"),
        FilterState(range="365d"),
        FilterState(range="90d", tz="America/New_York", compare="periods"),
        FilterState(range="custom", start=date(2026, 6, 1), end=date(2026, 9, 30)),
        FilterState(range="all", tags=("safe",)),
    ],
)
def test_every_view_model_equals_the_scans(demo_dataset, state):
    """Each tab's whole view model, computed with the roll-ups and without."""
    from services.views import cache
    from services.views.cost import cost_view
    from services.views.engagement import engagement_view
    from services.views.overview import overview
    from services.views.quality import quality_view

    views = (overview, engagement_view, quality_view, cost_view)
    cache.clear()
    fast = [view(demo_dataset, state, today=DEMO_ANCHOR) for view in views]
    cache.clear()
    with rollups.disabled():
        slow = [view(demo_dataset, state, today=DEMO_ANCHOR) for view in views]
    cache.clear()
    for got, want in zip(fast, slow, strict=True):
        same(got, want)


def test_columns_that_are_not_whole_counts_are_scanned(make_dataset):
    ds = make_dataset(
        [
            {"id": f"s{i}", "created": f"2026-11-{1 + i % 9:02d}T10:00:00Z", "human": 2, "up": 1}
            for i in range(20)
        ]
    )
    halves = dataclasses.replace(ds, thumbs_up=ds.thumbs_up + 0.5, _derived={})
    state = FilterState(range="custom", start=date(2026, 11, 2), end=date(2026, 11, 6))
    for dataset, answers in ((ds, True), (halves, False)):
        assert rollups.counts(dataset, "thumbs_up") is answers
        sel = select(dataset, state, today=date(2026, 11, 30))
        found = rollups.window_sum(sel, "ratings", engagement._ratings_rollup)
        assert (found is not None) is answers
        both_ways(dataset, state, today=date(2026, 11, 30))


@given(
    cells=st.lists(st.integers(0, 50), max_size=200),
    spread=st.sampled_from([10, 2**20]),
    dense=st.booleans(),
)
def test_earliest_per_cell_equals_a_groupby_min(cells, spread, dense):
    rng = np.random.default_rng(len(cells))
    values = rng.integers(-spread, spread, size=len(cells))
    before = rollups.DENSE_BYTES
    rollups.DENSE_BYTES = before if dense else 0  # 0: always the sort
    try:
        got_cells, got = rollups.earliest_per_cell(np.array(cells, np.int64), 51, values)
    finally:
        rollups.DENSE_BYTES = before
    want = pd.Series(values).groupby(np.array(cells, np.int64)).min()
    assert got_cells.tolist() == want.index.tolist()
    assert got.tolist() == want.tolist()


@given(
    offsets=st.lists(st.integers(0, 9), max_size=200),
    width=st.integers(1, 7),
    dense=st.booleans(),
)
def test_sparse_per_day_cells_equal_the_sessions(offsets, width, dense):
    days = np.array(offsets, dtype=np.int64)
    codes = (days * 7 + 3) % width
    before = rollups.DENSE_BYTES
    rollups.DENSE_BYTES = before if dense else 0
    try:
        built = rollups.sparse_per_day("x", days, 10, codes, width)
    finally:
        rollups.DENSE_BYTES = before
    starts, found_codes, counts = built["x.starts"], built["x.codes"], built["x.counts"]
    table = np.zeros((10, width), dtype=np.int64)
    for day in range(10):
        for k in range(int(starts[day]), int(starts[day + 1])):
            table[day, int(found_codes[k])] += int(counts[k])
    want = np.zeros((10, width), dtype=np.int64)
    np.add.at(want, (days, codes), 1)
    assert np.array_equal(table, want)
    assert (counts > 0).all()


# ---- storage: narrow integer types, a byte budget --------------------------------------------


@given(
    values=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20),
    dtype=st.sampled_from([np.int16, np.int32, np.int64, np.uint16, np.uint32]),
)
def test_narrowed_keeps_every_value_in_a_type_no_wider(values, dtype):
    info = np.iinfo(dtype)
    array = np.clip(np.array(values), info.min, info.max).astype(dtype)
    stored = rollups.narrowed(array)
    assert stored.dtype.itemsize <= array.dtype.itemsize
    assert np.array_equal(stored.astype(dtype), array)
    if array.min() >= 0 and array.max() <= 255:
        assert stored.dtype == np.uint8
    if array.min() < -(2**31) or array.max() >= 2**32:
        assert stored.dtype == array.dtype
    floats = array.astype(np.float64)
    assert rollups.narrowed(floats) is floats


def test_a_feature_is_stored_narrow_and_read_in_its_builders_type(demo_dataset):
    sel = select(demo_dataset, FilterState(range="30d"), today=DEMO_ANCHOR)
    rows = rollups.window_rows(sel, "messages", engagement._messages_rollup)
    assert rows.dtype == np.int32
    key = sel.state.with_changes(range="all", start=None, end=None)
    rollup = demo_dataset._derived["daily_rollups"][key]
    assert rollup.features["messages"].dtype in (np.uint8, np.uint16)
    whole, _ = rollups.feature(sel, "patterns.starts", metrics.pattern_rollup)
    assert whole.dtype == np.int64
    assert rollup.features["patterns.starts"].dtype.itemsize < 8


def held(dataset) -> int:
    """Bytes of the dataset's roll-ups now."""
    return sum(rollup.nbytes for rollup in dataset._derived["daily_rollups"].values())


def test_rollups_stay_within_their_byte_budget(demo_dataset, monkeypatch):
    cache = demo_dataset._derived.setdefault("daily_rollups", {})
    cache.clear()
    one = select(demo_dataset, FilterState(range="30d"), today=DEMO_ANCHOR)
    engagement.messages_per_session(one)
    size = held(demo_dataset)
    assert size > 0
    # room for two filter sets' message histograms, not three
    monkeypatch.setattr(rollups, "ROLLUP_BYTES", 2 * size + size // 2)
    for experiment in sorted(demo_dataset.experiments)[:3]:
        state = FilterState(range="30d", experiments=(experiment,))
        engagement.messages_per_session(select(demo_dataset, state, today=DEMO_ANCHOR))
        assert held(demo_dataset) <= rollups.ROLLUP_BYTES
    assert len(cache) >= 2  # the oldest went first
    assert FilterState(range="all") not in cache
    # the filter set in use is kept even alone above the budget
    monkeypatch.setattr(rollups, "ROLLUP_BYTES", 1)
    engagement.messages_per_session(one)
    assert len(cache) == 1 and held(demo_dataset) == size
    with rollups.disabled():
        want = engagement.messages_per_session(one)
    same(engagement.messages_per_session(one), want)
