"""Anomaly flags: days whose volume or annotation good rate leave their expected band.

No thresholds to set up. Each day of the selected window is compared with a **trailing**
baseline built from the days before it, under the same filters (the baseline may reach back
before the window: up to :data:`LOOKBACK_DAYS`).

* **Sessions** (sessions started that day): weekday-aware, so a normal weekend dip is not an
  anomaly. ``expected`` = median of the same weekday in the previous 4 weeks (≥ 3 of them
  needed); the spread σ = 1.4826 × median absolute deviation of the previous 28 days'
  residuals (day − its own expected), at least √expected (Poisson noise) and at least 1.
  Band = expected ± :data:`K` σ. Quiet days are never flagged: the day's count or its
  expected count must be ≥ :data:`MIN_SESSIONS`.
* **Good rate** (:func:`services.analytics.metrics.rated_good`: sessions rated good ÷ sessions with a
  verdict): ``expected`` = pooled rate of the previous 28 days (≥ :data:`MIN_BASELINE_VERDICTS`
  verdicts needed); band = expected ± :data:`K` × binomial σ at the day's own n
  (√(p(1−p)/n)), clipped to [0, 1]. Only days with ≥ :data:`MIN_VERDICTS` verdicts are judged.
* Days are calendar days in the filter state's time zone (``tz``), like the charts.
* The baseline starts on the first day with a selected session (days before a chatbot
  launched are not "zero sessions"), and **today is never judged** (it is not over yet).

:func:`anomalies` returns one row per flagged day and metric; it is what the Overview chart
marks, the Engagement tab lists and the weekly report quotes.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from services.analytics import metrics, rollups
from services.analytics.filters import NS_PER_DAY, local_days, today_in
from services.analytics.query import Selection, select

K = 3.5
"""Width of the expected band in σ."""
MIN_SESSIONS = 10
"""A sessions flag needs the day's count or its expected count to be at least this."""
MIN_VERDICTS = 10
"""A good-rate flag needs at least this many sessions with a verdict on the day."""
MIN_BASELINE_VERDICTS = 30
"""…and at least this many in the 28-day baseline."""
BASELINE_DAYS = 28
LOOKBACK_DAYS = 56
"""How far before the window the baseline reads (4 weeks of expected + 4 of residuals)."""
MAD_SCALE = 1.4826
COLUMNS = ["day", "metric", "value", "expected", "low", "high", "direction", "n"]
METRIC_LABELS = {"sessions": "Sessions", "good_rate": "Good rate"}


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS)


def daily_series(sel: Selection, today: date | None = None) -> pd.DataFrame | None:
    """Per day from the baseline start to the window's last complete day: ``sessions``,
    ``good`` and ``verdicts`` (see :func:`services.analytics.metrics.rated_good`), plus ``judge`` (the
    day is inside the selected window). None when there is nothing to judge."""
    ds = sel.dataset
    if ds.n == 0:
        return None
    today = today or today_in(sel.state.tz)
    today_day = (today - date(1970, 1, 1)).days
    start_ns = sel.start_ns if sel.start_ns is not None else ds.data_start_ns
    end_ns = sel.end_ns if sel.end_ns is not None else ds.data_end_ns + 1
    # calendar days in the state's time zone, as sel.column("day") counts them
    first_day, window_last = (
        int(d) for d in local_days(np.array([start_ns, end_ns - 1]), sel.state.tz)
    )
    last_day = min(window_last, today_day - 1)
    if last_day < first_day:
        return None
    # whole local days (the page's windows): the per-day counts of the filter set
    before = LOOKBACK_DAYS if sel.start_ns is not None else 0
    if before == 0 or rollups.starts_a_day(start_ns - before * NS_PER_DAY, sel.state.tz):
        rows = rollups.window_rows(sel, "verdicts", _verdicts_rollup, before=before)
        if rows is not None:
            return _series_of_days(rows, first_day - before, first_day, last_day)
    # the baseline's sessions: the selection itself (its columns are usually read already) plus
    # the LOOKBACK_DAYS before it, instead of one wide selection reading every row again
    parts = [sel]
    if sel.start_ns is not None:
        parts.insert(
            0,
            select(
                ds, sel.state, window_override=(start_ns - LOOKBACK_DAYS * NS_PER_DAY, start_ns)
            ),
        )
    parts = [part for part in parts if part.n]
    if not parts:
        return None
    base = min(int(part.column("day").min()) for part in parts)  # the first selected session
    span = last_day - base + 1
    if span <= 0:
        return None
    sessions = np.zeros(span, dtype=np.int64)
    good_days = np.zeros(span, dtype=np.int64)
    verdicts = np.zeros(span, dtype=np.int64)
    for part in parts:
        days = part.column("day").astype(np.int64)
        keep = days <= last_day  # drop today (and anything after the last judged day)
        good, bad = metrics.verdict_masks(part)
        good, bad, offset = good[keep], bad[keep], days[keep] - base
        sessions += np.bincount(offset, minlength=span)[:span]
        good_days += np.bincount(offset[good & ~bad], minlength=span)[:span]
        verdicts += np.bincount(offset[good | bad], minlength=span)[:span]
    return pd.DataFrame(
        {
            "day": np.arange(base, last_day + 1),
            "sessions": sessions,
            "good": good_days,
            "verdicts": verdicts,
            "judge": np.arange(base, last_day + 1) >= first_day,
        }
    )


def _verdicts_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict:
    """Per day: sessions, sessions rated good and sessions with a verdict (:func:`daily_series`)."""
    if every.n == 0:
        return {"verdicts": np.zeros((n_days, 3), dtype=np.int64)}
    good, bad = metrics.verdict_masks(every)
    columns = [
        rollups.per_day(days, n_days),
        rollups.per_day(days, n_days, good & ~bad),
        rollups.per_day(days, n_days, good | bad),
    ]
    return {"verdicts": np.stack(columns, axis=1)}


def _series_of_days(
    rows: np.ndarray, first_row_day: int, first_day: int, last_day: int
) -> pd.DataFrame | None:
    """:func:`daily_series` from the per-day (sessions, good, verdicts) of the days
    ``first_row_day ..`` (the lookback and the window)."""
    present = np.flatnonzero(rows[:, 0])
    if present.size == 0:
        return None
    base = first_row_day + int(present[0])  # the first selected session
    span = last_day - base + 1
    if span <= 0:
        return None
    part = rows[base - first_row_day : last_day - first_row_day + 1]
    days = np.arange(base, last_day + 1)
    return pd.DataFrame(
        {
            "day": days,
            "sessions": part[:, 0].astype(np.int64),
            "good": part[:, 1].astype(np.int64),
            "verdicts": part[:, 2].astype(np.int64),
            "judge": days >= first_day,
        }
    )


def _same_weekday_median(counts: pd.Series, days: pd.Series) -> pd.Series:
    """Median of the same weekday in the previous 4 weeks (≥ 3 of them), NaN before that.

    Equal to ``counts.groupby(days % 7).transform(lambda g: g.shift(1).rolling(4,
    min_periods=3).median())``; on consecutive days (what :func:`daily_series` returns) the
    previous same weekdays are simply the values 7, 14, 21 and 28 rows back.
    """
    day_values = days.to_numpy()
    if len(day_values) > 1 and not (np.diff(day_values) == 1).all():
        return counts.groupby(days % 7).transform(
            lambda g: g.shift(1).rolling(4, min_periods=3).median()
        )
    values = counts.to_numpy(dtype=float)
    size = len(values)
    expected = np.full(size, np.nan)
    if size > 21:
        three = min(size, 28)
        expected[21:three] = np.median(
            np.stack([values[21 - 7 * k : three - 7 * k] for k in (1, 2, 3)]), axis=0
        )
    if size > 28:
        expected[28:] = np.median(
            np.stack([values[28 - 7 * k : size - 7 * k] for k in (1, 2, 3, 4)]), axis=0
        )
    return pd.Series(expected, index=counts.index, name=counts.name)


def rolling_median(values: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """``pd.Series(values).rolling(window, min_periods).median()`` in NumPy (NaN ignored,
    fewer than ``min_periods`` values: NaN): the same two order statistics averaged the same
    way, without pandas' per-call overhead on a few hundred days."""
    size = len(values)
    if size == 0:
        return np.zeros(0)
    padded = np.concatenate([np.full(window - 1, np.nan), np.asarray(values, dtype=float)])
    ordered = np.sort(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)
    count = np.count_nonzero(~np.isnan(ordered), axis=1)  # NaN sorts last
    rows = np.arange(size)
    low = ordered[rows, np.maximum(count - 1, 0) // 2]
    high = ordered[rows, count // 2 - (count == 0)]
    return np.where(count >= max(min_periods, 1), (high + low) / 2, np.nan)


def rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    """``pd.Series(values).rolling(window, min_periods=1).sum()`` for whole numbers (exact
    sums: the order does not matter), NaN where the window holds no value."""
    if len(values) == 0:
        return np.zeros(0)
    padded = np.concatenate([np.full(window - 1, np.nan), np.asarray(values, dtype=float)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    count = np.count_nonzero(~np.isnan(windows), axis=1)
    return np.where(count > 0, np.nansum(windows, axis=1), np.nan)


def _shifted(values: np.ndarray) -> np.ndarray:
    """``Series.shift(1)`` of a float array."""
    return np.concatenate([[np.nan], values[:-1]]) if len(values) else values


def _session_flags(series: pd.DataFrame) -> pd.DataFrame:
    counts = series["sessions"].to_numpy(dtype=float)
    expected = _same_weekday_median(series["sessions"].astype(float), series["day"]).to_numpy()
    residual = np.abs(counts - expected)
    mad = rolling_median(_shifted(residual), BASELINE_DAYS, 14)
    sigma = np.maximum(
        np.maximum(MAD_SCALE * np.nan_to_num(mad, nan=0.0), np.sqrt(np.clip(expected, 0, None))),
        1,
    )
    low = np.clip(expected - K * sigma, 0, None)
    high = expected + K * sigma
    loud = np.maximum(counts, expected) >= MIN_SESSIONS
    with np.errstate(invalid="ignore"):
        outside = (counts > high) | (counts < low)
    flagged = series["judge"].to_numpy() & ~np.isnan(expected) & loud & outside
    return pd.DataFrame(
        {
            "day": series["day"].to_numpy()[flagged],
            "metric": "sessions",
            "value": counts[flagged],
            "expected": expected[flagged],
            "low": low[flagged],
            "high": high[flagged],
            "direction": np.where(counts > high, "up", "down")[flagged],
            "n": series["sessions"].to_numpy()[flagged],
        }
    )


def _rate_flags(series: pd.DataFrame) -> pd.DataFrame:
    good = series["good"].to_numpy(dtype=float)
    n = series["verdicts"].to_numpy(dtype=float)
    base_good = rolling_sum(_shifted(good), BASELINE_DAYS)
    base_n = rolling_sum(_shifted(n), BASELINE_DAYS)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(base_n >= MIN_BASELINE_VERDICTS, base_good / base_n, np.nan)
        rate = good / n
        sigma = np.sqrt(expected * (1 - expected) / n)
        low = np.clip(expected - K * sigma, 0, None)
        high = np.clip(expected + K * sigma, None, 1)
        outside = (rate > high) | (rate < low)
        direction = np.where(rate > high, "up", "down")
    flagged = series["judge"].to_numpy() & ~np.isnan(expected) & (n >= MIN_VERDICTS) & outside
    return pd.DataFrame(
        {
            "day": series["day"].to_numpy()[flagged],
            "metric": "good_rate",
            "value": rate[flagged],
            "expected": expected[flagged],
            "low": low[flagged],
            "high": high[flagged],
            "direction": direction[flagged],
            "n": series["verdicts"].to_numpy()[flagged],
        }
    )


def anomalies(selection: Selection, today: date | None = None) -> pd.DataFrame:
    """Days of the selection's window whose sessions or good rate leave the expected band.

    Columns: ``day`` (datetime64, UTC), ``metric`` (``sessions`` | ``good_rate``), ``value``,
    ``expected``, ``low``, ``high``, ``direction`` (``up`` | ``down``), ``n`` (sessions, or
    sessions with a verdict for the good rate). Oldest first; empty when nothing is unusual.
    See the module docstring for the method.
    """
    series = daily_series(selection, today)
    if series is None or len(series) == 0:
        return _empty()
    frame = pd.concat([_session_flags(series), _rate_flags(series)], ignore_index=True)
    if frame.empty:
        return _empty()
    frame["day"] = pd.to_datetime(frame["day"].to_numpy().astype("datetime64[D]"))
    frame["n"] = frame["n"].astype(np.int64)
    return frame.sort_values(["day", "metric"], ignore_index=True)[COLUMNS]


def describe(row) -> str:
    """One line for a flag, e.g. "Sat 14 Nov 2026 · Sessions 182, expected 95 (60–130) ↑"."""
    arrow = "↑" if row.direction == "up" else "↓"
    label = METRIC_LABELS.get(row.metric, row.metric)
    if row.metric == "good_rate":
        numbers = (
            f"{row.value:.0%} of {row.n:,}, expected {row.expected:.0%} "
            f"({row.low:.0%}–{row.high:.0%})"
        )
    else:
        numbers = f"{row.value:,.0f}, expected {row.expected:,.0f} ({row.low:,.0f}–{row.high:,.0f})"
    return f"{pd.Timestamp(row.day):%a %d %b %Y} · {label} {numbers} {arrow}"


def by_bucket(flags: pd.DataFrame, granularity: str) -> pd.DataFrame:
    """Flags grouped into the chart's buckets: ``bucket``, ``count``, ``text`` (one line per flag).

    For day granularity a bucket is the day itself.
    """
    if flags.empty:
        return pd.DataFrame(columns=["bucket", "count", "text"])
    days = (flags["day"].to_numpy().astype("datetime64[D]").astype(np.int64)).astype(np.int64)
    buckets = pd.to_datetime(metrics.bucket_labels(days, granularity))
    lines = [describe(row) for row in flags.itertuples()]
    frame = pd.DataFrame({"bucket": buckets, "text": lines})
    return (
        frame.groupby("bucket", as_index=False, sort=True)
        .agg(count=("text", "size"), text=("text", "<br>".join))
        .reset_index(drop=True)
    )
