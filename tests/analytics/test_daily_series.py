"""The anomaly baseline's daily series equals one wide selection counted directly."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from services.analytics import anomalies, metrics
from services.analytics.filters import NS_PER_DAY, FilterState
from services.analytics.query import select
from tests.conftest import DEMO_ANCHOR


def reference(sel, today: date):
    """Per day: sessions, good, verdicts over the window plus LOOKBACK_DAYS before it, read
    from one selection of the whole span (the straightforward way)."""
    ds = sel.dataset
    start_ns = sel.start_ns if sel.start_ns is not None else ds.data_start_ns
    end_ns = sel.end_ns if sel.end_ns is not None else ds.data_end_ns + 1
    wide = select(
        ds, sel.state, window_override=(start_ns - anomalies.LOOKBACK_DAYS * NS_PER_DAY, end_ns)
    )
    days = wide.column("day").astype(np.int64)
    last_day = min(int(metrics.window_days(sel)[1]), (today - date(1970, 1, 1)).days - 1)
    keep = days <= last_day
    base = int(days.min())
    span = last_day - base + 1
    good, bad = metrics.verdict_masks(wide)
    offset = days[keep] - base
    good, bad = good[keep], bad[keep]
    return (
        np.bincount(offset, minlength=span)[:span],
        np.bincount(offset[good & ~bad], minlength=span)[:span],
        np.bincount(offset[good | bad], minlength=span)[:span],
        base,
    )


@pytest.mark.parametrize(
    "state",
    [
        FilterState(range="30d"),
        FilterState(range="90d", tz="America/New_York"),
        FilterState(range="all"),
        FilterState(range="custom", start=date(2026, 9, 1), end=date(2026, 10, 20)),
        FilterState(range="365d", platforms=("whatsapp",)),
    ],
)
def test_daily_series_equals_one_wide_selection(demo_dataset, state):
    sel = select(demo_dataset, state, today=DEMO_ANCHOR)
    series = anomalies.daily_series(sel, DEMO_ANCHOR)
    sessions, good, verdicts, base = reference(sel, DEMO_ANCHOR)
    assert int(series["day"].iloc[0]) == base
    assert np.array_equal(series["sessions"].to_numpy(), sessions)
    assert np.array_equal(series["good"].to_numpy(), good)
    assert np.array_equal(series["verdicts"].to_numpy(), verdicts)
    assert sessions.sum() > 0
