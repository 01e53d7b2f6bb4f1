"""The Sessions tab's view model: the row count, one page of the table, every row for the CSV
and the JSON API's pages (``/api/v1/sessions``).

Paging and sorting state is plain Python: the browser keeps only
``{"page": 3, "sort": "messages", "desc": true}`` in a ``dcc.Store``; every event (a sort
header, a pager button, new filters or data) gives the next state through :func:`next_state`,
and the server renders that one page of rows (:func:`table_page`). Only the count is cached
(:func:`sessions_view`); rows are read for the page asked for, never kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from services.analytics import metrics
from services.analytics.filters import FilterState
from services.analytics.query import Selection, select, sharing_selections
from services.store.dataset import Dataset
from services.views.cache import VIEWS
from services.views.scope import Scope, describe, scope_of, view_key, viewer_today

PAGE_SIZE = 50
SORTABLE = ("created_at", "messages", "duration_min", "cost_usd")
"""Columns the table sorts by (what :func:`services.analytics.metrics.table_order` knows)."""
DEFAULT_SORT = "created_at"
PAGE_ACTIONS = ("first", "prev", "next", "last")


@dataclass(frozen=True)
class TableState:
    page: int = 1
    sort: str = DEFAULT_SORT
    desc: bool = True

    @classmethod
    def from_dict(cls, data: dict | None) -> TableState:
        """The state in a store; anything missing or invalid falls back to the default."""
        data = data if isinstance(data, dict) else {}
        page = data.get("page")
        sort = data.get("sort")
        desc = data.get("desc")
        return cls(
            page=page if isinstance(page, int) and not isinstance(page, bool) and page > 0 else 1,
            sort=sort if sort in SORTABLE else DEFAULT_SORT,
            desc=desc if isinstance(desc, bool) else True,
        )

    def to_dict(self) -> dict:
        return {"page": self.page, "sort": self.sort, "desc": self.desc}


def page_count(n: int, size: int = PAGE_SIZE) -> int:
    """Pages needed for ``n`` rows; an empty table still has one (empty) page."""
    return max(1, -(-max(n, 0) // size))


def clamp_page(page: int, n: int, size: int = PAGE_SIZE) -> int:
    """``page`` moved into ``1 … page_count(n)``."""
    return min(max(page, 1), page_count(n, size))


def page_bounds(page: int, n: int, size: int = PAGE_SIZE) -> tuple[int, int]:
    """Row positions ``[start, end)`` of ``page`` (1-based, clamped) among ``n`` rows."""
    start = (clamp_page(page, n, size) - 1) * size
    return min(start, n), min(start + size, n)


def next_state(state: TableState, action: str | None, n: int, size: int = PAGE_SIZE) -> TableState:
    """The state after ``action`` on a table of ``n`` rows.

    * ``"first"`` / ``"prev"`` / ``"next"`` / ``"last"``: move, never past either end;
    * ``"sort:<column>"``: sort by a sortable column, newest/largest first; the active
      column again flips the direction; back to page 1;
    * ``"reset"`` (new filters or data): page 1, same sort;
    * anything else (a tab switch, the first render): the same state, page clamped.
    """
    page = clamp_page(state.page, n, size)
    if action == "first" or action == "reset":
        page = 1
    elif action == "prev":
        page = max(page - 1, 1)
    elif action == "next":
        page = min(page + 1, page_count(n, size))
    elif action == "last":
        page = page_count(n, size)
    elif action and action.startswith("sort:"):
        column = action.removeprefix("sort:")
        if column not in SORTABLE:
            return TableState(page, state.sort, state.desc)
        desc = not state.desc if column == state.sort else True
        return TableState(1, column, desc)
    return TableState(page, state.sort, state.desc)


def range_text(page: int, n: int, size: int = PAGE_SIZE) -> str:
    """``"rows 101–150 of 12,345"`` (``"no rows"`` for an empty table)."""
    if n <= 0:
        return "no rows"
    start, end = page_bounds(page, n, size)
    return f"rows {start + 1:,}–{end:,} of {n:,}"


# ---- the view model -------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionsView:
    key: tuple
    scope: Scope
    """``scope.n`` is the row count of the table, its CSV and the API's ``count``."""
    description: str


@sharing_selections
def sessions_view(dataset: Dataset, state: FilterState, today: date | None = None) -> SessionsView:
    today = viewer_today(state, today)
    key = view_key("sessions", dataset, state, today)

    def compute() -> SessionsView:
        selection = select(dataset, state, today=today)
        return SessionsView(key, scope_of(selection), describe(state, dataset, selection.n))

    return VIEWS.get_or_compute(key, compute)


@dataclass(frozen=True)
class SessionsPage:
    """One page of the table after an event: the new state, the row count and the rows."""

    table: TableState
    count: int
    rows: pd.DataFrame
    """Columns of :data:`services.analytics.metrics.TABLE_COLUMNS` plus ``link``."""

    @property
    def first(self) -> bool:
        return self.table.page <= 1

    @property
    def last(self) -> bool:
        return self.table.page >= page_count(self.count)


@sharing_selections
def table_page(
    dataset: Dataset,
    state: FilterState,
    table: TableState,
    action: str | None,
    web_base_url: str = "",
    show_identifiers: bool = False,
) -> SessionsPage:
    """The table after ``action`` (see :func:`next_state`): that page's rows in its order."""
    selection = select(dataset, state)
    n = metrics.session_count(selection)
    table = next_state(table, action, n)
    start, end = page_bounds(table.page, n)
    page = metrics.table_slice(selection, start, end, table.sort, table.desc)
    rows = metrics.session_rows(selection, page, web_base_url, show_identifiers)
    return SessionsPage(table, n, rows)


def export_rows(
    dataset: Dataset, state: FilterState, web_base_url: str = "", show_identifiers: bool = False
) -> pd.DataFrame:
    """Every filtered session in table order (newest first): the Sessions CSV."""
    selection = select(dataset, state)
    return whole_counts(
        metrics.session_rows(
            selection, metrics.table_order(selection), web_base_url, show_identifiers
        )
    )


def whole_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows for a file or the API with ``messages`` as whole numbers (12, not 12.0; missing
    stays missing)."""
    rows["messages"] = rows["messages"].astype("Int64")
    return rows


def rows_after(selection: Selection, cursor: tuple[int, str] | None) -> np.ndarray:
    """Selected row positions in newest-first order, after ``cursor`` (all when None).

    ``cursor`` is the (created_at ns, session id) of the last row already sent. The dataset is
    sorted by (created_at, session_id) ascending, so "after" in newest-first order means a
    smaller (created_at, session_id) key, i.e. a smaller row position.
    """
    order = metrics.table_order(selection)  # newest first: positions descending
    if cursor is None:
        return order
    created_ns, session_id = cursor
    ds = selection.dataset
    lo = int(np.searchsorted(ds.created_ns, created_ns, side="left"))
    hi = int(np.searchsorted(ds.created_ns, created_ns, side="right"))
    ties = ds.session_id[lo:hi]
    boundary = lo + int(sum(1 for sid in ties if str(sid) < session_id))
    return order[order < boundary]


@dataclass(frozen=True)
class ApiPage:
    """One page of ``/api/v1/sessions``."""

    count: int
    """Every filtered session (not only this page)."""
    rows: pd.DataFrame
    last: tuple[int, str] | None
    """(created_at ns, session id) of the page's last row when more rows follow, else None."""


def api_page(
    dataset: Dataset,
    state: FilterState,
    cursor: tuple[int, str] | None,
    limit: int,
    web_base_url: str = "",
    show_identifiers: bool = False,
) -> ApiPage:
    """``limit`` rows after ``cursor`` in table order (newest first)."""
    selection = select(dataset, state)
    remaining = rows_after(selection, cursor)
    page = remaining[:limit]
    rows = whole_counts(metrics.session_rows(selection, page, web_base_url, show_identifiers))
    last = None
    if len(remaining) > limit:
        position = int(page[-1])
        last = (int(dataset.created_ns[position]), dataset.session_id[position])
    return ApiPage(metrics.session_count(selection), rows, last)
