"""Engagement, cost and anomaly metrics on hand-built sessions with known answers; the
Engagement and Cost callbacks called directly."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from dash import no_update

from callbacks.cost import render_cost, update_cost
from callbacks.engagement import render_engagement, update_engagement
from layouts.cost import coverage_note
from services.analytics import anomalies, cost, engagement
from services.analytics.filters import FilterState
from services.analytics.metrics import wilson_interval
from services.analytics.query import select
from services.store.dataset import Dataset
from services.store.tables import build_tables
from services.sync.records import parse_session
from services.views.charts import base as figures
from services.views.charts.engagement import NO_TRANSCRIPTS
from tests.conftest import DEMO_ANCHOR, build_dataset, session_record

TODAY = date(2026, 11, 22)
ALL = FilterState(range="all")


def sel_of(ds, state=ALL, today=TODAY):
    return select(ds, state, today=today)


def iso(day: date, hour: int = 12) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


# ---- transcript depth -----------------------------------------------------------------------


@pytest.fixture
def small():
    return build_dataset(
        [
            {"id": "s1", "pid": "p1", "human": 2, "ai": 2, "words": 10, "duration_s": 30},
            {"id": "s2", "pid": "p1", "human": 1, "ai": 1, "words": 3, "duration_s": 90},
            {"id": "s3", "pid": "p2", "human": 5, "ai": 4, "words": 50, "duration_s": 600},
            {"id": "s4", "pid": "p3", "human": 0, "ai": 1, "words": 0, "duration_s": 0},
            {"id": "s5", "pid": "p4"},  # transcript not synced
        ]
    )


def test_messages_per_session(small):
    dist = engagement.messages_per_session(sel_of(small))
    # 4, 2, 9, 1 (the unsynced session is not in the base)
    assert dist.n == 4
    assert dist.median == 3.0
    assert dist.mean == pytest.approx(4.0)
    hist = dist.histogram.set_index("bin")["sessions"]
    assert hist["1"] == hist["2"] == hist["4"] == hist["9"] == 1
    assert hist.sum() == 4


def test_words_per_user_message_only_sessions_with_a_participant_message(small):
    dist = engagement.words_per_user_message(sel_of(small))
    # 10/2 = 5, 3/1 = 3, 50/5 = 10; s4 (no participant message) and s5 (unsynced) left out
    assert dist.n == 3
    assert dist.median == 5.0
    hist = dist.histogram.set_index("bin")["sessions"]
    assert hist["2–4"] == 1 and hist["4–6"] == 1 and hist["10–15"] == 1


def test_session_duration_in_minutes_with_log_bins(small):
    dist = engagement.session_duration(sel_of(small))
    assert dist.n == 4  # 0, 0.5, 1.5, 10 minutes
    assert dist.median == pytest.approx(1.0)
    hist = dist.histogram.set_index("bin")["sessions"]
    assert hist["<1 min"] == 2 and hist["1–2 min"] == 1 and hist["10–15 min"] == 1
    assert list(dist.histogram["bin"])[-1] == "1 day+"


def test_turn_dropoff_curve(small):
    frame = engagement.turn_dropoff(sel_of(small)).set_index("turn")
    # turns of the 4 synced sessions: 2, 1, 5, 0
    assert frame.loc[1, "still_going"] == pytest.approx(3 / 4)
    assert frame.loc[2, "still_going"] == pytest.approx(2 / 4)
    assert frame.loc[3, "still_going"] == pytest.approx(1 / 4)
    assert frame.loc[5, "still_going"] == pytest.approx(1 / 4)
    assert frame.loc[1, "ended_here"] == pytest.approx(1 / 4)
    assert frame.loc[2, "ended_here"] == pytest.approx(1 / 4)
    assert frame.loc[3, "ended_here"] == 0
    assert frame["still_going"].is_monotonic_decreasing


def test_ratings_rate_with_wilson_interval_and_rated_share():
    ds = build_dataset(
        [
            {"id": "s1", "human": 3, "ai": 3, "up": 3, "down": 1},
            {"id": "s2", "human": 1, "ai": 1},
            {"id": "s3"},
        ]
    )
    r = engagement.ratings(sel_of(ds))
    assert (r.up, r.down) == (3, 1)
    assert r.rate == 0.75
    assert (r.ci_low, r.ci_high) == pytest.approx(wilson_interval(3, 4))
    assert (r.rated_sessions, r.transcript_sessions, r.rated_share) == (1, 2, 0.5)


def test_active_participants_over_time_counts_each_participant_once_per_bucket():
    d1, d2 = date(2026, 11, 2), date(2026, 11, 3)
    ds = build_dataset(
        [
            {"id": "a", "pid": "p1", "created": iso(d1, 9), "human": 1, "ai": 1},
            {"id": "b", "pid": "p1", "created": iso(d1, 10), "human": 1, "ai": 1},
            {"id": "c", "pid": "p2", "created": iso(d1, 11), "human": 1, "ai": 1},
            {"id": "d", "pid": "p1", "created": iso(d2, 9), "human": 2, "ai": 2},
            {"id": "e", "pid": "p3", "created": iso(d2, 9), "human": 0, "ai": 1},  # silent
            {"id": "f", "pid": "p4", "created": iso(d2, 9)},  # unsynced: counts
        ]
    )
    state = FilterState(range="custom", start=d1, end=d2 + timedelta(days=1))
    frame = engagement.active_participants_over_time(sel_of(ds, state))
    assert frame["participants"].tolist() == [2, 2, 0]
    week = engagement.active_participants_over_time(
        sel_of(ds, state.with_changes(granularity="week"))
    )
    assert week["participants"].tolist() == [3]


def test_sessions_per_participant(small):
    dist = engagement.sessions_per_participant(sel_of(small))
    assert dist.n == 4  # p1 has 2 sessions, p2, p3, p4 one each
    hist = dist.histogram.set_index("bin")["participants"]
    assert hist["1"] == 3 and hist["2"] == 1 and hist.sum() == 4
    assert dist.median == 1.0


def test_words_per_bot_message_only_sessions_with_counted_bot_words():
    ds = build_dataset(
        [
            {"id": "b1", "human": 1, "ai": 2, "words": 4, "bot_words": 30},
            {"id": "b2", "human": 1, "ai": 1, "words": 4, "bot_words": 9},
            {"id": "b3", "human": 1, "ai": 0, "words": 4, "bot_words": 0},  # no bot message
            {"id": "b4", "human": 2, "ai": 4, "words": 4, "bot_words": None},  # not counted yet
            {"id": "b5"},  # transcript not synced
        ]
    )
    dist = engagement.words_per_bot_message(sel_of(ds))
    assert dist.n == 2 and dist.median == 12.0 and dist.mean == 12.0  # 15 and 9
    assert engagement.words_per_user_message(sel_of(ds)).n == 4


def test_empty_selection_and_one_session(small):
    empty = sel_of(small, FilterState(range="all", experiments=("nope",)))
    assert empty.n == 0
    for fn in (
        engagement.messages_per_session,
        engagement.words_per_user_message,
        engagement.words_per_bot_message,
        engagement.session_duration,
        engagement.sessions_per_participant,
    ):
        dist = fn(empty)
        assert dist.n == 0 and math.isnan(dist.median) and math.isnan(dist.mean)
    assert engagement.turn_dropoff(empty).empty
    assert engagement.retention_cohorts(empty).empty
    assert math.isnan(engagement.ratings(empty).rate)
    assert cost.cost_by_model(empty).empty and cost.cost_by_experiment(empty).empty
    assert cost.cost_summary(empty).total == 0
    assert anomalies.anomalies(empty, TODAY).empty

    one = build_dataset([{"id": "s1", "human": 3, "ai": 3, "words": 12, "duration_s": 120}])
    sel = sel_of(one)
    assert engagement.messages_per_session(sel).median == 6
    assert engagement.words_per_user_message(sel).median == 4
    assert engagement.session_duration(sel).median == 2
    assert engagement.turn_dropoff(sel)["still_going"].tolist() == [1.0, 1.0, 1.0]
    cohorts = engagement.retention_cohorts(sel)
    assert cohorts["size"].tolist() == [1] and cohorts["week_0"].tolist() == [1.0]
    assert anomalies.anomalies(sel, TODAY).empty


def test_no_transcripts_synced_gives_nan_and_the_empty_state():
    ds = build_dataset([{"id": "s1"}, {"id": "s2"}])
    sel = sel_of(ds)
    assert engagement.transcript_sessions(sel) == 0
    assert engagement.messages_per_session(sel).n == 0
    assert engagement.turn_dropoff(sel).empty
    out = render_engagement(ALL.to_dict(), False, dataset=ds)
    texts = [
        a["text"]
        for fig in out
        if isinstance(fig, dict) and "layout" in fig
        for a in fig["layout"].get("annotations", ())
    ]
    assert NO_TRANSCRIPTS in texts
    summary = cost.cost_summary(sel)
    assert (summary.known, summary.sessions, summary.coverage) == (0, 2, 0.0)


# ---- retention cohorts ----------------------------------------------------------------------


def test_retention_cohorts_known_answer():
    nov = lambda d: iso(date(2026, 11, d))  # noqa: E731
    ds = build_dataset(
        [
            # 'old' came before the window: returning, not in any cohort
            {"id": "o1", "pid": "old", "created": iso(date(2026, 10, 20))},
            {"id": "o2", "pid": "old", "created": nov(3)},
            # cohort of Mon 2 Nov: a and b
            {"id": "a1", "pid": "a", "created": nov(3)},
            {"id": "a2", "pid": "a", "created": nov(10)},  # +1 week
            {"id": "a3", "pid": "a", "created": nov(24)},  # +3 weeks
            {"id": "b1", "pid": "b", "created": nov(4)},
            # cohort of Mon 9 Nov: c
            {"id": "c1", "pid": "c", "created": nov(12)},
            {"id": "c2", "pid": "c", "created": nov(13)},  # same week
            {"id": "c3", "pid": "c", "created": nov(17)},  # +1 week
            # d used exp-2 before the window, exp-1 first inside it
            {"id": "d1", "pid": "d", "exp": "exp-2", "created": iso(date(2026, 10, 21))},
            {"id": "d2", "pid": "d", "created": nov(5)},
        ]
    )
    state = FilterState(range="custom", start=date(2026, 11, 2), end=date(2026, 11, 29))
    frame = engagement.retention_cohorts(sel_of(ds, state), max_weeks=4)
    assert frame["cohort"].dt.strftime("%Y-%m-%d").tolist() == ["2026-11-02", "2026-11-09"]
    assert frame["size"].tolist() == [2, 1]
    first = frame.iloc[0]
    assert [first[f"week_{k}"] for k in range(4)] == [1.0, 0.5, 0.0, 0.5]
    assert math.isnan(first["week_4"])  # week of 30 Nov is after the window
    second = frame.iloc[1]
    assert [second[f"week_{k}"] for k in range(3)] == [1.0, 1.0, 0.0]
    assert math.isnan(second["week_3"])

    # under an experiment filter, d is new to exp-1 and joins the first cohort
    only_exp1 = engagement.retention_cohorts(
        sel_of(ds, state.with_changes(experiments=("exp-1",))), max_weeks=4
    )
    assert only_exp1["size"].tolist() == [3, 1]


def test_retention_on_demo_is_bounded(demo_dataset):
    sel = sel_of(demo_dataset, FilterState(range="365d"), DEMO_ANCHOR)
    frame = engagement.retention_cohorts(sel)
    shares = frame.filter(like="week_").to_numpy(dtype=float)
    assert (frame["week_0"] == 1.0).all()
    assert np.nanmax(shares) <= 1.0 and np.nanmin(shares) >= 0.0
    assert frame["size"].sum() <= demo_dataset.n_participants


# ---- cost -----------------------------------------------------------------------------------


def costed_dataset() -> Dataset:
    specs = [
        ("s1", "exp-1", 0.6, [("gpt-4o", 0.5, 1000), ("gpt-4o-mini", 0.1, 2000)]),
        ("s2", "exp-1", 1.0, [("gpt-4o", 1.0, 2500)]),
        ("s3", "exp-2", 2.0, [("gpt-4o-mini", 2.0, 9000)]),
        ("s4", "exp-2", None, []),  # transcript not synced
    ]
    rows, transcripts, cost_rows = [], {}, {}
    for i, (sid, exp, total, models) in enumerate(specs):
        row = parse_session(session_record(sid, created=iso(date(2026, 11, 10), 8 + i), exp=exp))
        rows.append(row)
        if total is not None:
            created = row["created_at"]
            transcripts[sid] = {
                "human_messages": 1,
                "ai_messages": 1,
                "first_message_at": created,
                "last_message_at": created,
                "user_words": 3,
                "versions": [],
                "thumbs_up": 0,
                "thumbs_down": 0,
                "cost_usd": total,
            }
            cost_rows[sid] = [{"model": m, "cost_usd": c, "tokens": t} for m, c, t in models]
    return Dataset.from_tables(build_tables(rows, transcripts, cost_rows), 1)


def test_cost_summary_counts_only_known_costs():
    s = cost.cost_summary(sel_of(costed_dataset()))
    assert s.total == pytest.approx(3.6)
    assert (s.known, s.sessions) == (3, 4)
    assert s.coverage == 0.75
    assert s.mean == pytest.approx(1.2) and s.median == pytest.approx(1.0)
    assert "3 of 4" in coverage_note(s)


def test_cost_by_model_joins_selected_sessions():
    ds = costed_dataset()
    frame = cost.cost_by_model(sel_of(ds)).set_index("model")
    assert frame.loc["gpt-4o", "cost_usd"] == pytest.approx(1.5)
    assert frame.loc["gpt-4o-mini", "cost_usd"] == pytest.approx(2.1)
    assert frame.loc["gpt-4o", "sessions"] == 2 and frame.loc["gpt-4o-mini", "sessions"] == 2
    assert frame.loc["gpt-4o", "tokens"] == 3500
    only = cost.cost_by_model(sel_of(ds, FilterState(range="all", experiments=("exp-1",))))
    assert only.set_index("model")["cost_usd"].to_dict() == pytest.approx(
        {"gpt-4o": 1.5, "gpt-4o-mini": 0.1}
    )
    by_exp = cost.cost_by_experiment(sel_of(ds)).set_index("value")
    assert by_exp.loc["exp-2", "cost_usd"] == pytest.approx(2.0)
    assert by_exp.loc["exp-2", "coverage"] == 0.5


@pytest.mark.parametrize(
    "state",
    [
        FilterState(range="365d"),
        FilterState(range="30d", granularity="week"),
        FilterState(range="all", tags=("coaching_good",)),
        FilterState(range="90d", platforms=("whatsapp", "web")),
    ],
)
def test_cost_by_model_equals_sum_of_session_costs(demo_dataset, state):
    sel = sel_of(demo_dataset, state, DEMO_ANCHOR)
    assert sel.n > 0
    by_model = cost.cost_by_model(sel)
    total = cost.cost_summary(sel).total
    assert by_model["cost_usd"].sum() == pytest.approx(total, rel=1e-9)
    assert cost.cost_over_time(sel)["cost_usd"].sum() == pytest.approx(total, rel=1e-9)
    assert cost.cost_by_experiment(sel)["cost_usd"].sum() == pytest.approx(total, rel=1e-9)


@pytest.mark.parametrize(
    ("percent", "colour"),
    [(69, "success"), (70, "warning"), (90, "warning"), (91, "danger")],
)
def test_budget_colours(percent, colour):
    assert cost.budget_colour(percent / 100) == colour
    ds = build_dataset(
        [
            {"id": "now", "created": iso(date(2026, 11, 3)), "human": 1, "ai": 1, "cost": percent},
            {"id": "oct", "created": iso(date(2026, 10, 30)), "human": 1, "ai": 1, "cost": 500},
        ]
    )
    budget = cost.monthly_budget(ds, 100.0, today=date(2026, 11, 15))
    assert budget.colour == colour
    assert budget.spent_usd == pytest.approx(percent)  # October is not this month
    assert budget.projected_usd == pytest.approx(percent / 15 * 30)
    assert (budget.elapsed_days, budget.days_in_month) == (15, 30)


def test_no_budget_when_not_configured(small):
    assert cost.monthly_budget(small, 0.0, TODAY) is None


# ---- anomalies ------------------------------------------------------------------------------


def volume_dataset(spike_day: date | None, spike: int = 120, bad_day: date | None = None):
    """10 weeks ending 2026-11-21: 40 sessions on weekdays, 15 on weekends (±10%), 16 of every
    20 verdicts good."""
    rng = np.random.default_rng(3)
    specs = []
    start = date(2026, 9, 14)
    for offset in range(69):
        day = start + timedelta(days=offset)
        base = 15 if day.weekday() >= 5 else 40
        n = spike if day == spike_day else round(base * rng.uniform(0.9, 1.1))
        for i in range(n):
            if day == bad_day and i < 20:
                tags = ["coaching_bad"]
            else:
                tags = ["coaching_good" if i % 5 else "coaching_bad"] if i < 20 else []
            specs.append(
                {
                    "id": f"{day.isoformat()}-{i}",
                    "pid": f"p{i % 30}",
                    "created": f"{day.isoformat()}T{8 + i % 12:02d}:{i % 60:02d}:00Z",
                    "tags": tags,
                }
            )
    return build_dataset(specs)


def test_anomalies_flag_a_spike_but_not_weekend_dips():
    spike_day = date(2026, 11, 17)  # a Tuesday
    ds = volume_dataset(spike_day)
    state = FilterState(range="custom", start=date(2026, 10, 19), end=date(2026, 11, 21))
    flags = anomalies.anomalies(sel_of(ds, state), today=date(2026, 11, 22))
    sessions = flags[flags["metric"] == "sessions"]
    assert sessions["day"].dt.date.tolist() == [spike_day]
    row = sessions.iloc[0]
    assert row.direction == "up" and row.value == 120 and row.low <= 40 <= row.high
    assert list(flags.columns) == anomalies.COLUMNS
    # the same data without the spike: weekends are quieter, and nothing is flagged
    calm = volume_dataset(None)
    assert anomalies.anomalies(sel_of(calm, state), today=date(2026, 11, 22)).empty


def test_anomalies_flag_a_good_rate_drop_and_never_today():
    bad_day = date(2026, 11, 18)
    ds = volume_dataset(None, bad_day=bad_day)
    state = FilterState(range="custom", start=date(2026, 10, 19), end=date(2026, 11, 21))
    flags = anomalies.anomalies(sel_of(ds, state), today=date(2026, 11, 22))
    rate = flags[flags["metric"] == "good_rate"]
    assert rate["day"].dt.date.tolist() == [bad_day]
    assert rate.iloc[0].direction == "down" and rate.iloc[0].value == 0.0
    # the spike day itself is "today": not judged
    spiky = volume_dataset(date(2026, 11, 21))
    assert anomalies.anomalies(sel_of(spiky, state), today=date(2026, 11, 21)).empty


def test_anomaly_markers_on_the_overview_chart():
    spike_day = date(2026, 11, 17)
    ds = volume_dataset(spike_day)
    state = FilterState(range="custom", start=date(2026, 10, 19), end=date(2026, 11, 21))
    sel = sel_of(ds, state)
    from services.analytics.metrics import sessions_over_time

    for granularity in ("day", "week"):
        s = select(ds, state.with_changes(granularity=granularity), today=TODAY)
        buckets = anomalies.by_bucket(anomalies.anomalies(s, TODAY), s.granularity)
        assert buckets["count"].tolist() == [1]
        fig = figures.sessions_over_time_figure(
            sessions_over_time(s), granularity, "light", buckets
        )
        assert len(fig["data"]) == 2 and "Sessions 120" in fig["data"][1]["customdata"][0]
    assert len(figures.sessions_over_time_figure(sessions_over_time(sel), "day", "dark").data) == 1


# ---- callbacks ------------------------------------------------------------------------------


def test_render_engagement_on_demo(demo_dataset, monkeypatch):
    monkeypatch.setattr("services.views.scope.today_in", lambda tz="UTC": DEMO_ANCHOR)
    out = render_engagement(FilterState(range="90d").to_dict(), True, dataset=demo_dataset)
    cards, coverage = out[0], out[1]
    assert len(cards) == 8 and "sessions" in coverage
    figs = out[2:10]
    assert all(len(f.data) >= 1 for f in figs)
    assert figs[6]["data"][0]["type"] == "heatmap"
    # the lexicon: two share lines over time, cards with shares of the demo's sessions
    lines = [t["name"] for t in figs[7]["data"] if not t["name"].endswith("(partial)")]
    assert lines == ["Appreciation", "Dissatisfaction"]
    assert "Appreciation" in str(cards[5]) and "Dissatisfaction" in str(cards[6])
    assert "participant message whose participant wrote a listed word" in out[17]
    empty = render_engagement(
        FilterState(range="90d", experiments=("nope",)).to_dict(), False, dataset=demo_dataset
    )
    # an empty selection keeps every card, honestly at "–" with n = 0, and says so in the charts
    assert len(empty[0]) == 8
    assert all("n = 0" in str(card) and "–" in str(card) for card in empty[0])
    assert all(
        fig["layout"]["annotations"][0]["text"] == figures.NO_SESSIONS for fig in empty[2:10]
    )


def test_empty_selection_keeps_the_cost_cards_at_zero(demo_dataset, monkeypatch):
    monkeypatch.setattr("services.views.scope.today_in", lambda tz="UTC": DEMO_ANCHOR)
    state = FilterState(range="30d", experiments=("nope",)).to_dict()
    out = render_cost(state, False, demo_dataset, budget_usd=10.0)
    cards = out[1]
    assert len(cards) == 4
    assert "$0.00" in str(cards[0]) and all("n = 0" in str(card) for card in cards)
    assert all(fig["layout"]["annotations"][0]["text"] == figures.NO_SESSIONS for fig in out[3:6])


def test_render_cost_on_demo_with_budget(demo_dataset, monkeypatch):
    monkeypatch.setattr("services.views.scope.today_in", lambda tz="UTC": DEMO_ANCHOR)
    out = render_cost(FilterState(range="30d").to_dict(), False, demo_dataset, budget_usd=10.0)
    budget = out[0]
    assert "Budget November 2026" in str(budget)
    assert len(out[1]) == 4 and "Cost known for all" in out[2]
    assert out[3]["data"][0]["type"] == "bar" and out[4]["data"][0]["type"] == "bar"
    no_budget = render_cost(None, False, demo_dataset, budget_usd=0.0)
    assert "MONTHLY_BUDGET_USD" in str(no_budget[0])


def test_callbacks_do_nothing_while_their_tab_is_closed():
    assert update_engagement("overview", None, False, 1) == [no_update] * (19 + 8)
    assert update_cost("sessions", None, False, 1) == [no_update] * (8 + 3)


def test_render_without_data(monkeypatch):
    monkeypatch.setattr("services.runtime.dataset", lambda: None)
    out = render_engagement(None, False)
    assert out[2]["layout"]["annotations"][0]["text"] == "No data yet"
    out = render_cost(None, False, budget_usd=0.0)
    assert out[3]["layout"]["annotations"][0]["text"] == "No data yet"


def test_engagement_numbers_hold_at_scale():
    """200k synthetic sessions: every Engagement series is computed and adds up (speed is
    measured by ``python -m bench``, never asserted here)."""
    n = 200_000
    rng = np.random.default_rng(1)
    ds = build_dataset([{"id": "x", "human": 1, "ai": 1}])
    # widen the one-row dataset's arrays to n rows (only the columns the metrics read)
    day0 = ds.day[0]
    days = np.sort(day0 - rng.integers(0, 365, n)).astype(np.int32)
    for name, value in {
        "n": n,
        "day": days,
        "created_ns": days.astype(np.int64) * 86_400 * 10**9,
        "participant_codes": rng.integers(0, 50_000, n).astype(np.int32),
        "human_messages": rng.integers(0, 20, n).astype(float),
        "ai_messages": rng.integers(0, 20, n).astype(float),
        "user_words": rng.integers(0, 200, n).astype(float),
        "duration_s": rng.exponential(600, n),
        "thumbs_up": np.zeros(n),
        "thumbs_down": np.zeros(n),
        "team_codes": np.zeros(n, np.int32),
        "experiment_codes": np.zeros(n, np.int32),
        "status_codes": np.zeros(n, np.int32),
        "platform_codes": np.zeros(n, np.int32),
    }.items():
        setattr(ds, name, value)
    ds.n_participants = 50_000
    sel = select(ds, FilterState(range="all"))
    cohorts = engagement.retention_cohorts(sel)
    assert isinstance(cohorts, pd.DataFrame) and not cohorts.empty
    assert not engagement.active_participants_over_time(sel).empty
    dropoff = engagement.turn_dropoff(sel)
    assert int(dropoff["sessions"].iloc[0]) <= n
    per_participant = engagement.sessions_per_participant(sel)
    # every participant with a session is counted once in the histogram
    assert int(per_participant.histogram["participants"].sum()) == per_participant.n
    assert per_participant.n == len(np.unique(ds.participant_codes))


def test_time_zone_days_line_up_with_the_window():
    """A session at 23:30 UTC is the next calendar day in Nairobi (UTC+3): every series puts
    it in the same local day as the Overview chart, nothing wraps around."""
    from services.analytics.metrics import sessions_over_time

    ds = build_dataset(
        [
            {
                "id": "late",
                "pid": "p1",
                "created": "2026-11-09T23:30:00Z",
                "human": 1,
                "ai": 1,
                "cost": 2.0,
            },
            {
                "id": "noon",
                "pid": "p2",
                "created": "2026-11-10T12:00:00Z",
                "human": 1,
                "ai": 1,
                "cost": 1.0,
            },
        ]
    )
    state = FilterState(
        range="custom", start=date(2026, 11, 10), end=date(2026, 11, 11), tz="Africa/Nairobi"
    )
    sel = sel_of(ds, state)
    assert sel.n == 2
    assert sessions_over_time(sel)["sessions"].tolist() == [2, 0]
    assert engagement.active_participants_over_time(sel)["participants"].tolist() == [2, 0]
    assert cost.cost_over_time(sel)["cost_usd"].tolist() == pytest.approx([3.0, 0.0])
    cohorts = engagement.retention_cohorts(sel)
    assert cohorts["size"].tolist() == [2]
    assert anomalies.anomalies(sel, date(2026, 11, 12)).empty


def test_lexicon_shares_of_participant_messages_beside_shares_of_sessions(make_dataset):
    dataset = make_dataset(
        [
            {"id": "a", "human": 10, "ai": 10, "liked": 1, "disliked": 0},
            {"id": "b", "human": 2, "ai": 2, "liked": 2, "disliked": 1},
            {"id": "c", "human": 0, "ai": 1, "liked": 0, "disliked": 0},  # no participant message
            {"id": "d", "human": 4, "ai": 4, "liked": None, "disliked": None},  # not counted
        ]
    )
    lex = engagement.lexicon(select(dataset, FilterState(range="all")))
    assert (lex.base, lex.appreciation, lex.dissatisfaction) == (2, 2, 1)
    assert lex.appreciation_share == 1.0 and lex.dissatisfaction_share == 0.5
    assert lex.participant_messages == 12  # a and b only: c has none, d has no counts
    assert (lex.appreciation_messages, lex.dissatisfaction_messages) == (3, 1)
    assert lex.appreciation_message_share == pytest.approx(3 / 12)
    assert lex.dissatisfaction_message_share == pytest.approx(1 / 12)
    empty = engagement.lexicon(select(dataset, FilterState(range="all", teams=("nope",))))
    assert empty.participant_messages == 0 and math.isnan(empty.appreciation_message_share)


def _reference_cohorts(sel, max_weeks: int) -> dict:
    """Retention the plain pandas way: {cohort Monday (day number): (size, [share per week])}
    for observable weeks (the reference for the vectorised week-number version)."""
    from services.analytics.metrics import window_days
    from services.analytics.query import select

    everything = select(sel.dataset, sel.state.with_changes(range="all", start=None, end=None))
    first = (
        pd.Series(everything.column("day").astype(np.int64))
        .groupby(everything.column("participant_codes"))
        .min()
    )
    first_day, last_day = window_days(sel)
    frame = pd.DataFrame(
        {"p": sel.column("participant_codes"), "day": sel.column("day").astype(np.int64)}
    )
    frame["first"] = frame["p"].map(first)
    frame = frame[frame["first"] >= first_day]

    def monday(days):
        return days - (days + 3) % 7

    frame["cohort"] = monday(frame["first"])
    frame["k"] = (monday(frame["day"]) - frame["cohort"]) // 7
    frame = frame[frame["k"] <= max_weeks].drop_duplicates(["p", "k"])
    active = frame.groupby(["cohort", "k"]).size()
    out = {}
    for cohort, size in frame[frame["k"] == 0].groupby("cohort").size().items():
        weeks = [
            active.get((cohort, k), 0) / size
            for k in range(max_weeks + 1)
            if cohort + 7 * k <= monday(last_day)
        ]
        out[int(cohort)] = (int(size), weeks)
    return out


@pytest.mark.parametrize(
    "state",
    [
        FilterState(range="365d"),
        FilterState(range="90d"),
        FilterState(range="custom", start=date(2026, 8, 3), end=date(2026, 10, 14)),
        FilterState(range="365d", tz="Asia/Kolkata"),
        FilterState(range="180d", platforms=("whatsapp",)),
    ],
)
def test_retention_cohorts_equal_the_pandas_reference(demo_dataset, state):
    sel = sel_of(demo_dataset, state, DEMO_ANCHOR)
    frame = engagement.retention_cohorts(sel, max_weeks=6)
    want = _reference_cohorts(sel, 6)
    got = {}
    for row in frame.itertuples(index=False):
        cohort = int((row.cohort - pd.Timestamp("1970-01-01")).days)
        shares = [getattr(row, f"week_{k}") for k in range(7)]
        got[cohort] = (int(row.size), [s for s in shares if not math.isnan(s)])
    assert got == want
    assert want  # the case has cohorts
