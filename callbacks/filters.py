"""Filter controls ⇄ URL query string ⇄ filter-state store.

One callback owns the controls, the store and ``url.search``, so there is no loop: when the URL
changed (page load, back/forward) the controls are set from it; when a control changed, the
state and the URL are written from the controls.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, callback, ctx, html, no_update

from services import runtime
from services.filters import FilterState, parse_params, parse_query
from services.views import vocabulary

CONTROL_IDS = [
    ("f-range", "value"),
    ("f-dates", "start_date"),
    ("f-dates", "end_date"),
    ("f-experiment", "value"),
    ("f-team", "value"),
    ("f-tag", "value"),
    ("f-tag-mode", "value"),
    ("f-platform", "value"),
    ("f-status", "value"),
    ("f-granularity", "value"),
]


def controls_from_state(state: FilterState) -> list:
    return [
        state.range,
        state.start.isoformat() if state.start else None,
        state.end.isoformat() if state.end else None,
        list(state.experiments),
        list(state.teams),
        list(state.tags),
        state.tag_mode,
        list(state.platforms),
        list(state.statuses),
        state.granularity,
    ]


def state_from_controls(values: list, trigger: str | None) -> tuple[FilterState, list[str]]:
    (range_, start, end, experiments, teams, tags, mode, platforms, statuses, granularity) = values
    if trigger == "f-dates" and (start or end):
        range_ = "custom"
    params = {
        "range": range_,
        "start": (start or "")[:10] if range_ == "custom" else None,
        "end": (end or "")[:10] if range_ == "custom" else None,
        "experiment": ",".join(experiments or []),
        "team": ",".join(teams or []),
        "tag": ",".join(tags or []),
        "tag_mode": mode,
        "platform": ",".join(platforms or []),
        "status": ",".join(statuses or []),
        "granularity": granularity,
    }
    return parse_params(params, vocabulary(runtime.dataset()))


def notices_alert(notices: list[str]):
    if not notices:
        return None
    return dbc.Alert(
        [
            html.Strong("Some link settings were not applied: "),
            html.Ul([html.Li(n) for n in notices]),
        ],
        color="warning",
        dismissable=True,
        className="mb-3 url-notice",
    )


@callback(
    [Output(i, p, allow_duplicate=False) for i, p in CONTROL_IDS]
    + [
        Output("filter-state", "data"),
        Output("url", "search"),
        Output("url-notices", "children"),
    ],
    [Input("url", "search"), Input("f-reset", "n_clicks")] + [Input(i, p) for i, p in CONTROL_IDS],
)
def sync_filters(search, _reset, *values):
    """Single owner of filter controls, the filter-state store and the URL."""
    trigger = ctx.triggered_id
    if trigger == "f-reset":
        state = FilterState()
        return [*controls_from_state(state), state.to_dict(), state.to_query(), None]
    if trigger is None or trigger == "url":
        state, notices = parse_query(search, vocabulary(runtime.dataset()))
        controls = controls_from_state(state)
        query = state.to_query()
        return [
            *controls,
            state.to_dict(),
            query if query != (search or "") else no_update,
            notices_alert(notices) if notices else (None if trigger is None else no_update),
        ]
    state, _ = state_from_controls(list(values), trigger)
    controls = controls_from_state(state)
    changed = [new if new != old else no_update for new, old in zip(controls, values, strict=True)]
    query = state.to_query()
    return [*changed, state.to_dict(), query if query != (search or "") else no_update, no_update]
