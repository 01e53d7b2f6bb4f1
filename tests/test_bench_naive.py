"""The benchmark's naive pandas baseline answers every tab exactly as the dashboard does.

``python -m bench`` asserts this at 100k and 1M before it reports a ratio; here it runs on the
small demo world so a change of definition (such as issue #17's co-occurrence among annotated
sessions) breaks a fast test, not an hour-long benchmark.
"""

from __future__ import annotations

from bench import tabs
from bench.naive import TAB_FUNCTIONS
from tests.conftest import DEMO_ANCHOR


def test_every_tab_naive_baseline_agrees_with_the_dashboard(demo_dataset, demo_tables):
    result = tabs.measure_tab_compute(demo_dataset, demo_tables, DEMO_ANCHOR, cases=3)
    assert set(result) == set(TAB_FUNCTIONS) == set(tabs.TABS)
    for tab, row in result.items():
        assert row["cases"] == 4, tab
        assert row["fast_ms_median"] > 0 and row["naive_ms_median"] > 0, tab
