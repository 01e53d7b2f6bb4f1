"""Issue #15's faster paths give the same answers as the straightforward code they replaced."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import cost, engagement, metrics, quality
from services.analytics.filters import FilterState
from services.analytics.query import select
from tests.analytics.test_rollups import same

TODAY = date(2026, 11, 22)
STATES = [
    FilterState(),
    FilterState(range="all"),
    FilterState(range="7d"),
    FilterState(range="365d", tz="America/New_York"),
    FilterState(range="custom", start=date(2026, 10, 1), end=date(2026, 10, 3)),
    FilterState(range="30d", tags=("safe",)),
    FilterState(range="custom", start=date(2030, 1, 1), end=date(2030, 1, 2)),  # empty
]


def reference_quality_over_time(selection, granularity: str) -> pd.DataFrame:
    """The former implementation: a pandas groupby per category over every selected row."""
    columns = ["bucket", "category", "label", "good", "n", "rate", "ci_low", "ci_high"]
    if selection.n == 0:
        return pd.DataFrame(columns=columns)
    days = selection.column("day").astype("int64")
    buckets = pd.to_datetime(metrics.bucket_labels(days, granularity))
    rows = []
    for category in metrics.annotation_categories(selection.dataset.tag_names):
        if category.presence:
            continue
        good = selection.tag(category.good) if category.good else np.zeros(selection.n, bool)
        bad = selection.tag(category.bad) if category.bad else np.zeros(selection.n, bool)
        frame = (
            pd.DataFrame({"bucket": buckets, "good": good & ~bad, "verdict": good ^ bad})
            .groupby("bucket", sort=True)[["good", "verdict"]]
            .sum()
        )
        for bucket, row in frame.iterrows():
            k, n = int(row["good"]), int(row["verdict"])
            low, high = metrics.wilson_interval(k, n)
            rows.append(
                (bucket, category.key, category.label, k, n, metrics.ratio(k, n), low, high)
            )
    return pd.DataFrame(rows, columns=columns)


def reference_annotated_counts(selection, over_time) -> np.ndarray:
    mask = metrics.annotated_mask(selection)
    days = selection.column("day")[mask].astype("int64")
    buckets = metrics.bucket_labels(days, selection.granularity)
    counts = pd.Series(1, index=pd.to_datetime(buckets)).groupby(level=0).sum()
    return counts.reindex(over_time["bucket"], fill_value=0).to_numpy()


def reference_model_sessions(selection) -> dict[str, int]:
    """Sessions per model as distinct (position, model) pairs with np.unique."""
    index = cost.cost_index(selection.dataset)
    rows = np.arange(len(index.position))
    rows = rows[(index.position >= selection.lo) & (index.position < selection.hi)]
    if selection.mask is not None:
        rows = rows[selection.mask[index.position[rows] - selection.lo]]
    k = len(index.models)
    pairs = np.unique(index.position[rows] * k + index.model_codes[rows])
    counts = np.bincount(pairs % k, minlength=k)
    return {index.models[i]: int(c) for i, c in enumerate(counts) if c}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_quality_over_time_equals_the_groupby(demo_dataset, state, granularity):
    selection = select(demo_dataset, state, today=TODAY)
    got = quality.quality_over_time(selection, granularity)
    want = reference_quality_over_time(selection, granularity)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


@pytest.mark.parametrize("state", STATES)
def test_annotated_counts_per_bucket_equal_the_groupby(demo_dataset, state):
    selection = select(demo_dataset, state, today=TODAY)
    over_time = metrics.sessions_over_time(selection)
    got = quality.annotated_subselection_counts(selection, over_time)
    assert got.tolist() == reference_annotated_counts(selection, over_time).tolist()


@pytest.mark.parametrize("state", STATES)
def test_sessions_per_model_equal_distinct_pairs(demo_dataset, state):
    selection = select(demo_dataset, state, today=TODAY)
    frame = cost.cost_by_model(selection)
    got = dict(zip(frame["model"], frame["sessions"].astype(int), strict=True))
    assert got == reference_model_sessions(selection)


def test_sessions_per_model_with_repeated_model_rows(make_dataset):
    """A session with two rows of the same model counts once for that model."""
    from dataclasses import replace

    from services.store.dataset import CostRows

    ds = make_dataset(
        [
            {"id": "a", "created": "2026-11-01T10:00:00Z", "human": 1, "ai": 1, "cost": 1.0},
            {"id": "b", "created": "2026-11-02T10:00:00Z", "human": 1, "ai": 1, "cost": 1.0},
        ]
    )
    rows = CostRows(
        position=np.array([0, 0, 0, 1, 1]),
        model_codes=np.array([0, 1, 0, 1, 1], dtype=np.int32),
        models=["m0", "m1"],
        cost_usd=np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
        tokens=np.array([1, 1, 1, 1, 1]),
    )
    ds = replace(ds, cost_rows=rows)
    frame = cost.cost_by_model(select(ds, FilterState(range="all"), today=TODAY))
    got = {r.model: (r.sessions, r.cost_usd, r.tokens) for r in frame.itertuples()}
    assert got == {"m0": (1, 4.0, 2), "m1": (2, 11.0, 3)}


def reference_first_session_day(sel) -> np.ndarray:
    everything = select(sel.dataset, sel.state.with_changes(range="all", start=None, end=None))
    first = np.full(sel.dataset.n_participants, -1, dtype=np.int64)
    if everything.n:
        codes = everything.column("participant_codes")
        unique, index = np.unique(codes, return_index=True)
        first[unique] = everything.column("day")[index]
    return first


@pytest.mark.parametrize("state", STATES)
def test_first_session_day_equals_first_occurrence(demo_dataset, state):
    from services.analytics import engagement

    selection = select(demo_dataset, state, today=TODAY)
    got = engagement.first_session_day(selection)
    assert np.array_equal(got, reference_first_session_day(selection))
    assert not got.flags.writeable  # cached per dataset: nobody may change it
    # another date range with the same other filters reuses it
    other = select(demo_dataset, state.with_changes(range="7d", start=None, end=None), today=TODAY)
    assert engagement.first_session_day(other) is got


def reference_sessions_per_participant(selection) -> engagement.Distribution:
    """The former implementation: every participant's count, sorted by _distribution."""
    labels = ["1", "2", "3", "4", "5", "6–10", "11–20", "21–50", "51+"]
    if selection.n == 0:
        values = np.array([], dtype=float)
    else:
        counts = np.bincount(selection.column("participant_codes"))
        values = counts[counts > 0].astype(float)
    summary = engagement._distribution(values, engagement.SESSIONS_PER_PARTICIPANT_EDGES, labels)
    return dataclasses.replace(
        summary, histogram=summary.histogram.rename(columns={"sessions": "participants"})
    )


@pytest.mark.parametrize("state", STATES)
def test_sessions_per_participant_equals_the_sort(demo_dataset, state):
    selection = select(demo_dataset, state, today=TODAY)
    same(
        engagement.sessions_per_participant(selection),
        reference_sessions_per_participant(selection),
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(codes=st.lists(st.integers(0, 5), max_size=300))
def test_sessions_per_participant_on_any_counts(make_dataset, codes):
    ds = make_dataset([{"id": f"s{i}", "pid": f"p{c}"} for i, c in enumerate(codes)])
    selection = select(ds, FilterState(range="all"), today=TODAY)
    same(
        engagement.sessions_per_participant(selection),
        reference_sessions_per_participant(selection),
    )


@pytest.mark.parametrize("state", STATES)
def test_single_version_sides_equal_the_full_masks(demo_dataset, state):
    selection = select(demo_dataset, state, today=TODAY)
    labels = (*demo_dataset.version_names, "v99")
    sides = quality.single_version_sides(selection, labels)
    for label, side in zip(labels, sides, strict=True):
        want = quality.single_version_mask(demo_dataset, label)[selection.positions()]
        assert np.array_equal(side, want)


@pytest.mark.parametrize("state", STATES)
def test_words_per_message_equal_the_masked_division(demo_dataset, state):
    """One division then one gather gives the values of the former gather-then-divide."""
    selection = select(demo_dataset, state, today=TODAY)
    edges, labels = engagement.WORD_EDGES, engagement._range_labels(engagement.WORD_EDGES)
    human = selection.column("human_messages")
    has = human >= 1
    user = engagement._distribution(selection.column("user_words")[has] / human[has], edges, labels)
    same(engagement.words_per_user_message(selection), user)
    ai, words = selection.column("ai_messages"), selection.column("ai_words")
    has = (ai >= 1) & ~np.isnan(words)
    bot = engagement._distribution(words[has] / ai[has], edges, labels)
    same(engagement.words_per_bot_message(selection), bot)


@pytest.mark.parametrize(
    ("position", "codes", "want"),
    [
        ([0, 0, 1, 2, 2], [0, 1, 1, 0, 1], True),  # in pair order, no repeat
        ([0, 0, 1], [1, 0, 0], True),  # a session's models in another order
        ([0, 0, 1], [1, 1, 0], False),  # a repeat next to itself
        ([0, 0, 0], [0, 1, 0], False),  # a repeat apart
        ([], [], True),
    ],
)
def test_one_row_per_model_is_checked_once_per_dataset(position, codes, want):
    got = cost._one_row_per_model(
        np.array(position, dtype=np.int64), np.array(codes, dtype=np.int32), 2
    )
    assert got is want
