"""Filter controls ⇄ URL query string ⇄ filter-state store.

One callback owns the controls, the store and ``url.search``, so there is no loop: when the URL
changed (page load, back/forward) the controls are set from it; when a control changed, the
state and the URL are written from the controls.
"""

from __future__ import annotations

from datetime import date, timedelta

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, clientside_callback, ctx, html, no_update

from layouts import ids
from services import runtime
from services.analytics.filters import (
    COMPARE_KEYS,
    FilterState,
    keep_position,
    parse_params,
    parse_query,
)
from services.views.overview import vocabulary

CONTROL_IDS = [
    (ids.F_RANGE, "value"),
    (ids.F_DATES, "start_date"),
    (ids.F_DATES, "end_date"),
    (ids.F_EXPERIMENT, "value"),
    (ids.F_TEAM, "value"),
    (ids.F_TAG, "value"),
    (ids.F_TAG_MODE, "value"),
    (ids.F_PLATFORM, "value"),
    (ids.F_STATUS, "value"),
    (ids.F_GRANULARITY, "value"),
    (ids.F_VERSION, "value"),
    (ids.F_TZ, "value"),
]


CLICKABLE = [ids.FIG_EXPERIMENT, ids.FIG_TEAM, ids.FIG_TIME, ids.FIG_COOCCURRENCE]


def cross_filter(state: FilterState, chart: str, click: dict | None) -> FilterState | None:
    """The filter state after clicking a point of ``chart`` (None: the click changes nothing).

    * a bar of "by experiment"/"by team" selects that experiment/team (clicking the only
      selected one again clears it);
    * a bar of "sessions over time" narrows the date range to that day/week/month;
    * a cell of the tag co-occurrence matrix selects both tags with match "all".
    """
    points = (click or {}).get("points") or []
    if not points:
        return None
    point = points[0]
    if chart in (ids.FIG_EXPERIMENT, ids.FIG_TEAM):
        value = point.get("customdata")
        if isinstance(value, list):
            value = value[0] if value else None
        if not value:
            return None
        attr = "experiments" if chart == ids.FIG_EXPERIMENT else "teams"
        chosen = () if getattr(state, attr) == (value,) else (value,)
        return state.with_changes(**{attr: chosen})
    if chart == ids.FIG_TIME:
        from services.analytics.query import select

        dataset = runtime.dataset()
        try:
            start = date.fromisoformat(str(point.get("x"))[:10])
        except ValueError:
            return None
        granularity = select(dataset, state).granularity if dataset is not None else "day"
        if granularity == "week":
            end = start + timedelta(days=6)
        elif granularity == "month":
            end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        else:
            end = start
        return state.with_changes(range="custom", start=start, end=end)
    if chart == ids.FIG_COOCCURRENCE:
        tag_a, tag_b = point.get("y"), point.get("x")
        if not tag_a or not tag_b:
            return None
        tags = (tag_a,) if tag_a == tag_b else (tag_a, tag_b)
        return state.with_changes(tags=tags, tag_mode="all")
    return None


def link_query(state: FilterState, browser_tz: str | None) -> str:
    """The URL query of ``state``; names UTC explicitly for a viewer whose clock is elsewhere.

    A link without ``tz`` shows days in the viewer's own zone, so a chosen UTC must be written.
    """
    query = state.to_query()
    if state.tz == "UTC" and browser_tz and browser_tz != "UTC":
        query = f"{query}&tz=UTC" if query else "?tz=UTC"
    return query


def write_state(state: FilterState, values: list, search, browser_tz, previous=None) -> list:
    """Outputs of :func:`sync_filters` for a new state: only controls that change, the store,
    the URL (when it differs) and no new notice. The Quality tab's comparison choices, which
    no filter control holds, come from the ``previous`` state (the store's data)."""
    state = keep_comparison(state, previous)
    controls = controls_from_state(state)
    changed = [new if new != old else no_update for new, old in zip(controls, values, strict=True)]
    query = keep_position(link_query(state, browser_tz), search)
    return [*changed, state.to_dict(), query if query != (search or "") else no_update, no_update]


def keep_comparison(state: FilterState, previous) -> FilterState:
    """``state`` with the comparison choices of ``previous`` (a store's data or None)."""
    before = FilterState.from_dict(previous)
    return state.with_changes(**{attr: getattr(before, attr) for attr in COMPARE_KEYS.values()})


def same_comparison(state: FilterState, previous) -> bool:
    """Whether ``state`` holds the comparison choices of ``previous`` (a store's data or None);
    they are left out of :class:`FilterState` equality, which is about the selected sessions."""
    before = FilterState.from_dict(previous)
    return all(getattr(state, a) == getattr(before, a) for a in COMPARE_KEYS.values())


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
        list(state.versions),
        state.tz,
    ]


def state_from_controls(values: list, trigger: str | None) -> tuple[FilterState, list[str]]:
    (range_, start, end, experiments, teams, tags, mode, platforms, statuses, granularity) = values[
        :10
    ]
    versions = values[10] if len(values) > 10 else []
    tz = values[11] if len(values) > 11 else None
    if trigger == ids.F_DATES and (start or end):
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
        "version": ",".join(versions or []),
        "tz": tz,
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
        Output(ids.FILTER_STATE, "data"),
        Output(ids.URL, "search"),
        Output(ids.URL_NOTICES, "children"),
    ],
    [Input(ids.URL, "search"), Input(ids.F_RESET, "n_clicks")]
    + [Input(i, p) for i, p in CONTROL_IDS]
    + [Input(i, "clickData") for i in CLICKABLE]
    + [Input(ids.BROWSER_TZ, "data")]
    + [State(ids.FILTER_STATE, "data")],
)
def sync_filters(search, _reset, *inputs):
    """Single owner of filter controls, the filter-state store and the URL."""
    trigger = ctx.triggered_id
    values = list(inputs[: len(CONTROL_IDS)])
    extra = [*inputs[len(CONTROL_IDS) :], *[None] * (len(CLICKABLE) + 2)]
    clicks = dict(zip(CLICKABLE, extra, strict=False))
    browser_tz = extra[len(CLICKABLE)]
    previous = extra[len(CLICKABLE) + 1]
    if trigger == ids.BROWSER_TZ:
        # a viewer's first visit: days follow their own clock unless the link names a zone
        current, _ = state_from_controls(values, None)
        if "tz=" in (search or "") or not browser_tz or browser_tz == current.tz:
            return [no_update] * (len(CONTROL_IDS) + 3)
        zone, _ = parse_params({"tz": browser_tz})
        if zone.tz == "UTC":
            return [no_update] * (len(CONTROL_IDS) + 3)
        state = current.with_changes(tz=zone.tz)
        return write_state(state, values, search, browser_tz, previous)
    if trigger in CLICKABLE:
        click = clicks.get(trigger)
        current, _ = state_from_controls(values, None)
        state = cross_filter(current, trigger, click)
        if state is None:
            return [no_update] * (len(CONTROL_IDS) + 3)
        return write_state(state, values, search, browser_tz, previous)
    if trigger == ids.F_RESET:
        state = FilterState(tz=parse_params({"tz": browser_tz or ""})[0].tz)
        query = keep_position(link_query(state, browser_tz), search)
        return [*controls_from_state(state), state.to_dict(), query, None]
    if trigger is None or trigger == ids.URL:
        state, notices = parse_query(search, vocabulary(runtime.dataset()))
        if "tz=" not in (search or "") and browser_tz:
            zone, _ = parse_params({"tz": browser_tz})  # a link without a zone: viewer's clock
            state = state.with_changes(tz=zone.tz)
        if (
            trigger == ids.URL
            and not notices
            and state == state_from_controls(values, None)[0]
            and same_comparison(state, previous)  # nor the Quality tab's comparison
        ):
            # only the tab or the table's position changed in the URL: the filters stand
            return [no_update] * (len(CONTROL_IDS) + 3)
        controls = controls_from_state(state)
        query = keep_position(link_query(state, browser_tz), search)
        return [
            *controls,
            state.to_dict(),
            query if query != (search or "") else no_update,
            notices_alert(notices) if notices else (None if trigger is None else no_update),
        ]
    state, _ = state_from_controls(values, trigger)
    return write_state(state, values, search, browser_tz, previous)


@callback(
    Output(ids.F_VERSION, "options"),
    Output(ids.F_VERSION_LATEST, "title"),
    Input(ids.FILTER_STATE, "data"),
    Input(ids.DATA_GENERATION, "data"),
)
def version_options(state_data, _generation):
    """Versions with session counts for the current selection (the version filter ignored,
    :func:`services.views.quality.version_picker`); the "Latest" button's tooltip names what
    it would choose."""
    from layouts.filters import LATEST_TITLE
    from services.views.quality import version_picker

    dataset = runtime.dataset()
    if dataset is None:
        return [], LATEST_TITLE
    picker = version_picker(dataset, FilterState.from_dict(state_data))
    return picker.options, f"{LATEST_TITLE}. {picker.latest_note}"


@callback(
    Output(ids.F_VERSION, "value", allow_duplicate=True),
    Input(ids.F_VERSION_LATEST, "n_clicks"),
    State(ids.FILTER_STATE, "data"),
    prevent_initial_call=True,
)
def latest_versions(clicks, state_data):
    """The "Latest released" button: the version filter becomes the latest released version
    of each experiment in scope (the filter sync then writes the state and the URL)."""
    from services.views.quality import version_picker

    dataset = runtime.dataset()
    if not clicks or dataset is None:
        return no_update
    return version_picker(dataset, FilterState.from_dict(state_data)).latest


clientside_callback(
    """
    function(_path) {
        try { return Intl.DateTimeFormat().resolvedOptions().timeZone || null; }
        catch (e) { return null; }
    }
    """,
    Output(ids.BROWSER_TZ, "data"),
    Input(ids.URL, "pathname"),
)


# ---- Copy link (issue #17): the full current URL, with a visible "copied" -------------------

clientside_callback(
    """
    function(n) {
        if (!n) { return window.dash_clientside.no_update; }
        const url = window.location.href;
        const done = (text) => {
            window.dash_clientside.set_props("STATUS_ID", {children: text});
            window.setTimeout(
                () => window.dash_clientside.set_props("STATUS_ID", {children: ""}), 4000);
        };
        const fallback = () => {
            const area = document.createElement("textarea");
            area.value = url;
            area.setAttribute("readonly", "");
            area.style.position = "fixed";
            area.style.opacity = "0";
            document.body.appendChild(area);
            area.select();
            let ok = false;
            try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
            area.remove();
            done(ok ? "Link copied" : "Copy failed: use the address bar");
        };
        if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(url).then(() => done("Link copied"), fallback);
        } else {
            fallback();
        }
        return window.dash_clientside.no_update;
    }
    """.replace("STATUS_ID", ids.COPY_LINK_STATUS),
    Output(ids.COPY_LINK_STATUS, "children"),
    Input(ids.COPY_LINK, "n_clicks"),
    prevent_initial_call=True,
)


# ---- the date picker opens on the months of the selected window (issue #17) ------------------


def visible_month(state_data: dict | None) -> str:
    """``initial_visible_month`` of the date picker: the month before the window's last day (the
    picker shows two months, so the second one holds the last day), "YYYY-MM-DD"."""
    from services.analytics.filters import today_in

    state = FilterState.from_dict(state_data)
    last = state.end if state.range == "custom" and state.end else today_in(state.tz)
    first_of_month = last.replace(day=1)
    return (first_of_month - timedelta(days=1)).replace(day=1).isoformat()


@callback(Output(ids.F_DATES, "initial_visible_month"), Input(ids.FILTER_STATE, "data"))
def date_picker_month(state_data):
    return visible_month(state_data)
