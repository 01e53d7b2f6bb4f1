"""LLM cost of chatbot sessions, from OCS's per-session usage (docs/ocs-api.md §6.2).

Definitions (each function's docstring is its definition):

* A session's **cost** is ``usage.total_cost`` of its session detail (chat-source spend only),
  in USD. It is known only for sessions whose transcript has been synced from an OCS that
  reports usage (not the 2025 API): **coverage** = sessions with a known cost ÷ sessions. Every
  total is a sum over the known sessions, so with coverage under 100% it is a lower bound.
* **By model** uses the ``usage.by_model`` rows of the same sessions; their sum equals the
  session total.
* As everywhere in the dashboard, a session's whole cost belongs to the day/week/month (in the
  view's time zone, ``tz``) in which the session **started**; so does the monthly budget.

For speed at 1M sessions the cost rows are indexed once per dataset (:func:`cost_index`): they
are sorted by the row position of their session, so the rows of a selection are one
``searchsorted`` slice plus the selection's mask — no join per request.
"""

from __future__ import annotations

import calendar
import math
import threading
import weakref
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from services.analytics import metrics, rollups
from services.analytics.filters import day_start_ns, today_in
from services.analytics.metrics import bucket_labels, label_for, window_days
from services.analytics.query import Selection
from services.store.dataset import Dataset

BUDGET_YELLOW = 0.70
"""Budget bar turns yellow at 70% of the monthly budget spent…"""
BUDGET_RED = 0.90
"""…and red above 90%."""


# ---- the cost-row index ---------------------------------------------------------------------


@dataclass(frozen=True)
class CostIndex:
    """``costs_table`` rows sorted by their session's row position in the dataset."""

    position: np.ndarray  # int64, sorted ascending
    model_codes: np.ndarray  # int32 into ``models``
    models: list[str]
    cost_usd: np.ndarray  # float64
    tokens: np.ndarray  # int64
    one_row_per_model: bool = False
    """No session has two rows of one model: then the sessions that used a model are its rows."""


_index_lock = threading.Lock()
_indexes: dict[int, tuple[weakref.ref, CostIndex]] = {}


def _one_row_per_model(position: np.ndarray, model_codes: np.ndarray, models: int) -> bool:
    """Whether every (session, model) pair has one row (checked once per dataset: ~6 ms for
    1.5M rows already in pair order, a sort otherwise)."""
    pairs = position.astype(np.int64) * max(models, 1) + model_codes
    steps = np.diff(pairs)
    if (steps >= 0).all():
        return bool((steps > 0).all())
    return len(metrics.distinct(pairs)) == len(pairs)


def _build_index(ds: Dataset) -> CostIndex:
    index = _index_rows(ds)
    unique = _one_row_per_model(index.position, index.model_codes, len(index.models))
    return replace(index, one_row_per_model=unique)


def _index_rows(ds: Dataset) -> CostIndex:
    rows = ds.cost_rows
    if rows is not None:  # built with the dataset (and shared between workers when mapped)
        return CostIndex(rows.position, rows.model_codes, rows.models, rows.cost_usd, rows.tokens)
    costs = ds.costs_table
    if costs is None or len(costs) == 0:
        empty = np.array([], dtype=np.int64)
        return CostIndex(empty, np.array([], np.int32), [], np.array([], float), empty)
    position = pd.Index(ds.session_id).get_indexer(costs["session_id"].to_numpy())
    found = position >= 0  # cost rows of sessions no longer in the store are dropped
    order = np.argsort(position[found], kind="stable")
    model_codes, models = pd.factorize(costs["model"].fillna("(unknown)").to_numpy()[found])
    return CostIndex(
        position=position[found][order].astype(np.int64),
        model_codes=model_codes[order].astype(np.int32),
        models=[str(m) for m in models],
        cost_usd=costs["cost_usd"].to_numpy(dtype=float)[found][order],
        tokens=costs["tokens"].fillna(0).to_numpy(dtype=np.int64)[found][order],
    )


def cost_index(ds: Dataset) -> CostIndex:
    """The :class:`CostIndex` of ``ds``, built on first use and kept while ``ds`` lives."""
    with _index_lock:
        entry = _indexes.get(id(ds))
        if entry is not None and entry[0]() is ds:
            return entry[1]
    index = _build_index(ds)
    with _index_lock:
        for key in [k for k, (ref, _) in _indexes.items() if ref() is None]:
            del _indexes[key]
        _indexes[id(ds)] = (weakref.ref(ds), index)
    return index


def _selected_cost_rows(sel: Selection) -> slice | np.ndarray:
    """The cost rows of the selected sessions in :class:`CostIndex` arrays: a slice (read
    without a copy) when the selection is a row range, else their indices."""
    index = cost_index(sel.dataset)
    lo = int(np.searchsorted(index.position, sel.lo, side="left"))
    hi = int(np.searchsorted(index.position, sel.hi, side="left"))
    if sel.mask is None or hi <= lo:
        return slice(lo, max(hi, lo))
    rows = np.arange(lo, hi, dtype=np.int64)
    return rows[sel.mask[index.position[lo:hi] - sel.lo]]


# ---- totals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostSummary:
    total: float
    """Sum of the known session costs (USD)."""
    known: int
    """Selected sessions with a known cost."""
    sessions: int
    coverage: float
    """known ÷ sessions (NaN for an empty selection)."""
    mean: float
    """Mean cost per session with a known cost."""
    median: float
    """Median cost per session with a known cost."""


def cost_summary(sel: Selection) -> CostSummary:
    """Total, mean and median cost per session over selected sessions with a known cost, and
    the coverage (share of selected sessions whose cost is known)."""
    if sel.n == 0:
        return CostSummary(0.0, 0, 0, math.nan, math.nan, math.nan)
    cost = sel.column("cost_usd")
    known = cost[~np.isnan(cost)]
    if known.size == 0:
        return CostSummary(0.0, 0, sel.n, 0.0, math.nan, math.nan)
    return CostSummary(
        float(known.sum()),
        int(known.size),
        sel.n,
        known.size / sel.n,
        float(known.mean()),
        float(np.median(known)),
    )


def cost_by_model(sel: Selection) -> pd.DataFrame:
    """Cost and tokens per model over the selected sessions' ``usage.by_model`` rows.

    Columns: ``model``, ``cost_usd``, ``tokens``, ``sessions`` (selected sessions that used the
    model), ``share`` (of the summed cost). Most expensive first.
    """
    columns = ["model", "cost_usd", "tokens", "sessions", "share"]
    rows = _selected_cost_rows(sel)
    index = cost_index(sel.dataset)
    codes = index.model_codes[rows]
    if codes.size == 0:
        return pd.DataFrame(columns=columns)
    k = len(index.models)
    cost = np.bincount(codes, weights=index.cost_usd[rows], minlength=k)
    tokens = np.bincount(codes, weights=index.tokens[rows], minlength=k)
    # sessions per model = distinct (position, model) pairs: its rows when a session has one
    # row per model (checked once per dataset); else the rows are in position order, so after
    # a stable sort by model a pair repeats only next to itself (no hash of all rows)
    if index.one_row_per_model:
        sessions = np.bincount(codes, minlength=k)
    else:
        by_model = np.argsort(codes, kind="stable")
        sorted_codes, sorted_pos = codes[by_model], index.position[rows][by_model]
        new = np.ones(len(by_model), dtype=bool)
        new[1:] = (sorted_codes[1:] != sorted_codes[:-1]) | (sorted_pos[1:] != sorted_pos[:-1])
        sessions = np.bincount(sorted_codes[new], minlength=k)
    present = np.nonzero(sessions)[0]
    frame = pd.DataFrame(
        {
            "model": [index.models[i] for i in present],
            "cost_usd": cost[present],
            "tokens": tokens[present].astype(np.int64),
            "sessions": sessions[present].astype(np.int64),
        }
    )
    total = frame["cost_usd"].sum()
    frame["share"] = frame["cost_usd"] / total if total else 0.0
    return frame.sort_values(["cost_usd", "model"], ascending=[False, True], ignore_index=True)


def per_session(by_model: pd.DataFrame) -> pd.Series:
    """Per row of :func:`cost_by_model`: its cost ÷ the sessions that used the model (NaN
    for none)."""
    sessions = by_model["sessions"].astype(float)
    return (by_model["cost_usd"].astype(float) / sessions.where(sessions > 0)).rename(
        "per_session_usd"
    )


def cost_by_experiment(sel: Selection) -> pd.DataFrame:
    """Per experiment: summed known cost, sessions, sessions with a known cost, coverage and
    mean cost per known session. Most expensive first; experiments with no selected session
    are left out.

    Columns: ``value`` (experiment id), ``label``, ``cost_usd``, ``sessions``, ``known``,
    ``coverage``, ``mean_usd``.
    """
    columns = ["value", "label", "cost_usd", "sessions", "known", "coverage", "mean_usd"]
    if sel.n == 0:
        return pd.DataFrame(columns=columns)
    ds = sel.dataset
    codes = sel.column("experiment_codes")
    cost = sel.column("cost_usd")
    known = ~np.isnan(cost)
    k = len(ds.experiments)
    sessions = np.bincount(codes, minlength=k)
    known_n = np.bincount(codes[known], minlength=k)
    total = np.bincount(codes[known], weights=cost[known], minlength=k)
    present = np.nonzero(sessions)[0]
    frame = pd.DataFrame(
        {
            "value": [ds.experiments[i] for i in present],
            "label": [label_for(ds, "experiment", ds.experiments[i]) for i in present],
            "cost_usd": total[present],
            "sessions": sessions[present].astype(np.int64),
            "known": known_n[present].astype(np.int64),
        }
    )
    frame["coverage"] = frame["known"] / frame["sessions"]
    frame["mean_usd"] = np.where(
        frame["known"] > 0, frame["cost_usd"] / frame["known"].clip(lower=1), np.nan
    )
    return frame.sort_values(["cost_usd", "label"], ascending=[False, True], ignore_index=True)


def cost_over_time(sel: Selection) -> pd.DataFrame:
    """Known cost of the sessions started in each day/week/month bucket (the state's time zone),
    zero-filled over the window, with the bucket's cost coverage (NaN for buckets without sessions).

    Columns: ``bucket`` (datetime64), ``cost_usd``, ``sessions``, ``known``, ``coverage``.
    """
    columns = ["bucket", "cost_usd", "sessions", "known", "coverage"]
    span_days = window_days(sel)
    if span_days is None:
        return pd.DataFrame(columns=columns)
    first_day, last_day = span_days
    span = last_day - first_day + 1
    rows = rollups.window_rows(sel, "cost_per_day", _cost_rollup)
    if rows is not None:
        per_day = {
            "cost_usd": rows[:, 0],
            "sessions": rows[:, 1].astype(np.int64),
            "known": rows[:, 2].astype(np.int64),
        }
    else:
        days = sel.column("day").astype(np.int64) - first_day
        cost = sel.column("cost_usd")
        known = ~np.isnan(cost)
        spent = np.bincount(days[known], weights=cost[known], minlength=span)[:span]
        per_day = {
            "cost_usd": spent.astype(float),  # np.bincount of nothing gives integers
            "sessions": np.bincount(days, minlength=span)[:span],
            "known": np.bincount(days[known], minlength=span)[:span],
        }
    buckets = bucket_labels(np.arange(first_day, first_day + span), sel.granularity)
    frame = pd.DataFrame({"bucket": buckets, **per_day})
    frame = frame.groupby("bucket", as_index=False, sort=True).sum()
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["coverage"] = np.where(
            frame["sessions"] > 0, frame["known"] / frame["sessions"].clip(lower=1), np.nan
        )
    return frame


def _cost_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict:
    """Per day: known cost, sessions, sessions with a known cost (:func:`cost_over_time`).

    Exact although costs are not whole numbers: ``np.bincount`` adds each day's costs one by
    one in row order, and a day's sessions are the same rows in the same order in any window,
    so a day's sum is the same bits whether it is taken over the window or over all time."""
    cost = every.column("cost_usd") if every.n else np.zeros(0)
    known = ~np.isnan(cost)
    return {
        "cost_per_day": np.column_stack(
            [
                np.bincount(days[known], weights=cost[known], minlength=n_days)[:n_days],
                np.bincount(days, minlength=n_days)[:n_days],
                np.bincount(days[known], minlength=n_days)[:n_days],
            ]
        ).astype(float)
    }


# ---- monthly budget -------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    month: date
    """First day of the current calendar month in :attr:`tz`."""
    budget_usd: float
    spent_usd: float
    share: float
    """spent ÷ budget."""
    projected_usd: float
    projected_share: float
    colour: str
    """"success" (< 70%), "warning" (70–90%) or "danger" (> 90%) — Bootstrap colour names."""
    elapsed_days: int
    days_in_month: int
    known: int
    sessions: int
    tz: str = "UTC"
    """The IANA time zone whose calendar month this is (the view's ``tz``)."""


def budget_colour(share: float) -> str:
    """Green under 70% of the budget spent, yellow from 70% up to and including 90%, red above."""
    if share > BUDGET_RED:
        return "danger"
    if share >= BUDGET_YELLOW:
        return "warning"
    return "success"


def monthly_budget(
    ds: Dataset,
    budget_usd: float,
    today: date | None = None,
    tz: str = "UTC",
    now: datetime | None = None,
) -> Budget | None:
    """Spend of the current calendar month in the viewer's time zone ``tz`` against
    ``MONTHLY_BUDGET_USD``; None when no budget is set (``budget_usd <= 0``).

    * **This month**: the calendar month of today in ``tz`` (``today`` when given, else the
      local date of ``now``, else :func:`~services.analytics.filters.today_in`), from its first local
      midnight to the next month's — the same day boundaries as every other view with that
      ``tz``. 2026-10-31 23:30 UTC is still October in UTC but already November in
      Asia/Kolkata.
    * **Spent**: known cost of **every** session started this month — all teams, experiments,
      platforms and statuses (evaluations and setup sessions spend too), whatever the page's
      filters and date range. The budget is one number for the whole deployment, so comparing
      a filtered part of the spend with it would mislead.
    * **Projection**: spent ÷ elapsed days × days in the month, with today counted as a whole
      elapsed day (linear; early in the month it is rough).
    * **Colour**: see :func:`budget_colour` (on spent, not on the projection).
    """
    if budget_usd is None or budget_usd <= 0:
        return None
    if today is None:
        today = now.astimezone(ZoneInfo(tz)).date() if now is not None else today_in(tz)
    month = today.replace(day=1)
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    next_month = month + timedelta(days=days_in_month)
    start, end = day_start_ns(month, tz), day_start_ns(next_month, tz)
    lo = int(np.searchsorted(ds.created_ns, start, side="left"))
    hi = int(np.searchsorted(ds.created_ns, end, side="left"))
    cost = ds.cost_usd[lo:hi]
    known = ~np.isnan(cost)
    spent = float(cost[known].sum())
    elapsed = today.day
    projected = spent / elapsed * days_in_month
    share = spent / budget_usd
    return Budget(
        month=month,
        budget_usd=float(budget_usd),
        spent_usd=spent,
        share=share,
        projected_usd=projected,
        projected_share=projected / budget_usd,
        colour=budget_colour(share),
        elapsed_days=elapsed,
        days_in_month=days_in_month,
        known=int(known.sum()),
        sessions=hi - lo,
        tz=tz,
    )
