"""The open tab and the Sessions table's sort and page live in the URL (``tab``, ``sort``,
``order``, ``page``; :class:`services.analytics.filters.Position`), beside the filters.

A reload keeps them, a copied link reproduces them, and back/forward moves between them.
:func:`restore_position` applies the URL to the tabs and the table state; :func:`position_url`
writes them back when a tab is opened or the table sorted or paged. Both change nothing when
the two already agree, so neither triggers the other again.
"""

from __future__ import annotations

from dash import Input, Output, State, callback, no_update

from layouts import ids
from services.analytics.filters import Position, parse_position, with_position
from services.views.sessions import DEFAULT_SORT, SORTABLE, TableState

TABS = (ids.TAB_OVERVIEW, ids.TAB_QUALITY, ids.TAB_ENGAGEMENT, ids.TAB_COST, ids.TAB_SESSIONS)
DEFAULT_TAB = ids.TAB_OVERVIEW


def position_of(active_tab: str | None, table_data: dict | None) -> Position:
    """The URL position for the open tab and the table state (defaults left out)."""
    table = TableState.from_dict(table_data)
    default = TableState()
    sorted_otherwise = (table.sort, table.desc) != (default.sort, default.desc)
    return Position(
        tab=active_tab if active_tab in TABS and active_tab != DEFAULT_TAB else None,
        sort=table.sort if sorted_otherwise else None,
        desc=table.desc if sorted_otherwise else None,
        page=table.page if table.page > 1 else None,
    )


def wanted(search: str | None) -> tuple[str, TableState]:
    """(tab, table state) a URL asks for; unknown tabs and columns fall back to the defaults."""
    position = parse_position(search)
    tab = position.tab if position.tab in TABS else DEFAULT_TAB
    sort = position.sort if position.sort in SORTABLE else DEFAULT_SORT
    desc = position.desc if position.desc is not None else True
    return tab, TableState(page=position.page or 1, sort=sort, desc=desc)


def restore(search: str | None, active_tab: str | None, table_data: dict | None) -> list:
    """Outputs of :func:`restore_position`: the tab and the table state, or no_update where
    they already match the URL. A restored table state carries ``"for": None``: the next
    filter state is the one it belongs to (it does not send the table back to page 1)."""
    tab, table = wanted(search)
    current = TableState.from_dict(table_data)
    return [
        tab if tab != (active_tab or DEFAULT_TAB) else no_update,
        {**table.to_dict(), "for": None} if table != current else no_update,
    ]


@callback(
    Output(ids.TABS, "active_tab", allow_duplicate=True),
    Output(ids.TABLE_STATE, "data", allow_duplicate=True),
    Input(ids.URL, "search"),
    State(ids.TABS, "active_tab"),
    State(ids.TABLE_STATE, "data"),
    prevent_initial_call="initial_duplicate",
)
def restore_position(search, active_tab, table_data):
    return restore(search, active_tab, table_data)


@callback(
    Output(ids.URL, "search", allow_duplicate=True),
    Input(ids.TABS, "active_tab"),
    Input(ids.TABLE_STATE, "data"),
    State(ids.URL, "search"),
    prevent_initial_call=True,
)
def position_url(active_tab, table_data, search):
    """The URL with the open tab and the table's sort and page (no_update when unchanged)."""
    query = with_position(search, position_of(active_tab, table_data))
    return query if query != (search or "") else no_update
