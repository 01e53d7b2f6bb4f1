"""Unit checks of the edge helpers: the date window of the filters, FilterState.from_dict on
untrusted store values, the callback body checker, log escaping, and the new settings."""

from __future__ import annotations

import contextlib
import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.analytics.filters import (
    EARLIEST_DATE,
    LATEST_DATE,
    FilterState,
    dates_outside_window,
    parse_query,
)
from services.settings import SettingsError, load_settings
from services.web.edge import CallbackRequestError, check_callback_body, escape_log_text

# -- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "kept_start", "kept_end"),
    [
        ("range=custom&start=2024-01-01&end=9999-12-31", date(2024, 1, 1), None),
        ("range=custom&start=0001-01-01&end=2024-01-31", None, date(2024, 1, 31)),
        ("start=1999-12-31&end=2101-01-01", None, None),
        ("start=2000-01-01&end=2100-12-31", EARLIEST_DATE, LATEST_DATE),
    ],
)
def test_dates_outside_the_window_are_dropped_with_a_notice(query, kept_start, kept_end):
    state, notices = parse_query(query)
    assert (state.start, state.end) == (kept_start, kept_end)
    dropped = [n for n in notices if "is outside 2000-01-01 … 2100-12-31; ignored." in n]
    assert len(dropped) == (kept_start is None) + (kept_end is None)
    assert len(dates_outside_window(query)) == len(dropped)


def test_dates_outside_window_ignores_other_keys_and_invalid_text():
    assert dates_outside_window("tag=9999-12-31&start=abc&end=2024-13-01") == []
    assert dates_outside_window("?end=9999-12-31") == [
        "The end date 9999-12-31 is outside 2000-01-01 … 2100-12-31."
    ]


UNTRUSTED = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=16,
)
STATE_KEYS = st.sampled_from(
    [
        "range",
        "start",
        "end",
        "experiments",
        "teams",
        "tags",
        "tag_mode",
        "platforms",
        "statuses",
        "versions",
        "granularity",
        "tz",
    ]
)


@given(data=UNTRUSTED | st.dictionaries(STATE_KEYS, UNTRUSTED, max_size=8))
def test_from_dict_accepts_anything_and_keeps_dates_in_the_window(data):
    state = FilterState.from_dict(data)
    for day in (state.start, state.end):
        assert day is None or EARLIEST_DATE <= day <= LATEST_DATE
    for values in (state.experiments, state.teams, state.tags, state.platforms, state.versions):
        assert all(isinstance(v, str) and v for v in values)
    assert FilterState.from_dict(state.to_dict()) == state


# -- callback bodies ------------------------------------------------------------------------------

CALLBACKS = {
    "..a.children...b.figure..": {
        "inputs": [{"id": "tabs", "property": "active_tab"}, {"id": "store", "property": "data"}],
        "state": [{"id": "btn", "property": "n_clicks"}],
    },
    "dl.data": {
        "inputs": [{"id": '{"type":["ALL"]}', "property": "n_clicks"}],
        "state": [],
    },
}
GOOD = {
    "output": "..a.children...b.figure..",
    "outputs": [{"id": "a", "property": "children"}, {"id": "b", "property": "figure"}],
    "inputs": [
        {"id": "tabs", "property": "active_tab", "value": "cost"},
        {"id": "store", "property": "data", "value": {"anything": [1, "x"]}},
    ],
    "state": [{"id": "btn", "property": "n_clicks", "value": 3}],
    "changedPropIds": ["tabs.active_tab"],
}


def test_a_matching_body_passes():
    assert check_callback_body(json.dumps(GOOD).encode(), CALLBACKS) == GOOD
    pattern = {
        "output": "dl.data",
        "outputs": {"id": "dl", "property": "data"},
        "inputs": [[{"id": {"type": "x"}, "property": "n_clicks", "value": 1}]],
    }
    assert check_callback_body(json.dumps(pattern).encode(), CALLBACKS) == pattern


@pytest.mark.parametrize(
    "change",
    [
        {"output": "dl.data"},
        {"inputs": GOOD["inputs"][::-1]},
        {"state": [{"id": "btn", "property": "n_clicks", "value": -1}]},
        {"state": [{"id": "btn", "property": "n_clicks", "value": "3"}]},
        {"state": [{"id": "btn", "property": "n_clicks", "value": True}]},
        {"inputs": [{"id": "tabs", "property": "active_tab", "value": ["x"]}, GOOD["inputs"][1]]},
        {"outputs": [{"id": "a", "property": "children"}]},
        {"outputs": {"id": "a", "property": "children"}},
    ],
)
def test_a_mismatched_body_is_refused(change):
    with pytest.raises(CallbackRequestError):
        check_callback_body(json.dumps({**GOOD, **change}).encode(), CALLBACKS)


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_the_checker_raises_only_its_own_error(raw):
    with contextlib.suppress(CallbackRequestError):
        check_callback_body(raw, CALLBACKS)


# -- logs -----------------------------------------------------------------------------------------


def test_escape_log_text():
    assert escape_log_text("a\nb\r\x1b[31m\u2028\x7f") == "a\\x0ab\\x0d\\x1b[31m\\u2028\\x7f"
    long = escape_log_text("x" * 2500)
    assert long.startswith("x" * 2000) and long.endswith("… (+500 chars)")
    assert escape_log_text("plain · text") == "plain · text"


@given(st.text(max_size=3000))
def test_escaped_log_text_is_one_bounded_line(text):
    escaped = escape_log_text(text)
    assert len(escaped.splitlines()) <= 1  # no character any reader treats as a line break
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in escaped)
    assert len(escaped) <= 2000 + 30


# -- settings -------------------------------------------------------------------------------------


def load(**env):
    return load_settings(env, dotenv=False)


def test_trusted_proxy_hops_default_follows_production():
    assert load().trusted_proxy_hops == 0
    assert load(PORT="5000").trusted_proxy_hops == 1
    assert load(APP_ENV="production").trusted_proxy_hops == 1
    assert load(APP_ENV="production", TRUSTED_PROXY_HOPS="0").trusted_proxy_hops == 0
    assert load(TRUSTED_PROXY_HOPS="2").trusted_proxy_hops == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRUSTED_PROXY_HOPS": "-1"}, "TRUSTED_PROXY_HOPS must be at least 0"),
        ({"TRUSTED_PROXY_HOPS": "many"}, "TRUSTED_PROXY_HOPS must be a whole number"),
        ({"TRUSTED_PROXY_HOPS": "9"}, "TRUSTED_PROXY_HOPS must be at most 5"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must look like redis://"),
    ],
)
def test_bad_security_settings_are_one_clear_line(env, message):
    with pytest.raises(SettingsError) as caught:
        load(**env)
    assert any(message in p for p in caught.value.problems)


def test_redis_url_is_kept():
    assert load(REDIS_URL=" redis://127.0.0.1:6379/0 ").redis_url == "redis://127.0.0.1:6379/0"
    assert load().redis_url == ""
