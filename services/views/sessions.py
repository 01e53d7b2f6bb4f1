"""Paging and sorting state of the sessions table (plain Python: no Dash, no data).

The browser keeps only ``{"page": 3, "sort": "messages", "desc": true}`` in a ``dcc.Store``;
every event (a sort header, a pager button, new filters or data) gives the next state through
:func:`next_state`, and the server renders that one page of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

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
