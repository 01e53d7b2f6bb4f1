"""Saved views: save the current filter state under a name, open or delete a saved one."""

from __future__ import annotations

from dash import Input, Output, State, callback, ctx, no_update

from services import runtime
from services.analytics.filters import FilterState
from services.web import saved_views


def view_options(data_dir) -> list[dict]:
    return [{"label": v["name"], "value": v["name"]} for v in saved_views.list_views(data_dir)]


def manage_views(trigger: str | None, name: str | None, selected: str | None, state_data, data_dir):
    """(options, message, selected value) after a save/delete click or on page load."""
    message = ""
    value = no_update
    try:
        if trigger == "sv-save":
            record = saved_views.save_view(
                data_dir, name, FilterState.from_dict(state_data).to_query()
            )
            message = f"Saved “{record['name']}” — everyone on this dashboard can open it."
            value = record["name"]
        elif trigger == "sv-delete":
            if saved_views.delete_view(data_dir, selected):
                message = f"Deleted “{selected}”."
                value = None
            else:
                message = "Choose a saved view to delete."
    except saved_views.SavedViewError as exc:
        message = str(exc)
    return view_options(data_dir), message, value


@callback(
    Output("sv-select", "options"),
    Output("sv-message", "children"),
    Output("sv-select", "value"),
    Input("sv-save", "n_clicks"),
    Input("sv-delete", "n_clicks"),
    State("sv-name", "value"),
    State("sv-select", "value"),
    State("filter-state", "data"),
)
def update_saved_views(_save, _delete, name, selected, state_data):
    return manage_views(ctx.triggered_id, name, selected, state_data, runtime.settings().data_dir)


@callback(
    Output("url", "search", allow_duplicate=True),
    Input("sv-select", "value"),
    prevent_initial_call=True,
)
def open_saved_view(name):
    """Opening a view navigates to its link; the filters follow the URL as for a pasted link."""
    view = saved_views.find_view(runtime.settings().data_dir, name) if name else None
    if view is None or ctx.triggered_id != "sv-select":
        return no_update
    return view["query"] or "?"
