"""The naive baseline: the same overview numbers computed the straightforward pandas way.

One unsorted DataFrame straight from the store, a boolean mask per filter (``between``-style
comparisons on the timestamp, ``isin`` per categorical filter), tag logic in Python over each
row's tag list, then ``value_counts`` / ``groupby``. It answers exactly what the dashboard's
overview shows (KPIs with the previous period, sessions over time, per experiment and team, the
annotation breakdown), and :func:`compare` asserts that the fast path gives identical numbers.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd

from services.analytics import metrics
from services.analytics.filters import (
    DEFAULT_EXCLUDED_PLATFORMS,
    DEFAULT_EXCLUDED_STATUSES,
    NS_PER_DAY,
    UNTAGGED,
    FilterState,
    auto_granularity,
    previous_window,
    window,
)
from services.analytics.query import select, select_previous
from services.store.dataset import Dataset
from services.store.tables import Tables

COLUMNS = [
    "created_at",
    "team_slug",
    "experiment_id",
    "participant_identifier",
    "status",
    "platform",
    "tags",
    "human_messages",
    "ai_messages",
]


def naive_frame(tables: Tables) -> pd.DataFrame:
    """The sessions table as one plain pandas frame (store order, not sorted by time)."""
    frame = tables.sessions.select(COLUMNS).to_pandas()
    frame["tags"] = [tuple(t) if t is not None else () for t in frame["tags"]]
    frame.attrs["synced_at"] = tables.meta.get("synced_at")
    return frame


def _mask(frame: pd.DataFrame, state: FilterState, start, end) -> pd.Series:
    if state.versions:
        raise NotImplementedError("the naive baseline does not filter versions")
    mask = pd.Series(True, index=frame.index)
    created = frame["created_at"]
    if start is not None:
        mask &= created >= pd.Timestamp(start, unit="ns", tz="UTC")
    if end is not None:
        mask &= created < pd.Timestamp(end, unit="ns", tz="UTC")
    if state.teams:
        mask &= frame["team_slug"].isin(state.teams)
    if state.experiments:
        mask &= frame["experiment_id"].isin(state.experiments)
    if state.platforms:
        mask &= frame["platform"].isin(state.platforms)
    else:
        mask &= ~frame["platform"].isin(DEFAULT_EXCLUDED_PLATFORMS)
    if state.statuses:
        mask &= frame["status"].isin(state.statuses)
    else:
        mask &= ~frame["status"].isin(DEFAULT_EXCLUDED_STATUSES)
    if state.tags:
        wanted = state.tags
        combine = all if state.tag_mode == "all" else any

        def matches(tags: tuple) -> bool:
            return combine((not tags) if t == UNTAGGED else (t in tags) for t in wanted)

        mask &= frame["tags"].map(matches).astype(bool)
    return mask


def _kpis(chosen: pd.DataFrame, categories) -> dict:
    n = len(chosen)
    engaged = chosen[~(chosen["human_messages"] == 0)]
    participants = len(engaged[["team_slug", "participant_identifier"]].drop_duplicates())
    messages = int(chosen["human_messages"].sum() + chosen["ai_messages"].sum())
    annotation = {t for c in categories for t in c.tags}
    good_tags = {c.good for c in categories if not c.presence and c.good}
    bad_tags = {c.bad for c in categories if not c.presence and c.bad}
    annotated = good = verdicts = 0
    for tags in chosen["tags"]:
        tag_set = set(tags)
        annotated += bool(tag_set & annotation)
        has_good, has_bad = bool(tag_set & good_tags), bool(tag_set & bad_tags)
        verdicts += has_good or has_bad
        good += has_good and not has_bad
    return {
        "sessions": n,
        "participants": participants,
        "messages": messages,
        "annotated": metrics.ratio(annotated, n),
        "good": metrics.ratio(good, verdicts),
        "_annotated_count": annotated,
    }


def overview_numbers(frame: pd.DataFrame, state: FilterState, today: date, categories) -> dict:
    """Everything the overview shows, the naive way (``categories`` = the tag vocabulary's)."""
    start, end = window(state, today)
    chosen = frame[_mask(frame, state, start, end)]
    now = _kpis(chosen, categories)
    prev_window = previous_window(start, end)
    before = None
    if prev_window is not None:
        # like for like: the previous window is cut where the data ends in the current one
        newest = int(frame["created_at"].astype("int64").max()) + 1
        synced = frame.attrs.get("synced_at")
        as_of = max(newest, int(synced * 10**9)) if synced is not None else newest
        prev_window = (prev_window[0], min(end, max(start, as_of)) - (end - start))
        before = _kpis(frame[_mask(frame, state, *prev_window)], categories)

    created_ns = frame["created_at"].astype("int64")
    data_start, data_end = int(created_ns.min()), int(created_ns.max())
    granularity = state.granularity
    if granularity == "auto":
        granularity = (
            auto_granularity(start, end)
            if start is not None
            else auto_granularity(data_start, (end or data_end) + NS_PER_DAY)
        )
    span_start = start if start is not None else data_start
    span_end = end if end is not None else (data_end // NS_PER_DAY + 1) * NS_PER_DAY
    days = pd.date_range(
        pd.Timestamp(span_start // NS_PER_DAY * NS_PER_DAY, unit="ns"),
        pd.Timestamp((span_end - 1) // NS_PER_DAY * NS_PER_DAY, unit="ns"),
        freq="D",
    )
    per_day = chosen["created_at"].dt.tz_localize(None).dt.floor("D").value_counts().reindex(days)
    per_day = per_day.fillna(0).astype(np.int64)
    if granularity == "week":
        labels = days - pd.to_timedelta(days.day_of_week, unit="D")
    elif granularity == "month":
        labels = days.to_period("M").to_timestamp()
    else:
        labels = days
    over_time = per_day.groupby(labels).sum()

    annotations = {}
    for category in categories:
        if category.presence:
            has = chosen["tags"].map(lambda tags, t=category.good: t in tags)
            good = int(has.sum())
            n = now["_annotated_count"]
            annotations[category.key] = (good, n - good, 0, 0, n)
            continue
        rows = [
            (
                category.good in tags,
                category.bad in tags,
                category.undetermined is not None and category.undetermined in tags,
            )
            for tags in chosen["tags"]
        ]
        g = sum(1 for a, b, _ in rows if a and not b)
        b = sum(1 for a, bb, _ in rows if bb and not a)
        u = sum(1 for a, bb, c in rows if c and not a and not bb)
        conflicting = sum(1 for a, bb, _ in rows if a and bb)
        annotations[category.key] = (g, b, u, conflicting, g + b)
    return {
        "kpis": now,
        "previous": before,
        "granularity": granularity,
        "over_time": {pd.Timestamp(k): int(v) for k, v in over_time.items()},
        "by_experiment": chosen["experiment_id"].value_counts().to_dict(),
        "by_team": chosen["team_slug"].value_counts().to_dict(),
        "annotations": annotations,
    }


def fast_numbers(dataset: Dataset, state: FilterState, today: date) -> dict:
    """The same numbers through the dashboard's own path (select → metrics), no figures."""
    selection = select(dataset, state, today=today)
    previous = select_previous(dataset, selection)
    kpis = metrics.kpis(selection, previous)
    over_time = metrics.sessions_over_time(selection)
    by_experiment = metrics.sessions_by(selection, "experiment")
    by_team = metrics.sessions_by(selection, "team")
    annotations = metrics.annotation_breakdown(selection)
    annotated = metrics.annotated_count(selection)
    return {
        "kpis": {k.key: k.value for k in kpis} | {"_annotated_count": annotated},
        "previous": None
        if previous is None
        else {k.key: k.previous for k in kpis} | {"_annotated_count": None},
        "granularity": selection.granularity,
        "over_time": {pd.Timestamp(b): int(s) for b, s in over_time.itertuples(index=False)},
        "by_experiment": dict(zip(by_experiment["value"], by_experiment["sessions"], strict=True)),
        "by_team": dict(zip(by_team["value"], by_team["sessions"], strict=True)),
        "annotations": {
            row.category: (row.good, row.bad, row.undetermined, row.conflicting, row.n)
            for row in annotations.itertuples()
        },
    }


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12)
    return a == b


def compare(fast: dict, naive: dict, label: str) -> None:
    """Raise AssertionError naming the first difference between the two answers."""
    for key in ("sessions", "participants", "messages", "annotated", "good", "_annotated_count"):
        assert _same(fast["kpis"][key], naive["kpis"][key]), (
            label,
            key,
            fast["kpis"][key],
            naive["kpis"][key],
        )
    assert (fast["previous"] is None) == (naive["previous"] is None), (label, "previous")
    if fast["previous"] is not None:
        for key in ("sessions", "participants", "messages", "annotated", "good"):
            assert _same(fast["previous"][key], naive["previous"][key]), (label, "previous", key)
    assert fast["granularity"] == naive["granularity"], (label, "granularity")
    assert fast["over_time"] == naive["over_time"], (label, "over_time")
    for key in ("by_experiment", "by_team", "annotations"):
        assert {k: tuple(np.atleast_1d(v).tolist()) for k, v in fast[key].items()} == {
            k: tuple(np.atleast_1d(v).tolist()) for k, v in naive[key].items()
        }, (label, key)


# ---- the other tabs (issue #15): one naive function and one fast function per tab ----------

TAB_COLUMNS = [
    *COLUMNS,
    "session_id",
    "thumbs_up",
    "thumbs_down",
    "cost_usd",
]


def naive_tab_frame(tables: Tables) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sessions, cost rows) as plain pandas frames in store order."""
    frame = tables.sessions.select(TAB_COLUMNS).to_pandas()
    frame["tags"] = [tuple(t) if t is not None else () for t in frame["tags"]]
    costs = tables.session_costs.select(["session_id", "model", "cost_usd"]).to_pandas()
    return frame, costs


def _chosen(frame: pd.DataFrame, state: FilterState, today: date) -> pd.DataFrame:
    start, end = window(state, today)
    return frame[_mask(frame, state, start, end)]


def naive_quality(frame, costs, state, today, categories, pairs) -> dict:
    """Per experiment: sessions and annotated sessions; among the annotated sessions (as the
    co-occurrence matrix counts since issue #17), sessions with both tags of each pair."""
    chosen = _chosen(frame, state, today)
    annotation = {t for c in categories for t in c.tags}
    annotated = chosen["tags"].map(lambda tags: bool(set(tags) & annotation))
    per_experiment = {
        e: (len(group), int(annotated[group.index].sum()))
        for e, group in chosen.groupby("experiment_id")
    }
    tag_sets = [set(t) for t in chosen.loc[annotated, "tags"]]
    both = {(a, b): sum(1 for s in tag_sets if a in s and b in s) for a, b in pairs}
    return {"per_experiment": per_experiment, "both": both}


def fast_quality(dataset: Dataset, state: FilterState, today: date) -> dict:
    from services.analytics import quality

    selection = select(dataset, state, today=today)
    coverage = quality.coverage_by_experiment(selection)
    pairs = quality.cooccurrence(selection)
    return {
        "per_experiment": {
            row.experiment: (int(row.sessions), int(row.annotated)) for row in coverage.itertuples()
        },
        "both": {(row.tag_a, row.tag_b): int(row.both) for row in pairs.itertuples()},
    }


def naive_engagement(frame, costs, state, today, categories, pairs) -> dict:
    """Messages per session (n, median, mean) over synced transcripts; 👍/👎 and rated
    sessions; distinct participants (team + identifier; a missing identifier is one)."""
    chosen = _chosen(frame, state, today)
    known = chosen[chosen["human_messages"].notna()]
    messages = (known["human_messages"] + known["ai_messages"]).astype(float)
    up, down = chosen["thumbs_up"], chosen["thumbs_down"]
    key = chosen["team_slug"] + "\x1f" + chosen["participant_identifier"]
    return {
        "messages": (
            len(messages),
            float(messages.median()) if len(messages) else math.nan,
            float(messages.mean()) if len(messages) else math.nan,
        ),
        "ratings": (int(up.sum()), int(down.sum()), int(((up > 0) | (down > 0)).sum())),
        "participants": int(key.nunique(dropna=False)),
    }


def fast_engagement(dataset: Dataset, state: FilterState, today: date) -> dict:
    from services.analytics import engagement

    selection = select(dataset, state, today=today)
    messages = engagement.messages_per_session(selection)
    ratings = engagement.ratings(selection)
    participants = engagement.sessions_per_participant(selection)
    return {
        "messages": (messages.n, messages.median, messages.mean),
        "ratings": (ratings.up, ratings.down, ratings.rated_sessions),
        "participants": participants.n,
    }


def naive_cost(frame, costs, state, today, categories, pairs) -> dict:
    """Known cost total and count, cost per experiment, cost per model (cost rows joined to
    the selected sessions)."""
    chosen = _chosen(frame, state, today)
    known = chosen[chosen["cost_usd"].notna()]
    rows = costs[costs["session_id"].isin(chosen["session_id"])]
    by_model = rows.assign(model=rows["model"].fillna("(unknown)")).groupby("model")["cost_usd"]
    return {
        "total": (float(known["cost_usd"].sum()), len(known)),
        "by_experiment": {
            e: float(v) for e, v in known.groupby("experiment_id")["cost_usd"].sum().items()
        },
        "by_model": {m: float(v) for m, v in by_model.sum().items()},
    }


def fast_cost(dataset: Dataset, state: FilterState, today: date) -> dict:
    from services.analytics import cost

    selection = select(dataset, state, today=today)
    summary = cost.cost_summary(selection)
    by_experiment = cost.cost_by_experiment(selection)
    by_model = cost.cost_by_model(selection)
    return {
        "total": (summary.total, summary.known),
        "by_experiment": {
            row.value: float(row.cost_usd) for row in by_experiment.itertuples() if row.known
        },
        "by_model": {row.model: float(row.cost_usd) for row in by_model.itertuples()},
    }


def naive_sessions(frame, costs, state, today, categories, pairs) -> dict:
    """The table's first page (50 session ids), newest first and by messages (most first;
    ties newest first), as sort_values over the selection."""
    chosen = _chosen(frame, state, today)
    newest = chosen.sort_values(["created_at", "session_id"], ascending=False)
    messages = (chosen["human_messages"] + chosen["ai_messages"]).astype(float).fillna(-1)
    by_messages = chosen.assign(_m=messages).sort_values(
        ["_m", "created_at", "session_id"], ascending=False
    )
    return {
        "newest": newest["session_id"].head(50).tolist(),
        "messages": by_messages["session_id"].head(50).tolist(),
    }


def fast_sessions(dataset: Dataset, state: FilterState, today: date) -> dict:
    selection = select(dataset, state, today=today)
    newest = metrics.table_order(selection)[:50]
    by_messages = metrics.table_order(selection, "messages")[:50]
    return {
        "newest": [str(s) for s in dataset.session_id[newest]],
        "messages": [str(s) for s in dataset.session_id[by_messages]],
    }


def _overview_naive(frame, costs, state, today, categories, pairs) -> dict:
    return overview_numbers(frame, state, today, categories)


def _close(a, b) -> bool:
    """Equal, floats to 1e-9 relative (sums in another order), NaN equal to NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def compare_tab(tab: str, fast: dict, naive: dict, label: str) -> None:
    """Raise AssertionError naming the first part where the two answers differ."""
    if tab == "overview":
        compare(fast, naive, label)
        return
    if tab == "quality":  # naive counts every pair it was given: the fast top-15 pairs
        naive = dict(naive, both={k: naive["both"][k] for k in fast["both"]})
    for key in fast:
        assert _close(fast[key], naive[key]), (tab, label, key, fast[key], naive[key])


TAB_FUNCTIONS = {
    "overview": (fast_numbers, _overview_naive),
    "quality": (fast_quality, naive_quality),
    "engagement": (fast_engagement, naive_engagement),
    "cost": (fast_cost, naive_cost),
    "sessions": (fast_sessions, naive_sessions),
}
"""Tab → (fast numbers through the dashboard's path, the same numbers the naive way)."""
