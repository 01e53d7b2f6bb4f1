"""FilterState ⇄ URL query string, validation notices and date windows."""

from __future__ import annotations

import json
from datetime import date, timedelta
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from services.analytics.filters import (
    GRANULARITIES,
    NS_PER_DAY,
    PRESETS,
    RANGE_CHOICES,
    TAG_MODES,
    UNTAGGED,
    FilterState,
    Vocabulary,
    auto_granularity,
    parse_params,
    parse_query,
    previous_window,
    window,
)

LIST_ATTRS = ("experiments", "teams", "tags", "platforms", "statuses", "versions")
QUERY_KEYS = (
    "range",
    "start",
    "end",
    "experiment",
    "team",
    "tag",
    "tag_mode",
    "platform",
    "status",
    "version",
    "granularity",
)
TODAY = date(2026, 11, 22)


def day_ns(day: date) -> int:
    return (day - date(1970, 1, 1)).days * NS_PER_DAY


def assert_valid(state: FilterState, notices: list[str]) -> None:
    assert isinstance(state, FilterState)
    assert isinstance(notices, list) and all(isinstance(n, str) and n for n in notices)
    assert state.notices == tuple(notices)
    assert state.range in RANGE_CHOICES
    assert state.tag_mode in TAG_MODES
    assert state.granularity in GRANULARITIES
    for attr in LIST_ATTRS:
        values = getattr(state, attr)
        assert isinstance(values, tuple)
        assert len(values) <= 200
        assert len(set(values)) == len(values)
        for value in values:
            assert isinstance(value, str) and value == value.strip() and value and "," not in value
    if state.range != "custom":
        assert state.start is None and state.end is None
    for day in (state.start, state.end):
        assert day is None or isinstance(day, date)
    if state.start and state.end:
        assert state.start <= state.end
    # a parsed state always has a usable window and a canonical query that parses back to it
    window(state, TODAY)
    again, again_notices = parse_query(state.to_query())
    assert again == state
    assert again_notices == []


# ---- parsing never fails ------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_parses_to_valid_state(text):
    assert_valid(*parse_query(text))
    assert_valid(*parse_query("?" + text))


value_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["7d", "30d", "all", "custom", "any", "all", "day", "week", "2026-11-02", "2026-02-30"]
    ),
    st.dates().map(date.isoformat),
    st.lists(st.text(max_size=8), max_size=5).map(",".join),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=10)), value_text),
        max_size=12,
    )
)
def test_structured_queries_parse_to_valid_state(pairs):
    query = urlencode(pairs)
    assert_valid(*parse_query(query))
    vocabulary = Vocabulary(
        experiments=frozenset({"e1", "e2"}),
        teams=frozenset({"team-a"}),
        tags=frozenset({"safe"}),
        platforms=frozenset({"web"}),
        statuses=frozenset({"active"}),
        versions=frozenset({"v1"}),
    )
    state, notices = parse_query(query, vocabulary)
    assert_valid(state, notices)
    assert set(state.experiments) <= {"e1", "e2"}
    assert set(state.tags) <= {"safe", UNTAGGED}


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(QUERY_KEYS), st.one_of(st.none(), value_text)))
def test_parse_params_never_raises(params):
    state, notices = parse_params(params)
    assert_valid(state, notices)


# ---- round trips ----------------------------------------------------------------------------

filter_value = st.text(min_size=1, max_size=12).filter(lambda v: "," not in v and v == v.strip())
value_tuple = st.lists(filter_value, max_size=4, unique=True).map(tuple)


@st.composite
def valid_states(draw) -> FilterState:
    range_ = draw(st.sampled_from(RANGE_CHOICES))
    start = end = None
    if range_ == "custom":
        start = draw(st.none() | st.dates(date(2000, 1, 1), date(2100, 1, 1)))
        end = draw(st.none() | st.dates(date(2000, 1, 1), date(2100, 1, 1)))
        if start and end and end < start:
            start, end = end, start
    return FilterState(
        range=range_,
        start=start,
        end=end,
        experiments=draw(value_tuple),
        teams=draw(value_tuple),
        tags=draw(value_tuple),
        tag_mode=draw(st.sampled_from(TAG_MODES)),
        platforms=draw(value_tuple),
        statuses=draw(value_tuple),
        versions=draw(value_tuple),
        granularity=draw(st.sampled_from(GRANULARITIES)),
    )


@settings(max_examples=300, deadline=None)
@given(valid_states())
def test_query_round_trip(state):
    query = state.to_query()
    parsed, notices = parse_query(query)
    assert parsed == state
    assert notices == []
    assert parsed.to_query() == query  # canonical


@settings(max_examples=200, deadline=None)
@given(valid_states())
def test_dict_round_trip(state):
    data = state.to_dict()
    assert json.loads(json.dumps(data)) == data  # JSON-safe
    assert FilterState.from_dict(data) == state
    assert FilterState.from_dict(json.loads(json.dumps(data))).to_dict() == data


def test_default_state_has_empty_query():
    assert FilterState().to_query() == ""
    assert parse_query("")[0] == FilterState()
    assert parse_query(None)[0] == FilterState()
    assert FilterState.from_dict(None) == FilterState()
    assert FilterState.from_dict({}) == FilterState()


def test_canonical_query_order():
    state = FilterState(
        range="custom",
        start=date(2026, 11, 1),
        end=date(2026, 11, 7),
        teams=("b", "a"),
        experiments=("e1",),
        tag_mode="all",
        granularity="week",
    )
    assert state.to_query() == (
        "?range=custom&start=2026-11-01&end=2026-11-07&experiment=e1&team=b,a"
        "&tag_mode=all&granularity=week"
    )


# ---- notices ------------------------------------------------------------------------------


def test_unknown_values_dropped_with_notice():
    vocabulary = Vocabulary(experiments=frozenset({"e1"}), tags=frozenset({"safe"}))
    state, notices = parse_query(
        "?experiment=e1,nope&tag=safe,__untagged__,ghost&team=anything", vocabulary
    )
    assert state.experiments == ("e1",)
    assert state.tags == ("safe", UNTAGGED)
    assert state.teams == ("anything",)  # no vocabulary for teams → accepted
    assert len(notices) == 2
    assert any("nope" in n and "experiment" in n for n in notices)
    assert any("ghost" in n and "tag" in n for n in notices)


def test_all_values_unknown_leaves_filter_empty():
    state, notices = parse_query("?experiment=x,y", Vocabulary(experiments=frozenset({"e1"})))
    assert state.experiments == ()
    assert len(notices) == 1


def test_invalid_scalars_dropped_with_notices():
    state, notices = parse_query("?range=3d&tag_mode=some&granularity=hour&start=yesterday&bogus=1")
    assert state == FilterState()
    assert len(notices) == 5
    assert any("bogus" in n for n in notices)


def test_dates_imply_custom_range_and_are_ignored_with_presets():
    state, notices = parse_query("?start=2026-11-01")
    assert (state.range, state.start, state.end) == ("custom", date(2026, 11, 1), None)
    assert notices == []
    state, notices = parse_query("?range=7d&start=2026-11-01&end=2026-11-03")
    assert (state.range, state.start, state.end) == ("7d", None, None)
    assert len(notices) == 1


def test_swapped_start_and_end():
    state, notices = parse_query("?range=custom&start=2026-11-10&end=2026-11-01")
    assert (state.start, state.end) == (date(2026, 11, 1), date(2026, 11, 10))
    assert len(notices) == 1 and "swapped" in notices[0]


def test_repeated_list_keys_merge_and_deduplicate():
    state, _ = parse_query("?team=a&team=b,a&team=%20c%20")
    assert state.teams == ("a", "b", "c")


def test_too_many_values_capped():
    values = ",".join(f"e{i}" for i in range(250))
    state, notices = parse_query(f"?experiment={values}")
    assert len(state.experiments) == 200
    assert state.experiments[-1] == "e199"
    assert len(notices) == 1


# ---- windows ------------------------------------------------------------------------------


def test_custom_end_date_is_inclusive():
    state = FilterState(range="custom", start=date(2026, 11, 2), end=date(2026, 11, 8))
    assert window(state, TODAY) == (day_ns(date(2026, 11, 2)), day_ns(date(2026, 11, 9)))
    assert window(FilterState(range="custom", end=date(2026, 11, 8)), TODAY) == (
        None,
        day_ns(date(2026, 11, 9)),
    )
    assert window(FilterState(range="custom", start=date(2026, 11, 2)), TODAY) == (
        day_ns(date(2026, 11, 2)),
        None,
    )
    single = FilterState(range="custom", start=date(2026, 11, 2), end=date(2026, 11, 2))
    start, end = window(single, TODAY)
    assert end - start == NS_PER_DAY


def test_presets_count_today():
    start, end = window(FilterState(range="7d"), TODAY)
    assert start == day_ns(date(2026, 11, 16))  # today and the six days before
    assert end == day_ns(date(2026, 11, 23))  # up to the next midnight
    for key, days in PRESETS.items():
        start, end = window(FilterState(range=key), TODAY)
        assert end - start == days * NS_PER_DAY
        assert end == day_ns(TODAY + timedelta(days=1))
    assert window(FilterState(range="all"), TODAY) == (None, None)


@given(
    st.integers(-(10**18), 10**18),
    st.integers(1, 10**17),
)
def test_previous_window_equal_length_and_adjacent(start, length):
    prev = previous_window(start, start + length)
    assert prev is not None
    assert prev[1] == start
    assert prev[1] - prev[0] == length


def test_previous_window_unbounded():
    assert previous_window(None, 10) is None
    assert previous_window(10, None) is None
    assert previous_window(None, None) is None


def test_previous_window_of_a_preset():
    start, end = window(FilterState(range="30d"), TODAY)
    prev_start, prev_end = previous_window(start, end)
    assert prev_end == start
    assert prev_start == day_ns(TODAY - timedelta(days=59))


def test_auto_granularity_thresholds():
    assert auto_granularity(None, None) == "month"
    assert auto_granularity(0, None) == "month"
    assert auto_granularity(0, 62 * NS_PER_DAY) == "day"
    assert auto_granularity(0, 63 * NS_PER_DAY) == "week"
    assert auto_granularity(0, 270 * NS_PER_DAY) == "week"
    assert auto_granularity(0, 271 * NS_PER_DAY) == "month"
