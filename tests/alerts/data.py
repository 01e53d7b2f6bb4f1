"""Hand-built worlds for the alert tests (tests/conftest.build_dataset specs)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.store.parquet import Store
from services.store.tables import build_tables
from services.sync.records import parse_session
from tests.conftest import build_dataset, session_record

TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _at(day: date, i: int) -> str:
    return f"{day.isoformat()}T{8 + i % 12:02d}:{(i * 7) % 60:02d}:00Z"


def volume_world(spike: int = 80, normal: int = 20):
    """60 days of ``normal`` sessions a day in team-a and team-b; team-a has ``spike``
    sessions yesterday."""
    specs = []
    for back in range(1, 61):
        day = TODAY - timedelta(days=back)
        for team in ("team-a", "team-b"):
            count = spike if (team == "team-a" and back == 1) else normal
            specs += [
                {"id": f"{team}-{day}-{i}", "created": _at(day, i), "team": team, "exp": team}
                for i in range(count)
            ]
    return build_dataset(specs)


def quality_world(prev_good: int, prev_bad: int, cur_good: int, cur_bad: int, team="team-a"):
    """Sessions tagged coaching_good/coaching_bad: the 7 days before yesterday's week, and the
    7 complete days ending yesterday."""
    specs = []
    for period, (good, bad) in enumerate(((prev_good, prev_bad), (cur_good, cur_bad))):
        first = TODAY - timedelta(days=14 - 7 * period)
        tags = ["coaching_good"] * good + ["coaching_bad"] * bad
        for i, tag in enumerate(tags):
            day = first + timedelta(days=i % 7)
            specs.append(
                {"id": f"q{period}-{i}", "created": _at(day, i), "team": team, "tags": [tag]}
            )
    return build_dataset(specs)


def cost_world(per_session: float = 1.0, sessions: int = 10):
    """``sessions`` sessions this month (November 2026) with a known cost each."""
    specs = [
        {
            "id": f"c{i}",
            "created": _at(date(2026, 11, 1 + i % 20), i),
            "team": "team-a" if i % 2 else "team-b",
            "human": 2,
            "ai": 2,
            "cost": per_session,
            "tags": ["coaching_good" if i % 3 else "coaching_bad"],
        }
        for i in range(sessions)
    ]
    return build_dataset(specs)


def write_store(data_dir, specs: list[dict]) -> int:
    """Write sessions (id, created, team) as the store's current generation, as a sync would."""
    rows = [
        parse_session(session_record(s["id"], created=s["created"], team=s["team"])) for s in specs
    ]
    tables = build_tables(rows, {})
    tables.meta = {"source": "ocs", "teams": [{"slug": s["team"]} for s in specs[:1]]}
    return Store(data_dir / "store").write(tables)
