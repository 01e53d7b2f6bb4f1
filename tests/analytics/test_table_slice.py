"""One page of the Sessions table without sorting every row (``metrics.table_slice``): always
the same rows, in the same order, as the slice of the full sort (``metrics.table_order``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import metrics
from services.analytics.filters import FilterState
from services.analytics.query import select
from services.views.sessions import PAGE_SIZE, SORTABLE
from tests.conftest import DEMO_ANCHOR


@settings(max_examples=300, deadline=None)
@given(
    key=st.lists(st.integers(-1, 6), min_size=1, max_size=120)
    | st.lists(st.floats(-1, 1e6, allow_nan=False), min_size=1, max_size=120),
    data=st.data(),
)
def test_ascending_ranks_equal_the_stable_sort(key, data):
    array = np.array(key)
    lo = data.draw(st.integers(0, len(key) - 1))
    hi = data.draw(st.integers(lo + 1, len(key)))
    want = np.argsort(array, kind="stable")[lo:hi]
    assert np.array_equal(metrics._ascending_ranks(array, lo, hi), want)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    sort=st.sampled_from([*SORTABLE, "unknown"]),
    descending=st.booleans(),
    state=st.sampled_from(
        [
            FilterState(range="7d", tags=("safe",)),  # a mask
            FilterState(range="30d"),
            FilterState(range="365d"),
            FilterState(range="all"),
        ]
    ),
    page=st.integers(0, 400),
    size=st.sampled_from([1, PAGE_SIZE, 5000]),
)
def test_a_page_is_the_slice_of_the_whole_order(demo_dataset, sort, descending, state, page, size):
    selection = select(demo_dataset, state, today=DEMO_ANCHOR)
    start = page * size
    whole = metrics.table_order(selection, sort, descending)
    got = metrics.table_slice(selection, start, start + size, sort, descending)
    assert np.array_equal(got, whole[start : start + size])


@pytest.mark.parametrize("sort", SORTABLE)
def test_the_last_page_and_empty_pages(demo_dataset, sort):
    selection = select(demo_dataset, FilterState(range="30d"), today=DEMO_ANCHOR)
    n = selection.n
    for descending in (True, False):
        whole = metrics.table_order(selection, sort, descending)
        for start, end in ((n - 7, n), (n - 1, n + 50), (n, n + 50), (0, 0), (-5, 3)):
            got = metrics.table_slice(selection, start, end, sort, descending)
            assert np.array_equal(got, whole[max(start, 0) : max(end, 0)]), (start, end)


@pytest.mark.parametrize("descending", [True, False])
def test_row_order_is_the_stable_sort_by_start_time(demo_dataset, descending):
    """The default sort reads rows in stored order: the same as sorting them by start."""
    selection = select(demo_dataset, FilterState(range="90d", tags=("safe",)), today=DEMO_ANCHOR)
    positions = selection.positions()
    by_start = positions[np.argsort(demo_dataset.created_ns[positions], kind="stable")]
    want = by_start[::-1] if descending else by_start
    assert np.array_equal(metrics.table_order(selection, "created_at", descending), want)
