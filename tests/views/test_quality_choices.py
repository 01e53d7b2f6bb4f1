"""The Quality tab's comparison follows the selection and the URL (issue #17 items 2 and 10),
the filter bar's version picker counts sessions, and empty selections read as such (item 9)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callbacks.quality import chosen_state, settled_state, with_comparison_query
from layouts import ids
from layouts.quality import comparison_parts, comparison_table, cooccurrence_subtitle
from services.analytics import quality
from services.analytics.filters import FilterState, Vocabulary, parse_query
from services.analytics.query import select
from services.views.charts.quality import cooccurrence_figure
from services.views.quality import quality_view, resolve_comparison, version_picker
from tests.conftest import DEMO_ANCHOR


def _experiment(dataset, name: str) -> str:
    return next(e for e, label in dataset.experiment_names.items() if label == name)


def _single_counts(dataset, state: FilterState, experiment: str) -> dict[str, int]:
    """Naive: selected sessions of ``experiment`` that used exactly one version, per version."""
    base = state.with_changes(versions=(), experiments=(experiment,))
    positions = select(dataset, base, today=DEMO_ANCHOR).positions()
    return {
        label: int(quality.single_version_mask(dataset, label)[positions].sum())
        for label in dataset.version_names
    }


# ---- the comparison follows the selection ------------------------------------------------


def test_a_choice_from_another_team_is_replaced_by_the_default_for_the_selection(demo_dataset):
    ecd = _experiment(demo_dataset, "ECD Coach - Nigeria")
    state = FilterState(range="365d", teams=("maternal-helpline",), compare_experiment=ecd)
    choices = resolve_comparison(demo_dataset, state, DEMO_ANCHOR)
    in_team = set(
        select(demo_dataset, state.with_changes(compare_experiment=None), today=DEMO_ANCHOR)
        .column("experiment_codes")
        .tolist()
    )
    offered = {o["value"] for o in choices.experiment_options}
    assert ecd not in offered and choices.experiment in offered
    assert {demo_dataset.experiments.index(e) for e in offered} == in_team
    # and the same state without the stale choice resolves to exactly the same view
    plain = resolve_comparison(demo_dataset, state.with_changes(compare_experiment=None))
    assert plain == resolve_comparison(demo_dataset, state.with_changes(compare_experiment=None))
    assert (plain.experiment, plain.version_a, plain.version_b) == (
        choices.experiment,
        choices.version_a,
        choices.version_b,
    )
    counts = _single_counts(demo_dataset, state, choices.experiment)
    assert counts[choices.version_a] > 0 and counts[choices.version_b] > 0


def test_seven_days_never_default_to_a_version_without_sessions(demo_dataset):
    ecd = _experiment(demo_dataset, "ECD Coach - Nigeria")
    state = FilterState(range="7d", compare_experiment=ecd)
    counts = _single_counts(demo_dataset, state, ecd)
    choices = resolve_comparison(demo_dataset, state, DEMO_ANCHOR)
    assert choices.experiment == ecd
    shown = {o["value"]: o for o in choices.version_options}
    assert counts["v4"] == 0 and ("v4" not in shown or shown["v4"]["disabled"])
    assert None in (choices.version_a, choices.version_b) or 0 not in (
        counts[choices.version_a],
        counts[choices.version_b],
    )
    if choices.version_a is None:
        assert "Only one version" in choices.note
    # an explicit choice of v4 in a link is replaced too
    linked = resolve_comparison(demo_dataset, state.with_changes(compare_a="v4"), DEMO_ANCHOR)
    assert linked.version_a != "v4"


RANGES = st.sampled_from(["7d", "30d", "90d", "365d", "all"])
TEAMS = st.sets(st.sampled_from(["connect-experiments", "ecd-nigeria", "maternal-helpline"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(range_=RANGES, teams=TEAMS, explicit=st.booleans(), data=st.data())
def test_the_default_pair_never_names_a_version_without_sessions(
    demo_dataset, range_, teams, explicit, data
):
    experiment = data.draw(st.sampled_from(demo_dataset.experiments)) if explicit else None
    state = FilterState(range=range_, teams=tuple(sorted(teams)), compare_experiment=experiment)
    choices = resolve_comparison(demo_dataset, state, DEMO_ANCHOR)
    if choices.experiment is None:
        assert choices.experiment_options == []
        return
    counts = _single_counts(demo_dataset, state, choices.experiment)
    for version in (choices.version_a, choices.version_b):
        assert version is None or counts[version] > 0
    if choices.version_a is None:
        assert sum(1 for c in counts.values() if c) < 2 and choices.note
    labelled = {o["value"]: o["label"] for o in choices.version_options}
    for version, label in labelled.items():
        assert label.endswith(f"· {counts[version]:,} session{'' if counts[version] == 1 else 's'}")
    # deterministic: the same state always resolves to the same choices
    assert resolve_comparison(demo_dataset, state, DEMO_ANCHOR) == choices


def test_the_page_view_uses_the_resolved_pair(demo_dataset):
    state = FilterState(range="90d")
    view = quality_view(demo_dataset, state, today=DEMO_ANCHOR)
    choices = resolve_comparison(demo_dataset, state, DEMO_ANCHOR)
    assert view.controls == choices.controls
    assert view.comparison is not None
    assert (view.comparison.a, view.comparison.b) == (choices.version_a, choices.version_b)


# ---- the comparison in the URL ----------------------------------------------------------------


COMPARE_STATES = st.builds(
    FilterState,
    range=RANGES,
    compare=st.sampled_from(["versions", "periods"]),
    compare_experiment=st.one_of(st.none(), st.sampled_from(["e1", "e-2"])),
    compare_a=st.one_of(st.none(), st.sampled_from(["v1", "v10", "v3-unreleased"])),
    compare_b=st.one_of(st.none(), st.sampled_from(["v2", "v11"])),
)


@settings(max_examples=80, deadline=None)
@given(COMPARE_STATES)
def test_comparison_choices_round_trip_through_the_link_and_the_store(state):
    parsed, notices = parse_query(state.to_query())
    fields = ("compare", "compare_experiment", "compare_a", "compare_b")
    assert notices == []
    assert [getattr(parsed, f) for f in fields] == [getattr(state, f) for f in fields]
    stored = FilterState.from_dict(state.to_dict())
    assert [getattr(stored, f) for f in fields] == [getattr(state, f) for f in fields]
    # not filters: the same sessions, so views cached by the filters stay valid
    assert state == state.with_changes(compare_experiment="other", compare_a=None)


def test_unknown_comparison_values_in_a_link_give_a_notice():
    vocabulary = Vocabulary(experiments=frozenset({"e1"}), versions=frozenset({"v1"}))
    state, notices = parse_query(
        "?compare=sideways&compare_experiment=nope&compare_a=v1", vocabulary
    )
    assert (state.compare, state.compare_experiment, state.compare_a) == ("versions", None, "v1")
    assert len(notices) == 2 and "sideways" in notices[0] and "nope" in notices[1]
    assert "compare" not in FilterState().to_dict()  # the API's filter_state keeps its shape


def test_a_choice_in_a_control_goes_into_the_link_and_pins_the_pair():
    state = FilterState(range="30d", compare_experiment="e1", compare_a="v1", compare_b="v2")
    picked = chosen_state(state, ids.Q_EXPERIMENT, ["versions", "e2", "v1", "v2"])
    assert (picked.compare_experiment, picked.compare_a, picked.compare_b) == ("e2", None, None)
    pinned = chosen_state(FilterState(), ids.Q_VERSION_A, ["versions", "e3", "v4", "v5"])
    assert (pinned.compare_experiment, pinned.compare_a, pinned.compare_b) == ("e3", "v4", "v5")
    periods = chosen_state(state, ids.Q_MODE, ["periods", "e1", "v1", "v2"])
    assert periods.compare == "periods" and periods.compare_experiment == "e1"
    query = with_comparison_query("?range=30d&tz=UTC&compare_a=v9", pinned)
    assert query == "?range=30d&tz=UTC&compare_experiment=e3&compare_a=v4&compare_b=v5"
    assert with_comparison_query("?range=30d&compare_a=v9", FilterState()) == "?range=30d"


def test_a_link_keeps_only_the_choices_that_are_shown(demo_dataset):
    ecd = _experiment(demo_dataset, "ECD Coach - Nigeria")
    state = FilterState(teams=("maternal-helpline",), compare_experiment=ecd, compare_a="v4")
    choices = resolve_comparison(demo_dataset, state, DEMO_ANCHOR)
    settled = settled_state(state, choices)
    assert (settled.compare_experiment, settled.compare_a) == (None, None)
    kept = state.with_changes(teams=(), compare_b="v5")
    assert settled_state(kept, resolve_comparison(demo_dataset, kept, DEMO_ANCHOR)).compare_b == (
        "v5"
    )


# ---- the filter bar's version picker ----------------------------------------------------------


def test_version_picker_counts_the_selection_and_takes_the_latest(demo_dataset):
    state = FilterState(range="90d", versions=("v1",))
    picker = version_picker(demo_dataset, state, DEMO_ANCHOR)
    selection = select(demo_dataset, state.with_changes(versions=()), today=DEMO_ANCHOR)
    positions = selection.positions()
    for option in picker.options:
        row = demo_dataset.version_names.index(option["value"])
        used = int(demo_dataset.version_matrix[row][positions].sum())
        assert option["label"].endswith(f"· {used:,} session{'' if used == 1 else 's'}")
    ecd = _experiment(demo_dataset, "ECD Coach - Nigeria")
    one = version_picker(demo_dataset, FilterState(experiments=(ecd,)), DEMO_ANCHOR)
    assert one.latest == ["v5"] and "ECD Coach - Nigeria v5" in one.latest_note
    assert any("Local language greetings" in o["label"] for o in one.options)
    flw = _experiment(demo_dataset, "FLW Coaching Assistant")
    two = version_picker(demo_dataset, FilterState(experiments=(ecd, flw)), DEMO_ANCHOR)
    assert two.latest == ["v3", "v5"]
    assert "v3 is also an older version" in two.latest_note  # ECD Coach had a v3


# ---- empty states and the co-occurrence chart --------------------------------------------------


def test_an_empty_selection_reads_as_such(demo_dataset):
    nobody = FilterState(range="7d", tags=("coaching_bad", "coaching_good"), tag_mode="all")
    view = quality_view(demo_dataset, nobody, today=DEMO_ANCHOR)
    assert view.comparison is None or view.comparison.rows["n_a"].sum() == 0
    ecd = _experiment(demo_dataset, "ECD Coach - Nigeria")
    comparison = quality.compare(
        demo_dataset, FilterState(range="7d"), "versions", ecd, "v4", "v5", today=DEMO_ANCHOR
    )
    text = str(comparison_table(comparison).to_plotly_json())
    assert "no annotated sessions" in text and "(–––)" not in text and "– (" not in text
    assert any(w.startswith("No annotated sessions for v4") for w in comparison.warnings)
    assert not any("Only 0" in w for w in comparison.warnings)
    empty = quality.compare(
        demo_dataset,
        FilterState(range="7d", teams=("maternal-helpline",)),
        "versions",
        ecd,
        "v4",
        "v5",
        today=DEMO_ANCHOR,
    )
    table, warnings = comparison_parts(empty)
    assert "No sessions in this selection" in str(table.children) and warnings is None
    assert "No annotated sessions" in cooccurrence_subtitle(0)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_cooccurrence_cells_are_readable_and_the_colour_bar_clears_the_toolbar(demo_dataset, theme):
    state = FilterState(range="90d")
    view = quality_view(demo_dataset, state, today=DEMO_ANCHOR)
    figure = cooccurrence_figure(view.numbers.cooccurrence, theme, view.numbers.annotated)
    neutral, coloured = figure["data"]
    size = len(neutral["x"])
    text = np.array(neutral["text"]).reshape(size, size)
    assert all(text[i, i] != "" for i in range(size))  # the diagonal's counts are drawn …
    fill = neutral["colorscale"][0][1]
    ink = neutral["textfont"]["color"]
    assert _contrast(fill, ink) >= 4.5  # … in a colour readable on its fill
    assert np.array(coloured["text"]).reshape(size, size)[0, 0] == ""
    bar = coloured["colorbar"]
    assert bar["title"]["side"] == "right" and bar["y"] + bar["len"] <= 0.85
    assert f"among {view.numbers.annotated:,} annotated sessions" in coloured["hovertemplate"]


def _contrast(a: str, b: str) -> float:
    def luminance(color: str) -> float:
        channels = [int(color.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)
