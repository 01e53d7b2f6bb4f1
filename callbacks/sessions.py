"""Sessions tab: server-side paging for the grid, the row count and the CSV download."""

from __future__ import annotations

from datetime import UTC, datetime

from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, no_update

from services import exports, metrics, runtime
from services.filters import FilterState
from services.query import select


def _selection(state_data):
    dataset = runtime.dataset()
    if dataset is None:
        return None
    return select(dataset, FilterState.from_dict(state_data))


def grid_rows(state_data: dict | None, request: dict | None) -> dict:
    """Rows ``[startRow, endRow)`` of the filtered sessions in the requested sort order."""
    request = request or {}
    selection = _selection(state_data)
    if selection is None:
        return {"rowData": [], "rowCount": 0}
    sort = (request.get("sortModel") or [{}])[0]
    order = metrics.table_order(
        selection, sort.get("colId", "created_at"), sort.get("sort", "desc") != "asc"
    )
    start = max(int(request.get("startRow") or 0), 0)
    end = min(int(request.get("endRow") or start + 100), start + 1000)
    settings = runtime.settings()
    frame = metrics.session_rows(
        selection, order[start:end], settings.ocs_web_base_url, settings.show_participant_ids
    )
    frame["link"] = [f"[open ↗]({url})" if url else "" for url in frame["link"]]
    frame["messages"] = frame["messages"].astype(object).where(frame["messages"].notna(), None)
    frame = frame.astype(object).where(frame.notna(), None)
    return {"rowData": frame.to_dict("records"), "rowCount": selection.n}


@callback(
    Output("sessions-grid", "getRowsResponse"),
    Input("sessions-grid", "getRowsRequest"),
    State("filter-state", "data"),
    prevent_initial_call=True,
)
def serve_rows(request, state_data):
    if not request:
        return no_update
    return grid_rows(state_data, request)


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
    return f"{n:,} sessions match — newest first; click a column header with ⇅ to sort."


def csv_export(state_data: dict | None) -> tuple[str, str] | None:
    """(filename, CSV text) for every filtered session, in table order."""
    selection = _selection(state_data)
    if selection is None:
        return None
    settings = runtime.settings()
    frame = metrics.session_rows(
        selection,
        metrics.table_order(selection),
        settings.ocs_web_base_url,
        settings.show_participant_ids,
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return f"ocs-sessions-{stamp}.csv", exports.to_csv(frame)  # formula-safe cells


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


# New filters → drop the grid's cached blocks so it asks the server again.
clientside_callback(
    """
    function(state, generation) {
        try {
            const api = dash_ag_grid.getApi("sessions-grid");
            if (api) { api.purgeInfiniteCache(); }
        } catch (e) {}
        return window.dash_clientside.no_update;
    }
    """,
    Output("grid-purge", "data"),
    Input("filter-state", "data"),
    Input("data-generation", "data"),
    prevent_initial_call=True,
)


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
