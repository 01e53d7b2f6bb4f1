"""Filter semantics of services.analytics.query, and the fast path against a naive pandas version."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import metrics
from services.analytics.filters import (
    GRANULARITIES,
    RANGE_CHOICES,
    TAG_MODES,
    UNTAGGED,
    FilterState,
    window,
)
from services.analytics.query import data_as_of_ns, select, select_previous
from tests.conftest import DEMO_ANCHOR

TODAY = date(2026, 11, 22)


def ids(ds, **state) -> set[str]:
    state.setdefault("range", "all")
    selection = select(ds, FilterState(**state), today=TODAY)
    found = set(ds.session_id[selection.positions()])
    assert selection.n == len(found)
    return found


# ---- semantics on hand-built data -----------------------------------------------------------


@pytest.fixture
def teams_ds(make_dataset):
    return make_dataset(
        [
            {"id": "a1", "team": "team-a", "exp": "ea", "platform": "web"},
            {"id": "a2", "team": "team-a", "exp": "ea", "platform": "whatsapp"},
            {"id": "b1", "team": "team-b", "exp": "eb", "platform": "web"},
            {"id": "c1", "team": "team-c", "exp": "ec", "platform": "telegram"},
            {"id": "eval", "team": "team-a", "exp": "ea", "platform": "evaluations"},
            {"id": "setup", "team": "team-a", "exp": "ea", "status": "setup"},
            {
                "id": "both",
                "team": "team-b",
                "exp": "eb",
                "platform": "evaluations",
                "status": "setup",
            },
        ]
    )


def test_or_within_a_filter(teams_ds):
    assert ids(teams_ds, teams=("team-a",)) == {"a1", "a2"}
    assert ids(teams_ds, teams=("team-a", "team-b")) == {"a1", "a2", "b1"}
    assert ids(teams_ds, experiments=("eb", "ec")) == {"b1", "c1"}
    assert ids(teams_ds, platforms=("web", "telegram")) == {"a1", "b1", "c1"}


def test_and_across_filters(teams_ds):
    assert ids(teams_ds, teams=("team-a",), experiments=("eb",)) == set()
    assert ids(teams_ds, teams=("team-a", "team-b"), platforms=("web",)) == {"a1", "b1"}
    assert ids(teams_ds, teams=("team-a",), platforms=("web",), experiments=("ea",)) == {"a1"}


def test_unknown_filter_values_match_nothing(teams_ds):
    assert ids(teams_ds, teams=("nope",)) == set()
    assert ids(teams_ds, teams=("nope", "team-c")) == {"c1"}


def test_default_exclusions_unless_chosen(teams_ds):
    assert ids(teams_ds) == {"a1", "a2", "b1", "c1"}
    assert ids(teams_ds, platforms=("evaluations",)) == {"eval"}  # setup still excluded
    assert ids(teams_ds, statuses=("setup",)) == {"setup"}  # evaluations still excluded
    assert ids(teams_ds, platforms=("evaluations",), statuses=("setup",)) == {"both"}
    assert ids(teams_ds, statuses=("active", "setup")) == {"a1", "a2", "b1", "c1", "setup"}


@pytest.fixture
def tags_ds(make_dataset):
    return make_dataset(
        [
            {"id": "x", "tags": ["x"], "versions": ["v1"], "human": 1, "ai": 1},
            {"id": "y", "tags": ["y"], "versions": ["v1", "v2"], "human": 1, "ai": 2},
            {"id": "xy", "tags": ["x", "y"], "versions": ["v2-unreleased"], "human": 1, "ai": 1},
            {"id": "none", "tags": [], "versions": [], "human": 1, "ai": 0},
            {"id": "unsynced", "tags": []},
        ]
    )


def test_tags_any_all_untagged(tags_ds):
    assert ids(tags_ds, tags=("x",)) == {"x", "xy"}
    assert ids(tags_ds, tags=("x", "y")) == {"x", "y", "xy"}
    assert ids(tags_ds, tags=("x", "y"), tag_mode="all") == {"xy"}
    assert ids(tags_ds, tags=(UNTAGGED,)) == {"none", "unsynced"}
    assert ids(tags_ds, tags=("x", UNTAGGED)) == {"x", "xy", "none", "unsynced"}
    assert ids(tags_ds, tags=("x", UNTAGGED), tag_mode="all") == set()
    assert ids(tags_ds, tags=("ghost",)) == set()
    assert ids(tags_ds, tags=("x", "ghost")) == {"x", "xy"}
    assert ids(tags_ds, tags=("x", "ghost"), tag_mode="all") == set()
    assert ids(tags_ds, tag_mode="all") == {"x", "y", "xy", "none", "unsynced"}


def test_untagged_when_no_tags_exist_at_all(make_dataset):
    ds = make_dataset([{"id": "a"}, {"id": "b"}])
    assert ids(ds, tags=(UNTAGGED,)) == {"a", "b"}
    assert ids(ds, tags=("x",)) == set()


def test_versions_any_chosen(tags_ds):
    assert ids(tags_ds, versions=("v1",)) == {"x", "y"}
    assert ids(tags_ds, versions=("v2",)) == {"y"}
    assert ids(tags_ds, versions=("v2", "v2-unreleased")) == {"y", "xy"}
    assert ids(tags_ds, versions=("v9",)) == set()
    assert ids(tags_ds, versions=("v9", "v2")) == {"y"}
    assert tags_ds.version_names == ["v1", "v2", "v2-unreleased"]


def test_first_and_last_version(tags_ds):
    by_id = dict(zip(tags_ds.session_id, range(tags_ds.n), strict=True))
    names = tags_ds.version_names
    assert names[tags_ds.first_version[by_id["y"]]] == "v1"
    assert names[tags_ds.last_version[by_id["y"]]] == "v2"
    assert tags_ds.first_version[by_id["none"]] == -1
    assert tags_ds.last_version[by_id["unsynced"]] == -1


def test_date_window_slices_time_sorted_rows(make_dataset):
    ds = make_dataset(
        [
            {"id": "late", "created": "2026-11-20T10:00:00Z"},
            {"id": "early", "created": "2026-11-01T10:00:00Z"},
            {"id": "mid", "created": "2026-11-10T10:00:00Z"},
        ]
    )
    assert list(ds.session_id) == ["early", "mid", "late"]
    assert np.all(np.diff(ds.created_ns) >= 0)
    selection = select(ds, FilterState(range="7d"), today=TODAY)
    assert list(ds.session_id[selection.positions()]) == ["late"]
    selection = select(
        ds,
        FilterState(range="custom", start=date(2026, 11, 2), end=date(2026, 11, 20)),
        today=TODAY,
    )
    assert (selection.lo, selection.hi) == (1, 3)
    assert list(ds.session_id[selection.positions()]) == ["mid", "late"]
    # the data reaches 2026-11-20 10:00 (the newest session; no sync time): the previous
    # window is cut at the same point of its span, like for like
    previous = select_previous(ds, selection)
    assert list(ds.session_id[previous.positions()]) == ["early"]  # 2026-10-14 .. 11-01 10:00
    assert previous.start_ns == selection.start_ns - (selection.end_ns - selection.start_ns)
    as_of = data_as_of_ns(ds)
    assert as_of == ds.data_end_ns + 1
    assert previous.end_ns - previous.start_ns == as_of - selection.start_ns
    # synced after the window ended: the whole window against the whole previous one
    ds.meta["synced_at"] = (selection.end_ns + 3600 * 10**9) / 1e9
    previous = select_previous(ds, selection)
    assert previous.end_ns == selection.start_ns
    assert previous.end_ns - previous.start_ns == selection.end_ns - selection.start_ns


def test_auto_granularity_all_time_follows_data(make_dataset):
    short = make_dataset([{"id": "a", "created": "2026-11-01T10:00:00Z"}])
    assert select(short, FilterState(range="all"), today=TODAY).granularity == "day"
    long = make_dataset(
        [
            {"id": "a", "created": "2025-01-01T10:00:00Z"},
            {"id": "b", "created": "2026-11-01T10:00:00Z"},
        ]
    )
    assert select(long, FilterState(range="all"), today=TODAY).granularity == "month"
    assert (
        select(long, FilterState(range="all", granularity="day"), today=TODAY).granularity == "day"
    )


# ---- fast path == naive pandas ------------------------------------------------------------


@pytest.fixture(scope="module")
def naive_frame(demo_tables) -> pd.DataFrame:
    """The demo sessions as a plain, shuffled DataFrame (no codes, no sorting)."""
    frame = demo_tables.sessions.to_pandas()
    frame = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    frame["tag_set"] = [set(t) for t in frame["tags"]]
    frame["version_set"] = [set(v) for v in frame["versions"]]
    frame["created_ns"] = frame["created_at"].astype("int64")
    return frame


def naive_mask(frame: pd.DataFrame, state: FilterState, today: date) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    start, end = window(state, today)
    if start is not None:
        mask &= frame["created_ns"] >= start
    if end is not None:
        mask &= frame["created_ns"] < end
    if state.teams:
        mask &= frame["team_slug"].isin(state.teams)
    if state.experiments:
        mask &= frame["experiment_id"].isin(state.experiments)
    if state.platforms:
        mask &= frame["platform"].isin(state.platforms)
    else:
        mask &= frame["platform"] != "evaluations"
    if state.statuses:
        mask &= frame["status"].isin(state.statuses)
    else:
        mask &= frame["status"] != "setup"
    if state.tags:

        def has(tags: set, tag: str) -> bool:
            return not tags if tag == UNTAGGED else tag in tags

        combine = all if state.tag_mode == "all" else any
        mask &= frame["tag_set"].map(lambda tags: combine(has(tags, t) for t in state.tags))
    if state.versions:
        chosen = set(state.versions)
        mask &= frame["version_set"].map(lambda versions: bool(versions & chosen))
    return mask


def naive_bucket(created: pd.Series, granularity: str) -> pd.Series:
    day = created.dt.tz_convert(None).dt.floor("D")
    if granularity == "week":
        return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    if granularity == "month":
        return day.dt.to_period("M").dt.start_time
    return day


@st.composite
def demo_states(draw, ds) -> FilterState:
    def subset(values, extra=()):
        return tuple(draw(st.lists(st.sampled_from([*values, *extra]), max_size=3, unique=True)))

    range_ = draw(st.sampled_from(RANGE_CHOICES))
    start = end = None
    if range_ == "custom":
        bound = st.none() | st.dates(DEMO_ANCHOR - timedelta(days=400), DEMO_ANCHOR + timedelta(5))
        start, end = draw(bound), draw(bound)
        if start and end and end < start:
            start, end = end, start
    tag_pick = draw(st.sampled_from(["none", "some"]))
    return FilterState(
        range=range_,
        start=start,
        end=end,
        teams=subset(ds.teams, ["no-team"]) if draw(st.booleans()) else (),
        experiments=subset(ds.experiments) if draw(st.booleans()) else (),
        platforms=subset(ds.platforms) if draw(st.booleans()) else (),
        statuses=subset(ds.statuses) if draw(st.booleans()) else (),
        tags=subset(ds.tag_names, [UNTAGGED, "ghost"]) if tag_pick == "some" else (),
        tag_mode=draw(st.sampled_from(TAG_MODES)),
        versions=subset(ds.version_names, ["v99"]) if draw(st.integers(0, 3)) == 0 else (),
        granularity=draw(st.sampled_from(GRANULARITIES)),
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fast_path_equals_naive_pandas(demo_dataset, naive_frame, data):
    ds = demo_dataset
    state = data.draw(demo_states(ds))
    selection = select(ds, state, today=DEMO_ANCHOR)
    chosen = naive_frame[naive_mask(naive_frame, state, DEMO_ANCHOR)]

    assert metrics.session_count(selection) == len(chosen)
    assert set(ds.session_id[selection.positions()]) == set(chosen["session_id"])

    by_exp = metrics.sessions_by(selection, "experiment")
    assert dict(zip(by_exp["value"], by_exp["sessions"], strict=True)) == (
        chosen["experiment_id"].value_counts().to_dict()
    )
    by_team = metrics.sessions_by(selection, "team")
    assert dict(zip(by_team["value"], by_team["sessions"], strict=True)) == (
        chosen["team_slug"].value_counts().to_dict()
    )

    over_time = metrics.sessions_over_time(selection)
    assert int(over_time["sessions"].sum()) == len(chosen)
    fast = {b: int(s) for b, s in zip(over_time["bucket"], over_time["sessions"], strict=True) if s}
    naive = naive_bucket(chosen["created_at"], selection.granularity).value_counts().to_dict()
    assert fast == {pd.Timestamp(k): v for k, v in naive.items()}

    engaged = chosen[~(chosen["human_messages"] == 0)]
    participants = set(zip(engaged["team_slug"], engaged["participant_identifier"], strict=True))
    assert metrics.active_participants(selection) == len(participants)
    assert metrics.message_count(selection) == int(
        chosen["human_messages"].fillna(0).sum() + chosen["ai_messages"].fillna(0).sum()
    )

    naive_annotated = chosen["tag_set"].map(
        lambda tags: bool(tags & set(metrics.annotation_tags(ds.tag_names)))
    )
    assert metrics.annotated_count(selection) == int(naive_annotated.sum())


def test_naive_and_fast_agree_on_defaults(demo_dataset, naive_frame):
    """A fixed case, so a broken comparison cannot pass by selecting nothing."""
    state = FilterState(range="90d")
    selection = select(demo_dataset, state, today=DEMO_ANCHOR)
    chosen = naive_frame[naive_mask(naive_frame, state, DEMO_ANCHOR)]
    assert 200 < len(chosen) == selection.n < demo_dataset.n
    evaluations = select(demo_dataset, FilterState(range="all", platforms=("evaluations",)))
    assert evaluations.n > 0
