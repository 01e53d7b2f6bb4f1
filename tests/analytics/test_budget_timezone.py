"""The monthly budget counts the calendar month of the viewer's time zone (FilterState.tz)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from layouts.cost import budget_panel
from services.analytics import cost
from services.analytics.filters import FilterState
from services.views.cost import cost_view
from tests.conftest import build_dataset

# 2026-10-31 18:00 UTC is 23:30 in Kolkata (October there too); 23:30 UTC is 05:00 on
# 1 November in Kolkata; 2026-10-01 02:00 UTC is still 30 September in Los Angeles.
SPECS = [
    {"id": "sep-la", "created": "2026-10-01T02:00:00Z", "human": 1, "ai": 1, "cost": 1.0},
    {"id": "oct", "created": "2026-10-15T12:00:00Z", "human": 1, "ai": 1, "cost": 10.0},
    {"id": "oct-late", "created": "2026-10-31T18:00:00Z", "human": 1, "ai": 1, "cost": 3.0},
    {"id": "boundary", "created": "2026-10-31T23:30:00Z", "human": 1, "ai": 1, "cost": 5.0},
    {"id": "nov", "created": "2026-11-01T12:00:00Z", "human": 1, "ai": 1, "cost": 7.0},
]
NOW = datetime(2026, 10, 31, 23, 45, tzinfo=UTC)  # 05:15 on 1 November in Kolkata


@pytest.fixture(scope="module")
def ds():
    return build_dataset(SPECS)


def test_utc_month_at_the_boundary(ds):
    budget = cost.monthly_budget(ds, 100.0, now=NOW)
    assert (budget.month, budget.tz) == (date(2026, 10, 1), "UTC")
    assert budget.spent_usd == pytest.approx(1 + 10 + 3 + 5)
    assert (budget.elapsed_days, budget.days_in_month, budget.sessions) == (31, 31, 4)
    assert budget.projected_usd == pytest.approx(19.0)


def test_kolkata_is_already_november(ds):
    budget = cost.monthly_budget(ds, 100.0, tz="Asia/Kolkata", now=NOW)
    assert (budget.month, budget.tz) == (date(2026, 11, 1), "Asia/Kolkata")
    # November in Kolkata starts at 2026-10-31 18:30 UTC: the boundary session and November's
    assert budget.spent_usd == pytest.approx(5 + 7)
    assert (budget.elapsed_days, budget.days_in_month, budget.sessions) == (1, 30, 2)
    assert budget.projected_usd == pytest.approx(12 * 30)
    assert budget.share == pytest.approx(0.12) and budget.colour == "success"


def test_los_angeles_october_starts_later(ds):
    budget = cost.monthly_budget(ds, 20.0, today=date(2026, 10, 31), tz="America/Los_Angeles")
    # October in LA is [2026-10-01 07:00 UTC, 2026-11-01 07:00 UTC): not sep-la, not nov
    assert budget.spent_usd == pytest.approx(10 + 3 + 5)
    assert budget.share == pytest.approx(0.9) and budget.colour == "warning"  # 90% is yellow


def test_cost_view_and_panel_follow_the_view_time_zone(ds):
    kolkata = cost_view(
        ds, FilterState(range="all", tz="Asia/Kolkata"), budget_usd=100.0, today=date(2026, 11, 1)
    )
    assert kolkata.budget.tz == "Asia/Kolkata" and kolkata.budget.spent_usd == pytest.approx(12)
    utc = cost_view(ds, FilterState(range="all"), budget_usd=100.0, today=date(2026, 11, 1))
    assert utc.budget.spent_usd == pytest.approx(7)  # November in UTC: only "nov"
    text = str(budget_panel(kolkata.budget))
    assert "November 2026" in text and "(Asia/Kolkata)" in text
