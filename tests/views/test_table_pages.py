"""Paging and sorting state of the sessions table (services.views.sessions), and its cells."""

from __future__ import annotations

import pytest

from layouts.sessions import COLUMNS, cell_text
from services.analytics import metrics
from services.views.sessions import (
    PAGE_SIZE,
    SORTABLE,
    TableState,
    clamp_page,
    next_state,
    page_bounds,
    page_count,
    range_text,
)


@pytest.mark.parametrize(
    ("n", "pages"), [(0, 1), (1, 1), (50, 1), (51, 2), (100, 2), (12_345, 247), (-3, 1)]
)
def test_page_count(n, pages):
    assert page_count(n) == pages


@pytest.mark.parametrize(
    ("page", "n", "expected"), [(1, 0, 1), (0, 500, 1), (-4, 500, 1), (3, 500, 3), (99, 500, 10)]
)
def test_clamp_page(page, n, expected):
    assert clamp_page(page, n) == expected


def test_page_bounds():
    assert page_bounds(1, 12_345) == (0, 50)
    assert page_bounds(3, 12_345) == (100, 150)
    assert page_bounds(247, 12_345) == (12_300, 12_345)
    assert page_bounds(999, 12_345) == (12_300, 12_345)  # clamped to the last page
    assert page_bounds(1, 0) == (0, 0)
    assert page_bounds(2, 7, size=5) == (5, 7)


def test_range_text():
    assert range_text(3, 12_345) == "rows 101–150 of 12,345"
    assert range_text(247, 12_345) == "rows 12,301–12,345 of 12,345"
    assert range_text(1, 1) == "rows 1–1 of 1"
    assert range_text(1, 0) == "no rows"


@pytest.mark.parametrize(
    "data",
    [
        None,
        "page=2",
        {},
        {"page": "2", "sort": "session_id", "desc": "no"},
        {"page": 0, "sort": None, "desc": None},
        {"page": True},
    ],
)
def test_state_from_bad_store_data_is_the_default(data):
    assert TableState.from_dict(data) == TableState(1, "created_at", True)


def test_state_round_trips_through_the_store():
    state = TableState(4, "cost_usd", False)
    assert TableState.from_dict(state.to_dict()) == state
    assert set(state.to_dict()) == {"page", "sort", "desc"}  # never rows


def test_pager_moves_and_stops_at_both_ends():
    n = 120  # 3 pages
    state = TableState()
    assert next_state(state, "prev", n).page == 1
    assert next_state(state, "next", n).page == 2
    assert next_state(TableState(3), "next", n).page == 3
    assert next_state(state, "last", n).page == 3
    assert next_state(TableState(3), "first", n).page == 1
    assert next_state(TableState(3), "prev", n).page == 2
    # filters narrowed while on page 9: the page is clamped before moving
    assert next_state(TableState(9), "prev", n).page == 2
    assert next_state(TableState(9), None, n).page == 3
    assert next_state(TableState(2, "messages", False), "next", n) == TableState(
        3, "messages", False
    )


def test_new_filters_or_data_reset_to_page_one_and_keep_the_sort():
    assert next_state(TableState(7, "duration_min", False), "reset", 10_000) == TableState(
        1, "duration_min", False
    )


def test_sorting_a_column_starts_descending_then_flips():
    state = next_state(TableState(5), "sort:messages", 1000)
    assert state == TableState(1, "messages", True)
    state = next_state(TableState(3, "messages", True), "sort:messages", 1000)
    assert state == TableState(1, "messages", False)
    assert next_state(state, "sort:messages", 1000).desc is True
    assert next_state(TableState(1, "created_at", True), "sort:created_at", 10).desc is False
    # a column that does not sort changes nothing
    assert next_state(TableState(2), "sort:team", 1000) == TableState(2)


def test_sortable_columns_are_the_ones_metrics_sorts_and_the_table_marks():
    assert set(SORTABLE) <= set(metrics.TABLE_COLUMNS)
    assert {c.key for c in COLUMNS if c.sortable} == set(SORTABLE)
    assert PAGE_SIZE == 50


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("messages", 12.0, "12"),
        ("messages", None, ""),
        ("duration_min", 3.25, "3.2"),
        ("duration_min", float("nan"), ""),
        ("cost_usd", 0.0123456, "0.0123"),
        ("cost_usd", None, ""),
        ("team", "Connect Experiments", "Connect Experiments"),
    ],
)
def test_cell_text(key, value, text):
    assert cell_text(key, value) == text
