"""The Sessions tab: one server-rendered page of the filtered sessions, sortable, with CSV download.

Only the rows of the page on screen travel to the browser; the page number and the sort live in
the small ``table-state`` store (:mod:`services.views.sessions`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids
from services.views.sessions import TableState


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    sortable: bool = False
    numeric: bool = False


COLUMNS = (
    Column("link", "Transcript"),
    Column("created_at", "Started", sortable=True),
    Column("experiment", "Experiment"),
    Column("team", "Team"),
    Column("participant", "Participant"),
    Column("status", "Status"),
    Column("platform", "Platform"),
    Column("messages", "Messages", sortable=True, numeric=True),
    Column("duration_min", "Minutes", sortable=True, numeric=True),
    Column("versions", "Versions"),
    Column("tags", "Session tags"),
    Column("cost_usd", "Cost ($)", sortable=True, numeric=True),
)
PAGER = {
    ids.SESSIONS_FIRST: ("first", "« First"),
    ids.SESSIONS_PREV: ("prev", "‹ Previous"),
    ids.SESSIONS_NEXT: ("next", "Next ›"),
    ids.SESSIONS_LAST: ("last", "Last »"),
}
"""Pager button id → (action for services.views.sessions.next_state, label)."""


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def cell_text(key: str, value) -> str:
    """How a value shows in the table (the CSV keeps the raw numbers)."""
    if _missing(value):
        return ""
    if key == "messages":
        return f"{int(value):,}"
    if key == "duration_min":
        return f"{float(value):,.1f}"
    if key == "cost_usd":
        return f"{float(value):.4f}"
    return str(value)


class Element(dict):
    """An HTML element of the table as the JSON the Dash renderer reads (``type``,
    ``namespace``, ``props``; None props left out, as Dash does) that reads like a component
    (``cell.children``, ``link.href``).

    A page's body is ~700 elements: as ``dash.html`` components they took 11–14 ms to build
    and serialize per page at 1M sessions (each component's ``to_plotly_json`` and Plotly's
    encoder walking them in Python), as these dicts ~4 ms with the header. The header stays
    components: the layout's checks find the sort buttons' ids among components.
    """

    def __init__(self, tag: str, children=None, **props):
        props = {"children": children, **props}
        super().__init__(
            type=tag,
            namespace="dash_html_components",
            props={k: v for k, v in props.items() if v is not None},
        )

    def __getattr__(self, name: str):
        try:
            return self["props"][name]
        except KeyError:
            raise AttributeError(name) from None


def _header(column: Column, state: TableState) -> html.Th:
    classes = "num" if column.numeric else None
    if not column.sortable:
        return html.Th(column.header, scope="col", className=classes)
    active = column.key == state.sort
    arrow = ("▼" if state.desc else "▲") if active else "⇅"
    direction = "descending" if state.desc else "ascending"
    return html.Th(
        html.Button(
            [column.header, html.Span(arrow, className="sort-arrow", **{"aria-hidden": "true"})],
            id=ids.sort_header(column.key),
            n_clicks=0,
            className="sort-header" + (" active" if active else ""),
            title=f"Sort by {column.header}",
        ),
        scope="col",
        className=classes,
        **{"aria-sort": direction if active else "none"},
    )


def _cell(column: Column, row: dict) -> Element:
    value = row.get(column.key)
    if column.key == "link":
        link = (
            Element("A", "open ↗", href=value, target="_blank", rel="noopener noreferrer")
            if value
            else ""
        )
        return Element("Td", link)
    text = cell_text(column.key, value)
    if column.key == "tags":
        return Element("Td", text, title=text, className="tags-cell")
    return Element("Td", text, className="num" if column.numeric else None)


def sessions_table(
    rows: list[dict], state: TableState, empty: str = "No sessions match these filters"
) -> html.Table:
    """One page of sessions: header with the sort buttons, one row per session."""
    if rows:
        body = [
            Element("Tr", [_cell(c, row) for c in COLUMNS], key=str(row.get("session_id", i)))
            for i, row in enumerate(rows)
        ]
    else:
        body = [Element("Tr", Element("Td", empty, colSpan=len(COLUMNS), className="empty-state"))]
    return html.Table(
        [
            html.Thead(html.Tr([_header(c, state) for c in COLUMNS])),  # the sort buttons' ids
            Element("Tbody", body),
        ],
        className="table table-sm table-hover align-middle sessions-table mb-0",
    )


def pager() -> html.Nav:
    return html.Nav(
        [
            html.Div(
                [
                    html.Button(
                        label,
                        id=button_id,
                        n_clicks=0,
                        disabled=True,
                        className="btn btn-outline-secondary btn-sm",
                    )
                    for button_id, (_action, label) in PAGER.items()
                ],
                className="btn-group",
                role="group",
            ),
            html.Span(id=ids.SESSIONS_RANGE, className="sessions-range", role="status"),
        ],
        className="sessions-pager",
        **{"aria-label": "Sessions table pages"},
    )


def sessions_tab() -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.Div(id=ids.SESSIONS_COUNT, className="sessions-count"),
                    html.Button(
                        "Download CSV",
                        id=ids.DOWNLOAD_BUTTON,
                        className="btn btn-outline-primary btn-sm",
                        n_clicks=0,
                    ),
                ],
                className="sessions-toolbar",
            ),
            dcc.Store(id=ids.TABLE_STATE, data=TableState().to_dict()),
            dbc.Card(
                [
                    html.Div(
                        sessions_table([], TableState(), empty="Loading…"),
                        id=ids.SESSIONS_TABLE,
                        className="sessions-table-wrap table-responsive",
                    ),
                    pager(),
                ],
                className="sessions-card",
            ),
        ]
    )
