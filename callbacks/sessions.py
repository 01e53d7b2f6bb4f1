"""Sessions tab: one server-rendered page of the table, the row count and the CSV download."""

from __future__ import annotations

from dash import ALL, Input, Output, State, callback, ctx, dcc, no_update

from layouts.sessions import PAGER, SORT_HEADER, sessions_table
from services import runtime
from services.analytics import metrics
from services.analytics.filters import FilterState
from services.analytics.query import select
from services.outputs import exports
from services.views.overview import overview
from services.views.sessions import (
    TableState,
    next_state,
    page_bounds,
    page_count,
    range_text,
)

TAB = "sessions"


def _selection(state_data):
    dataset = runtime.dataset()
    if dataset is None:
        return None
    return select(dataset, FilterState.from_dict(state_data))


def page_rows(selection, positions) -> list[dict]:
    """Table rows (dicts, missing values as None) for the given row positions."""
    settings = runtime.settings()
    frame = metrics.session_rows(
        selection, positions, settings.ocs_web_base_url, settings.show_participant_ids
    )
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def table_action(trigger, value=None) -> str | None:
    """The :func:`services.views.sessions.next_state` action for what triggered the callback."""
    if trigger in ("filter-state", "data-generation"):
        return "reset"
    if isinstance(trigger, dict) and trigger.get("type") == SORT_HEADER:
        return f"sort:{trigger.get('column')}" if value else None  # a re-rendered header: 0
    if trigger in PAGER:
        return PAGER[trigger][0]
    return None


def render_table(state_data: dict | None, table_data: dict | None, action: str | None) -> list:
    """Outputs of :func:`update_table`: state, table, "rows a–b of n", four pager ``disabled``."""
    state = TableState.from_dict(table_data)
    selection = _selection(state_data)
    if selection is None:
        state = next_state(state, action, 0)
        return [state.to_dict(), sessions_table([], state, "No data yet"), "", *[True] * 4]
    n = selection.n
    state = next_state(state, action, n)
    start, end = page_bounds(state.page, n)
    order = metrics.table_order(selection, state.sort, state.desc)
    rows = page_rows(selection, order[start:end])
    first, last = state.page <= 1, state.page >= page_count(n)
    return [
        state.to_dict(),
        sessions_table(rows, state),
        range_text(state.page, n),
        first,
        first,
        last,
        last,
    ]


TABLE_OUTPUTS = [
    Output("table-state", "data"),
    Output("sessions-table", "children"),
    Output("sessions-range", "children"),
    *[Output(button_id, "disabled") for button_id in PAGER],
]


@callback(
    TABLE_OUTPUTS,
    Input("tabs", "active_tab"),
    Input("filter-state", "data"),
    Input("data-generation", "data"),
    Input({"type": SORT_HEADER, "column": ALL}, "n_clicks"),
    *[Input(button_id, "n_clicks") for button_id in PAGER],
    State("table-state", "data"),
    prevent_initial_call=True,  # the tab opens on Overview; opening Sessions renders it
)
def update_table(active_tab, state_data, _generation, _sorts, *pager_and_state):
    table_data = pager_and_state[-1]
    actions = [
        table_action(ctx.triggered_prop_ids[t["prop_id"]], t.get("value"))
        for t in (ctx.triggered if ctx.triggered else [])
    ]
    # new filters or data win over anything that changed with them
    action = "reset" if "reset" in actions else next((a for a in actions if a), None)
    if active_tab != TAB:
        # hidden: no rows computed; new filters still send the table back to page 1
        state = TableState.from_dict(table_data)
        if action == "reset" and state.page != 1:
            reset = next_state(state, "reset", 0)
            return [reset.to_dict(), *[no_update] * (len(TABLE_OUTPUTS) - 1)]
        return [no_update] * len(TABLE_OUTPUTS)
    return render_table(state_data, table_data, action)


@callback(
    Output("sessions-count", "children"),
    Input("filter-state", "data"),
    Input("data-generation", "data"),
)
def update_count(state_data, _generation):
    selection = _selection(state_data)
    if selection is None:
        return "No data yet"
    n = metrics.session_count(selection)
    return f"{n:,} sessions match — click a column header with ⇅ to sort."


def csv_export(state_data: dict | None) -> tuple[str, str] | None:
    """(filename, CSV text) for every filtered session, in table order, with the filters,
    time zone and last sync as ``# key: value`` lines on top (as every export)."""
    dataset = runtime.dataset()
    if dataset is None:
        return None
    state = FilterState.from_dict(state_data)
    view = overview(dataset, state)  # cached: the selection and summary the page shows
    settings = runtime.settings()
    rows = metrics.session_rows(
        view.selection,
        metrics.table_order(view.selection),
        settings.ocs_web_base_url,
        settings.show_participant_ids,
    )
    return exports.sessions_csv(view, dataset, state, rows)  # formula-safe cells


@callback(
    Output("download-csv", "data"),
    Input("download-button", "n_clicks"),
    State("filter-state", "data"),
    prevent_initial_call=True,
)
def download_csv(_clicks, state_data):
    result = csv_export(state_data)
    if result is None:
        return no_update
    name, text = result
    return dcc.send_string(text, name)


@callback(
    Output("tabs", "active_tab"),
    Input({"type": "open-sessions", "chart": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def open_sessions(clicks):
    """A chart's "Sessions ↗" opens the table, which already holds that chart's sessions."""
    if not ctx.triggered_id or not any(clicks or []):
        return no_update
    return "sessions"
