"""Saved views: save the current filter state under a name, open or delete a saved one."""

from __future__ import annotations

from dash import Input, Output, State, callback, ctx, no_update

from layouts import ids
from services import runtime
from services.analytics.filters import FilterState, parse_query
from services.web import saved_views


def view_options(data_dir) -> list[dict]:
    return [{"label": v["name"], "value": v["name"]} for v in saved_views.list_views(data_dir)]


def manage_views(trigger: str | None, name: str | None, selected: str | None, state_data, data_dir):
    """(options, message, selected value) after a save/delete click or on page load."""
    message = ""
    value = no_update
    try:
        if trigger == ids.SV_SAVE:
            record = saved_views.save_view(
                data_dir, name, FilterState.from_dict(state_data).to_query()
            )
            message = f"Saved “{record['name']}” — everyone on this dashboard can open it."
            value = record["name"]
        elif trigger == ids.SV_DELETE:
            if saved_views.delete_view(data_dir, selected):
                message = f"Deleted “{selected}”."
                value = None
            else:
                message = "Choose a saved view to delete."
    except saved_views.SavedViewError as exc:
        message = str(exc)
    return view_options(data_dir), message, value


@callback(
    Output(ids.SV_SELECT, "options"),
    Output(ids.SV_MESSAGE, "children"),
    Output(ids.SV_SELECT, "value"),
    Input(ids.SV_SAVE, "n_clicks"),
    Input(ids.SV_DELETE, "n_clicks"),
    State(ids.SV_NAME, "value"),
    State(ids.SV_SELECT, "value"),
    State(ids.FILTER_STATE, "data"),
)
def update_saved_views(_save, _delete, name, selected, state_data):
    return manage_views(ctx.triggered_id, name, selected, state_data, runtime.settings().data_dir)


@callback(
    Output(ids.URL, "search", allow_duplicate=True),
    Input(ids.SV_SELECT, "value"),
    prevent_initial_call=True,
)
def open_saved_view(name):
    """Opening a view navigates to its link; the filters follow the URL as for a pasted link."""
    view = saved_views.find_view(runtime.settings().data_dir, name) if name else None
    if view is None or ctx.triggered_id != ids.SV_SELECT:
        return no_update
    return view["query"] or "?"


def selection_after_change(selected: str | None, state_data, data_dir):
    """The picker's value once the filters changed: None when they no longer are the selected
    view's (a view's name must not stay on a view the page does not show), else no_update."""
    if not selected:
        return no_update
    view = saved_views.find_view(data_dir, selected)
    if view is None:
        return None
    state = FilterState.from_dict(state_data)
    shown, _ = parse_query(view["query"])
    if "tz=" not in (view["query"] or ""):
        shown = shown.with_changes(tz=state.tz)  # a view without a zone opens in the viewer's
    return no_update if shown == state else None


@callback(
    Output(ids.SV_SELECT, "value", allow_duplicate=True),
    Input(ids.FILTER_STATE, "data"),
    State(ids.SV_SELECT, "value"),
    prevent_initial_call=True,
)
def forget_changed_view(state_data, selected):
    return selection_after_change(selected, state_data, runtime.settings().data_dir)
