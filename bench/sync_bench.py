"""Sync benchmark: requests and wall time of a first sync and a no-change incremental sync.

Runs against the fake OCS server (tests/fake_ocs.py) seeded with the demo world: 10,000
sessions on 3 teams by default, transcripts policy ``all``, ``SYNC_CONCURRENCY`` 4. The fake
sends no rate-limit headers here (like OCS with Redis down), so the numbers are the client's
own cost; the line "at 2000 req / 5 min" gives the floor the real team budget would impose.

    PYTHONPATH=. .venv/bin/python -m bench.sync_bench [--sessions 10000] [--teams 3]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.settings import Settings
from services.sync.engine import run_sync
from tests.support.fake_ocs import FakeOCS

BUDGET, WINDOW_S = 2000, 300


def _run(fake: FakeOCS, settings: Settings, label: str, **kw) -> dict:
    fake.reset_log()
    started = time.perf_counter()
    summary = run_sync(settings, **kw)
    wall = time.perf_counter() - started
    per_team = summary.requests_by_team
    worst = max(per_team.values())
    windows = math.ceil(worst / BUDGET) - 1
    print(
        f"{label:<42} requests {summary.requests:>6,} (server saw {len(fake.log):,}; "
        f"max/team {worst:,}) · transcripts {summary.transcripts_fetched:>6,} · "
        f"wall {wall:6.2f} s · at {BUDGET} req/{WINDOW_S // 60} min ≥ {windows * WINDOW_S / 60:.0f} min waiting"
    )
    return {"requests": summary.requests, "wall": wall, "transcripts": summary.transcripts_fetched}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    today = datetime.now(UTC).date()
    print(
        f"sync benchmark: {args.sessions:,} sessions, {args.teams} teams, "
        f"concurrency {args.concurrency}, fake OCS on 127.0.0.1"
    )
    for anchor, world in (
        (today, "world ending today"),
        (today - timedelta(days=60), "world ending 60 days ago"),
    ):
        with (
            FakeOCS.from_demo(args.sessions, args.teams, anchor=anchor) as fake,
            tempfile.TemporaryDirectory() as tmp,
        ):
            fake.rate_limit = None
            settings = Settings(
                data_dir=Path(tmp),
                ocs_api_base_url=fake.base_url,
                ocs_api_keys=tuple(fake.keys),
                sync_concurrency=args.concurrency,
            )
            print(f"-- {world}")
            _run(fake, settings, "first sync (full)")
            _run(fake, settings, "no-change incremental sync")
            _run(fake, settings, "full resync (--full) over existing data", full=True)


if __name__ == "__main__":
    main()
