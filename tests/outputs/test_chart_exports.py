"""Per-chart CSVs of every tab (``services.outputs.exports.CHART_EXPORTS``): every chart card has a CSV
button whose key is in the registry, and every chart's CSV holds the numbers of the view model
the page draws, under the same ``# key: value`` header as the other exports."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import pytest
from dash import dcc

from callbacks.exports import chart_export
from callbacks.quality import render_quality
from layouts import ids
from layouts.page import dropdown_options, page
from services import runtime
from services.analytics import metrics, quality
from services.analytics.filters import FilterState
from services.analytics.query import select
from services.outputs import exports
from services.settings import Settings
from services.store.parquet import Store
from services.sync import demo
from services.views.charts.engagement import engagement_figures
from services.views.cost import cost_view
from services.views.engagement import engagement_view
from services.views.overview import overview
from services.views.quality import default_versions
from tests.outputs.test_exports import NOW, STATES, TODAY, close, read_export

HEADER_KEYS = [
    "export",
    "filters",
    "description",
    "window",
    "granularity",
    "timezone",
    "data_source",
    "generation",
    "last_sync",
    "exported_at",
]
ALL_STATES = [*STATES, FilterState(range="30d", tz="Asia/Kolkata", granularity="day")]


def csv_of(dataset, state, chart, options=None):
    """(file name, header, frame) of one chart's CSV."""
    name, text = exports.any_chart_csv(dataset, state, chart, options, NOW)
    header, frame = read_export(text)
    return name, header, frame


def options_for(dataset, state=None, mode="versions") -> exports.ChartOptions:
    """The Quality controls as the page sets them: the busiest experiment, its newest versions."""
    counts = metrics.sessions_by(select(dataset, state or FilterState(), today=TODAY), "experiment")
    experiment = counts["value"].iloc[0] if len(counts) else dataset.experiments[0]
    version_a, version_b = default_versions(dataset, experiment)
    return exports.ChartOptions(
        mode=mode, experiment=experiment, version_a=version_a, version_b=version_b, today=TODAY
    )


def same_column(got: pd.Series, want, dates: bool = False) -> bool:
    """Equal values read back from CSV (floats to full precision, NaN = NaN, dates as text)."""
    want = pd.Series(want).reset_index(drop=True)
    if dates:
        want = pd.to_datetime(want).dt.strftime("%Y-%m-%d")
    got = got.reset_index(drop=True)
    if len(got) != len(want):
        return False
    if pd.api.types.is_numeric_dtype(want) and not pd.api.types.is_bool_dtype(want):
        return all(close(a, b) for a, b in zip(got.astype(float), want.astype(float), strict=True))
    return got.astype(str).tolist() == want.astype(str).tolist()


# ---- every chart card on every tab has a CSV button of the registry --------------------------


def _walk(component, card=None):
    """(component, nearest enclosing dbc.Card) for every component of a layout tree."""
    if isinstance(component, list | tuple):
        for child in component:
            yield from _walk(child, card)
        return
    if component is None or isinstance(component, str | int | float):
        return
    if isinstance(component, dbc.Card):
        card = component
    yield component, card
    yield from _walk(getattr(component, "children", None), card)


def test_every_chart_card_has_a_registered_csv_button():
    layout = page(dropdown_options(None), demo_mode=False)
    graphs: dict[int, list[str]] = {}
    buttons: dict[int, list[str]] = {}
    for component, card in _walk(layout):
        if isinstance(component, dcc.Graph):
            assert card is not None, f"{component.id} is not in a card"
            graphs.setdefault(id(card), []).append(component.id)
        ident = getattr(component, "id", None)
        if isinstance(ident, dict) and ident.get("type") == "chart-csv":
            buttons.setdefault(id(card), []).append(ident["chart"])
    assert graphs, "no charts found"
    seen = []
    for key, graph_ids in graphs.items():
        assert len(graph_ids) == 1, graph_ids
        keys = buttons.get(key, [])
        assert len(keys) == 1, f"{graph_ids[0]} has CSV buttons {keys}"
        chart = keys[0]
        assert chart in exports.CHART_EXPORTS, chart
        assert ids.CHART_GRAPHS[chart] == graph_ids[0]
        seen.append(chart)
    # no key without its card, and the page's registry names the same charts
    assert sorted(seen) == sorted(exports.CHART_EXPORTS) == sorted(ids.CHART_GRAPHS)
    # outside a chart's card: only the headline cards' buttons, each once
    others = sorted(k for card, keys in buttons.items() if card not in graphs for k in keys)
    assert others == sorted(exports.CARD_EXPORTS)


# ---- header, file name --------------------------------------------------------------------


@pytest.mark.parametrize("chart", list(exports.CHART_EXPORTS))
def test_every_chart_csv_has_the_header(demo_dataset, chart):
    state = FilterState(range="30d", tz="Africa/Nairobi")
    name, header, _frame = csv_of(demo_dataset, state, chart, options_for(demo_dataset, state))
    slug = re.sub(r"[^a-z0-9]+", "-", exports.CHART_EXPORTS[chart].title.lower()).strip("-")
    assert name == f"ocs-{slug}-20261122-0930.csv"
    assert [k for k in header if k in HEADER_KEYS] == HEADER_KEYS
    assert header["export"] == exports.CHART_EXPORTS[chart].title
    assert header["filters"] == "?range=30d&tz=Africa/Nairobi"
    assert header["timezone"] == "Africa/Nairobi"
    assert header["last_sync"] == "2026-11-22T00:00:00Z"
    assert header["exported_at"] == "2026-11-22T09:30:00Z"
    assert header["data_source"] == "demo"
    assert header["generation"] == str(demo_dataset.generation)
    assert header["window"].endswith("(end exclusive)")
    sessions = select(demo_dataset, state, today=TODAY).n
    assert header["description"].startswith(f"{sessions:,} sessions · Last 30 days")


def test_overview_charts_are_the_same_file_both_ways(demo_dataset):
    """The generic path gives the Overview's charts exactly as before (same name, same text)."""
    for state in STATES:
        view = overview(demo_dataset, state, today=TODAY)
        for chart in exports.CHARTS:
            before = exports.chart_csv(view, demo_dataset, state, chart, NOW)
            after = exports.any_chart_csv(
                demo_dataset, state, chart, exports.ChartOptions(today=TODAY), NOW
            )
            assert after == before


def test_unknown_chart_is_an_error(demo_dataset):
    with pytest.raises(KeyError):
        exports.any_chart_csv(demo_dataset, FilterState(), "pie")


# ---- Engagement ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", ALL_STATES, ids=str)
def test_engagement_csvs_equal_the_view(demo_dataset, state):
    view = engagement_view(demo_dataset, state, today=TODAY)
    options = exports.ChartOptions(today=TODAY)
    for chart, distribution, unit, base in (
        ("messages", view.messages, "sessions", view.transcripts),
        ("words", view.words, "sessions", view.words.n),
        ("duration", view.duration, "sessions", view.duration.n),
        ("per-participant", view.per_participant, "participants", view.per_participant.n),
    ):
        _, header, frame = csv_of(demo_dataset, state, chart, options)
        histogram = distribution.histogram
        assert frame[unit].tolist() == histogram[unit].tolist(), chart
        assert int(frame[unit].sum()) == base == distribution.n, chart
        assert same_column(frame.iloc[:, 0], histogram["bin"]), chart
        assert same_column(frame.iloc[:, 1], histogram["low"]), chart
        assert same_column(frame["share"], histogram["share"]), chart
        assert header["counted"] == f"{base:,} {unit}"

    _, _, dropoff = csv_of(demo_dataset, state, "dropoff", options)
    assert list(dropoff.columns) == [
        "turn",
        "sessions_reaching_turn",
        "share_still_going",
        "share_ended_here",
    ]
    assert dropoff["turn"].tolist() == view.dropoff["turn"].tolist()
    assert dropoff["sessions_reaching_turn"].tolist() == view.dropoff["sessions"].tolist()
    assert same_column(dropoff["share_still_going"], view.dropoff["still_going"])
    assert same_column(dropoff["share_ended_here"], view.dropoff["ended_here"])

    _, _, participants = csv_of(demo_dataset, state, "participants", options)
    assert participants["participants"].tolist() == view.participants["participants"].tolist()
    assert same_column(participants["bucket"], view.participants["bucket"], dates=True)

    _, header, retention = csv_of(demo_dataset, state, "retention", options)
    assert len(retention) == len(view.cohorts)  # one row per cohort
    assert header["granularity"] == "week"
    if len(view.cohorts):
        assert retention["new_participants"].tolist() == view.cohorts["size"].tolist()
        assert same_column(retention["cohort_week"], view.cohorts["cohort"], dates=True)
        for week in (c for c in view.cohorts.columns if c.startswith("week_")):
            assert same_column(retention[week], view.cohorts[week]), week


def test_engagement_csv_equals_the_drawn_bars(demo_dataset):
    """The messages histogram's counts are the bars of the figure on the page."""
    state = FilterState(range="90d")
    view = engagement_view(demo_dataset, state, today=TODAY)
    _, _, frame = csv_of(demo_dataset, state, "messages", exports.ChartOptions(today=TODAY))
    bars = engagement_figures(view, "light")["messages"]["data"][0]
    assert frame["messages"].astype(str).tolist() == list(bars["x"])
    assert frame["sessions"].tolist() == list(np.asarray(bars["y"]).tolist())


# ---- Cost -----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ALL_STATES, ids=str)
def test_cost_csvs_equal_the_view(demo_dataset, state):
    view = cost_view(demo_dataset, state, today=TODAY)
    options = exports.ChartOptions(today=TODAY)
    total = view.summary.total

    _, _, by_model = csv_of(demo_dataset, state, "cost-model", options)
    assert by_model["model"].tolist() == view.by_model["model"].tolist()
    assert math.isclose(by_model["cost_usd"].sum(), total, rel_tol=1e-9, abs_tol=1e-9)
    assert by_model["tokens"].tolist() == view.by_model["tokens"].tolist()
    assert by_model["sessions"].tolist() == view.by_model["sessions"].tolist()
    assert same_column(by_model["share"], view.by_model["share"])

    _, _, by_experiment = csv_of(demo_dataset, state, "cost-experiment", options)
    assert by_experiment["experiment_id"].tolist() == view.by_experiment["value"].tolist()
    assert same_column(by_experiment["experiment"], view.by_experiment["label"])
    assert math.isclose(by_experiment["cost_usd"].sum(), total, rel_tol=1e-9, abs_tol=1e-9)
    assert by_experiment["sessions"].sum() == view.scope.n
    assert by_experiment["sessions_with_known_cost"].sum() == view.summary.known
    assert same_column(by_experiment["mean_usd_per_known"], view.by_experiment["mean_usd"])

    _, _, over_time = csv_of(demo_dataset, state, "cost-time", options)
    assert math.isclose(over_time["cost_usd"].sum(), total, rel_tol=1e-9, abs_tol=1e-9)
    assert over_time["sessions"].sum() == view.scope.n
    assert over_time["sessions_with_known_cost"].tolist() == view.over_time["known"].tolist()
    assert same_column(over_time["bucket"], view.over_time["bucket"], dates=True)
    assert same_column(over_time["coverage"], view.over_time["coverage"])


# ---- Quality --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ALL_STATES, ids=str)
def test_quality_csvs_equal_the_quality_functions(demo_dataset, state):
    sel = select(demo_dataset, state, today=TODAY)
    options = options_for(demo_dataset, state)

    _, header, compare = csv_of(demo_dataset, state, "compare", options)
    want = quality.compare(
        demo_dataset,
        state,
        "versions",
        options.experiment,
        options.version_a,
        options.version_b,
        today=TODAY,
    )
    assert header["side_a"] == options.version_a and header["side_b"] == options.version_b
    assert options.experiment in header["experiment"]
    assert list(compare.columns) == exports.COMPARE_COLUMNS
    for column in exports.COMPARE_COLUMNS:
        assert same_column(compare[column], want.rows[column]), column

    _, header, over_time = csv_of(demo_dataset, state, "quality-time", options)
    granularity = quality.over_time_granularity(sel)
    assert header["granularity"] == granularity
    want = quality.quality_over_time(sel, granularity)
    assert same_column(over_time["bucket"], want["bucket"], dates=True)
    for column in ("category", "good", "n", "rate", "ci_low", "ci_high"):
        assert same_column(over_time[column], want[column]), column

    _, _, coverage = csv_of(demo_dataset, state, "coverage-time", options)
    assert coverage["annotated"].sum() == metrics.annotated_count(sel)
    assert coverage["sessions"].sum() == sel.n
    assert same_column(coverage["share"], quality.coverage_over_time(sel)["share"])

    _, _, by_experiment = csv_of(demo_dataset, state, "coverage-experiment", options)
    want = quality.coverage_by_experiment(sel)
    assert by_experiment["experiment_id"].tolist() == want["experiment"].tolist()
    assert by_experiment["sessions"].sum() == sel.n
    assert by_experiment["annotated"].sum() == metrics.annotated_count(sel)

    _, _, pairs = csv_of(demo_dataset, state, "cooccurrence", options)
    want = quality.cooccurrence(sel)
    assert len(pairs) == len(want)
    assert pairs["sessions_with_both"].tolist() == want["both"].tolist()
    assert same_column(pairs["lift"], want["lift"])
    assert same_column(pairs["share_of_a_with_b"], want["conditional"])


def test_quality_comparison_follows_the_mode(demo_dataset):
    state = FilterState(range="90d")
    _, header, frame = csv_of(
        demo_dataset, state, "compare", options_for(demo_dataset, state, "periods")
    )
    want = quality.compare(demo_dataset, state, "periods", None, None, None, today=TODAY)
    assert header["side_a"] == "previous period" and header["side_b"] == "this period"
    assert frame["n_b"].tolist() == want.rows["n_b"].tolist()
    assert frame["n_a"].tolist() == want.rows["n_a"].tolist()
    # incomplete controls: no rows, and the header says why
    _, header, frame = csv_of(
        demo_dataset, state, "compare", exports.ChartOptions(mode="versions", today=TODAY)
    )
    assert frame.empty and list(frame.columns) == exports.COMPARE_COLUMNS
    assert "incomplete" in header["comparison"]


def test_quality_csvs_equal_the_rendered_tab(demo_dataset):
    """What render_quality puts on the page: the coverage subtitle and the comparison table."""
    state = FilterState(range="all")
    options = options_for(demo_dataset, state)
    outputs = render_quality(
        state.to_dict(),
        False,
        "versions",
        options.experiment,
        options.version_a,
        options.version_b,
        dataset=demo_dataset,
    )
    subtitle = outputs[6][0] if isinstance(outputs[6], list) else outputs[6]
    _, _, coverage = csv_of(demo_dataset, state, "coverage-time", options)
    annotated, sessions = (int(x.replace(",", "")) for x in re.findall(r"[\d,]+", subtitle)[:2])
    assert coverage["annotated"].sum() == annotated and coverage["sessions"].sum() == sessions
    figure = outputs[0]
    _, _, compare = csv_of(demo_dataset, state, "compare", options)
    drawn = figure["data"][1]  # side B, categories bottom-up
    assert same_column(compare["rate_b"][::-1], np.asarray(drawn["x"], dtype=float))


# ---- the download callback's builder ------------------------------------------------------


@pytest.fixture(scope="module")
def chart_runtime(tmp_path_factory):
    saved = (runtime._settings, runtime._store, runtime._cache)
    current = runtime.configure(Settings(data_dir=tmp_path_factory.mktemp("chart-exports")))
    demo.ensure_demo_store(Store(current.store_dir), 1200, anchor=datetime.now(UTC).date())
    yield runtime.dataset()
    runtime._settings, runtime._store, runtime._cache = saved


@pytest.mark.parametrize("chart", list(exports.CHART_EXPORTS))
def test_chart_download_callback_for_every_chart(chart_runtime, chart):
    state = FilterState(range="30d")
    experiment = metrics.sessions_by(select(chart_runtime, state), "experiment")["value"].iloc[0]
    version_a, version_b = default_versions(chart_runtime, experiment)
    options = exports.ChartOptions(experiment=experiment, version_a=version_a, version_b=version_b)
    name, text = chart_export(state.to_dict(), chart, options)
    assert name.startswith("ocs-") and name.endswith(".csv")
    header, frame = read_export(text)
    assert header["filters"] == "?range=30d"
    assert header["export"] == exports.CHART_EXPORTS[chart].title
    assert not frame.empty, chart
    assert chart_export(state.to_dict(), "no-such-chart", options) is None


def test_today_defaults_to_the_viewers_day(demo_dataset):
    """Without ``today`` (the callback passes none) the views count to today where the viewer
    is, as the page does: the same numbers as the cached view the tab drew."""
    state = FilterState(range="all", tz="Asia/Kolkata")
    _, header, frame = csv_of(demo_dataset, state, "participants")
    assert header["window"].startswith("first session")
    drawn = engagement_view(demo_dataset, state)
    assert frame["participants"].tolist() == drawn.participants["participants"].tolist()
