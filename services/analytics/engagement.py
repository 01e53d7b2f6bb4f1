"""Engagement: how deep conversations go and whether participants come back.

Every number of the Engagement tab is defined once here (each function's docstring is its
definition), in the style of :mod:`services.analytics.metrics`. All functions take a
:class:`~services.analytics.query.Selection` and return a number or a small frame; nothing is per-row
on the way out.

Conventions:

* **Transcript numbers** (messages, words, duration, turns, 👍/👎) come from the per-session
  transcript summary, so they only cover sessions whose transcript has been synced
  (``has_transcript``); every function says how many sessions it used (``n``), and
  :func:`transcript_sessions` gives the coverage.
* **Messages** are participant (human) + bot (AI) messages; system summary messages never count
  (ADR-0051).
* A **turn** is one participant message, so a session's number of turns is its
  ``human_messages``.
* **Participants** are team + identifier (as in :func:`services.analytics.metrics.active_participants`).
* As everywhere in the dashboard, a session belongs to the bucket (day/week/month, UTC) in which
  it **started**.

* **Lexicon numbers** (appreciation / dissatisfaction) come from the per-session counts of
  participant messages matching :mod:`services.sync.lexicon`, made by the sync while it reads the
  transcript; the store keeps the counts, never the text. Transcripts synced before the counts
  existed have none (NaN) until the next full sync.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from services.analytics import metrics, rollups
from services.analytics.metrics import (
    bucket_labels,
    engaged,
    ratio,
    wilson_interval,
    window_days,
)
from services.analytics.query import Selection, select

DURATION_EDGES_MIN = (0, 1, 2, 5, 10, 15, 30, 60, 120, 240, 480, 1440)
"""Session-duration bin edges in minutes (log-ish); the last bin is "1 day or more"."""
DURATION_LABELS = (
    "<1 min",
    "1–2 min",
    "2–5 min",
    "5–10 min",
    "10–15 min",
    "15–30 min",
    "30–60 min",
    "1–2 h",
    "2–4 h",
    "4–8 h",
    "8–24 h",
    "1 day+",
)
WORD_EDGES = (0, 2, 4, 6, 8, 10, 15, 20, 30, 50, 100)
"""Words-per-user-message bin edges; the last bin is "100 or more"."""
SESSIONS_PER_PARTICIPANT_EDGES = (1, 2, 3, 4, 5, 6, 11, 21, 51)
"""Sessions-per-participant bin edges: 1, 2, 3, 4, 5, 6–10, 11–20, 21–50, 51+."""
MAX_MESSAGE_BINS = 40
"""Messages-per-session histogram: one bin per count up to here, then "N or more"."""
MAX_TURNS = 40
"""Drop-off curve: turns 1..MAX_TURNS (or fewer when no session goes that far)."""
MAX_COHORT_WEEKS = 12
"""Retention: weeks since first session shown, 0..MAX_COHORT_WEEKS."""

LEXICON_NOTE = (
    "Appreciation and dissatisfaction are counted by the sync from keyword lists (see "
    "“Which words count?”); the dashboard stores the per-session counts, not message text."
)


# ---- helpers --------------------------------------------------------------------------------


def _histogram(values: np.ndarray, edges: tuple | np.ndarray, labels: list[str]) -> pd.DataFrame:
    """Counts of ``values`` in ``[edges[i], edges[i+1])``, the last bin open-ended.

    Columns: ``bin`` (label), ``low`` (inclusive), ``sessions``, ``share`` (of ``values``).
    """
    edges = np.asarray(edges, dtype=float)
    index = np.searchsorted(edges, values, side="right") - 1
    index = index[index >= 0]
    counts = np.bincount(index, minlength=len(edges))[: len(edges)]
    return pd.DataFrame(
        {
            "bin": labels,
            "low": edges,
            "sessions": counts.astype(np.int64),
            "share": counts / max(len(values), 1),
        }
    )


def _range_labels(edges: tuple, unit: str = "", last_suffix: str = "+") -> list[str]:
    labels = []
    for i, low in enumerate(edges):
        if i == len(edges) - 1:
            labels.append(f"{low:g}{last_suffix}{unit}")
        else:
            labels.append(f"{low:g}–{edges[i + 1]:g}{unit}")
    return labels


def _known(sel: Selection) -> np.ndarray:
    """Selected sessions whose transcript summary is known (synced)."""
    return ~np.isnan(sel.column("human_messages"))


def transcript_sessions(sel: Selection) -> int:
    """Selected sessions whose transcript is synced — the base of every transcript number."""
    if sel.n == 0:
        return 0
    known = rollups.window_sum(sel, "transcripts", _transcript_rollup)
    if known is not None:
        return int(known)
    return int(np.count_nonzero(_known(sel)))


def _transcript_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict:
    """Per day: sessions with a synced transcript (:func:`transcript_sessions`)."""
    known = ~np.isnan(every.column("human_messages")) if every.n else np.zeros(0, bool)
    return {"transcripts": rollups.per_day(days, n_days, known)}


@dataclass(frozen=True)
class Distribution:
    """Summary of a per-session quantity: ``n`` sessions used, median, mean, histogram."""

    n: int
    median: float
    mean: float
    histogram: pd.DataFrame


def _summary(values: np.ndarray, histogram: pd.DataFrame) -> Distribution:
    if values.size == 0:
        return Distribution(0, math.nan, math.nan, histogram)
    return Distribution(
        int(values.size), float(np.median(values)), float(np.mean(values)), histogram
    )


def _distribution(values: np.ndarray, edges: tuple | np.ndarray, labels: list[str]) -> Distribution:
    """``_summary(values, _histogram(values, edges, labels))`` from one sort of ``values``.

    The median is read from the sorted values and the bin counts by looking the few edges up
    in them: at 1M sessions one sort (~6 ms) instead of a partition for the median (~10 ms)
    and a search of every value among the edges (15–28 ms). Same numbers, NaN included
    (np.sort puts NaN last: it lands in the last bin, as in :func:`_histogram`, and makes the
    median NaN, as ``np.median`` does).
    """
    edges_array = np.asarray(edges, dtype=float)
    n = int(values.size)
    if n == 0:
        return _summary(values, _histogram(values, edges, labels))
    ordered = np.sort(values)
    below = np.searchsorted(ordered, edges_array, side="left")  # values < each edge
    counts = np.append(np.diff(below), n - below[-1])
    histogram = pd.DataFrame(
        {
            "bin": labels,
            "low": edges_array,
            "sessions": counts.astype(np.int64),
            "share": counts / max(n, 1),
        }
    )
    if np.isnan(ordered[-1]):
        median = math.nan
    else:
        median = float(np.mean(ordered[[(n - 1) // 2, n // 2]]))
    return Distribution(n, median, float(np.mean(values)), histogram)


# ---- transcript depth -----------------------------------------------------------------------


def messages_per_session(sel: Selection) -> Distribution:
    """Messages (participant + bot, no system messages) per session with a synced transcript.

    Sessions with zero messages count (they are sessions nobody wrote in). Histogram: one bin
    per message count 0..39, then "40+".
    """
    edges = tuple(range(MAX_MESSAGE_BINS + 1))
    labels = [str(e) for e in edges[:-1]] + [f"{MAX_MESSAGE_BINS}+"]
    if sel.n == 0:
        return _distribution(np.array([], dtype=float), edges, labels)
    rows = rollups.window_rows(sel, "messages", _messages_rollup)
    if rows is not None:
        found = _count_distribution(
            rows.sum(axis=0), edges, labels, "messages_sum", sel, _messages_rollup
        )
        if found is not None:
            return found
    values = (sel.column("human_messages") + sel.column("ai_messages"))[_known(sel)]
    return _distribution(values, edges, labels)


def _messages_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict | None:
    """Per day: a histogram of messages per session (:func:`messages_per_session`), their
    sum, and (last histogram column + 1) the sessions whose count is NaN."""
    if every.n == 0:
        return {
            "messages": np.zeros((n_days, rollups.HISTOGRAM_CAP + 2), np.int32),
            "messages_sum": np.zeros((n_days,)),
        }
    human = every.column("human_messages")
    values = human + every.column("ai_messages")
    known = ~np.isnan(human)
    missing = known & np.isnan(values)
    counted = known & ~missing
    if not rollups.counts(every.dataset, "human_messages", "ai_messages"):
        return None
    histogram = rollups.count_histogram(days[counted], n_days, values[counted])
    nan = rollups.per_day(days, n_days, missing).astype(np.int32)[:, None]
    return {
        "messages": np.hstack([histogram, nan]),
        "messages_sum": rollups.per_day(days, n_days, counted, values),
    }


def _count_distribution(
    counts: np.ndarray,
    edges: tuple,
    labels: list[str],
    sum_feature: str,
    sel: Selection,
    build: rollups.Builder,
) -> Distribution | None:
    """:func:`_distribution` of whole-number values from their summed histogram (last column:
    NaN values; the one before: values from the cap up) — the same numbers: the median's two
    order statistics are read off the cumulative counts and the mean is the exact integer sum
    over n, as NumPy's sum of whole floats is. None when a NaN or the cap is in the way."""
    histogram, nan = counts[:-1], int(counts[-1])
    if nan or int(histogram.sum()) == 0 or edges[-1] >= len(histogram) - 1:
        return None
    total = rollups.window_sum(sel, sum_feature, build)
    return _whole_distribution(histogram, total, edges, labels)


def _whole_distribution(
    histogram: np.ndarray, total: float, edges: tuple, labels: list[str]
) -> Distribution | None:
    """:func:`_distribution` of whole numbers ≥ 0 given as ``histogram[value]`` (the last
    column may hold every value from there up, :func:`~services.analytics.rollups.count_histogram`)
    and their exact ``total``; None when a median's order statistic is in that last column."""
    n = int(histogram.sum())
    low = rollups.order_statistic(histogram, (n - 1) // 2)
    high = rollups.order_statistic(histogram, n // 2)
    if low is None or high is None or edges[-1] >= len(histogram) - 1:
        return None
    cumulative = np.concatenate([[0], np.cumsum(histogram)])
    below = cumulative[np.asarray(edges, dtype=np.int64)]  # values < each edge
    bins = np.append(np.diff(below), n - below[-1])
    frame = pd.DataFrame(
        {
            "bin": labels,
            "low": np.asarray(edges, dtype=float),
            "sessions": bins.astype(np.int64),
            "share": bins / max(n, 1),
        }
    )
    median = float(np.mean(np.array([low, high])))
    return Distribution(n, median, float(np.float64(total) / n), frame)


def words_per_user_message(sel: Selection, rows: np.ndarray | None = None) -> Distribution:
    """Words per participant message, per session: ``user_words / human_messages``.

    Only sessions with ≥1 participant message (and a synced transcript). The median and mean
    are over sessions (each session weighs the same, however long), not over messages.
    ``rows``: only these of the selected sessions (a boolean mask over the selection, as the
    Quality tab's version comparison takes one experiment's sessions of one version).
    """
    if rows is not None:
        kept, value = _user_word_values(sel)
        return _distribution(value[kept & rows], WORD_EDGES, _range_labels(WORD_EDGES))
    return _float_distribution(
        sel, "user_words", _user_word_values, WORD_EDGES, _range_labels(WORD_EDGES)
    )


def _user_word_values(sel: Selection) -> tuple[np.ndarray, np.ndarray]:
    human = sel.column("human_messages")
    with np.errstate(invalid="ignore", divide="ignore"):  # rows without: not kept
        return human >= 1, sel.column("user_words") / human  # NaN compares False


def words_per_bot_message(sel: Selection) -> Distribution:
    """Words per bot (AI) message, per session: ``ai_words / ai_messages``.

    Only sessions with ≥1 bot message whose bot words were counted (transcripts stored before
    the count existed have none until a full sync). Median and mean are over sessions, like
    :func:`words_per_user_message`.
    """
    return _float_distribution(
        sel, "bot_words", _bot_word_values, WORD_EDGES, _range_labels(WORD_EDGES)
    )


def _bot_word_values(sel: Selection) -> tuple[np.ndarray, np.ndarray]:
    ai = sel.column("ai_messages")
    words = sel.column("ai_words")
    with np.errstate(invalid="ignore", divide="ignore"):  # rows without: not kept
        return (ai >= 1) & ~np.isnan(words), words / ai  # NaN compares False


def session_duration(sel: Selection) -> Distribution:
    """Minutes from a session's first to its last message (sessions with a synced transcript
    and at least one message); log-ish bins from "under 1 min" to "1 day or more".

    A session with a single message lasts 0 minutes. Sessions that stay open for days on a
    messaging channel land in the last bin.
    """
    return _float_distribution(
        sel, "duration", _duration_values, DURATION_EDGES_MIN, list(DURATION_LABELS)
    )


def _duration_values(sel: Selection) -> tuple[np.ndarray, np.ndarray]:
    minutes = sel.column("duration_s") / 60.0
    return ~np.isnan(minutes), minutes


# ---- distributions of real numbers from the roll-ups ----------------------------------------

FINE_BINS = 128
"""A real-valued distribution's roll-up counts its values per day in about this many bins
(:func:`_fine_rollup`); a window's median is then looked for among the values of one bin."""

FINE_STEP = 0.125
"""The fine bins' edges are multiples of this (a power of two, so a value's bin is exact
arithmetic): the charts' edges must be too."""

ValuesOf = Callable[[Selection], "tuple[np.ndarray, np.ndarray]"]
"""``values_of(sel)`` → (which selected sessions count, their value): the distribution's values
are ``value[kept]``, in the selection's order."""


def _float_distribution(
    sel: Selection, name: str, values_of: ValuesOf, edges: tuple, labels: list[str]
) -> Distribution:
    """:func:`_distribution` of the kept values of ``values_of``, its histogram and median read
    from the filter set's fine per-day bins (:func:`_fine_rollup`) when the window is whole
    days: the bins give each chart bin's count and which fine bin holds the median's two order
    statistics, so only that bin's values (about 1/:data:`FINE_BINS` of them) are ordered,
    instead of sorting every value (up to 40 ms at 1M sessions). The mean is ``np.mean`` of
    the same values in the same order, as in :func:`_distribution`: the same numbers to the
    last bit either way."""
    if sel.n == 0:
        return _distribution(np.array([], dtype=float), edges, labels)
    kept, value = values_of(sel)
    values = value[kept]
    if values.size:
        found = _binned_distribution(sel, name, values, edges, labels)
        if found is not None:
            return found
    return _distribution(values, edges, labels)


def _binned_distribution(
    sel: Selection, name: str, values: np.ndarray, edges: tuple, labels: list[str]
) -> Distribution | None:
    build = FINE_ROLLUPS[name]
    rows = rollups.window_rows(sel, name, build)
    if rows is None:
        return None
    fine = rollups.feature(sel, f"{name}.edges", build)[0]
    counts = rows.sum(axis=0, dtype=np.int64)
    n = int(values.size)
    if counts[-1] or int(counts.sum()) != n:  # a NaN value (the scan's median is NaN)
        return None
    cumulative = np.cumsum(counts[:-1])  # [i]: values below fine[i]; [-1]: every value
    chart = np.asarray(edges, dtype=float)
    below = cumulative[np.searchsorted(fine, chart)]  # values < each chart edge
    bins = np.append(np.diff(below), n - below[-1])
    histogram = pd.DataFrame(
        {
            "bin": labels,
            "low": chart,
            "sessions": bins.astype(np.int64),
            "share": bins / n,
        }
    )
    ranks = ((n - 1) // 2, n // 2)
    columns = np.searchsorted(cumulative, ranks, side="right")  # the fine bin of each
    order = []
    for column in sorted(set(columns.tolist())):
        inside = np.ones(n, dtype=bool) if column == 0 else values >= fine[column - 1]
        if column < len(fine):
            inside &= values < fine[column]
        found = values[inside]
        if found.size != counts[column]:
            return None
        start = int(cumulative[column - 1]) if column else 0
        wanted = [rank - start for rank, c in zip(ranks, columns, strict=True) if c == column]
        order.extend(np.partition(found, wanted)[wanted])
    median = float(np.mean(np.array(order)))
    return Distribution(n, median, float(np.mean(values)), histogram)


def _fine_rollup(name: str, values_of: ValuesOf, edges: tuple) -> rollups.Builder:
    """The builder of a real-valued distribution's roll-up: ``<name>`` counts the kept values
    per day and fine bin, ``<name>.edges`` are the bins' edges (ascending): the chart's
    ``edges`` and about :data:`FINE_BINS` quantiles of the filter set's values (from a sample,
    rounded down to a multiple of :data:`FINE_STEP`: any edges give the same numbers, even
    ones keep the median's bin small). Column 0 counts values below the first edge, column
    ``i`` those in ``[edges[i-1], edges[i])``, column ``len(edges)`` those from the last edge
    up (∞ included), and the last column NaN values.

    As every edge is a multiple of :data:`FINE_STEP` (a power of two: ``value / step`` and its
    floor are exact), a value's column is a table lookup of ``floor(value / step)``: ~5 ms
    for 1M values where a binary search among the edges takes ~35 ms."""
    chart = np.asarray(edges, dtype=float)
    top = float(chart[-1])
    cells = int(top / FINE_STEP)  # grid cells [k step, (k + 1) step) for 0 <= k < cells

    def build(every: Selection, days: np.ndarray, n_days: int) -> dict:
        if every.n:
            kept, value = values_of(every)
            values, days = value[kept], days[kept]
        else:
            values = np.zeros(0)
        nan = np.isnan(values)
        finite = values[np.isfinite(values)]
        sample = np.sort(finite[:: max(1, finite.size // (FINE_BINS * 64))])
        if sample.size:
            at = np.linspace(0, sample.size - 1, FINE_BINS + 1).astype(np.int64)
            sample = np.clip(np.floor(sample[at] / FINE_STEP) * FINE_STEP, 0, top)
        fine = np.unique(np.concatenate([chart, sample]))  # and the rounded quantiles
        # grid index g: 0 below 0, 1 + k in cell k, cells + 1 from ``top`` up; its column is
        # the number of edges <= the cell's lowest value (edges are grid points)
        lookup = np.concatenate(
            [[0], np.searchsorted(fine, np.arange(cells) * FINE_STEP, side="right"), [len(fine)]]
        )
        with np.errstate(invalid="ignore"):
            grid = np.clip(np.floor(values / FINE_STEP) + 1, 0, cells + 1)
        grid[nan] = 0
        column = lookup[grid.astype(np.int64)]
        column[nan] = len(fine) + 1
        width = len(fine) + 2
        flat = np.bincount(days * width + column, minlength=n_days * width)[: n_days * width]
        return {name: flat.reshape(n_days, width).astype(np.int32), f"{name}.edges": fine}

    if chart[0] < 0 or np.any(chart % FINE_STEP):
        raise ValueError(f"{name}: chart edges must be multiples of {FINE_STEP} from 0")
    return build


FINE_ROLLUPS = {
    "user_words": _fine_rollup("user_words", _user_word_values, WORD_EDGES),
    "bot_words": _fine_rollup("bot_words", _bot_word_values, WORD_EDGES),
    "duration": _fine_rollup("duration", _duration_values, DURATION_EDGES_MIN),
}
"""The builders of the real-valued distributions' roll-ups, by feature name."""


def percentile_of_counts(counts: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) of the non-negative integers whose
    ``np.bincount`` is ``counts`` — read off the cumulative counts instead of partitioning
    every value (exact: the same two order statistics and numpy's own interpolation)."""
    cumulative = np.cumsum(counts)
    n = int(cumulative[-1])
    position = (n - 1) * (q / 100)  # numpy's "linear" virtual index
    below = math.floor(position)
    above = min(below + 1, n - 1)
    t = position - below
    a = float(np.searchsorted(cumulative, below, side="right"))
    b = float(np.searchsorted(cumulative, above, side="right"))
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def turn_dropoff(sel: Selection) -> pd.DataFrame:
    """Where conversations end: share of sessions still going at turn k.

    A turn is one participant message, so a session's number of turns is its
    ``human_messages``. For k = 1..K, ``still_going`` = share of sessions (with a synced
    transcript) that reached at least k turns, and ``ended_here`` = share whose last turn was
    turn k. Sessions with 0 turns are in the base (they ended before turn 1), so
    ``still_going`` at turn 1 is the share in which the participant wrote at all.
    K is the 99th percentile of turns, at most :data:`MAX_TURNS`.

    Columns: ``turn``, ``sessions`` (reached ≥ k turns), ``still_going``, ``ended_here``.
    """
    columns = ["turn", "sessions", "still_going", "ended_here"]
    if sel.n == 0:
        return pd.DataFrame(columns=columns)
    every = _turn_counts(sel)  # sessions per turn count: the percentile and the bins read it
    if every.size == 0 or every.size == 1:  # no session, or none with a turn
        return pd.DataFrame(columns=columns)
    total = int(every.sum())
    top = int(min(max(math.ceil(percentile_of_counts(every, 99)), 1), MAX_TURNS))
    counts = np.append(every[: top + 1], every[top + 1 :].sum())
    counts = np.append(counts, np.zeros(max(0, top + 2 - len(counts)), dtype=counts.dtype))
    reached = counts[::-1].cumsum()[::-1]  # reached[k] = sessions with ≥ k turns
    k = np.arange(1, top + 1)
    return pd.DataFrame(
        {
            "turn": k,
            "sessions": reached[k].astype(np.int64),
            "still_going": reached[k] / total,
            "ended_here": counts[k] / total,
        }
    )


def _turn_counts(sel: Selection) -> np.ndarray:
    """``np.bincount`` of the turns of the selected sessions with a synced transcript (empty
    without any): from the per-day histogram when the 99th percentile's order statistics are
    below its cap (the counts above it are only summed), else from the sessions."""
    rows = rollups.window_rows(sel, "turns", _turns_rollup)
    if rows is not None:
        counts = rows.sum(axis=0).astype(np.int64)
        n = int(counts.sum())
        position = (n - 1) * 0.99
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        if (
            rollups.order_statistic(counts, math.floor(position)) is not None
            and rollups.order_statistic(counts, min(math.floor(position) + 1, n - 1)) is not None
        ):
            return counts[: int(np.flatnonzero(counts)[-1]) + 1]
    turns = sel.column("human_messages")
    turns = turns[~np.isnan(turns)].astype(np.int64)
    return np.bincount(turns)


def _turns_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict | None:
    """Per day: a histogram of turns (participant messages) per session with a synced
    transcript (:func:`turn_dropoff`)."""
    if every.n == 0:
        return {"turns": np.zeros((n_days, rollups.HISTOGRAM_CAP + 1), np.int32)}
    human = every.column("human_messages")
    known = ~np.isnan(human)
    if not rollups.counts(every.dataset, "human_messages"):
        return None
    return {"turns": rollups.count_histogram(days[known], n_days, human[known])}


@dataclass(frozen=True)
class Ratings:
    """👍/👎 on bot messages (the OCS web chat's rate-message buttons)."""

    up: int
    down: int
    rate: float
    """👍 ÷ (👍 + 👎), NaN without any rating."""
    ci_low: float
    ci_high: float
    rated_sessions: int
    transcript_sessions: int
    rated_share: float
    """Share of sessions with a synced transcript that have at least one 👍 or 👎."""


def ratings(sel: Selection) -> Ratings:
    """👍 rate = 👍 ÷ (👍 + 👎) over all rated messages of the selected sessions, with a 95%
    Wilson interval (messages are not independent within a session: read the interval as a
    lower bound on the uncertainty); plus the share of sessions with any rating.

    Ratings exist only where the web chat UI offers them, so a low rated share is normal.
    """
    if sel.n == 0:
        return Ratings(0, 0, math.nan, math.nan, math.nan, 0, 0, math.nan)
    summed = rollups.window_sum(sel, "ratings", _ratings_rollup)
    if summed is not None:
        n_up, n_down, rated = (int(x) for x in summed)
    else:
        up = sel.column("thumbs_up")
        down = sel.column("thumbs_down")
        n_up, n_down = int(np.nansum(up)), int(np.nansum(down))
        rated = int(np.count_nonzero((up > 0) | (down > 0)))
    low, high = wilson_interval(n_up, n_up + n_down)
    base = transcript_sessions(sel)
    return Ratings(
        n_up,
        n_down,
        ratio(n_up, n_up + n_down),
        low,
        high,
        rated,
        base,
        ratio(rated, base),
    )


def _ratings_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict | None:
    """Per day: 👍, 👎 and sessions with any rating (:func:`ratings`)."""
    if every.n == 0:
        return {"ratings": np.zeros((n_days, 3))}
    up = every.column("thumbs_up")
    down = every.column("thumbs_down")
    if not rollups.counts(every.dataset, "thumbs_up", "thumbs_down"):
        return None
    columns = [
        rollups.per_day(days, n_days, ~np.isnan(up), up),
        rollups.per_day(days, n_days, ~np.isnan(down), down),
        rollups.per_day(days, n_days, (up > 0) | (down > 0)).astype(float),
    ]
    return {"ratings": np.stack(columns, axis=1)}


@dataclass(frozen=True)
class Lexicon:
    """Sessions whose participant used a word of the :mod:`services.sync.lexicon` lists."""

    base: int
    """Sessions with lexicon counts and ≥ 1 participant message (the share's denominator)."""
    appreciation: int
    """Sessions with ≥ 1 participant message of thanks or praise."""
    dissatisfaction: int
    """Sessions with ≥ 1 participant message of complaint (incl. negated praise)."""
    appreciation_share: float
    dissatisfaction_share: float
    appreciation_messages: int
    """Participant messages with an appreciation word (in the base's sessions)."""
    dissatisfaction_messages: int
    participant_messages: int
    """All participant messages of the base's sessions (the message shares' denominator)."""
    appreciation_message_share: float
    """appreciation_messages ÷ participant_messages (NaN without any)."""
    dissatisfaction_message_share: float
    uncounted: int
    """Sessions with a synced transcript but no lexicon counts (synced before the counts
    existed; a full sync fills them in)."""


def _lexicon_columns(sel: Selection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(in base, appreciation hits, dissatisfaction hits) of the selected sessions."""
    liked = sel.column("appreciation_hits")
    disliked = sel.column("dissatisfaction_hits")
    base = ~np.isnan(liked) & (sel.column("human_messages") >= 1)  # NaN compares False
    return base, liked, disliked


def lexicon(sel: Selection) -> Lexicon:
    """Share of sessions in which the participant expressed appreciation / dissatisfaction.

    Base: selected sessions with lexicon counts and at least one participant message.
    A session counts on a side when ≥ 1 of its participant messages holds a word of that
    side's list (:mod:`services.sync.lexicon`); one session can count on both sides. Also the
    number of such messages, and the sessions with a synced transcript but no counts.

    **Share of participant messages**: participant messages with a word of that side's list ÷
    all participant messages of the same base sessions (a message counts once per side; bot
    and system messages never count). Read beside the session share: a long conversation with
    one "thanks" weighs more in the session share than in the message share.
    """
    if sel.n == 0:
        return Lexicon(0, 0, 0, math.nan, math.nan, 0, 0, 0, math.nan, math.nan, 0)
    summed = rollups.window_sum(sel, "lexicon", _lexicon_rollup)
    if summed is not None:
        # columns: base sessions by side (neither, liked, disliked, both), then the sums
        neither, only_liked, only_disliked, both = (int(x) for x in summed[:4])
        n = neither + only_liked + only_disliked + both
        n_liked, n_disliked = only_liked + both, only_disliked + both
        liked_messages, disliked_messages, messages, uncounted = (int(x) for x in summed[4:])
    else:
        base, liked, disliked = _lexicon_columns(sel)
        n = int(np.count_nonzero(base))
        n_liked = int(np.count_nonzero(liked[base] > 0))
        n_disliked = int(np.count_nonzero(disliked[base] > 0))
        uncounted = int(np.count_nonzero(_known(sel) & np.isnan(liked)))
        liked_messages = int(np.nansum(liked[base]))
        disliked_messages = int(np.nansum(disliked[base]))
        messages = int(np.nansum(sel.column("human_messages")[base]))
    return Lexicon(
        n,
        n_liked,
        n_disliked,
        ratio(n_liked, n),
        ratio(n_disliked, n),
        liked_messages,
        disliked_messages,
        messages,
        ratio(liked_messages, messages),
        ratio(disliked_messages, messages),
        uncounted,
    )


def _lexicon_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict | None:
    """Per day (:func:`lexicon`, :func:`lexicon_over_time`): base sessions with neither side,
    appreciation only, dissatisfaction only, both; then appreciation messages,
    dissatisfaction messages and participant messages of the base, and uncounted sessions."""
    if every.n == 0:
        return {"lexicon": np.zeros((n_days, 8))}
    base, liked, disliked = _lexicon_columns(every)
    human = every.column("human_messages")
    names = ("appreciation_hits", "dissatisfaction_hits", "human_messages")
    if not rollups.counts(every.dataset, *names):
        return None
    sides = (liked[base] > 0).astype(np.int64) + 2 * (disliked[base] > 0)
    flat = np.bincount(days[base] * 4 + sides, minlength=n_days * 4)[: n_days * 4]
    columns = list(flat.reshape(n_days, 4).astype(float).T)
    for values in (liked, disliked, human):
        columns.append(rollups.per_day(days, n_days, base & ~np.isnan(values), values))
    uncounted = ~np.isnan(human) & np.isnan(liked)
    columns.append(rollups.per_day(days, n_days, uncounted).astype(float))
    return {"lexicon": np.stack(columns, axis=1)}


def lexicon_over_time(sel: Selection) -> pd.DataFrame:
    """Per day/week/month bucket (the selection's granularity and time zone): sessions in the
    :func:`lexicon` base and the shares with appreciation / dissatisfaction (NaN without any).

    Columns: ``bucket`` (datetime64), ``sessions``, ``appreciation``, ``dissatisfaction``.
    Zero-filled over the window like :func:`active_participants_over_time`.
    """
    columns = ["bucket", "sessions", "appreciation", "dissatisfaction"]
    span = window_days(sel)
    if span is None:
        return pd.DataFrame({c: [] for c in columns}).astype({"bucket": "datetime64[ns]"})
    first_day, last_day = span
    all_days = np.arange(first_day, last_day + 1, dtype=np.int64)
    buckets, day_to_bucket = np.unique(
        bucket_labels(all_days, sel.granularity), return_inverse=True
    )
    size = len(buckets)
    sessions = liked_n = disliked_n = np.zeros(size, dtype=np.int64)
    rows = rollups.window_rows(sel, "lexicon", _lexicon_rollup) if sel.n else None
    if rows is not None:  # base sessions per day and side, into buckets
        per = np.zeros((size, 4), dtype=np.int64)
        for side in range(4):
            per[:, side] = np.bincount(day_to_bucket, weights=rows[:, side], minlength=size)
        sessions = per.sum(axis=1)
        liked_n = per[:, 1] + per[:, 3]
        disliked_n = per[:, 2] + per[:, 3]
    elif sel.n:
        base, liked, disliked = _lexicon_columns(sel)
        bucket = day_to_bucket[sel.column("day")[base].astype(np.int64) - first_day]
        # one bincount of (bucket, liked?, disliked?) instead of three over masked copies
        sides = (liked[base] > 0).astype(np.int64) + 2 * (disliked[base] > 0)
        per = np.bincount(4 * bucket + sides, minlength=4 * size).reshape(size, 4)
        sessions = per.sum(axis=1)
        liked_n = per[:, 1] + per[:, 3]
        disliked_n = per[:, 2] + per[:, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "bucket": pd.to_datetime(buckets),
                "sessions": sessions.astype(np.int64),
                "appreciation": np.where(sessions > 0, liked_n / sessions, np.nan),
                "dissatisfaction": np.where(sessions > 0, disliked_n / sessions, np.nan),
            }
        )


# ---- participants ---------------------------------------------------------------------------


def active_participants_over_time(sel: Selection) -> pd.DataFrame:
    """Distinct active participants per day/week/month bucket (the selection's granularity
    and time zone).

    Active participant as in :func:`services.analytics.metrics.active_participants`: wrote ≥1 message in
    a session started in the bucket (sessions with an unsynced transcript count too). A
    participant active in several buckets counts once in each, so buckets do not add up to the
    window's total. Zero-filled over the window.

    Columns: ``bucket`` (datetime64, bucket start, UTC), ``participants``.
    """
    span = window_days(sel)
    if span is None:
        return pd.DataFrame({"bucket": pd.to_datetime([]), "participants": np.array([], int)})
    first_day, last_day = span
    all_days = np.arange(first_day, last_day + 1, dtype=np.int64)
    bucket_of_day = bucket_labels(all_days, sel.granularity)
    buckets, day_to_bucket = np.unique(bucket_of_day, return_inverse=True)
    counts = np.zeros(len(buckets), dtype=np.int64)
    found = _participants_of_rollup(sel, first_day, last_day, buckets, day_to_bucket)
    if found is not None:
        counts = found
    elif sel.n:
        wrote = engaged(sel)
        days = sel.column("day")[wrote].astype(np.int64) - first_day
        codes = sel.column("participant_codes")[wrote].astype(np.int64)
        counts = metrics.distinct_per_group(
            day_to_bucket[days], codes, len(buckets), sel.dataset.n_participants
        )
    return pd.DataFrame({"bucket": pd.to_datetime(buckets), "participants": counts})


BUCKET_WIDTH = {"week": 7, "month": 31}
"""Most days in a week or month bucket (the participants' roll-up keeps a column per day)."""


def _participants_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict:
    """The filter set's active participants per bucket (:func:`active_participants_over_time`)
    for every granularity at once: per day, the distinct participants; per week and per month,
    how many of a bucket's distinct participants were first (``…_first``) and last
    (``…_last``) active on each of its days — a window that holds only the start or the end
    of a bucket counts those first active up to its end, or last active from its start.

    One pass serves all three: the distinct (participant, day) pairs in participant-major
    order (:func:`~services.analytics.metrics.distinct_pairs`: a bitmap or a sort), so each
    participant's days within a week or month are one run (its first and last pair). At 1M
    sessions ~60 ms for the three instead of 34 + 150–270 + 60 ms one by one.
    """
    if every.n:
        wrote = engaged(every)
        codes = every.column("participant_codes")[wrote].astype(np.int64)
        origin = int(every.column("day")[0]) - int(days[0])  # the roll-up's first day
    else:
        wrote, codes, origin = np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64), 0
    pairs = metrics.distinct_pairs(codes, days[wrote], every.dataset.n_participants, n_days)
    pair_code = pairs // n_days
    pair_day = pairs - pair_code * n_days
    out = {"participants_day": np.bincount(pair_day, minlength=n_days)[:n_days]}
    every_day = np.arange(n_days, dtype=np.int64) + origin
    for granularity, width in BUCKET_WIDTH.items():
        # bucket of each day through a table over the roll-up's days (not per session)
        labels = bucket_labels(every_day, granularity).astype("datetime64[D]").astype(np.int64)
        starts, day_bucket = np.unique(labels, return_inverse=True)
        bucket = day_bucket[pair_day]
        new_run = np.ones(pairs.size, dtype=bool)
        new_run[1:] = (pair_code[1:] != pair_code[:-1]) | (bucket[1:] != bucket[:-1])
        first = np.flatnonzero(new_run)
        last = np.append(first[1:] - 1, pairs.size - 1) if first.size else first
        run_bucket = bucket[first]
        size = len(starts) * width

        def histogram(
            day: np.ndarray, run_bucket=run_bucket, starts=starts, width=width, size=size
        ):
            flat = run_bucket * width + day + origin - starts[run_bucket]
            return np.bincount(flat, minlength=size)[:size].reshape(len(starts), width)

        present = np.bincount(run_bucket, minlength=len(starts)) > 0
        out[f"participants_{granularity}_starts"] = starts[present]  # buckets with one active
        out[f"participants_{granularity}_first"] = histogram(pair_day[first])[present]
        out[f"participants_{granularity}_last"] = histogram(pair_day[last])[present]
    return out


_PARTICIPANT_BUILDERS = dict.fromkeys(("day", "week", "month"), _participants_rollup)


def _participants_of_rollup(
    sel: Selection, first_day: int, last_day: int, buckets: np.ndarray, day_to_bucket: np.ndarray
) -> np.ndarray | None:
    """Distinct active participants per bucket of the window from the roll-up; None when
    the window is not whole local days or lies inside one week or month without its start
    or end (then the sessions are counted)."""
    granularity = sel.granularity if sel.granularity in _PARTICIPANT_BUILDERS else None
    if sel.n == 0 or granularity is None:
        return None
    build = _PARTICIPANT_BUILDERS[granularity]
    if granularity == "day":
        rows = rollups.window_rows(sel, "participants_day", build)
        return None if rows is None else rows.astype(np.int64)
    found = rollups.feature(sel, f"participants_{granularity}_starts", build)
    if found is None:
        return None
    starts, _ = found
    first_hist, _ = rollups.feature(sel, f"participants_{granularity}_first", build)
    last_hist, _ = rollups.feature(sel, f"participants_{granularity}_last", build)
    bucket_starts = buckets.astype("datetime64[D]").astype(np.int64)
    if granularity == "week":
        bucket_ends = bucket_starts + 6
    else:
        months = buckets.astype("datetime64[M]")
        bucket_ends = (months + 1).astype("datetime64[D]").astype(np.int64) - 1
    # the window's days in each bucket (day_to_bucket ascends with the days)
    edges = np.searchsorted(day_to_bucket, np.arange(len(buckets) + 1))
    inside_from = first_day + edges[:-1]
    inside_to = first_day + edges[1:] - 1
    index = np.searchsorted(starts, bucket_starts)
    counts = np.zeros(len(buckets), dtype=np.int64)
    for i in range(len(buckets)):
        j = int(index[i])
        if j >= len(starts) or starts[j] != bucket_starts[i]:
            continue  # no active participant in this bucket at all
        starts_inside = inside_from[i] == bucket_starts[i]
        ends_inside = inside_to[i] == bucket_ends[i]
        if starts_inside:  # the bucket's start up to the window's day in it
            counts[i] = first_hist[j, : inside_to[i] - bucket_starts[i] + 1].sum()
        elif ends_inside:  # from the window's first day in it to the bucket's end
            counts[i] = last_hist[j, inside_from[i] - bucket_starts[i] :].sum()
        else:
            return None
    return counts


def sessions_per_participant(sel: Selection) -> Distribution:
    """Selected sessions per participant, over participants with ≥1 selected session.

    Bins 1, 2, 3, 4, 5, 6–10, 11–20, 21–50, 51+. The median/mean are per participant.
    """
    labels = ["1", "2", "3", "4", "5", "6–10", "11–20", "21–50", "51+"]
    if sel.n == 0:
        summary = _distribution(np.array([], dtype=float), SESSIONS_PER_PARTICIPANT_EDGES, labels)
    else:
        # participants per number of sessions (a bincount of the bincount) instead of sorting
        # every participant's count: the same order statistics, bins and (whole) sum
        per_participant = np.bincount(sel.column("participant_codes"))
        histogram = np.bincount(per_participant)
        histogram[0] = 0  # participants without a selected session are not in the base
        edges = SESSIONS_PER_PARTICIPANT_EDGES
        # an empty last column: no value is capped
        padding = np.zeros(max(edges[-1] + 2 - len(histogram), 1), dtype=histogram.dtype)
        summary = _whole_distribution(
            np.concatenate([histogram, padding]), int(per_participant.sum()), edges, labels
        )
    return replace(
        summary, histogram=summary.histogram.rename(columns={"sessions": "participants"})
    )


def _monday(days: np.ndarray) -> np.ndarray:
    """Day number → day number of the Monday starting its week (1970-01-01 was a Thursday)."""
    return days - (days + 3) % 7


FIRST_DAY_CACHE = 4
"""First days kept per dataset (one per filter set without its dates; an int64 per participant:
~2.4 MB each at 1M sessions). Changing only the date range — the common case — reuses one."""
_first_lock = threading.Lock()


def first_session_day(sel: Selection) -> np.ndarray:
    """Per participant code: day of their first session under the selection's filters **over
    all time** (the date range ignored), −1 for participants with none.

    So a participant who first came months before the window is "returning", not new, while
    someone new to the chosen experiment is new even if they used another chatbot before.
    """
    ds = sel.dataset
    state = sel.state.with_changes(range="all", start=None, end=None)
    with _first_lock:
        cache = ds._derived.setdefault("first_session_day", OrderedDict())
        if state in cache:
            cache.move_to_end(state)
            return cache[state]
    everything = select(ds, state)
    first = np.full(ds.n_participants, -1, dtype=np.int64)
    if everything.n:
        # rows are time-sorted, so a participant's first session is their earliest day
        none = np.iinfo(np.int64).max
        first[:] = none
        np.minimum.at(
            first,
            everything.column("participant_codes"),
            everything.column("day").astype(np.int64),
        )
        first[first == none] = -1
    first = first.astype(np.int32)  # day numbers: half the bytes to gather per session
    first.flags.writeable = False
    with _first_lock:
        cache[state] = first
        while len(cache) > FIRST_DAY_CACHE:
            cache.popitem(last=False)
    return first


def retention_cohorts(sel: Selection, max_weeks: int = MAX_COHORT_WEEKS) -> pd.DataFrame:
    """Weekly retention: participants grouped by the week (Monday, UTC) of their first session.

    * **Cohort**: participants whose first session under the current filters, over **all time**
      (see :func:`first_session_day`), started inside the selected window. Participants seen
      before the window are left out (they are not new).
    * **Week k** (0..``max_weeks``): share of the cohort with at least one selected session
      started in the k-th week after the cohort's week. Week 0 is 100% by definition.
    * Follow-up ends with the window: weeks after the window's last day are NaN (not 0), and
      the window's last week may be partial.

    Columns: ``cohort`` (datetime64, Monday), ``size``, ``week_0`` … ``week_<max_weeks>``.
    Vectorised (distinct (participant, week) pairs by a bitmap), fast at 1M sessions.
    """
    week_cols = [f"week_{k}" for k in range(max_weeks + 1)]
    empty = pd.DataFrame(columns=["cohort", "size", *week_cols])
    span = window_days(sel)
    if sel.n == 0 or span is None:
        return empty
    first_day, last_day = span
    base_week = _monday(np.int64(first_day))
    base_number = (int(base_week) + 3) // 7  # week number of the first cohort
    width = max_weeks + 1
    active = None
    if max_weeks == MAX_COHORT_WEEKS:
        active = _cohort_activity_of_counts(sel, first_day, last_day, base_number)
    if active is None:
        active = _cohort_activity(sel, first_day, base_number, width)
    if active.shape[0] == 0:
        return empty
    sizes = active[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = active / sizes[:, None]
    cohort_starts = base_week + 7 * np.arange(active.shape[0])
    last_week = _monday(np.int64(last_day))
    observable = (cohort_starts[:, None] + 7 * np.arange(width)[None, :]) <= last_week
    shares = np.where(observable, shares, np.nan)
    frame = pd.DataFrame(shares, columns=week_cols)
    frame.insert(0, "size", sizes.astype(np.int64))
    frame.insert(0, "cohort", pd.to_datetime(cohort_starts.astype("datetime64[D]")))
    return frame[frame["size"] > 0].reset_index(drop=True)


def _cohort_activity(sel: Selection, first_day: int, base_number: int, width: int) -> np.ndarray:
    """``[cohort, k]`` new participants of each cohort (week ``base_number + cohort``) with a
    selected session k weeks after their first (no rows: no new participant), from the
    selected sessions."""
    first = first_session_day(sel)
    codes = sel.column("participant_codes")
    their_first = first[codes]
    new = their_first >= first_day
    if not new.any():
        return np.zeros((0, width), dtype=np.int64)
    codes = codes[new]
    # week numbers (Monday-based, int32) through a table over the few distinct days instead of
    # int64 modulo and floor division over every selected session
    days = sel.column("day")[new]
    lowest = int(min(days.min(), their_first[new].min()))
    highest = int(max(days.max(), their_first[new].max()))
    week_of = ((np.arange(lowest, highest + 1, dtype=np.int64) + 3) // 7).astype(np.int32)
    first_week = week_of[their_first[new] - lowest]
    weeks_since = week_of[days - lowest] - first_week
    keep = weeks_since <= width - 1
    n_cohorts = int(first_week.max()) - base_number + 1
    # one row per (participant, weeks since): participant → cohort is fixed
    pairs = metrics.distinct_pairs(
        codes[keep], weeks_since[keep], sel.dataset.n_participants, width
    )
    pair_codes = pairs // width
    pair_k = pairs % width
    pair_cohort = week_of[first[pair_codes] - lowest].astype(np.int64) - base_number
    return np.bincount(pair_cohort * width + pair_k, minlength=n_cohorts * width).reshape(
        n_cohorts, width
    )


def _cohort_counts_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict:
    """The filter set's distinct (participant, weeks since their first session) pairs for
    weeks 0..:data:`MAX_COHORT_WEEKS`, counted per (the participant's first day, weeks since,
    weekday of the pair's earliest day): ``cohort_counts[first day offset, k, weekday]``
    (Monday = 0). A pair's days all fall in the week k weeks after the first day's week, so
    its earliest day is that week's Monday plus the weekday; a window's cohorts are the rows
    of its days less the cells whose day is after it (:func:`_cohort_activity_of_counts`).
    ~13 × 7 cells a day (~0.1 MB a year) instead of ~5 bytes per pair (1.8 MB at 1M)."""
    width = MAX_COHORT_WEEKS + 1
    if every.n == 0:
        return {"cohort_counts": np.zeros((n_days, width, 7), dtype=np.int32)}
    first_days = first_session_day(every)
    codes = every.column("participant_codes").astype(np.int64)
    first = first_days[codes].astype(np.int64)
    day = every.column("day").astype(np.int64)
    k = (day + 3) // 7 - (first + 3) // 7
    keep = k <= MAX_COHORT_WEEKS
    # a pair's earliest day (local days need not follow the row order in every time zone)
    origin = day[0] - days[0]  # the roll-up's first day
    pairs, earliest = rollups.earliest_per_cell(
        codes[keep] * width + k[keep], every.dataset.n_participants * width, days[keep]
    )
    pair_first = first_days[pairs // width].astype(np.int64) - origin
    weekday = (earliest + origin + 3) % 7  # day 0 (1970-01-01) was a Thursday
    cells = (pair_first * width + pairs % width) * 7 + weekday
    counts = np.bincount(cells, minlength=n_days * width * 7)[: n_days * width * 7]
    return {"cohort_counts": counts.reshape(n_days, width, 7).astype(np.int32)}


def _cohort_activity_of_counts(
    sel: Selection, first_day: int, last_day: int, base_number: int
) -> np.ndarray | None:
    """:func:`_cohort_activity` (weeks 0..:data:`MAX_COHORT_WEEKS`) from the filter set's
    :func:`_cohort_counts_rollup`; None when the window is not whole local days."""
    rows = rollups.window_rows(sel, "cohort_counts", _cohort_counts_rollup)
    if rows is None:
        return None
    width = MAX_COHORT_WEEKS + 1
    first = first_day + np.arange(rows.shape[0], dtype=np.int64)  # each row's first day
    monday = first - (first + 3) % 7
    earliest = monday[:, None, None] + 7 * np.arange(width)[None, :, None] + np.arange(7)
    counted = np.where(earliest <= last_day, rows, 0).sum(axis=2, dtype=np.int64)
    present = counted.any(axis=1)
    if not present.any():
        return np.zeros((0, width), dtype=np.int64)
    cohort = (first + 3) // 7 - base_number
    active = np.zeros((int(cohort[present].max()) + 1, width), dtype=np.int64)
    np.add.at(active, cohort[present], counted[present])
    return active


@dataclass(frozen=True)
class Week1:
    """The share of new participants back in the week after their first week."""

    share: float
    """NaN when no cohort's week 1 is inside the window."""
    participants: int
    """New participants in the cohorts counted (the share's base)."""


def week1_retention(cohorts: pd.DataFrame) -> Week1:
    """Week-1 retention over the :func:`retention_cohorts` whose week 1 is inside the window:
    the cohorts' ``week_1`` shares weighted by cohort size, i.e. participants back in week 1 ÷
    new participants of those cohorts. Cohorts whose week 1 is after the window are left out."""
    if cohorts.empty or "week_1" not in cohorts:
        return Week1(math.nan, 0)
    seen = cohorts["week_1"].notna()
    if not seen.any():
        return Week1(math.nan, 0)
    sizes = cohorts.loc[seen, "size"]
    base = int(sizes.sum())
    return Week1(float((cohorts.loc[seen, "week_1"] * sizes).sum() / base), base)
