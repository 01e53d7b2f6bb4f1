"""The filter mask kept per filter set gives the selections the mask of their own rows."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import query
from services.analytics.filters import FilterState, window
from services.analytics.query import select
from tests.analytics.test_query import demo_states
from tests.conftest import DEMO_ANCHOR


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_window_of_the_kept_mask_is_the_mask_of_its_rows(demo_dataset, data):
    state = data.draw(demo_states(demo_dataset))
    selection = select(demo_dataset, state, today=DEMO_ANCHOR)
    start, end = window(state, DEMO_ANCHOR)
    lo, hi = query._bounds(demo_dataset, start, end)
    want = query._rows_mask(demo_dataset, state, lo, hi)  # the former: tested over [lo, hi)
    assert (selection.lo, selection.hi) == (lo, hi)
    if want is None:
        assert selection.mask is None
    else:
        assert np.array_equal(selection.mask, want)
        assert not selection.mask.flags.writeable


def test_masks_are_kept_per_filter_set_and_bounded(demo_dataset):
    for k in range(query.FILTER_MASKS + 3):
        select(demo_dataset, FilterState(range="30d", teams=(f"t{k}",)), today=DEMO_ANCHOR)
    cache = demo_dataset._derived["filter_masks"]
    assert len(cache) <= query.FILTER_MASKS
    first = select(demo_dataset, FilterState(range="7d"), today=DEMO_ANCHOR)
    second = select(demo_dataset, FilterState(range="90d"), today=DEMO_ANCHOR)
    assert np.shares_memory(first.mask, second.mask)  # one mask, two windows of it
