"""Sessions tab: one server-rendered page of the table, the row count and the CSV download."""

from __future__ import annotations

from dash import ALL, Input, Output, State, callback, ctx, dcc, no_update

from layouts import ids
from layouts.sessions import PAGER, sessions_table
from services import runtime
from services.analytics.filters import FilterState
from services.outputs import exports
from services.views.sessions import (
    TableState,
    export_rows,
    next_state,
    range_text,
    sessions_view,
    table_page,
)

TAB = ids.TAB_SESSIONS


def _links() -> tuple[str, bool]:
    settings = runtime.settings()
    return settings.ocs_web_base_url, settings.show_participant_ids


def records(frame) -> list[dict]:
    """Table rows (dicts, missing values as None)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def table_action(trigger, value=None) -> str | None:
    """The :func:`services.views.sessions.next_state` action for what triggered the callback."""
    if trigger in (ids.FILTER_STATE, ids.DATA_GENERATION):
        return "reset"
    if isinstance(trigger, dict) and trigger.get("type") == ids.SORT_HEADER:
        return f"sort:{trigger.get('column')}" if value else None  # a re-rendered header: 0
    if trigger in PAGER:
        return PAGER[trigger][0]
    return None


def filters_changed(table_data: dict | None, state_data: dict | None, trigger) -> bool:
    """Whether a filter-state update really is new filters for the table (→ page 1).

    The table state remembers the filter state its page belongs to (``"for"``); a page restored
    from a link (``"for": None``) belongs to the first filter state that arrives. New data
    (``data-generation``) always counts as a change.
    """
    if trigger != ids.FILTER_STATE or not isinstance(table_data, dict) or "for" not in table_data:
        return True
    return table_data["for"] is not None and table_data["for"] != state_data


def render_table(state_data: dict | None, table_data: dict | None, action: str | None) -> list:
    """Outputs of :func:`update_table`: state, table, "rows a–b of n", four pager ``disabled``."""
    table = TableState.from_dict(table_data)
    dataset = runtime.dataset()
    if dataset is None:
        table = next_state(table, action, 0)
        return [table.to_dict(), sessions_table([], table, "No data yet"), "", *[True] * 4]
    state = FilterState.from_dict(state_data)
    page = table_page(dataset, state, table, action, *_links())
    return [
        {**page.table.to_dict(), "for": state_data},
        sessions_table(records(page.rows), page.table),
        range_text(page.table.page, page.count),
        page.first,
        page.first,
        page.last,
        page.last,
    ]


TABLE_OUTPUTS = [
    Output(ids.TABLE_STATE, "data"),
    Output(ids.SESSIONS_TABLE, "children"),
    Output(ids.SESSIONS_RANGE, "children"),
    *[Output(button_id, "disabled") for button_id in PAGER],
]


@callback(
    TABLE_OUTPUTS,
    Input(ids.TABS, "active_tab"),
    Input(ids.FILTER_STATE, "data"),
    Input(ids.DATA_GENERATION, "data"),
    Input(ids.sort_header(ALL), "n_clicks"),
    *[Input(button_id, "n_clicks") for button_id in PAGER],
    State(ids.TABLE_STATE, "data"),
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
    if action == "reset" and not filters_changed(table_data, state_data, ctx.triggered_id):
        action = None  # the same filters again, or the first ones of a page restored from a link
    if active_tab != TAB:
        # hidden: no rows computed; new filters still send the table back to page 1
        state = TableState.from_dict(table_data)
        if action == "reset" and state.page != 1:
            reset = next_state(state, "reset", 0)
            return [{**reset.to_dict(), "for": state_data}, *[no_update] * (len(TABLE_OUTPUTS) - 1)]
        return [no_update] * len(TABLE_OUTPUTS)
    return render_table(state_data, table_data, action)


@callback(
    Output(ids.SESSIONS_COUNT, "children"),
    Input(ids.FILTER_STATE, "data"),
    Input(ids.DATA_GENERATION, "data"),
)
def update_count(state_data, _generation):
    dataset = runtime.dataset()
    if dataset is None:
        return "No data yet"
    n = sessions_view(dataset, FilterState.from_dict(state_data)).scope.n
    return f"{n:,} sessions match — click a column header with ⇅ to sort."


def csv_export(state_data: dict | None) -> tuple[str, str] | None:
    """(filename, CSV text) for every filtered session, in table order, with the filters,
    time zone and last sync as ``# key: value`` lines on top (as every export)."""
    dataset = runtime.dataset()
    if dataset is None:
        return None
    state = FilterState.from_dict(state_data)
    rows = export_rows(dataset, state, *_links())
    view = sessions_view(dataset, state)
    # formula-safe cells; a full link to the view with PUBLIC_URL
    public_url = runtime.settings().public_url
    return exports.sessions_csv(view, dataset, state, rows, public_url=public_url)


@callback(
    Output(ids.DOWNLOAD_CSV, "data"),
    Input(ids.DOWNLOAD_BUTTON, "n_clicks"),
    State(ids.FILTER_STATE, "data"),
    prevent_initial_call=True,
)
def download_csv(_clicks, state_data):
    result = csv_export(state_data)
    if result is None:
        return no_update
    name, text = result
    return dcc.send_string(text, name)


@callback(
    Output(ids.TABS, "active_tab"),
    Input(ids.open_sessions(ALL), "n_clicks"),
    prevent_initial_call=True,
)
def open_sessions(clicks):
    """A chart's "Sessions ↗" opens the table, which already holds that chart's sessions."""
    if not ctx.triggered_id or not any(clicks or []):
        return no_update
    return ids.TAB_SESSIONS
