"""Alert rules on hand-built data: they fire, they stay quiet on small samples, they respect
their filters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.alerts import rules
from services.alerts.config import Rule
from services.settings import Settings
from services.sync import status as sync_status
from tests.alerts.data import NOW, TODAY, cost_world, quality_world, volume_world


def ctx(tmp_path, dataset, **settings):
    values = {"data_dir": tmp_path, "ocs_api_keys": ("key",), "public_url": "https://dash.example"}
    values.update(settings)
    return rules.Context(Settings(**values), dataset, NOW)


@pytest.fixture(scope="module")
def volume():
    return volume_world()


def test_unusual_day_fires_for_the_spike_with_figures_and_link(tmp_path, volume):
    events = rules.unusual_days(Rule("unusual_day", "volume"), ctx(tmp_path, volume))
    assert len(events) == 1
    event = events[0]
    yesterday = TODAY - timedelta(days=1)
    assert event.key == f"volume:sessions:{yesterday.isoformat()}"
    assert event.fingerprint == "up"
    assert "sessions higher than expected" in event.title and "all teams" in event.title
    assert "Sessions 100, expected 40" in event.figures and "n = 100 sessions" in event.figures
    assert event.link.startswith("https://dash.example/?range=custom&start=")
    assert f"end={yesterday.isoformat()}" in event.link


def test_unusual_day_respects_the_rule_filters(tmp_path, volume):
    context = ctx(tmp_path, volume)
    quiet_team = rules.unusual_days(Rule("unusual_day", "b", filters="team=team-b"), context)
    assert quiet_team == []
    spiking = rules.unusual_days(Rule("unusual_day", "a", filters="team=team-a"), context)
    assert len(spiking) == 1 and "team Team A" in spiking[0].title
    assert "team=team-a" in spiking[0].link
    only_rate = rules.unusual_days(Rule("unusual_day", "r", metrics=("good_rate",)), context)
    assert only_rate == []


def test_unknown_team_in_filters_is_a_clear_problem(tmp_path, volume):
    with pytest.raises(rules.RuleProblem, match="Unknown team"):
        rules.unusual_days(Rule("unusual_day", "x", filters="team=nope"), ctx(tmp_path, volume))


def test_quality_drop_fires_overall_and_per_category(tmp_path):
    world = quality_world(prev_good=36, prev_bad=4, cur_good=16, cur_bad=24)
    events = rules.quality_drops(Rule("quality_drop", "q"), ctx(tmp_path, world))
    assert [e.key for e in events] == ["q:overall", "q:coaching"]
    coaching = events[1]
    assert coaching.title.startswith("Coaching good rate dropped to 40% from 90%")
    assert "16/40 = 40% (95% CI" in coaching.figures and "36/40 = 90%" in coaching.figures
    assert "two-proportion p = " in coaching.figures
    assert "range=custom&start=2026-11-14&end=2026-11-20" in coaching.link


def test_quality_drop_stays_quiet_on_small_samples(tmp_path):
    world = quality_world(prev_good=9, prev_bad=1, cur_good=4, cur_bad=6)
    context = ctx(tmp_path, world)
    assert rules.quality_drops(Rule("quality_drop", "q"), context) == []
    # the test itself would call it significant: only the minimum n keeps it quiet
    assert len(rules.quality_drops(Rule("quality_drop", "q", min_n=5), context)) == 2


def test_quality_rise_or_a_chance_dip_does_not_fire(tmp_path):
    rise = quality_world(prev_good=16, prev_bad=24, cur_good=36, cur_bad=4)
    assert rules.quality_drops(Rule("quality_drop", "q"), ctx(tmp_path, rise)) == []
    dip = quality_world(prev_good=30, prev_bad=10, cur_good=27, cur_bad=13)
    assert rules.quality_drops(Rule("quality_drop", "q"), ctx(tmp_path, dip)) == []


def test_budget_fires_at_the_highest_share_crossed(tmp_path):
    world = cost_world(per_session=1.0, sessions=10)  # $10 by day 21 of 30: projected $14.29
    context = ctx(tmp_path, world, monthly_budget_usd=16.0)
    (event,) = rules.budget(Rule("budget", "budget"), context)
    assert event.key == "budget:2026-11" and event.fingerprint == "0.8"
    assert "projected at 89% of the November 2026 budget (crossed 80%" in event.title
    assert "spent $10.00 of $16.00 in 21 of 30 days" in event.figures
    assert "cost known for 10 of 10 sessions" in event.figures
    over = ctx(tmp_path, world, monthly_budget_usd=14.0)
    assert rules.budget(Rule("budget", "budget"), over)[0].fingerprint == "1"
    under = ctx(tmp_path, world, monthly_budget_usd=100.0)
    assert rules.budget(Rule("budget", "budget"), under) == []


def test_budget_for_one_team_uses_that_team_and_its_own_budget(tmp_path):
    world = cost_world(per_session=1.0, sessions=10)  # team-a: 5 sessions, $5
    context = ctx(tmp_path, world, monthly_budget_usd=1000.0)
    rule = Rule("budget", "a-budget", filters="team=team-a", budget_usd=8.0)
    (event,) = rules.budget(rule, context)  # $5 → projected $7.14 = 89% of $8
    assert "crossed 80%; team Team A" in event.title
    assert "spent $5.00 of $8.00" in event.figures
    assert rules.inactive_reason(Rule("budget", "x", filters="team=team-a"), context.settings)


def test_sync_failing_and_stale_per_team(tmp_path):
    world = cost_world()
    context = ctx(tmp_path, world)
    ok_at = NOW.timestamp() - 2 * 3600
    sync_status.write_status(context.settings, state="ok", last_ok_at=ok_at)
    assert rules.sync_health(Rule("sync", "sync"), context) == []
    sync_status.write_status(context.settings, state="error", last_error="OCS answered 503")
    events = rules.sync_health(Rule("sync", "sync"), context)
    assert sorted(e.key for e in events) == ["sync:failing:team-a", "sync:failing:team-b"]
    assert "last error: OCS answered 503" in events[0].figures
    only_a = rules.sync_health(Rule("sync", "sync", filters="team=team-a"), context)
    assert [e.key for e in only_a] == ["sync:failing:team-a"]
    stale = rules.sync_health(Rule("sync", "sync", stale_hours=1), context)
    assert "sync:stale:team-a" in {e.key for e in stale}
    assert "(2.0 h ago)" in next(e for e in stale if "stale" in e.key).figures


def test_sync_rule_is_inactive_in_demo_mode(tmp_path):
    demo = Settings(data_dir=tmp_path)
    assert rules.inactive_reason(Rule("sync", "sync"), demo) == "demo mode: nothing is synced"
    assert rules.sync_health(Rule("sync", "sync"), rules.Context(demo, None, NOW)) == []
