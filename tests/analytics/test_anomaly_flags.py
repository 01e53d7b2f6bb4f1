"""The anomaly flags in NumPy equal the pandas rolling code they replaced, to the last bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import anomalies
from services.analytics.anomalies import (
    BASELINE_DAYS,
    MAD_SCALE,
    MIN_BASELINE_VERDICTS,
    MIN_SESSIONS,
    MIN_VERDICTS,
    K,
)
from services.analytics.query import select
from tests.analytics.test_query import demo_states
from tests.conftest import DEMO_ANCHOR


def reference_session_flags(series: pd.DataFrame) -> pd.DataFrame:
    """The former pandas implementation."""
    counts = series["sessions"].astype(float)
    expected = anomalies._same_weekday_median(counts, series["day"])
    residual = (counts - expected).abs()
    mad = residual.shift(1).rolling(BASELINE_DAYS, min_periods=14).median()
    sigma = np.maximum(np.maximum(MAD_SCALE * mad.fillna(0), np.sqrt(expected.clip(lower=0))), 1)
    low = (expected - K * sigma).clip(lower=0)
    high = expected + K * sigma
    loud = np.maximum(counts, expected) >= MIN_SESSIONS
    flagged = series["judge"] & expected.notna() & loud & ((counts > high) | (counts < low))
    return pd.DataFrame(
        {
            "day": series["day"],
            "metric": "sessions",
            "value": counts,
            "expected": expected,
            "low": low,
            "high": high,
            "direction": np.where(counts > high, "up", "down"),
            "n": series["sessions"],
        }
    )[flagged]


def reference_rate_flags(series: pd.DataFrame) -> pd.DataFrame:
    good = series["good"].astype(float)
    n = series["verdicts"].astype(float)
    base_good = good.shift(1).rolling(BASELINE_DAYS, min_periods=1).sum()
    base_n = n.shift(1).rolling(BASELINE_DAYS, min_periods=1).sum()
    expected = (base_good / base_n).where(base_n >= MIN_BASELINE_VERDICTS)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = good / n
        sigma = np.sqrt(expected * (1 - expected) / n)
    low = (expected - K * sigma).clip(lower=0)
    high = (expected + K * sigma).clip(upper=1)
    flagged = (
        series["judge"] & expected.notna() & (n >= MIN_VERDICTS) & ((rate > high) | (rate < low))
    )
    return pd.DataFrame(
        {
            "day": series["day"],
            "metric": "good_rate",
            "value": rate,
            "expected": expected,
            "low": low,
            "high": high,
            "direction": np.where(rate > high, "up", "down"),
            "n": series["verdicts"],
        }
    )[flagged]


def same_flags(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_exact=True
    )


values = st.lists(
    st.one_of(st.none(), st.integers(0, 400).map(float), st.floats(0, 500, width=32)),
    max_size=120,
).map(lambda v: np.array([np.nan if x is None else x for x in v], dtype=float))


@given(values=values, window=st.integers(1, 30), min_periods=st.integers(0, 30))
def test_rolling_median_equals_pandas(values, window, min_periods):
    min_periods = min(min_periods, window)
    want = pd.Series(values, dtype=float).rolling(window, min_periods=min_periods).median()
    got = anomalies.rolling_median(values, window, min_periods)
    np.testing.assert_array_equal(got, want.to_numpy())


@given(
    values=st.lists(st.one_of(st.none(), st.integers(0, 10**6)), max_size=120),
    window=st.integers(1, 30),
)
def test_rolling_sum_of_whole_numbers_equals_pandas(values, window):
    array = np.array([np.nan if x is None else x for x in values], dtype=float)
    want = pd.Series(array, dtype=float).rolling(window, min_periods=1).sum()
    np.testing.assert_array_equal(anomalies.rolling_sum(array, window), want.to_numpy())


@st.composite
def daily(draw) -> pd.DataFrame:
    size = draw(st.integers(1, 90))
    sessions = np.array(draw(st.lists(st.integers(0, 60), min_size=size, max_size=size)))
    verdicts = np.minimum(sessions, draw(st.integers(0, 40)))
    good = (verdicts * draw(st.floats(0, 1))).astype(np.int64)
    spikes = draw(st.lists(st.integers(0, size - 1), max_size=4))
    sessions[spikes] *= 5
    first = draw(st.integers(0, size - 1))
    days = np.arange(20000, 20000 + size)
    return pd.DataFrame(
        {
            "day": days,
            "sessions": sessions.astype(np.int64),
            "good": good,
            "verdicts": verdicts.astype(np.int64),
            "judge": days >= days[first],
        }
    )


@settings(max_examples=200, deadline=None)
@given(series=daily())
def test_flags_equal_the_pandas_code(series):
    same_flags(anomalies._session_flags(series), reference_session_flags(series))
    same_flags(anomalies._rate_flags(series), reference_rate_flags(series))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_flags_on_demo_equal_the_pandas_code(demo_dataset, data):
    state = data.draw(demo_states(demo_dataset))
    series = anomalies.daily_series(select(demo_dataset, state, today=DEMO_ANCHOR), DEMO_ANCHOR)
    if series is None:
        return
    same_flags(anomalies._session_flags(series), reference_session_flags(series))
    same_flags(anomalies._rate_flags(series), reference_rate_flags(series))
