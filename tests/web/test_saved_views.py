"""Saved views: stored server-side, shared, robust to bad input and concurrent writers."""

from __future__ import annotations

import json
import threading

import pytest

from callbacks.saved_views import manage_views
from services.analytics.filters import FilterState
from services.web import saved_views


def test_save_list_overwrite_delete(tmp_path):
    saved_views.save_view(tmp_path, "  Coaching   last 30 days ", "?range=30d&tag=coaching_good")
    saved_views.save_view(tmp_path, "all time", "range=all")
    names = [v["name"] for v in saved_views.list_views(tmp_path)]
    assert names == ["all time", "Coaching last 30 days"]  # whitespace tidied, sorted by name
    assert saved_views.find_view(tmp_path, "all time")["query"] == "?range=all"
    saved_views.save_view(tmp_path, "all time", "?range=7d")  # same name: overwritten
    assert saved_views.find_view(tmp_path, "all time")["query"] == "?range=7d"
    assert len(saved_views.list_views(tmp_path)) == 2
    assert saved_views.delete_view(tmp_path, "all time") is True
    assert saved_views.delete_view(tmp_path, "all time") is False
    assert [v["name"] for v in saved_views.list_views(tmp_path)] == ["Coaching last 30 days"]


@pytest.mark.parametrize("name", ["", "   ", None, "x" * 81])
def test_bad_names_give_a_clear_message(tmp_path, name):
    with pytest.raises(saved_views.SavedViewError):
        saved_views.save_view(tmp_path, name, "?range=all")


def test_corrupt_file_reads_as_empty_and_is_replaced_on_save(tmp_path):
    (tmp_path / "saved_views.json").write_text("{not json")
    assert saved_views.list_views(tmp_path) == []
    saved_views.save_view(tmp_path, "ok", "?range=all")
    assert json.loads((tmp_path / "saved_views.json").read_text())["views"][0]["name"] == "ok"


def test_concurrent_saves_keep_every_view(tmp_path):
    threads = [
        threading.Thread(target=saved_views.save_view, args=(tmp_path, f"view {i}", "?range=all"))
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(saved_views.list_views(tmp_path)) == 20


def test_callback_saves_the_current_filter_state(tmp_path):
    state = FilterState(range="all", teams=("team-a",)).to_dict()
    options, message, value = manage_views("sv-save", "Team A", None, state, tmp_path)
    assert options == [{"label": "Team A", "value": "Team A"}]
    assert value == "Team A" and "Saved" in message
    assert saved_views.find_view(tmp_path, "Team A")["query"] == "?range=all&team=team-a"
    _, message, _ = manage_views("sv-save", "", None, state, tmp_path)
    assert message == "Give the view a name."
    options, message, value = manage_views("sv-delete", None, "Team A", state, tmp_path)
    assert options == [] and value is None and "Deleted" in message
