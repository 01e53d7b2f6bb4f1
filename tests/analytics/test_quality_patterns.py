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


@pytest.mark.parametrize("state", STATES)
def test_cooccurrence_by_tag_combination_equals_the_tag_matrix(demo_dataset, state):
    from dataclasses import replace

    selection = select(demo_dataset, state, today=DEMO_ANCHOR)
    by_combination = quality.cooccurrence(selection)
    rows_only = replace(demo_dataset, _derived={"tag_combinations": None})  # the matrix path
    by_rows = quality.cooccurrence(select(rows_only, state, today=DEMO_ANCHOR))
    assert not by_combination.empty
    assert by_combination.equals(by_rows)
