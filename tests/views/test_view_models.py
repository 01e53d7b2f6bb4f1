"""The view models of services/views: one per tab, numbers only, cached without the theme in a
cache bounded in bytes; the page and the exports read the same view."""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pandas as pd
import pytest

from callbacks.engagement import render_engagement
from callbacks.overview import render_overview
from callbacks.quality import render_quality
from services.analytics import metrics, quality
from services.analytics.filters import FilterState
from services.analytics.query import Selection, select
from services.outputs import exports
from services.views import cache, engagement, overview
from services.views import quality as quality_views
from services.views.cache import ByteLRU, PickledLRU
from services.views.cost import cost_view
from services.views.quality import Controls, default_versions, quality_view
from services.views.sessions import sessions_view
from tests.conftest import DEMO_ANCHOR
from tests.outputs.test_exports import NOW, read_export

STATE = FilterState(range="90d")


@pytest.fixture(autouse=True)
def _pinned_day(monkeypatch):
    """The views count to the demo's last day (as the page does with a pinned demo)."""
    monkeypatch.setattr("services.views.scope.today_in", lambda tz="UTC": DEMO_ANCHOR)
    cache.clear()
    yield
    cache.clear()


def _busiest(dataset, state=STATE) -> Controls:
    counts = metrics.sessions_by(select(dataset, state, today=DEMO_ANCHOR), "experiment")
    experiment = counts["value"].iloc[0]
    return Controls("versions", experiment, *default_versions(dataset, experiment))


def _options(controls: Controls) -> exports.ChartOptions:
    return exports.ChartOptions(
        mode=controls.mode,
        experiment=controls.experiment,
        version_a=controls.version_a,
        version_b=controls.version_b,
    )


# ---- Quality: one view for the page and the CSVs ---------------------------------------------


def test_quality_page_and_exports_read_one_view(demo_dataset, monkeypatch):
    controls = _busiest(demo_dataset)
    calls = {"compare": 0, "cooccurrence": 0}
    for name in calls:
        real = getattr(quality, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(quality, name, counted)

    page = render_quality(STATE.to_dict(), False, *dataclasses.astuple(controls), demo_dataset)
    assert calls == {"compare": 1, "cooccurrence": 1}
    options = _options(controls)
    texts = {
        chart: exports.any_chart_csv(demo_dataset, STATE, chart, options, NOW)[1]
        for chart in ("compare", "quality-time", "coverage-time", "coverage-experiment")
    }
    texts["cooccurrence"] = exports.any_chart_csv(
        demo_dataset, STATE, "cooccurrence", options, NOW
    )[1]
    assert calls == {"compare": 1, "cooccurrence": 1}  # the downloads recounted nothing

    view = quality_view(demo_dataset, STATE, controls)
    assert view.comparison is not None and len(view.comparison.rows)
    _, compare = read_export(texts["compare"])
    assert compare["n_a"].tolist() == view.comparison.rows["n_a"].tolist()
    assert compare["good_b"].tolist() == view.comparison.rows["good_b"].tolist()
    # the drawn comparison: side A's dots sit at side A's good rates (drawn bottom-up)
    drawn_a = page[0]["data"][0]["x"]
    assert np.allclose(drawn_a[::-1], compare["rate_a"].to_numpy(float), equal_nan=True)
    # coverage over time: the bars on the page are the CSV's annotated counts
    _, coverage = read_export(texts["coverage-time"])
    assert list(page[5]["data"][0]["y"]) == coverage["annotated"].tolist()
    # the coverage subtitle counts the same annotated sessions as the CSV
    subtitle = page[6] if isinstance(page[6], str) else page[6][0]
    assert subtitle.startswith(f"{view.numbers.annotated:,} of {view.scope.n:,} sessions")
    assert int(coverage["annotated"].sum()) == view.numbers.annotated
    header, over_time = read_export(texts["quality-time"])
    assert header["granularity"] == view.numbers.granularity
    assert over_time["n"].tolist() == view.numbers.over_time["n"].tolist()


def test_changing_a_version_keeps_the_filter_numbers(demo_dataset, monkeypatch):
    controls = _busiest(demo_dataset)
    first = quality_view(demo_dataset, STATE, controls)
    swapped = dataclasses.replace(controls, version_a=controls.version_b)
    counted = []
    real = quality_views._numbers
    monkeypatch.setattr(quality_views, "_numbers", lambda *a: counted.append(a) or real(*a))
    second = quality_view(demo_dataset, STATE, swapped)
    assert counted == []  # only the comparison is counted again; the numbers are the cached
    assert_same(second.numbers, first.numbers)
    assert second.key != first.key


def assert_same(a, b) -> None:
    """``a`` equals ``b`` field by field, frames and arrays included."""
    assert type(a) is type(b)
    if isinstance(a, pd.DataFrame | pd.Series):
        check = pd.testing.assert_frame_equal
        if isinstance(a, pd.Series):
            check = pd.testing.assert_series_equal
        check(a, b)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            assert_same(getattr(a, field.name), getattr(b, field.name))
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


# ---- caches: no theme, numbers only, bounded in bytes ------------------------------------------


def _walk(value, seen=None):
    seen = seen if seen is not None else set()
    if id(value) in seen:
        return
    seen.add(id(value))
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item, seen)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item, seen)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name), seen)


def test_view_cache_keys_have_no_theme_and_hold_no_selection(demo_dataset, monkeypatch):
    kpis = metrics.kpis
    calls = []
    monkeypatch.setattr(metrics, "kpis", lambda *a: calls.append(1) or kpis(*a))
    light = render_overview(STATE.to_dict(), False, demo_dataset)
    dark = render_overview(STATE.to_dict(), True, demo_dataset)
    assert len(calls) == 1  # the dark page reused the light page's numbers
    assert light[1]["layout"]["font"] != dark[1]["layout"]["font"]  # drawn per theme
    render_engagement(STATE.to_dict(), True, demo_dataset)
    render_quality(
        STATE.to_dict(), True, *dataclasses.astuple(_busiest(demo_dataset)), demo_dataset
    )
    cost_view(demo_dataset, STATE, 10.0)
    sessions_view(demo_dataset, STATE)
    keys = cache.VIEWS.keys()
    tabs = {key[0] for key in keys}
    assert {"overview", "engagement", "quality", "quality-compare", "cost", "sessions"} <= tabs
    for key in keys:
        assert not {"light", "dark"} & set(map(str, _walk(key))), key
    figure_themes = {key[-1] for key in cache.FIGURES}
    assert figure_themes == {"light", "dark"}
    n = demo_dataset.n
    for key in keys:
        for part in _walk(cache.VIEWS.get(key)):
            assert not isinstance(part, Selection), key
            if isinstance(part, np.ndarray):
                assert part.size < n, key  # no per-session array (a mask, a column)
            if isinstance(part, pd.DataFrame):
                assert len(part) < n, key


def test_byte_lru_evicts_to_its_budget():
    lru = ByteLRU(max_bytes=3 * 1000 + 10, measure=len)
    for i in range(5):
        assert lru.put(i, bytes(1000))
        assert lru.bytes <= lru.max_bytes
    assert lru.keys() == [2, 3, 4] and lru.bytes == 3000
    lru.get(2)  # used: the oldest is now 3
    lru.put(5, bytes(1000))
    assert lru.keys() == [4, 2, 5]
    assert not lru.put("huge", bytes(4000))  # over the whole budget
    assert "huge" not in lru and lru.bytes == 3000
    assert lru.get_or_compute(2, lambda: pytest.fail("cached")) is not None
    assert lru.get_or_compute("none", lambda: b"") == b"" and "none" in lru


def test_view_caches_keep_each_value_as_its_pickle(demo_dataset):
    """The budget is the memory held: one bytes object per entry, measured by its length; a
    hit is a new copy, equal to what was computed."""
    assert isinstance(cache.VIEWS, PickledLRU) and isinstance(cache.FIGURES, PickledLRU)
    view = engagement.engagement_view(demo_dataset, FilterState(range="all"))
    size = len(pickle.dumps(view, protocol=5))
    assert cache.VIEWS.bytes >= size > 1000  # (with the anomaly view it reads)
    again = engagement.engagement_view(demo_dataset, FilterState(range="all"))
    assert again is not view
    assert_same(again, view)
    lru = PickledLRU(max_bytes=10_000)
    assert not lru.put("lambda", lambda: 1) and "lambda" not in lru  # cannot be pickled
    assert lru.put("frame", pd.DataFrame({"x": [1, 2]}))
    assert lru.get("frame").equals(pd.DataFrame({"x": [1, 2]}))
    assert lru.get("missing", "default") == "default"


def test_view_cache_stays_within_its_byte_budget(demo_dataset, monkeypatch):
    """Many different views: the cache drops the oldest instead of growing without bound."""
    one = len(pickle.dumps(engagement.engagement_view(demo_dataset, FilterState(range="all"))))
    monkeypatch.setattr(cache.VIEWS, "max_bytes", 3 * one)
    cache.clear()
    states = [FilterState(range=r) for r in ("7d", "30d", "90d", "365d", "all")]
    states += [FilterState(range="all", granularity=g) for g in ("day", "week", "month")]
    for state in states:
        engagement.engagement_view(demo_dataset, state)
        overview.overview(demo_dataset, state)
        assert cache.VIEWS.bytes <= cache.VIEWS.max_bytes
    assert 0 < len(cache.VIEWS) < 2 * len(states)


def test_figure_cache_is_keyed_by_view_and_theme_and_bounded(demo_dataset, monkeypatch):
    from plotly.io.json import to_json_plotly

    from services.views.charts.base import TEMPLATE
    from services.views.charts.overview import overview_figures

    view = overview.overview(demo_dataset, STATE)
    light = overview_figures(view, "light")
    cached = overview_figures(view, "light")  # from the cache: a copy that draws the same
    assert cached is not light
    assert to_json_plotly(cached) == to_json_plotly(light)  # same JSON, key order included
    assert all(fig.layout["template"] is TEMPLATE for fig in cached.values())  # still shared
    assert to_json_plotly(overview_figures(view, "dark")) != to_json_plotly(light)
    one = len(pickle.dumps(light, protocol=5))
    monkeypatch.setattr(cache.FIGURES, "max_bytes", 2 * one)
    for r in ("7d", "30d", "365d", "all"):
        for theme in ("light", "dark"):
            overview_figures(overview.overview(demo_dataset, FilterState(range=r)), theme)
            assert cache.FIGURES.bytes <= cache.FIGURES.max_bytes
    assert len(cache.FIGURES) < 8


# ---- Engagement: the week-1 retention card is a number of the view, and exported -----------------


def test_week1_retention_is_on_the_view_the_card_and_the_export(demo_dataset):
    state = FilterState(range="365d")
    view = engagement.engagement_view(demo_dataset, state)
    cohorts = view.cohorts
    seen = cohorts["week_1"].notna()
    expected = (cohorts.loc[seen, "week_1"] * cohorts.loc[seen, "size"]).sum() / cohorts.loc[
        seen, "size"
    ].sum()
    assert view.week1.share == pytest.approx(expected)
    assert view.week1.participants == int(cohorts.loc[seen, "size"].sum()) > 0

    cards = str(render_engagement(state.to_dict(), False, demo_dataset)[0])
    assert f"{view.week1.share:.0%}" in cards
    assert f"of {view.week1.participants:,} new participants" in cards

    name, text = exports.any_chart_csv(demo_dataset, state, "engagement-cards", now=NOW)
    header, frame = read_export(text)
    assert name.startswith("ocs-engagement-headline-numbers-")
    assert header["export"] == "Engagement headline numbers"
    row = frame.set_index("metric").loc["week1_retention"]
    assert row["value"] == pytest.approx(view.week1.share)
    assert row["base"] == view.week1.participants
    assert frame.set_index("metric").loc["thumbs_up_rate", "value"] == pytest.approx(
        view.ratings.rate, nan_ok=True
    )


def test_week1_without_an_observable_week_is_missing():
    from services.analytics.engagement import week1_retention

    empty = week1_retention(pd.DataFrame(columns=["cohort", "size", "week_0", "week_1"]))
    assert math.isnan(empty.share) and empty.participants == 0
    late = week1_retention(pd.DataFrame({"size": [4], "week_0": [1.0], "week_1": [np.nan]}))
    assert math.isnan(late.share) and late.participants == 0


def test_quality_views_module_has_one_choice_of_default_versions(demo_dataset):
    """The page's pair is resolve_comparison's; over a year of the busiest experiment it is
    the two newest released versions (what default_versions names for the whole data)."""
    experiment = _busiest(demo_dataset).experiment
    state = FilterState(range="365d", compare_experiment=experiment)
    choices = quality_views.resolve_comparison(demo_dataset, state, DEMO_ANCHOR)
    assert (choices.version_a, choices.version_b) == default_versions(demo_dataset, experiment)
    assert {choices.version_a, choices.version_b} <= {o["value"] for o in choices.version_options}
    swapped = state.with_changes(compare_a=choices.version_b, compare_b=choices.version_a)
    again = quality_views.resolve_comparison(demo_dataset, swapped, DEMO_ANCHOR)
    assert (again.version_a, again.version_b) == (choices.version_b, choices.version_a)
