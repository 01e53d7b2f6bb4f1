"""Quality and versions: statistics against known values, version attribution, comparisons,
coverage, co-occurrence and clicking charts to cross-filter."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callbacks.filters import cross_filter
from services.analytics import quality
from services.analytics.filters import FilterState
from services.analytics.query import select
from tests.conftest import build_dataset

ALL = FilterState(range="all")


def msg(role: str, tags=(), when="2026-11-10T12:00:00Z", content="hi there"):
    return {
        "created_at": when,
        "role": role,
        "content": content,
        "metadata": {},
        "tags": list(tags),
    }


# ---- statistics -------------------------------------------------------------------------------


def test_two_proportion_test_known_value():
    # 45/100 vs 56/100: z = 0.11 / sqrt(0.505 * 0.495 * 0.02) = 1.5558 → p = 0.1197
    assert quality.two_proportion_test(45, 100, 56, 100) == pytest.approx(0.1197, abs=5e-4)
    assert quality.two_proportion_test(56, 100, 45, 100) == pytest.approx(0.1197, abs=5e-4)


def test_two_proportion_test_edges():
    assert math.isnan(quality.two_proportion_test(0, 0, 3, 10))
    assert quality.two_proportion_test(0, 10, 0, 20) == 1.0  # both rates 0: no variance
    assert quality.two_proportion_test(10, 10, 20, 20) == 1.0  # both rates 1
    assert quality.two_proportion_test(0, 50, 50, 50) < 1e-10


def test_difference_interval_matches_newcombe_1998_example():
    # Newcombe (1998), example (a): 56/70 vs 48/80, difference 0.2000, 95% CI 0.0524 to 0.3339
    low, high = quality.difference_interval(48, 80, 56, 70)
    assert low == pytest.approx(0.0524, abs=5e-4)
    assert high == pytest.approx(0.3339, abs=5e-4)


def test_difference_interval_edges():
    assert all(math.isnan(v) for v in quality.difference_interval(0, 0, 1, 2))
    low, high = quality.difference_interval(0, 10, 10, 10)  # rates 0 and 1
    assert 0 < low < high <= 1.0
    low, high = quality.difference_interval(5, 10, 5, 10)
    assert low < 0 < high


def test_lift_known_values():
    assert quality.lift(25, 50, 50, 100) == pytest.approx(1.0)  # independent
    assert quality.lift(50, 50, 50, 100) == pytest.approx(2.0)
    assert quality.lift(0, 50, 50, 100) == 0.0
    assert math.isnan(quality.lift(0, 0, 10, 100))
    assert math.isnan(quality.lift(0, 1, 1, 0))


def test_p_value_in_words():
    assert quality.describe_p(0.001) == "very unlikely to be chance"
    assert quality.describe_p(0.03) == "unlikely to be chance"
    assert quality.describe_p(0.1) == "could be chance"
    assert quality.describe_p(0.5) == "no evidence of a difference"
    assert quality.describe_p(math.nan) == "no data"


# ---- version attribution ----------------------------------------------------------------------


@pytest.fixture
def versioned():
    return build_dataset(
        [
            {"id": "single", "messages": [msg("assistant", ["v13"]), msg("user")]},
            {
                "id": "spans",
                "messages": [
                    msg("assistant", ["v13"]),
                    msg("user"),
                    msg("assistant", ["v14", "👍"]),
                ],
            },
            {"id": "draft", "messages": [msg("assistant", ["v15-unreleased"]), msg("user")]},
            {"id": "silent", "messages": [msg("user"), msg("system", ["v13"])]},
            {"id": "unsynced", "created": "2026-11-11T12:00:00Z"},
            {"id": "v14", "messages": [msg("assistant", ["v14"]), msg("assistant", ["v14"])]},
        ]
    )


def _ids(dataset, mask):
    return set(dataset.session_id[mask])


def test_session_version_is_the_single_version_of_its_ai_messages(versioned):
    positions = np.arange(versioned.n)
    by_id = dict(
        zip(versioned.session_id, quality.session_versions(versioned, positions), strict=True)
    )
    assert by_id == {
        "single": "v13",
        "spans": None,  # several versions: excluded from comparisons
        "draft": "v15-unreleased",
        "silent": None,  # no AI message: no version (system messages never count)
        "unsynced": None,
        "v14": "v14",
    }


def test_single_version_masks_exclude_multi_version_sessions(versioned):
    assert _ids(versioned, quality.single_version_mask(versioned, "v13")) == {"single"}
    assert _ids(versioned, quality.single_version_mask(versioned, "v14")) == {"v14"}
    assert _ids(versioned, quality.single_version_mask(versioned, "v99")) == set()


def test_version_filter_matches_every_version_a_session_used(versioned):
    selection = select(versioned, ALL.with_changes(versions=("v14",)))
    assert set(versioned.session_id[selection.positions()]) == {"spans", "v14"}
    unreleased = select(versioned, ALL.with_changes(versions=("v15-unreleased",)))
    assert set(versioned.session_id[unreleased.positions()]) == {"draft"}


# ---- comparisons ------------------------------------------------------------------------------


def _annotated(sid, version, good: bool, day="2026-11-10"):
    verdict = "good" if good else "bad"
    return {
        "id": sid,
        "created": f"{day}T12:00:00Z",
        "tags": [f"coaching_{verdict}", "safe"],
        "messages": [msg("assistant", [version]), msg("user", content="one two three")],
    }


def test_compare_two_versions_counts_only_single_version_sessions():
    specs = [_annotated(f"a{i}", "v1", i < 6) for i in range(10)]  # v1: 6/10 good
    specs += [_annotated(f"b{i}", "v2", i < 9) for i in range(10)]  # v2: 9/10 good
    specs.append(
        {
            "id": "mixed",
            "tags": ["coaching_bad"],
            "messages": [msg("assistant", ["v1"]), msg("assistant", ["v2"])],
        }
    )
    dataset = build_dataset(specs)
    result = quality.compare(dataset, ALL, "versions", "exp-1", "v1", "v2")
    coaching = result.rows.set_index("category").loc["coaching"]
    assert (coaching.good_a, coaching.n_a, coaching.good_b, coaching.n_b) == (6, 10, 9, 10)
    assert coaching.difference == pytest.approx(0.3)
    assert coaching.p_value == pytest.approx(quality.two_proportion_test(6, 10, 9, 10))
    assert coaching.diff_low < coaching.difference < coaching.diff_high
    assert result.engagement.set_index("metric").loc["Sessions"].tolist() == [10, 10]
    assert any("too few" in w for w in result.warnings)  # 10 annotated < 30 on both sides


def test_compare_needs_complete_inputs(versioned):
    assert quality.compare(versioned, ALL, "versions", "exp-1", "v13", None) is None
    assert quality.compare(versioned, ALL, "periods", None, None, None) is None  # all time


def test_compare_periods_uses_previous_window():
    specs = [_annotated(f"old{i}", "v1", i < 2, day="2026-10-05") for i in range(4)]
    specs += [_annotated(f"new{i}", "v1", True, day="2026-11-05") for i in range(3)]
    dataset = build_dataset(specs)
    state = FilterState(range="custom", start=date(2026, 11, 1), end=date(2026, 11, 30))
    result = quality.compare(dataset, state, "periods", None, None, None)
    coaching = result.rows.set_index("category").loc["coaching"]
    assert (coaching.good_a, coaching.n_a, coaching.good_b, coaching.n_b) == (2, 4, 3, 3)


def test_release_markers_first_day_each_version_was_seen():
    dataset = build_dataset(
        [
            {"id": "1", "created": "2026-11-01T08:00:00Z", "messages": [msg("assistant", ["v1"])]},
            {"id": "2", "created": "2026-11-05T08:00:00Z", "messages": [msg("assistant", ["v2"])]},
            {"id": "3", "created": "2026-11-06T08:00:00Z", "messages": [msg("assistant", ["v2"])]},
            {
                "id": "4",
                "created": "2026-11-07T08:00:00Z",
                "messages": [msg("assistant", ["v3-unreleased"])],
            },
        ]
    )
    state = FilterState(range="custom", start=date(2026, 11, 2), end=date(2026, 11, 30))
    from services.analytics import releases

    markers = releases.release_markers(dataset, select(dataset, state)).markers
    assert markers["label"].tolist() == ["v2"]  # v1 before the window, drafts not marked
    assert str(markers["day"].iloc[0].date()) == "2026-11-05"


# ---- coverage and co-occurrence ---------------------------------------------------------------


def test_coverage_and_sample_warning_when_annotated_sessions_are_longer():
    specs = [{"id": f"s{i}", "human": 1, "ai": 1, "tags": [], "platform": "web"} for i in range(40)]
    specs += [
        {"id": f"a{i}", "human": 10, "ai": 10, "tags": ["coaching_good"], "platform": "web"}
        for i in range(10)
    ]
    dataset = build_dataset(specs)
    selection = select(dataset, ALL)
    coverage = quality.coverage_by_category(selection).set_index("category")
    assert coverage.loc["coaching", "annotated"] == 10
    assert coverage.loc["coaching", "share"] == pytest.approx(0.2)
    warnings = quality.sample_warnings(selection)
    assert any("longer than average" in w for w in warnings)
    by_experiment = quality.coverage_by_experiment(selection)
    assert by_experiment["annotated"].sum() == 10


def test_cooccurrence_is_over_annotated_sessions_only():
    """Lift among sessions with an annotation tag: two review tags that come together no more
    than by chance get lift 1, however many unannotated sessions the selection holds."""
    specs = [{"id": "1", "tags": ["coaching_good", "safe"]}, {"id": "2", "tags": ["coaching_good"]}]
    specs += [{"id": "3", "tags": ["safe", "coaching_bad"]}, {"id": "4", "tags": ["coaching_bad"]}]
    specs += [{"id": f"plain{i}", "tags": ["escalated"] if i < 3 else []} for i in range(36)]
    frame = quality.cooccurrence(select(build_dataset(specs), ALL)).set_index(["tag_a", "tag_b"])
    assert frame.loc[("coaching_good", "safe"), "both"] == 1
    assert frame.loc[("safe", "safe"), "both"] == 2
    # among the 4 annotated sessions: P(both) = 1/4, P(A) = P(B) = 1/2 → lift 1 (over all 40
    # sessions it would have been 10)
    assert frame.loc[("coaching_good", "safe"), "lift"] == pytest.approx(1.0)
    assert frame.loc[("coaching_good", "safe"), "conditional"] == pytest.approx(0.5)
    # a tag never on an annotated session is not in the matrix
    assert "escalated" not in frame.index.get_level_values(0)


def test_cooccurrence_without_annotated_sessions_is_empty():
    dataset = build_dataset([{"id": "1", "tags": ["a", "b"]}, {"id": "2", "tags": ["a"]}])
    assert quality.cooccurrence(select(dataset, ALL)).empty


TAGS = ("coaching_good", "coaching_bad", "safe", "escalated", "needs_follow_up")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sets(st.sampled_from(TAGS)), min_size=1, max_size=25))
def test_cooccurrence_lift_equals_a_naive_count_over_annotated_sessions(tag_sets):
    specs = [{"id": f"s{i}", "tags": sorted(tags)} for i, tags in enumerate(tag_sets)]
    frame = quality.cooccurrence(select(build_dataset(specs), ALL))
    review = {"coaching_good", "coaching_bad", "safe"}  # the annotation tags among TAGS
    annotated = [tags for tags in tag_sets if tags & review]
    if not annotated:
        assert frame.empty
        return
    n = len(annotated)
    for row in frame.itertuples():
        with_a = sum(row.tag_a in tags for tags in annotated)
        with_b = sum(row.tag_b in tags for tags in annotated)
        both = sum(row.tag_a in tags and row.tag_b in tags for tags in annotated)
        assert (row.both, row.count_a, row.count_b) == (both, with_a, with_b)
        if both:
            assert row.lift == pytest.approx((both / n) / ((with_a / n) * (with_b / n)))
        else:
            assert row.lift == 0
    # every tag carried by an annotated session is in the matrix
    assert set(frame["tag_a"]) == set().union(*annotated)


def test_quality_over_time_has_intervals():
    specs = [_annotated(f"w{i}", "v1", i % 2 == 0, day="2026-11-10") for i in range(8)]
    frame = quality.quality_over_time(select(build_dataset(specs), ALL), "week")
    coaching = frame[frame["category"] == "coaching"].iloc[0]
    assert (coaching.good, coaching.n) == (4, 8)
    assert coaching.ci_low < 0.5 < coaching.ci_high


def test_empty_selection_gives_empty_frames(versioned):
    nothing = select(versioned, ALL.with_changes(teams=("nobody",)))
    assert quality.cooccurrence(nothing).empty
    assert quality.quality_over_time(nothing).empty
    assert quality.sample_warnings(nothing) == []


# ---- clicking charts sets filters ---------------------------------------------------------------


def test_click_experiment_bar_selects_then_clears():
    state = FilterState()
    click = {"points": [{"customdata": "exp-1", "y": "Bot"}]}
    chosen = cross_filter(state, "fig-experiment", click)
    assert chosen.experiments == ("exp-1",)
    assert cross_filter(chosen, "fig-experiment", click).experiments == ()
    assert cross_filter(state, "fig-experiment", {"points": [{"customdata": None}]}) is None
    assert cross_filter(state, "fig-team", {"points": [{"customdata": "t"}]}).teams == ("t",)


def test_click_cooccurrence_cell_selects_both_tags_with_all():
    state = cross_filter(FilterState(), "fig-cooccurrence", {"points": [{"x": "b", "y": "a"}]})
    assert (state.tags, state.tag_mode) == (("a", "b"), "all")
    diagonal = cross_filter(FilterState(), "fig-cooccurrence", {"points": [{"x": "a", "y": "a"}]})
    assert diagonal.tags == ("a",)


def test_click_time_bar_narrows_to_that_bucket(monkeypatch):
    from services import runtime

    monkeypatch.setattr(runtime, "dataset", lambda: None)  # no data: day buckets
    state = cross_filter(FilterState(), "fig-time", {"points": [{"x": "2026-11-03"}]})
    assert (state.range, state.start, state.end) == ("custom", date(2026, 11, 3), date(2026, 11, 3))
    assert cross_filter(FilterState(), "fig-time", {"points": [{"x": "garbage"}]}) is None
    assert cross_filter(FilterState(), "fig-time", {"points": []}) is None


def test_version_range_in_a_link_expands_to_known_versions():
    from services.analytics.filters import Vocabulary, expand_version_ranges, parse_query

    known = frozenset({"v1", "v2", "v3", "v5", "v5-unreleased"})
    assert expand_version_ranges(["v5..v2"], known) == ["v2", "v3", "v5"]
    assert expand_version_ranges(["v1..v3", "v2"], None) == ["v1", "v2", "v3"]
    state, notices = parse_query("?version=v2..v3,v5-unreleased", Vocabulary(versions=known))
    assert state.versions == ("v2", "v3", "v5-unreleased") and notices == []
    state, notices = parse_query("?version=v7..v9", Vocabulary(versions=known))
    assert state.versions == () and notices  # nothing known in the range: dropped with a notice


def test_version_options_carry_descriptions_and_default_flag(demo_dataset):
    experiment = next(
        e for e, name in demo_dataset.experiment_names.items() if name == "ECD Coach - Nigeria"
    )
    labels = [o["label"] for o in quality.version_options(demo_dataset, experiment)]
    assert "v3 — Refrigerator example added" in labels
    assert any(label.endswith("(default)") for label in labels)


def test_comparison_words_per_message_is_the_engagement_number(demo_dataset):
    """One definition: the comparison's "Words per user message (median)" of a side is the
    Engagement tab's median for those sessions, in both modes."""
    from services.analytics import engagement
    from services.analytics.query import select_previous
    from services.views.quality import resolve_comparison
    from tests.conftest import DEMO_ANCHOR

    state = FilterState(range="custom", start=date(2026, 8, 1), end=date(2026, 9, 29))
    result = quality.compare(demo_dataset, state, "periods", None, None, None, DEMO_ANCHOR)
    words = result.engagement.set_index("metric").loc["Words per user message (median)"]
    current = select(demo_dataset, state, today=DEMO_ANCHOR)
    previous = select_previous(demo_dataset, current)
    assert words.a == engagement.words_per_user_message(previous).median
    assert words.b == engagement.words_per_user_message(current).median

    chosen = resolve_comparison(demo_dataset, state, DEMO_ANCHOR)  # the page's default pair
    experiment, a, b = chosen.experiment, chosen.version_a, chosen.version_b
    scoped = select(demo_dataset, state.with_changes(experiments=(experiment,)), DEMO_ANCHOR)
    result = quality.compare(demo_dataset, state, "versions", experiment, a, b, DEMO_ANCHOR)
    words = result.engagement.set_index("metric").loc["Words per user message (median)"]
    side_a, side_b = quality.single_version_sides(scoped, (a, b))
    kept, value = engagement._user_word_values(scoped)
    for got, side in ((words.a, side_a), (words.b, side_b)):
        assert side.any()
        assert got == float(np.median(value[kept & side]))
