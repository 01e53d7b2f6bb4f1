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


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(-3, 70).map(float),
            st.floats(-5, 2000, allow_nan=False),
            st.just(float("nan")),
        ),
        max_size=200,
    ),
    st.sampled_from(
        [
            tuple(range(41)),
            (0, 1, 2, 5, 10, 15, 30, 60, 120, 240, 480, 1440),
            (1, 2, 3, 4, 5, 6, 11, 21, 51),
        ]
    ),
)
def test_one_sort_distribution_equals_median_mean_and_histogram(values, edges):
    """Engagement's single-sort summary gives exactly what np.median, np.mean and the
    per-value bin search give (NaN included)."""
    import math

    from services.analytics import engagement

    array = np.array(values, dtype=float)
    labels = [str(e) for e in edges]
    want = engagement._summary(array, engagement._histogram(array, edges, labels))
    got = engagement._distribution(array, edges, labels)
    assert got.n == want.n
    for a, b in ((got.median, want.median), (got.mean, want.mean)):
        assert (math.isnan(a) and math.isnan(b)) or a == b
    assert got.histogram.equals(want.histogram)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.integers(0, 60), min_size=1, max_size=400), st.sampled_from([99, 50, 90, 1, 100, 0])
)
def test_percentile_of_counts_equals_numpy(values, q):
    from services.analytics.engagement import percentile_of_counts

    array = np.array(values, dtype=np.int64)
    assert percentile_of_counts(np.bincount(array), q) == float(np.percentile(array, q))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(2**62), 2**62), max_size=300),
    st.sampled_from([np.int64, np.int32, np.int16]),
)
def test_distinct_by_sorting_equals_np_unique(values, dtype):
    """metrics.distinct (a sort: np.unique's hash set is slow at 1M) gives np.unique's answer."""
    info = np.iinfo(dtype)
    array = np.array([min(max(v, info.min), info.max) for v in values], dtype=dtype)
    got = metrics.distinct(array)
    expected = np.unique(array)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
