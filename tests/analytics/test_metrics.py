"""Metric definitions (docs/ocs-api.md §9, ADR-0051) on small hand-built datasets."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from layouts.overview import format_change, format_value
from services.analytics import metrics
from services.analytics.filters import FilterState
from services.analytics.query import select, select_previous
from services.sync.records import summarise_transcript

TODAY = date(2026, 11, 22)


def sel(ds, **state):
    state.setdefault("range", "all")
    return select(ds, FilterState(**state), today=TODAY)


def custom(ds, start: str, end: str, **state):
    return sel(
        ds, range="custom", start=date.fromisoformat(start), end=date.fromisoformat(end), **state
    )


# ---- counts -------------------------------------------------------------------------------


def test_session_count_excludes_setup_and_evaluations_by_default(make_dataset):
    ds = make_dataset(
        [
            {"id": "a", "human": 1, "ai": 1},
            {"id": "b", "status": "setup"},
            {"id": "c", "platform": "evaluations", "human": 1, "ai": 1},
            {"id": "d", "status": "complete", "platform": "whatsapp"},
        ]
    )
    assert metrics.session_count(sel(ds)) == 2
    assert metrics.session_count(sel(ds, statuses=("setup",))) == 1
    assert metrics.session_count(sel(ds, platforms=("evaluations",))) == 1
    assert metrics.session_count(sel(ds, platforms=("web", "evaluations"))) == 2


def test_active_participants_distinct_team_and_identifier(make_dataset):
    ds = make_dataset(
        [
            {"id": "s1", "team": "team-a", "pid": "p1", "human": 2, "ai": 2},
            {"id": "s2", "team": "team-a", "pid": "p1", "human": 1, "ai": 1},  # same person
            {"id": "s3", "team": "team-b", "pid": "p1", "human": 1, "ai": 1},  # other team
            {"id": "s4", "team": "team-a", "pid": "p2", "human": 0, "ai": 3},  # never wrote
            {"id": "s5", "team": "team-a", "pid": "p3"},  # transcript not synced: counts
        ]
    )
    assert metrics.active_participants(sel(ds)) == 3
    assert metrics.active_participants(sel(ds, teams=("team-a",))) == 2


def test_participant_with_silent_and_active_sessions_counts_once(make_dataset):
    ds = make_dataset(
        [
            {"id": "s1", "pid": "p1", "human": 0, "ai": 1},
            {"id": "s2", "pid": "p1", "human": 3, "ai": 3},
        ]
    )
    assert metrics.active_participants(sel(ds)) == 1


def test_message_count_human_plus_ai_unknown_transcripts_add_nothing(make_dataset):
    ds = make_dataset(
        [
            {"id": "s1", "human": 2, "ai": 3},
            {"id": "s2", "human": 0, "ai": 1},
            {"id": "s3"},  # no transcript
        ]
    )
    assert metrics.message_count(sel(ds)) == 6
    assert metrics.transcript_coverage(sel(ds)) == pytest.approx(2 / 3)


def _msg(role: str, at: str, content: str = "hi there", tags=(), metadata=None) -> dict:
    return {
        "created_at": at,
        "role": role,
        "content": content,
        "metadata": metadata or {},
        "tags": list(tags),
        "attachments": [],
    }


SUMMARY_TRANSCRIPT = [
    _msg("assistant", "2026-11-10T12:00:01Z", "Hello!", ["v2"]),
    _msg("user", "2026-11-10T12:01:00Z", "It went well today"),
    _msg(
        "system",
        "2026-11-10T12:01:30Z",
        "Summary words that must not count",
        metadata={"compression_marker": "summarize"},
    ),
    _msg("assistant", "2026-11-10T12:01:30Z", "Great!", ["v3", "👍"]),
    _msg("user", "2026-11-10T12:02:00Z", "thanks"),
]


def test_summarise_transcript_excludes_system_messages():
    summary, _ = summarise_transcript({"messages": SUMMARY_TRANSCRIPT})
    assert summary["human_messages"] == 2
    assert summary["ai_messages"] == 2
    assert summary["user_words"] == 5
    assert summary["ai_words"] == 2  # "Hello!" and "Great!"; the system summary not counted
    assert summary["versions"] == ["v2", "v3"]
    assert summary["thumbs_up"] == 1
    assert summary["thumbs_down"] == 0
    assert summary["cost_usd"] is None


def test_message_count_via_transcript_excludes_system(make_dataset):
    ds = make_dataset([{"id": "s1", "messages": SUMMARY_TRANSCRIPT}])
    assert metrics.message_count(sel(ds)) == 4
    # a transcript of only a system message is not a conversation
    ds = make_dataset(
        [
            {
                "id": "s1",
                "messages": [
                    _msg("system", "2026-11-10T12:00:00Z", metadata={"compression_marker": "x"})
                ],
            }
        ]
    )
    assert metrics.message_count(sel(ds)) == 0
    assert metrics.active_participants(sel(ds)) == 0


# ---- annotations --------------------------------------------------------------------------


def test_annotation_categories_recognised_from_patterns():
    cats = metrics.annotation_categories(
        [
            "random",
            "empathy_bad",
            "safe",
            "foo_undetermined",
            "empathy_good",
            "bot_performance_good",
            "coaching_undetermined",
            "coaching_bad",
            "only_bad",
        ]
    )
    keys = [c.key for c in cats]
    assert keys == ["bot_performance", "coaching", "empathy", "only", "safe"]
    by_key = {c.key: c for c in cats}
    assert "foo" not in by_key
    assert by_key["empathy"].good == "empathy_good"
    assert by_key["empathy"].bad == "empathy_bad"
    assert by_key["empathy"].label == "Empathy"
    assert by_key["coaching"].undetermined == "coaching_undetermined"
    assert by_key["coaching"].good is None
    assert by_key["bot_performance"].label == "Bot performance"
    assert by_key["safe"].presence and by_key["safe"].tags == ("safe",)
    assert not by_key["empathy"].presence
    assert "accurate" not in by_key  # presence tags only when present
    assert metrics.annotation_categories([]) == []


ANNOTATED = [
    {"id": "s1", "tags": ["bot_performance_good", "safe"]},
    {"id": "s2", "tags": ["bot_performance_good", "bot_performance_bad", "accurate"]},
    {"id": "s3", "tags": ["bot_performance_bad", "safe"]},
    {"id": "s4", "tags": ["bot_performance_undetermined"]},
    {"id": "s5", "tags": ["bot_performance_good", "coaching_bad"]},
    {"id": "s6", "tags": ["needs_follow_up"]},  # not an annotation
    {"id": "s7", "tags": ["foo_undetermined"]},  # not a category on its own
    {"id": "s8", "tags": []},
    {"id": "s9", "tags": ["coaching_good", "empathy_good"]},
]


def test_annotated_count(make_dataset):
    ds = make_dataset(ANNOTATED)
    assert metrics.annotated_count(sel(ds)) == 6  # s1..s5, s9
    mask = metrics.annotated_mask(sel(ds))
    assert mask.dtype == bool and mask.shape == (9,)


def test_presence_tag_alone_is_annotated(make_dataset):
    ds = make_dataset([{"id": "s1", "tags": ["safe"]}, {"id": "s2", "tags": ["other"]}])
    assert metrics.annotated_count(sel(ds)) == 1
    assert metrics.rated_good(sel(ds)) == (0, 0)  # safe is not a verdict


def test_rated_good_is_good_and_no_bad(make_dataset):
    ds = make_dataset(ANNOTATED)
    good, verdicts = metrics.rated_good(sel(ds))
    # verdicts: s1, s2, s3, s5, s9 (s4 undetermined only); good and no bad: s1, s9
    assert (good, verdicts) == (2, 5)


def test_annotation_breakdown_counts_and_ci(make_dataset):
    ds = make_dataset(ANNOTATED)
    frame = metrics.annotation_breakdown(sel(ds)).set_index("category")
    assert list(frame.index) == ["bot_performance", "coaching", "empathy", "safe", "accurate"]
    bp = frame.loc["bot_performance"]
    assert (bp.good, bp.bad, bp.undetermined, bp.conflicting, bp.n) == (2, 1, 1, 1, 3)
    assert bp.rate == pytest.approx(2 / 3)
    low, high = metrics.wilson_interval(2, 3)
    assert (bp.ci_low, bp.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert bp.ci_low < bp.rate < bp.ci_high
    coaching = frame.loc["coaching"]
    assert (coaching.good, coaching.bad, coaching.n) == (1, 1, 2)
    # presence tags: n = annotated sessions, rate = share carrying the tag
    safe = frame.loc["safe"]
    assert bool(safe.presence)
    assert (safe.good, safe.n, safe.bad) == (2, 6, 4)
    assert safe.rate == pytest.approx(2 / 6)
    assert frame.loc["accurate"].good == 1


def test_annotation_breakdown_undetermined_not_counted_when_verdict_present(make_dataset):
    ds = make_dataset(
        [
            {"id": "s1", "tags": ["x_good", "x_undetermined"]},
            {"id": "s2", "tags": ["x_undetermined"]},
        ]
    )
    row = metrics.annotation_breakdown(sel(ds)).iloc[0]
    assert (row.good, row.undetermined, row.n) == (1, 1, 1)


# ---- statistics ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (0, 10, (0.0, 0.2775)),
        (10, 10, (0.7225, 1.0)),
        (5, 10, (0.2366, 0.7634)),
        (1, 1, (0.2065, 1.0)),
        (81, 263, (0.2553, 0.3662)),
    ],
)
def test_wilson_interval_known_values(k, n, expected):
    low, high = metrics.wilson_interval(k, n)
    assert low == pytest.approx(expected[0], abs=1e-4)
    assert high == pytest.approx(expected[1], abs=1e-4)


def test_wilson_interval_empty_is_nan():
    low, high = metrics.wilson_interval(0, 0)
    assert math.isnan(low) and math.isnan(high)


def test_wilson_interval_is_symmetric_and_bounded():
    for n in (1, 7, 50):
        for k in range(n + 1):
            low, high = metrics.wilson_interval(k, n)
            assert 0 <= low <= k / n + 1e-12
            assert k / n - 1e-12 <= high <= 1
            mirror = metrics.wilson_interval(n - k, n)
            assert low == pytest.approx(1 - mirror[1])


def test_ratio_and_change():
    assert math.isnan(metrics.ratio(1, 0))
    assert metrics.ratio(1, 4) == 0.25
    assert metrics.change(15, 10) == pytest.approx(0.5)
    assert metrics.change(5, 0) is None
    assert metrics.change(5, None) is None
    assert metrics.change(math.nan, 3) is None


# ---- time series --------------------------------------------------------------------------


def _ts_frame(selection) -> dict:
    frame = metrics.sessions_over_time(selection)
    return {b.date().isoformat(): int(s) for b, s in zip(frame.bucket, frame.sessions, strict=True)}


def test_sessions_over_time_day_window_boundaries_and_zero_fill(make_dataset):
    ds = make_dataset(
        [
            {"id": "before", "created": "2026-11-01T23:59:59.999999Z"},
            {"id": "at-start", "created": "2026-11-02T00:00:00Z"},
            {"id": "mid1", "created": "2026-11-04T10:00:00Z"},
            {"id": "mid2", "created": "2026-11-04T23:00:00Z"},
            {"id": "last-moment", "created": "2026-11-08T23:59:59.999999Z"},
            {"id": "at-end", "created": "2026-11-09T00:00:00Z"},
        ]
    )
    selection = custom(ds, "2026-11-02", "2026-11-08", granularity="day")
    assert metrics.session_count(selection) == 4
    assert set(ds.session_id[selection.positions()]) == {"at-start", "mid1", "mid2", "last-moment"}
    assert _ts_frame(selection) == {
        "2026-11-02": 1,
        "2026-11-03": 0,
        "2026-11-04": 2,
        "2026-11-05": 0,
        "2026-11-06": 0,
        "2026-11-07": 0,
        "2026-11-08": 1,
    }
    frame = metrics.sessions_over_time(selection)
    assert pd.api.types.is_datetime64_any_dtype(frame.bucket)


def test_sessions_over_time_weeks_start_monday(make_dataset):
    ds = make_dataset(
        [
            {"id": "wed", "created": "2026-11-04T10:00:00Z"},
            {"id": "sun", "created": "2026-11-08T10:00:00Z"},
            {"id": "mon", "created": "2026-11-09T00:00:00Z"},
            {"id": "tue", "created": "2026-11-17T10:00:00Z"},
        ]
    )
    selection = custom(ds, "2026-11-04", "2026-11-17", granularity="week")
    assert _ts_frame(selection) == {"2026-11-02": 2, "2026-11-09": 1, "2026-11-16": 1}
    for bucket in metrics.sessions_over_time(selection).bucket:
        assert bucket.weekday() == 0


def test_sessions_over_time_months_zero_filled(make_dataset):
    ds = make_dataset(
        [
            {"id": "oct", "created": "2026-10-20T10:00:00Z"},
            {"id": "dec1", "created": "2026-12-01T00:00:00Z"},
            {"id": "dec2", "created": "2026-12-05T23:00:00Z"},
        ]
    )
    selection = custom(ds, "2026-10-15", "2026-12-05", granularity="month")
    assert _ts_frame(selection) == {"2026-10-01": 1, "2026-11-01": 0, "2026-12-01": 2}


def test_sessions_over_time_all_time_spans_data(make_dataset):
    ds = make_dataset(
        [
            {"id": "a", "created": "2026-11-02T10:00:00Z"},
            {"id": "b", "created": "2026-11-05T10:00:00Z"},
        ]
    )
    selection = sel(ds, granularity="day")
    counts = _ts_frame(selection)
    assert list(counts) == ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
    assert sum(counts.values()) == 2


def test_sessions_over_time_counts_only_selected(make_dataset):
    ds = make_dataset(
        [
            {"id": "a", "created": "2026-11-02T10:00:00Z"},
            {"id": "b", "created": "2026-11-02T11:00:00Z", "status": "setup"},
            {"id": "c", "created": "2026-11-03T11:00:00Z", "team": "team-b"},
        ]
    )
    assert _ts_frame(custom(ds, "2026-11-02", "2026-11-03", granularity="day")) == {
        "2026-11-02": 1,
        "2026-11-03": 1,
    }
    assert _ts_frame(
        custom(ds, "2026-11-02", "2026-11-03", granularity="day", teams=("team-b",))
    ) == {"2026-11-02": 0, "2026-11-03": 1}


def test_auto_granularity_from_window(make_dataset):
    ds = make_dataset([{"id": "a", "created": "2026-11-02T10:00:00Z"}])
    assert custom(ds, "2026-11-01", "2026-11-30").granularity == "day"
    assert custom(ds, "2026-06-01", "2026-11-30").granularity == "week"
    assert custom(ds, "2025-06-01", "2026-11-30").granularity == "month"


# ---- breakdowns ---------------------------------------------------------------------------


def test_sessions_by_experiment_team_platform_status(make_dataset):
    ds = make_dataset(
        [
            {"id": "1", "exp": "e1", "team": "team-a", "exp_name": "Coach"},
            {"id": "2", "exp": "e1", "team": "team-a", "exp_name": "Coach"},
            {"id": "3", "exp": "e2", "team": "team-b", "exp_name": "Coach"},  # same name
            {"id": "4", "exp": "e3", "team": "team-b", "exp_name": "Zed", "platform": "whatsapp"},
            {"id": "5", "exp": "e4", "team": "team-b", "status": "setup"},  # excluded
        ]
    )
    selection = sel(ds)
    by_exp = metrics.sessions_by(selection, "experiment")
    assert list(by_exp.value) == ["e1", "e2", "e3"]
    assert list(by_exp.sessions) == [2, 1, 1]
    assert list(by_exp.label) == ["Coach (Team A)", "Coach (Team B)", "Zed"]
    assert by_exp.share.sum() == pytest.approx(1.0)
    by_team = metrics.sessions_by(selection, "team")
    assert dict(zip(by_team.value, by_team.sessions, strict=True)) == {"team-a": 2, "team-b": 2}
    assert set(by_team.label) == {"Team A", "Team B"}
    by_platform = metrics.sessions_by(selection, "platform")
    assert dict(zip(by_platform.value, by_platform.sessions, strict=True)) == {
        "web": 3,
        "whatsapp": 1,
    }
    by_status = metrics.sessions_by(selection, "status")
    assert "setup" not in set(by_status.value)


def test_tag_counts(make_dataset):
    ds = make_dataset(ANNOTATED)
    frame = metrics.tag_counts(sel(ds))
    counts = dict(zip(frame.tag, frame.sessions, strict=True))
    assert counts["bot_performance_good"] == 3
    assert counts["safe"] == 2
    assert list(frame.sessions) == sorted(frame.sessions, reverse=True)


# ---- KPIs with the previous period ----------------------------------------------------------


def _kpi_dataset(make_dataset):
    # previous window 2026-11-01..07, current 2026-11-08..14
    return make_dataset(
        [
            {"id": "p1", "created": "2026-11-02T10:00:00Z", "pid": "a", "human": 1, "ai": 1},
            {"id": "p2", "created": "2026-11-07T10:00:00Z", "pid": "b", "human": 2, "ai": 2},
            {
                "id": "c1",
                "created": "2026-11-08T00:00:00Z",
                "pid": "a",
                "human": 3,
                "ai": 3,
                "tags": ["bot_performance_good"],
            },
            {
                "id": "c2",
                "created": "2026-11-09T10:00:00Z",
                "pid": "c",
                "human": 1,
                "ai": 1,
                "tags": ["bot_performance_bad"],
            },
            {"id": "c3", "created": "2026-11-10T10:00:00Z", "pid": "c", "human": 1, "ai": 1},
            {"id": "c4", "created": "2026-11-14T23:00:00Z", "pid": "d", "human": 0, "ai": 1},
            {"id": "later", "created": "2026-11-15T00:00:00Z", "pid": "e", "human": 1, "ai": 1},
        ]
    )


def test_kpis_with_previous_period(make_dataset):
    ds = _kpi_dataset(make_dataset)
    current = custom(ds, "2026-11-08", "2026-11-14")
    previous = select_previous(ds, current)
    assert previous is not None
    assert metrics.session_count(previous) == 2
    result = {k.key: k for k in metrics.kpis(current, previous)}
    assert list(result) == [
        "sessions",
        "sessions_with_messages",
        "participants",
        "messages",
        "annotated",
        "good",
    ]

    sessions = result["sessions"]
    assert (sessions.value, sessions.previous) == (4, 2)
    assert sessions.change == pytest.approx(1.0)
    assert sessions.kind == "count"
    participants = result["participants"]
    assert (participants.value, participants.previous) == (2, 2)  # a, c (d never wrote)
    assert participants.change == pytest.approx(0.0)
    messages = result["messages"]
    assert (messages.value, messages.previous) == (11, 6)
    assert messages.change == pytest.approx(5 / 6)

    # shares: the change is a difference in points, not a relative change
    annotated = result["annotated"]
    assert annotated.kind == "share"
    assert annotated.value == pytest.approx(0.5)
    assert annotated.previous == pytest.approx(0.0)
    assert annotated.change == pytest.approx(0.5)
    good = result["good"]
    assert good.value == pytest.approx(0.5)
    assert math.isnan(good.previous)
    assert good.change is None

    assert format_value(sessions) == "4"
    assert format_change(sessions) == ("+100.0% vs previous period", "delta-up")
    assert format_value(annotated) == "50.0%"
    assert format_change(annotated) == ("+50.0 pts vs previous period", "delta-up")
    assert format_change(participants)[1] == "delta-flat"
    assert format_change(good) == ("no basis to compare", "delta-none")
    tiny = metrics.Kpi(**{**annotated.__dict__, "change": -0.0004})  # -0.04 pts prints as 0.0
    assert format_change(tiny) == ("no change vs previous period", "delta-flat")


def test_kpis_without_previous_period(make_dataset):
    ds = _kpi_dataset(make_dataset)
    selection = sel(ds)
    assert select_previous(ds, selection) is None
    result = {k.key: k for k in metrics.kpis(selection, None)}
    assert result["sessions"].value == 7
    assert all(k.previous is None and k.change is None for k in result.values())
    assert format_change(result["sessions"]) == ("no previous period", "delta-none")


def test_share_change_in_points_when_both_periods_have_values(make_dataset):
    ds = make_dataset(
        [
            {"id": "p1", "created": "2026-11-02T10:00:00Z", "tags": ["x_good"]},
            {"id": "p2", "created": "2026-11-03T10:00:00Z", "tags": ["x_bad"]},
            {"id": "p3", "created": "2026-11-03T10:00:00Z", "tags": ["x_bad"]},
            {"id": "p4", "created": "2026-11-04T10:00:00Z", "tags": ["x_good"]},
            {"id": "c1", "created": "2026-11-09T10:00:00Z", "tags": ["x_good"]},
            {"id": "c2", "created": "2026-11-10T10:00:00Z", "tags": ["x_good"]},
            {"id": "c3", "created": "2026-11-10T10:00:00Z", "tags": ["x_good"]},
            {"id": "c4", "created": "2026-11-11T10:00:00Z", "tags": ["x_bad"]},
        ]
    )
    current = custom(ds, "2026-11-08", "2026-11-14")
    good = {k.key: k for k in metrics.kpis(current, select_previous(ds, current))}["good"]
    assert (good.value, good.previous) == (pytest.approx(0.75), pytest.approx(0.5))
    assert good.change == pytest.approx(0.25)  # +25 points (relative would be +50%)
    assert format_change(good)[0] == "+25.0 pts vs previous period"


# ---- edge cases ---------------------------------------------------------------------------


def _assert_all_zero(selection):
    assert metrics.session_count(selection) == 0
    assert metrics.active_participants(selection) == 0
    assert metrics.message_count(selection) == 0
    assert metrics.annotated_count(selection) == 0
    assert metrics.rated_good(selection) == (0, 0)
    assert metrics.sessions_by(selection, "experiment").empty
    assert metrics.tag_counts(selection).empty
    breakdown = metrics.annotation_breakdown(selection)
    assert (breakdown.n == 0).all()
    assert breakdown.rate.isna().all()
    values = {k.key: k.value for k in metrics.kpis(selection, None)}
    assert values["sessions"] == 0
    assert math.isnan(values["annotated"]) and math.isnan(values["good"])


def test_empty_dataset(make_dataset):
    ds = make_dataset([])
    assert ds.n == 0
    _assert_all_zero(sel(ds))
    assert metrics.sessions_over_time(sel(ds)).empty
    frame = metrics.sessions_over_time(custom(ds, "2026-11-01", "2026-11-03", granularity="day"))
    assert list(frame.sessions) == [0, 0, 0]
    assert metrics.table_order(sel(ds)).size == 0


def test_everything_filtered_out(make_dataset):
    ds = make_dataset(ANNOTATED)
    selection = sel(ds, experiments=("no-such-experiment",))
    _assert_all_zero(selection)
    assert sum(_ts_frame(selection).values()) == 0
    assert metrics.table_order(selection).size == 0
    assert len(metrics.session_rows(selection, metrics.table_order(selection))) == 0


def test_one_session(make_dataset):
    ds = make_dataset(
        [
            {
                "id": "only",
                "created": "2026-11-20T08:30:00Z",
                "human": 2,
                "ai": 3,
                "tags": ["bot_performance_good", "safe"],
                "versions": ["v2"],
                "cost": 0.0123,
            }
        ]
    )
    selection = sel(ds)
    assert metrics.session_count(selection) == 1
    assert metrics.active_participants(selection) == 1
    assert metrics.message_count(selection) == 5
    assert metrics.annotated_count(selection) == 1
    assert metrics.rated_good(selection) == (1, 1)
    assert _ts_frame(selection) == {"2026-11-20": 1}
    rows = metrics.session_rows(selection, metrics.table_order(selection), "https://ocs.invalid")
    assert list(rows.columns) == [*metrics.TABLE_COLUMNS, "link"]
    row = rows.iloc[0]
    assert row.session_id == "only"
    assert row.messages == 5
    assert row.versions == "v2"
    assert row.cost_usd == pytest.approx(0.0123)
    assert row.link == "https://ocs.invalid/a/team-a/experiments/e/exp-1/s/only/view/"
    assert row.participant == "••"  # identifiers are masked


def test_table_order_sorts(make_dataset):
    ds = make_dataset(
        [
            {"id": "a", "created": "2026-11-01T10:00:00Z", "human": 5, "ai": 5, "cost": 0.5},
            {"id": "b", "created": "2026-11-02T10:00:00Z", "human": 1, "ai": 1, "cost": 0.1},
            {"id": "c", "created": "2026-11-03T10:00:00Z"},  # unknown transcript sorts lowest
        ]
    )
    selection = sel(ds)
    ids = ds.session_id
    assert list(ids[metrics.table_order(selection)]) == ["c", "b", "a"]
    assert list(ids[metrics.table_order(selection, "created_at", False)]) == ["a", "b", "c"]
    assert list(ids[metrics.table_order(selection, "messages")]) == ["a", "b", "c"]
    assert list(ids[metrics.table_order(selection, "messages", False)]) == ["c", "b", "a"]
    assert list(ids[metrics.table_order(selection, "cost_usd")]) == ["a", "b", "c"]
    assert np.array_equal(np.sort(metrics.table_order(selection, "unknown")), selection.positions())


def test_mask_identifier():
    assert metrics.mask_identifier("") == ""
    assert metrics.mask_identifier("abcd") == "••••"
    masked = metrics.mask_identifier("+2348012345678")
    assert masked.startswith("+2") and masked.endswith("78") and "801234" not in masked


# ---- sessions with messages (issue #17) -------------------------------------------------------


def test_sessions_with_messages_counts_synced_sessions_with_a_participant_or_bot_message():
    from tests.conftest import build_dataset

    dataset = build_dataset(
        [
            {"id": "talk", "human": 3, "ai": 3},
            {"id": "bot-only", "human": 0, "ai": 1},  # a greeting nobody answered
            {"id": "empty", "human": 0, "ai": 0},
            {"id": "unsynced"},  # transcript not synced: cannot tell, not counted
        ]
    )
    selection = select(dataset, FilterState(range="all"))
    assert metrics.sessions_with_messages(selection) == 2
    kpi = {k.key: k for k in metrics.kpis(selection, None)}["sessions_with_messages"]
    assert (kpi.value, kpi.kind, kpi.label) == (2, "count", "Sessions with messages")
    assert "not synced" in kpi.help
