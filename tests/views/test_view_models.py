"""The view models of services/views: one per tab, numbers only, cached without the theme in a
cache bounded in bytes; the page and the exports read the same view."""

from __future__ import annotations

import dataclasses
import math

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
from services.views.cache import ByteLRU, size_of
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
    second = quality_view(demo_dataset, STATE, swapped)
    assert second.numbers is first.numbers  # only the comparison is counted again
    assert second.key != first.key


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
    frame = pd.DataFrame({"x": np.arange(1000, dtype=np.int64)})  # 8,000 bytes + index
    each = size_of(frame)
    assert 8000 <= each < 9000
    lru = ByteLRU(max_bytes=3 * each + 10)
    for i in range(5):
        assert lru.put(i, frame.copy())
        assert lru.bytes <= lru.max_bytes
    assert lru.keys() == [2, 3, 4] and lru.bytes == 3 * each
    lru.get(2)  # used: the oldest is now 3
    lru.put(5, frame.copy())
    assert lru.keys() == [4, 2, 5]
    assert not lru.put("huge", pd.DataFrame({"x": np.zeros(10_000)}))  # over the whole budget
    assert "huge" not in lru and lru.bytes == 3 * each
    assert lru.get_or_compute(2, lambda: pytest.fail("cached")) is not None
    assert lru.get_or_compute("none", lambda: None) is None and "none" in lru


def test_view_caches_measure_entries_by_their_pickle(demo_dataset):
    view = engagement.engagement_view(demo_dataset, FilterState(range="all"))
    assert cache.VIEWS.measure is cache.pickled_size and cache.FIGURES.measure is size_of
    assert cache.pickled_size(view) >= size_of(view) > 1000
    assert cache.pickled_size(lambda: 1) == size_of(lambda: 1)  # unpicklable: walked


def test_size_of_counts_text_and_containers():
    short = pd.DataFrame({"t": ["a"] * 100})
    long = pd.DataFrame({"t": ["a" * 1000] * 100})  # deep: the strings count
    assert size_of(long) > size_of(short) + 90_000
    nested = {"frames": [long], "n": 3}
    assert size_of(nested) > size_of(long)
    assert size_of([long, long]) < 2 * size_of(long)  # the same frame counts once


def test_view_cache_stays_within_its_byte_budget(demo_dataset, monkeypatch):
    """Many different views: the cache drops the oldest instead of growing without bound."""
    one = cache.VIEWS.measure(engagement.engagement_view(demo_dataset, FilterState(range="all")))
    monkeypatch.setattr(cache.VIEWS, "max_bytes", 3 * one)
    cache.clear()
    states = [FilterState(range=r) for r in ("7d", "30d", "90d", "365d", "all")]
    states += [FilterState(range="all", granularity=g) for g in ("day", "week", "month")]
    for state in states:
        engagement.engagement_view(demo_dataset, state)
        overview.overview(demo_dataset, state)
        assert cache.VIEWS.bytes <= cache.VIEWS.max_bytes
    assert 0 < len(cache.VIEWS) < 2 * len(states)
    assert cache.VIEWS.bytes == sum(cache.VIEWS.measure(cache.VIEWS.get(k)) for k in cache.VIEWS)


def test_figure_cache_is_keyed_by_view_and_theme_and_bounded(demo_dataset, monkeypatch):
    from services.views.charts.overview import overview_figures

    view = overview.overview(demo_dataset, STATE)
    light = overview_figures(view, "light")
    assert overview_figures(view, "light") is light  # cached under (view key, theme)
    assert overview_figures(view, "dark") is not light
    one = cache.FIGURES.measure(light)
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
