"""Downloads: any chart's numbers as CSV, or the whole Overview as CSV, JSON or XLSX.

The files are built by :mod:`services.outputs.exports` from the same view models the page renders
(:mod:`services.views`: Overview, Quality, Engagement, Cost), so a downloaded number is the
number on screen; the views are cached without the theme, so a download reuses the view the
page just drew. Plotly's mode bar keeps giving each chart as PNG.
"""

from __future__ import annotations

import orjson
from dash import ALL, Input, Output, State, callback, ctx, dcc, no_update

from layouts import ids
from services import runtime
from services.analytics.filters import FilterState
from services.outputs import exports
from services.views.overview import overview


def _view(state_data: dict | None):
    dataset = runtime.dataset()
    if dataset is None:
        return None
    state = FilterState.from_dict(state_data)
    return overview(dataset, state), dataset, state  # the view the page drew: a cache hit


def chart_export(
    state_data: dict | None, chart: str, options: exports.ChartOptions | None = None
) -> tuple[str, str] | None:
    """(filename, CSV text) of one chart or headline cards of any tab (a key of
    ``exports.EXPORTS``), or None without data / for an unknown key."""
    dataset = runtime.dataset()
    if dataset is None or chart not in exports.EXPORTS:
        return None
    state = FilterState.from_dict(state_data)
    public_url = runtime.settings().public_url
    return exports.any_chart_csv(dataset, state, chart, options, public_url=public_url)


def view_export(state_data: dict | None, fmt: str) -> tuple[str, str | bytes] | None:
    """(filename, content) of the whole Overview as ``csv`` or ``json`` (text) or ``xlsx``
    (bytes), or None without data."""
    found = _view(state_data)
    if found is None:
        return None
    public_url = runtime.settings().public_url
    if fmt == "xlsx":
        return exports.view_xlsx(*found, public_url=public_url)
    if fmt == "json":
        name, document = exports.view_json(*found, public_url=public_url)
        return name, orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    return exports.view_csv(*found, public_url=public_url)


@callback(
    Output(ids.CHART_DOWNLOAD, "data"),
    Input(ids.chart_csv(ALL), "n_clicks"),
    State(ids.FILTER_STATE, "data"),
    State(ids.THEME_SWITCH, "value"),
    State(ids.Q_MODE, "value"),
    State(ids.Q_EXPERIMENT, "value"),
    State(ids.Q_VERSION_A, "value"),
    State(ids.Q_VERSION_B, "value"),
    prevent_initial_call=True,
)
def download_chart(_clicks, state_data, _dark, mode, experiment, version_a, version_b):
    trigger = ctx.triggered_id
    if not trigger or not ctx.triggered or not ctx.triggered[0].get("value"):
        return no_update
    options = exports.ChartOptions(
        mode=mode or "versions",
        experiment=experiment,
        version_a=version_a,
        version_b=version_b,
        budget_usd=runtime.settings().monthly_budget_usd,
    )
    result = chart_export(state_data, trigger["chart"], options)
    if result is None:
        return no_update
    name, text = result
    return dcc.send_string(text, name, type="text/csv")


VIEW_FORMATS = {
    ids.EXPORT_VIEW_CSV: "csv",
    ids.EXPORT_VIEW_JSON: "json",
    ids.EXPORT_VIEW_XLSX: "xlsx",
}
"""Export menu item id → format."""


@callback(
    Output(ids.VIEW_DOWNLOAD, "data"),
    [Input(item, "n_clicks") for item in VIEW_FORMATS],
    State(ids.FILTER_STATE, "data"),
    State(ids.THEME_SWITCH, "value"),
    prevent_initial_call=True,
)
def download_view(*args):
    state_data = args[-2]  # the last argument, the theme, no longer matters
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return no_update
    fmt = VIEW_FORMATS.get(ctx.triggered_id)
    result = view_export(state_data, fmt) if fmt else None
    if result is None:
        return no_update
    name, content = result
    if fmt == "xlsx":
        return dcc.send_bytes(content, name, type=exports.XLSX_MIME)
    return dcc.send_string(content, name, type="application/json" if fmt == "json" else "text/csv")
