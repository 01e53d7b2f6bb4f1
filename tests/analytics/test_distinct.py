"""Distinct (group, code) pairs by bitmap equal ``np.unique`` (services.analytics.metrics)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.analytics import metrics


@st.composite
def pairs(draw):
    n_major = draw(st.integers(1, 40))
    n_minor = draw(st.integers(1, 300))
    rows = draw(st.integers(0, 500))
    major = np.array(draw(st.lists(st.integers(0, n_major - 1), min_size=rows, max_size=rows)))
    minor = np.array(draw(st.lists(st.integers(0, n_minor - 1), min_size=rows, max_size=rows)))
    return major.astype(np.int64), minor.astype(np.int64), n_major, n_minor


@settings(max_examples=200, deadline=None)
@given(pairs(), st.booleans())
def test_bitmap_and_sort_give_the_same_distinct_pairs(case, use_sort):
    major, minor, n_major, n_minor = case
    expected = np.unique(major * n_minor + minor)
    original = metrics.DISTINCT_BITMAP_CELLS
    try:
        metrics.DISTINCT_BITMAP_CELLS = 0 if use_sort else original  # 0: the np.unique path
        got = metrics.distinct_pairs(major, minor, n_major, n_minor)
        per_group = metrics.distinct_per_group(major, minor, n_major, n_minor)
    finally:
        metrics.DISTINCT_BITMAP_CELLS = original
    assert np.array_equal(got, expected)
    want = np.bincount(expected // n_minor, minlength=n_major)
    assert np.array_equal(per_group, want)
    assert per_group.dtype == np.int64
