"""Quality's pattern-count paths equal the per-tag masks they replaced."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from services.analytics import metrics, quality
from services.analytics.filters import FilterState
from services.analytics.query import select
from tests.conftest import DEMO_ANCHOR


def per_tag_category_counts(selection, mask):
    """The per-tag version (before annotation patterns)."""
    result = {}
    annotated_any = metrics.annotated_mask(selection)[mask]
    for category in metrics.annotation_categories(selection.dataset.tag_names):
        if category.presence:
            result[category.key] = (
                int(selection.tag(category.good)[mask].sum()),
                int(annotated_any.sum()),
            )
            continue
        none = np.zeros(int(mask.sum()), bool)
        good = selection.tag(category.good)[mask] if category.good else none
        bad = selection.tag(category.bad)[mask] if category.bad else none
        result[category.key] = (
            int((good & ~bad).sum()),
            int((good & ~bad).sum() + (bad & ~good).sum()),
        )
    return result


def per_tag_over_time(selection, granularity):
    days = selection.column("day").astype(np.int64)
    labels = metrics.bucket_labels(days, granularity)
    buckets, bucket = np.unique(labels, return_inverse=True)
    out = {}
    for category in metrics.annotation_categories(selection.dataset.tag_names):
        if category.presence:
            continue
        none = np.zeros(selection.n, bool)
        good = selection.tag(category.good) if category.good else none
        bad = selection.tag(category.bad) if category.bad else none
        good_n = np.bincount(bucket[good & ~bad], minlength=len(buckets))
        verdict_n = np.bincount(bucket[good ^ bad], minlength=len(buckets))
        out[category.key] = (good_n.tolist(), verdict_n.tolist())
    return out


STATES = [
    FilterState(range="365d"),
    FilterState(range="30d", tz="Asia/Kolkata"),
    FilterState(range="custom", start=date(2026, 8, 1), end=date(2026, 10, 31)),
    FilterState(range="all", platforms=("whatsapp",)),
]


@pytest.mark.parametrize("state", STATES)
def test_category_counts_equal_the_per_tag_masks(demo_dataset, state):
    selection = select(demo_dataset, state, today=DEMO_ANCHOR)
    rng = np.random.default_rng(3)
    for mask in (np.ones(selection.n, bool), rng.random(selection.n) < 0.3):
        want = per_tag_category_counts(selection, mask)
        assert quality._category_counts(selection, mask) == want
        assert any(n for _, n in want.values())


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("granularity", ["week", "month"])
def test_quality_over_time_equals_the_per_tag_masks(demo_dataset, state, granularity):
    selection = select(demo_dataset, state, today=DEMO_ANCHOR)
    frame = quality.quality_over_time(selection, granularity)
    want = per_tag_over_time(selection, granularity)
    got = {
        key: (group["good"].tolist(), group["n"].tolist())
        for key, group in frame.groupby("category", sort=False)
    }
    assert got == want


def tag_matrix_pairs(selection, top: int = 15):
    """Co-occurrence counts read off the tag matrix row by row (the way before tag
    combinations): {(tag_a, tag_b): (both, count_a, count_b)} among annotated sessions."""
    ds = selection.dataset
    annotated = metrics.annotated_mask(selection)
    matrix = selection.matrix_rows("tag_matrix", list(range(len(ds.tag_names))))[:, annotated]
    counts = matrix.sum(axis=1)
    order = [i for i in np.argsort(-counts, kind="stable") if counts[i] > 0][:top]
    sub = matrix[order].astype(np.int64)
    both = sub @ sub.T
    return {
        (ds.tag_names[a], ds.tag_names[b]): (int(both[i, j]), int(counts[a]), int(counts[b]))
        for i, a in enumerate(order)
        for j, b in enumerate(order)
    }


@pytest.mark.parametrize("state", STATES)
def test_cooccurrence_by_tag_combination_equals_the_tag_matrix(demo_dataset, state):
    selection = select(demo_dataset, state, today=DEMO_ANCHOR)
    by_combination = quality.cooccurrence(selection)
    assert not by_combination.empty
    got = {
        (row.tag_a, row.tag_b): (row.both, row.count_a, row.count_b)
        for row in by_combination.itertuples()
    }
    want = tag_matrix_pairs(selection)
    assert list(got) == list(want)  # same tags, same order
    assert got == want
    n = int(metrics.annotated_mask(selection).sum())
    for row in by_combination.itertuples():
        both, count_a, count_b = want[(row.tag_a, row.tag_b)]
        assert row.lift == quality.lift(both, count_a, count_b, n) or (
            np.isnan(row.lift) and np.isnan(quality.lift(both, count_a, count_b, n))
        )
        assert row.conditional == metrics.ratio(both, count_a) or (
            np.isnan(row.conditional) and np.isnan(metrics.ratio(both, count_a))
        )
