"""Browser tests of the Overview's time chart (issue #17 items 4 and 7): the real app in
Debian's headless Chromium, the figure read from the page's plotly graph."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from playwright.sync_api import expect

from services.store.dataset import Dataset
from services.sync import demo
from tests.browser.test_browser import wait_ready
from tests.support.browser_support import start_app, stop

ANCHOR = date(2026, 11, 30)
SESSIONS = 4000  # start_app's DEMO_SESSIONS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, base = start_app(
        tmp_path_factory.mktemp("browser-charts"),
        {"DEMO_ANCHOR": ANCHOR.isoformat()},
    )
    yield base
    stop(process)


def release_days(first: date, last: date) -> list[date]:
    """First day each released version (``vN``) of each experiment was used, inside
    ``[first, last]`` — computed here from the demo world the app serves, not by the app."""
    world = demo.generate(SESSIONS, seed=7, anchor=ANCHOR)
    ds = Dataset.from_tables(demo.world_tables(world), 1)
    days = []
    for index, label in enumerate(ds.version_names):
        if label.endswith("-unreleased"):
            continue
        rows = np.nonzero(ds.version_matrix[index])[0]
        for code in np.unique(ds.experiment_codes[rows]):
            first_row = rows[ds.experiment_codes[rows] == code][0]
            day = date(1970, 1, 1) + timedelta(days=int(ds.created_ns[first_row] // 86_400e9))
            if first <= day <= last:
                days.append(day)
    return sorted(days)


def time_figure(page) -> dict:
    return page.evaluate(
        """() => {
            const gd = document.querySelector('#fig-time .js-plotly-plot');
            return {
                shapes: (gd.layout.shapes || []).map(s => ({x: String(s.x0), dash: s.line && s.line.dash})),
                notes: (gd.layout.annotations || []).map(a => ({x: String(a.x), text: a.text})),
            };
        }"""
    )


def test_a_365_day_view_marks_the_latest_releases(server, page):
    page.goto(server + "/?range=365d")
    wait_ready(page)
    expected = release_days(ANCHOR - timedelta(days=364), ANCHOR)
    assert len(expected) > 8  # more releases than markers: which ones are kept matters
    page.wait_for_function(
        "() => (document.querySelector('#fig-time .js-plotly-plot').layout.shapes || []).length > 0",
        timeout=30_000,
    )
    figure = time_figure(page)
    marked = sorted(date.fromisoformat(s["x"][:10]) for s in figure["shapes"] if s["dash"] == "dot")
    assert marked, "no release markers on the 365-day chart"
    # the newest release of the window has a marker (the earliest-8 cut left out the last 11)
    assert marked[-1] == expected[-1], (marked, expected)
    # and every release of the last 90 days is marked (alone or in a merged marker)
    recent = [d for d in expected if d > ANCHOR - timedelta(days=90)]
    assert recent and all(any(0 <= (d - m).days < 10 for m in marked) for d in recent), (
        marked,
        recent,
    )
    # one label per marker: labels never pile up on one day
    labelled = [n["x"][:10] for n in figure["notes"] if n["x"][:10] in {str(m) for m in marked}]
    assert len(labelled) == len(set(labelled)) == len(marked)
    expect(page.locator("#time-subtitle")).to_contain_text("releases")
    assert page.console_errors == []
