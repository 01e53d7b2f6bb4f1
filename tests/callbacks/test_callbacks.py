"""Dash callbacks called directly against a small demo store (no browser, no server)."""

from __future__ import annotations

import contextvars
import io
from datetime import UTC, datetime, timedelta

import dash_bootstrap_components as dbc
import orjson
import pandas as pd
import pytest
from dash import no_update
from dash._callback_context import context_value
from dash._utils import AttributeDict

from callbacks.filters import CONTROL_IDS, controls_from_state, sync_filters
from callbacks.overview import render_overview
from callbacks.sessions import csv_export, render_table, table_action, update_table
from layouts.sessions import COLUMNS
from services import runtime
from services.analytics import metrics
from services.analytics.filters import FilterState
from services.analytics.query import select
from services.settings import Settings
from services.store.parquet import Store
from services.sync import demo
from services.views.charts.base import NO_SESSIONS

N_SESSIONS = 1500


@pytest.fixture(scope="module")
def app_runtime(tmp_path_factory):
    """runtime configured on a temporary DATA_DIR holding today's demo world."""
    saved = (runtime._settings, runtime._store, runtime._cache)
    data_dir = tmp_path_factory.mktemp("data")
    settings = runtime.configure(Settings(data_dir=data_dir))
    today = datetime.now(UTC).date()
    demo.ensure_demo_store(Store(settings.store_dir), N_SESSIONS, anchor=today)
    dataset = runtime.dataset()
    assert dataset is not None and dataset.n == N_SESSIONS
    yield dataset
    runtime._settings, runtime._store, runtime._cache = saved


def expected_count(dataset, state_data) -> int:
    return metrics.session_count(select(dataset, FilterState.from_dict(state_data)))


def find_by_id(component, wanted: str):
    """Depth-first search of a Dash component tree (or list of them) for an id."""
    if isinstance(component, list | tuple):
        for child in component:
            found = find_by_id(child, wanted)
            if found is not None:
                return found
        return None
    if getattr(component, "id", None) == wanted:
        return component
    children = getattr(component, "children", None)
    return None if children is None or isinstance(children, str) else find_by_id(children, wanted)


def text_of(component) -> str:
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


def annotation_texts(figure) -> list[str]:
    return [a["text"] for a in (figure["layout"].get("annotations") or ())]


# ---- overview -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state_data",
    [
        None,
        {"range": "30d"},
        {"range": "all", "granularity": "month"},
        {"range": "all", "tags": ["bot_performance_good", "coaching_bad"], "tag_mode": "all"},
    ],
)
def test_render_overview_outputs_and_session_kpi(app_runtime, state_data):
    outputs = render_overview(state_data, dark=False)
    assert len(outputs) == 9
    kpis, *figs = outputs[:5]
    assert len(kpis) == 6  # incl. sessions with messages (issue #17)
    n = expected_count(app_runtime, state_data)
    assert text_of(find_by_id(kpis, "kpi-sessions")) == f"{n:,}"
    assert n > 0
    for fig in figs:
        assert NO_SESSIONS not in annotation_texts(fig)
    assert outputs[8].startswith(f"{n:,} sessions")


def test_render_overview_dark_theme(app_runtime):
    light = render_overview({"range": "all"}, dark=False)
    dark = render_overview({"range": "all"}, dark=True)
    assert light[1]["layout"]["font"]["color"] != dark[1]["layout"]["font"]["color"]


def test_render_overview_nothing_matches(app_runtime):
    outputs = render_overview({"range": "all", "experiments": ["no-such-bot"]}, dark=False)
    assert len(outputs) == 9
    assert text_of(find_by_id(outputs[0], "kpi-sessions")) == "0"
    for fig in outputs[1:5]:
        assert NO_SESSIONS in annotation_texts(fig)
        assert not fig.data
    assert outputs[7] == ""  # no annotation subtitle without sessions
    assert outputs[8].startswith("0 sessions")


def test_render_overview_without_data(tmp_path):
    saved = (runtime._settings, runtime._store, runtime._cache)
    try:
        runtime.configure(Settings(data_dir=tmp_path))
        outputs = render_overview(None, dark=False)
    finally:
        runtime._settings, runtime._store, runtime._cache = saved
    assert len(outputs) == 9
    assert outputs[0] == []
    assert outputs[8] == "No data loaded"
    assert "No data yet" in annotation_texts(outputs[1])


# ---- sessions table and CSV ---------------------------------------------------------------


def table_rows(table) -> list[list[str]]:
    """Cell texts of a rendered sessions table, one list per body row."""
    _head, body = table.children
    return [[text_of(td) for td in tr.children] for tr in body.children]


def table_column(table, header: str) -> list[str]:
    head = [
        text_of(th).replace("⇅", "").replace("▲", "").replace("▼", "").strip()
        for th in table.children[0].children.children
    ]
    return [row[head.index(header)] for row in table_rows(table)]


def number(text: str) -> float:
    return float(text.replace(",", "")) if text else -1.0


def test_render_table_first_page_newest_first(app_runtime):
    state = {"range": "90d"}
    n = expected_count(app_runtime, state)
    assert n > 100
    store, table, rows_text, first, prev, nxt, last = render_table(state, None, None)
    assert {k: v for k, v in store.items() if k != "for"} == {
        "page": 1,
        "sort": "created_at",
        "desc": True,
    }
    assert rows_text == f"rows 1–50 of {n:,}"
    assert (first, prev, nxt, last) == (True, True, False, False)
    started = table_column(table, "Started")
    assert len(started) == 50
    assert started == sorted(started, reverse=True)
    assert all(len(row) == len(COLUMNS) for row in table_rows(table))
    cells = table.children[1].children[0].children
    link = cells[0].children  # the transcript, in a new tab
    assert link.target == "_blank" and "/s/" in link.href
    tags = cells[[c.key for c in COLUMNS].index("tags")]
    assert tags.title == text_of(tags)  # the full text on hover


def test_render_table_pages_and_sorts(app_runtime):
    state = {"range": "all"}
    n = expected_count(app_runtime, state)
    page_one = table_column(render_table(state, None, None)[1], "Started")
    store, table, rows_text, *_ = render_table(state, {"page": 1}, "next")
    assert store["page"] == 2
    assert rows_text == f"rows 51–100 of {n:,}"
    page_two = table_column(table, "Started")
    assert page_two[0] <= page_one[-1] and page_two != page_one
    store, table, rows_text, first, prev, nxt, last = render_table(state, store, "last")
    assert rows_text.endswith(f"–{n:,} of {n:,}")
    assert (first, prev, nxt, last) == (False, False, True, True)
    # sort by messages: largest first, then a second click flips it
    store, table, *_ = render_table(state, store, "sort:messages")
    assert {k: v for k, v in store.items() if k != "for"} == {
        "page": 1,
        "sort": "messages",
        "desc": True,
    }
    most = [number(t) for t in table_column(table, "Messages")]
    assert most == sorted(most, reverse=True)
    store, table, *_ = render_table(state, store, "sort:messages")
    assert store["desc"] is False
    least = [number(t) for t in table_column(table, "Messages")]
    assert least == sorted(least)
    assert least[0] <= most[-1]
    store, table, *_ = render_table(state, {"sort": "cost_usd"}, None)
    costs = [number(t) for t in table_column(table, "Cost ($)")]
    assert costs == sorted(costs, reverse=True)
    # new filters: back to page 1, the sort stays
    store, *_ = render_table(
        {"range": "30d"}, {"page": 3, "sort": "cost_usd", "desc": False}, "reset"
    )
    assert store == {"page": 1, "sort": "cost_usd", "desc": False, "for": {"range": "30d"}}


def test_render_table_nothing_matches(app_runtime):
    store, table, rows_text, *disabled = render_table(
        {"range": "all", "teams": ["nobody"]}, {"page": 4}, None
    )
    assert store["page"] == 1
    assert rows_text == "no rows"
    assert disabled == [True] * 4
    assert "No sessions match" in text_of(table)


def run_table(trigger, value, tab="sessions", state=None, table_data=None):
    prop = trigger if isinstance(trigger, str) else orjson.dumps(trigger).decode()
    triggered = [{"prop_id": f"{prop}.n_clicks", "value": value}] if trigger else []
    if trigger in ("filter-state", "data-generation", "tabs"):
        triggered = [{"prop_id": f"{trigger}.data", "value": value}]

    def call():
        context_value.set(AttributeDict(triggered_inputs=triggered))
        return update_table(tab, state or {"range": "all"}, 1, [0] * 4, 0, 0, 0, 0, table_data)

    return contextvars.copy_context().run(call)


def test_update_table_callback(app_runtime):
    header = {"type": "sort-header", "column": "duration_min"}
    store, table, *_ = run_table(header, 1)
    assert {k: v for k, v in store.items() if k != "for"} == {
        "page": 1,
        "sort": "duration_min",
        "desc": True,
    }
    minutes = [number(t) for t in table_column(table, "Minutes")]
    assert minutes == sorted(minutes, reverse=True)
    assert run_table("sessions-next", 1, table_data=store)[0]["page"] == 2
    # a freshly rendered header (n_clicks 0) is not a click
    assert run_table(header, 0, table_data={"page": 2})[0] == {
        "page": 2,
        "sort": "created_at",
        "desc": True,
        "for": {"range": "all"},  # the filter state this page belongs to
    }
    # tab hidden: nothing computed; new filters only reset the page
    hidden = run_table("filter-state", {}, tab="overview", table_data={"page": 5})
    assert hidden[0] == {"page": 1, "sort": "created_at", "desc": True, "for": {"range": "all"}}
    assert all(v is no_update for v in hidden[1:])
    assert all(v is no_update for v in run_table("sessions-next", 1, tab="overview"))


def test_table_action():
    assert table_action("filter-state") == "reset"
    assert table_action("data-generation") == "reset"
    assert table_action("tabs") is None
    assert table_action("sessions-prev", 3) == "prev"
    assert table_action({"type": "sort-header", "column": "cost_usd"}, 2) == "sort:cost_usd"
    assert table_action({"type": "sort-header", "column": "cost_usd"}, 0) is None
    assert table_action(None) is None


@pytest.mark.parametrize(
    "state_data", [None, {"range": "all"}, {"range": "30d", "platforms": ["web"]}]
)
def test_csv_export_row_count(app_runtime, state_data):
    name, text = csv_export(state_data)
    assert name.startswith("ocs-sessions-") and name.endswith(".csv")
    header = dict(line[2:].split(": ", 1) for line in text.splitlines() if line.startswith("# "))
    assert header["export"] == "Sessions" and header["timezone"] == "UTC"
    assert {"filters", "window", "last_sync", "generation"} <= set(header)
    frame = pd.read_csv(io.StringIO(text), comment="#")
    assert len(frame) == expected_count(app_runtime, state_data)
    assert list(frame.columns) == [*metrics.TABLE_COLUMNS, "link"]
    assert frame["session_id"].is_unique


# ---- filter sync --------------------------------------------------------------------------


def run_sync(trigger: str | None, search: str | None, values: list, reset_clicks=None):
    triggered = [] if trigger is None else [{"prop_id": trigger, "value": None}]

    def call():
        context_value.set(AttributeDict(triggered_inputs=triggered))
        return sync_filters(search, reset_clicks, *values)

    result = contextvars.copy_context().run(call)
    assert len(result) == len(CONTROL_IDS) + 3
    return result


def test_sync_filters_url_with_unknown_experiment(app_runtime):
    known = app_runtime.experiments[0]
    search = f"?range=30d&experiment={known},not-a-bot"
    result = run_sync("url.search", search, [None] * len(CONTROL_IDS))
    controls, state_data, url, notice = result[:-3], *result[-3:]
    assert state_data["experiments"] == [known]
    assert state_data["range"] == "30d"
    assert controls[0] == "30d"
    assert controls[3] == [known]
    assert url == f"?range=30d&experiment={known}"  # canonical, unknown value dropped
    assert isinstance(notice, dbc.Alert)
    assert "not-a-bot" in text_of(notice)


def test_sync_filters_clean_url_gives_no_notice(app_runtime):
    result = run_sync("url.search", "?range=7d", [None] * len(CONTROL_IDS))
    assert result[-3]["range"] == "7d"
    assert result[-2] is no_update  # already canonical
    assert result[-1] is no_update
    initial = run_sync(None, "", [None] * len(CONTROL_IDS))
    assert initial[-3] == FilterState().to_dict()
    assert initial[-1] is None


def test_sync_filters_control_change_writes_canonical_query(app_runtime):
    values = controls_from_state(FilterState())
    values[0] = "7d"
    team = app_runtime.teams[1]
    values[4] = [team]
    result = run_sync("f-range.value", "", values)
    state_data, url, notice = result[-3:]
    assert state_data["range"] == "7d"
    assert state_data["teams"] == [team]
    assert url == f"?range=7d&team={team}"
    assert notice is no_update
    assert all(v is no_update for v in result[: len(CONTROL_IDS)])  # controls already right
    # the same state again: URL unchanged
    again = run_sync("f-team.value", url, values)
    assert again[-2] is no_update


def test_sync_filters_date_picker_switches_to_custom(app_runtime):
    today = datetime.now(UTC).date()
    values = controls_from_state(FilterState())
    values[1] = (today - timedelta(days=10)).isoformat()
    values[2] = today.isoformat() + "T00:00:00"
    result = run_sync("f-dates.start_date", "", values)
    state_data, url = result[-3], result[-2]
    assert state_data["range"] == "custom"
    assert state_data["start"] == (today - timedelta(days=10)).isoformat()
    assert state_data["end"] == today.isoformat()
    assert result[0] == "custom"  # the range control follows
    assert url.startswith("?range=custom&start=")


def test_sync_filters_reset(app_runtime):
    values = controls_from_state(FilterState(range="7d", teams=("x",)))
    result = run_sync("f-reset.n_clicks", "?range=7d&team=x", values, reset_clicks=1)
    assert result[-3] == FilterState().to_dict()
    assert result[-2] == ""
    assert result[-1] is None


def test_sync_filters_keeps_the_comparison_of_the_store(app_runtime):
    """A filter change keeps the Quality tab's comparison choices (in the store, not in any
    filter control) in the state and the link (issue #17 item 10)."""
    values = controls_from_state(FilterState())
    values[0] = "7d"
    previous = FilterState(compare="periods", compare_a="v1").to_dict()
    extra = [None] * 5  # the clickable charts and the browser's zone
    triggered = [{"prop_id": "f-range.value", "value": "7d"}]

    def call():
        context_value.set(AttributeDict(triggered_inputs=triggered))
        return sync_filters("", None, *values, *extra, previous)

    state_data, url, _ = contextvars.copy_context().run(call)[-3:]
    assert (state_data["compare"], state_data["compare_a"]) == ("periods", "v1")
    assert url == "?range=7d&compare=periods&compare_a=v1"


def test_sync_filters_writes_a_link_that_changes_only_the_comparison(app_runtime):
    """A link whose filters stand but whose comparison changed (a choice in the Quality tab's
    controls) is written to the store: the comparison is not part of filter equality."""
    values = controls_from_state(FilterState())
    extra = [None] * 5
    triggered = [{"prop_id": "url.search", "value": "?compare=periods"}]

    def call():
        context_value.set(AttributeDict(triggered_inputs=triggered))
        return sync_filters("?compare=periods", None, *values, *extra, FilterState().to_dict())

    state_data = contextvars.copy_context().run(call)[-3]
    assert state_data is not no_update and state_data["compare"] == "periods"
