"""The tab and the Sessions table's sort and page in the URL (callbacks/position.py,
services.analytics.filters Position), the table's "new filters?" rule, and the 404 page."""

from __future__ import annotations

from dash import no_update
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from callbacks.position import DEFAULT_TAB, TABS, position_of, restore, wanted
from callbacks.sessions import filters_changed
from layouts import ids
from services.analytics.filters import (
    Position,
    keep_position,
    parse_position,
    position_params,
    with_position,
)
from services.views.sessions import DEFAULT_SORT, SORTABLE, TableState
from services.web.not_found import install

words = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
positions = st.builds(
    Position,
    tab=st.none() | words,
    sort=st.none() | words,
    desc=st.none() | st.booleans(),
    page=st.none() | st.integers(2, 10**6),
)


@given(positions)
def test_a_position_survives_the_url(position):
    assert parse_position("?" + "&".join(f"{k}={v}" for k, v in position_params(position))) == (
        position
    )


@given(st.text(max_size=80))
def test_any_query_parses_without_error(search):
    position = parse_position(search)
    assert position.page is None or 1 <= position.page <= 10**6


def test_bad_values_are_ignored_and_filters_are_kept():
    assert parse_position("?tab=<x>&sort=1a&order=up&page=0") == Position()
    assert parse_position("?page=-3&page=abc") == Position()
    query = with_position("?range=30d&team=a&tab=cost&page=4", Position(tab="tab-sessions"))
    assert query == "?range=30d&team=a&tab=tab-sessions"
    assert keep_position("?range=7d", "?range=30d&sort=messages&order=asc") == (
        "?range=7d&sort=messages&order=asc"
    )
    assert with_position("", Position()) == ""


def test_defaults_stay_out_of_the_url():
    assert position_of(DEFAULT_TAB, TableState().to_dict()) == Position()
    table = TableState(page=3, sort=SORTABLE[-1] if SORTABLE[-1] != DEFAULT_SORT else SORTABLE[0])
    pos = position_of(ids.TAB_SESSIONS, table.to_dict())
    assert (pos.tab, pos.sort, pos.page) == (ids.TAB_SESSIONS, table.sort, 3)


def test_unknown_tabs_and_columns_fall_back_to_the_defaults():
    tab, table = wanted("?tab=tab-nope&sort=nope&page=2")
    assert tab == DEFAULT_TAB and table.sort == DEFAULT_SORT and table.page == 2
    tab, table = wanted(f"?tab={TABS[-1]}&order=asc")
    assert tab == TABS[-1] and table.desc is False


def test_restore_changes_only_what_differs_and_marks_the_page_as_restored():
    search = f"?tab={ids.TAB_SESSIONS}&page=2"
    tab, table = restore(search, DEFAULT_TAB, TableState().to_dict())
    assert tab == ids.TAB_SESSIONS and table["page"] == 2 and table["for"] is None
    same = TableState(page=2).to_dict()
    assert restore(search, ids.TAB_SESSIONS, same) == [no_update, no_update]


def test_the_table_goes_back_to_page_one_only_for_new_filters():
    state = {"range": "30d"}
    assert filters_changed({"page": 2, "for": state}, {"range": "7d"}, ids.FILTER_STATE)
    assert not filters_changed({"page": 2, "for": state}, state, ids.FILTER_STATE)
    # a page restored from a link belongs to the first filter state that arrives
    assert not filters_changed({"page": 2, "for": None}, state, ids.FILTER_STATE)
    # new data always counts
    assert filters_changed({"page": 2, "for": state}, state, ids.DATA_GENERATION)


def test_unknown_paths_answer_404_html_or_json():
    server = Flask(__name__)
    install(server)

    @server.route("/")
    def home():
        return "dashboard"

    @server.route("/<path:path>")
    def catch_all(path):
        return "dashboard"

    client = server.test_client()
    assert client.get("/").status_code == 200
    page = client.get("/does-not-exist", headers={"Accept": "text/html"})
    assert page.status_code == 404 and b"Page not found" in page.data
    api = client.get("/api/v2/nope")
    assert api.status_code == 404 and api.get_json() == {
        "error": "not found",
        "path": "/api/v2/nope",
    }
    script = client.get("/x", headers={"Accept": "application/json"})
    assert script.status_code == 404 and script.get_json()["error"] == "not found"
