"""Component ids: defined once in layouts/ids.py, and every id a callback names is on the page.

The callbacks are read from a fresh interpreter (``import callbacks`` registers them with Dash;
an app that has served a request takes them out of Dash's global list, so the list in this
process depends on which tests ran before). No browser: the page is the layout tree that
``layouts.page.page`` builds, all five tabs included.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dash.development.base_component import Component

from layouts import ids
from layouts.cost import budget_panel
from layouts.engagement import anomaly_list
from layouts.header import sync_progress
from layouts.page import dropdown_options, page
from services.views.charts.engagement import ENGAGEMENT_FIGURES

ROOT = Path(__file__).resolve().parents[2]

DUMP_CALLBACKS = """
import json
import callbacks  # noqa: F401  (registers every callback)
from dash._callback import GLOBAL_CALLBACK_LIST
keys = ("output", "inputs", "state", "running")
print(json.dumps([{k: cb.get(k) for k in keys} for cb in GLOBAL_CALLBACK_LIST]))
"""


def registered_callbacks() -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-c", DUMP_CALLBACKS],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _parse_id(text: str):
    """A dependency id as Dash sends it: a plain string, or JSON for a pattern-matching id."""
    return json.loads(text) if text.startswith("{") else text


def callback_ids(callbacks: list[dict]) -> list[tuple[object, str, str]]:
    """(id, property, role) for every Output, Input, State and ``running`` output."""
    found = []
    for cb in callbacks:
        output = cb["output"]
        parts = output[2:-2].split("...") if output.startswith("..") else [output]
        for part in parts:
            ident, _, prop = part.split("@")[0].rpartition(".")
            found.append((_parse_id(ident), prop, "Output"))
        for role, key in (("Input", "inputs"), ("State", "state")):
            found += [(_parse_id(d["id"]), d["property"], role) for d in cb[key] or []]
        running = (cb.get("running") or {}).get("running") or {}
        for target in running:
            ident, _, prop = target.rpartition(".")
            found.append((_parse_id(ident), prop, "running"))
    return found


def layout_ids(layout) -> list:
    """Every component id in a layout tree (in any prop that holds components)."""
    found = []

    def walk(node):
        if isinstance(node, list | tuple):
            for item in node:
                walk(item)
        elif isinstance(node, Component):
            props = node.to_plotly_json()["props"]
            if props.get("id") is not None:
                found.append(props["id"])
            for value in props.values():
                walk(value)

    walk(layout)
    return found


def _matches(wanted, ident) -> bool:
    """Whether the page's ``ident`` answers the callback id ``wanted`` (a pattern-matching id
    matches by its ``type`` and every key that is not a wildcard)."""
    if isinstance(wanted, str) or not isinstance(ident, dict):
        return wanted == ident
    return wanted.keys() == ident.keys() and all(
        isinstance(value, list) or ident[key] == value for key, value in wanted.items()
    )


def missing_ids(callbacks: list[dict], layout) -> list[str]:
    on_page = layout_ids(layout)
    return sorted(
        f"{role} {json.dumps(wanted)}.{prop}"
        for wanted, prop, role in callback_ids(callbacks)
        if not any(_matches(wanted, ident) for ident in on_page)
    )


def full_page():
    """The page with every optional part shown (demo banner, sign-in note, notice, Sign out)."""
    return page(dropdown_options(None), True, "sign-in is off", "store notice", user="ana")


def test_every_callback_id_is_on_the_page():
    callbacks = registered_callbacks()
    assert len(callbacks) > 15
    assert missing_ids(callbacks, full_page()) == []


def test_a_callback_id_missing_from_the_page_is_reported():
    callbacks = [
        {
            "output": "..fig-tme.figure...kpi-row.children..",
            "inputs": [{"id": '{"chart":["ALL"],"type":"chart-csv"}', "property": "n_clicks"}],
            "state": [{"id": '{"column":["ALL"],"type":"no-such"}', "property": "n_clicks"}],
            "running": {"running": {"nowhere.children": "…"}, "runningOff": {}},
        }
    ]
    assert missing_ids(callbacks, full_page()) == [
        'Output "fig-tme".figure',
        'State {"column": ["ALL"], "type": "no-such"}.n_clicks',
        'running "nowhere".children',
    ]


def test_page_ids_are_unique_and_all_defined_in_ids():
    on_page = layout_ids(full_page())
    plain = [i for i in on_page if isinstance(i, str)]
    assert len(plain) == len(set(plain)), sorted(i for i in plain if plain.count(i) > 1)
    pattern = [json.dumps(i, sort_keys=True) for i in on_page if isinstance(i, dict)]
    assert len(pattern) == len(set(pattern))
    constants = set(_constants().values())
    assert set(plain) <= constants, sorted(set(plain) - constants)
    assert {i["type"] for i in on_page if isinstance(i, dict)} == {
        ids.CHART_CSV,
        ids.OPEN_SESSIONS,
        ids.SORT_HEADER,
    }


def _constants() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(ids).items()
        if name.isupper() and isinstance(value, str) and not name.startswith("TAB_")
    }


def test_each_constant_is_named_after_its_id_and_is_used():
    constants = _constants()
    for name, value in constants.items():
        assert name == value.upper().replace("-", "_"), name
    parts = [full_page(), sync_progress({}), budget_panel(None), anomaly_list(None)]
    drawn = {i for i in layout_ids(parts) if isinstance(i, str)}
    only_with_data = {ids.COST_BUDGET_BAR, ids.ENG_ANOMALY_TABLE}  # a budget, a flagged day
    types = {ids.CHART_CSV, ids.OPEN_SESSIONS, ids.SORT_HEADER}
    unused = set(constants.values()) - drawn
    assert unused == only_with_data | types


def test_chart_and_figure_registries_match_the_view_models():
    from services.outputs.exports import CHART_EXPORTS

    assert set(ids.CHART_GRAPHS) == set(CHART_EXPORTS)
    assert set(ids.ENG_FIGURES) == set(ENGAGEMENT_FIGURES)
    tabs = [v for k, v in vars(ids).items() if k.startswith("TAB_")]
    assert tabs == ["overview", "quality", "engagement", "cost", "sessions"]


@pytest.mark.parametrize(
    ("helper", "value", "expected"),
    [
        (ids.chart_csv, "time", {"type": "chart-csv", "chart": "time"}),
        (ids.open_sessions, ids.FIG_TIME, {"type": "open-sessions", "chart": "fig-time"}),
        (ids.sort_header, "cost_usd", {"type": "sort-header", "column": "cost_usd"}),
    ],
)
def test_pattern_ids(helper, value, expected):
    assert helper(value) == expected
