"""Sync benchmark: requests and wall time of a first sync, a no-change sync and a sync after changes.

Runs against the fake OCS server (tests/support/fake_ocs.py) seeded with the demo world: 10,000
sessions on 3 teams by default, transcripts policy ``all``, ``SYNC_CONCURRENCY`` 4, **with the
fake enforcing a rate limit per team** (429 over the limit, ``X-RateLimit-*`` headers on every
answer, fixed windows aligned to the epoch, like OCS). OCS's documented limit is 2,000 requests
per 5 minutes; ``--window`` scales the window (default 30 s: the same 2,000 requests, ten times
the rate) so a run takes minutes, not half an hour. The printed "at the real rate" figure
converts the windows used back to 5-minute windows. ``--window 300`` measures at the real rate.

    PYTHONPATH=. .venv/bin/python -m bench.sync_bench [--sessions 10000] [--teams 3] [--window 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.settings import Settings
from services.store.parquet import Store
from services.sync.client import ClientPolicy
from services.sync.engine import run_sync
from services.sync.records import parse_timestamp
from tests.support.fake_ocs import FakeOCS

LIMIT, REAL_WINDOW_S = 2000, 300


def _windows(fake: FakeOCS, window: float) -> dict[str, tuple[int, float]]:
    """Per team: rate windows touched, and the share of the limit used in all but the last."""
    per_team: dict[str, dict[int, int]] = {}
    for entry in fake.log:
        if entry["team"]:
            counts = per_team.setdefault(entry["team"], {})
            key = int(entry["t"] // window)
            counts[key] = counts.get(key, 0) + 1
    out = {}
    for team, counts in per_team.items():
        keys = sorted(counts)
        full = keys[1:-1]  # the first and the last window are partial by nature
        out[team] = (len(keys), sum(counts[k] for k in full) / (LIMIT * len(full)) if full else 0)
    return out


def _run(fake: FakeOCS, settings: Settings, policy: ClientPolicy, label: str, **kw) -> dict:
    fake.reset_log()
    generation = Store(settings.store_dir).current_generation()
    started = time.perf_counter()
    summary = run_sync(settings, policy=policy, **kw)
    wall = time.perf_counter() - started
    windows = _windows(fake, policy.rate_window)
    spans = max(n for n, _ in windows.values())
    uses = [use for n, use in windows.values() if n > 2]
    stored = (
        f"generation {summary.generation}"
        if summary.generation != generation
        else f"no new generation ({summary.generation} kept)"
    )
    print(
        f"{label:<20} requests {summary.requests:>6,} ({fake.requests_for('/api/sessions/') - _details(fake):,} "
        f"list, {_details(fake):,} transcripts, {fake.requests_for('/api/experiments/')} "
        f"experiments) · 429s {fake.received_429} · retries {summary.retries} · wall "
        f"{wall:6.1f} s, of which waiting for rate windows {summary.waited_s:5.1f} s · "
        f"≤ {spans} window{'s' * (spans != 1)} per team"
        + (f", {min(uses):.0%}–{max(uses):.0%} of the limit used in full windows" if uses else "")
        + f" · {stored}"
    )
    return {"requests": summary.requests, "wall": wall, "429": fake.received_429}


def _details(fake: FakeOCS) -> int:
    return sum(1 for entry in fake.log if entry["path"].count("/") == 4)


def _change(fake: FakeOCS, teams: list[str]) -> str:
    """30 new sessions per team, new messages in 10 open sessions, 10 late tags, 5 statuses."""
    now = time.time_ns()
    for team in teams:
        fake.add_sessions(team, 30)
    ids = fake.session_ids()
    day = 86_400 * 10**9
    open_old = [
        sid
        for sid in ids
        if fake.session(sid)["status"] == "active"
        and now - parse_timestamp(fake.session(sid)["created_at"]) > 30 * day
    ]
    for sid in open_old[:10]:
        fake.append_messages(sid, 2)
    for sid in ids[200::700][:10]:
        fake.set_tags(sid, ["late_annotation"])
    for sid in ids[300::900][:5]:
        fake.set_status(sid, "complete")
    return "30 new sessions per team, 10 older open sessions with new messages, 10 tags, 5 statuses"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--window", type=float, default=30.0, help="rate window in seconds")
    args = parser.parse_args(argv)
    today = datetime.now(UTC).date()
    print(
        f"sync benchmark: {args.sessions:,} sessions, {args.teams} teams, concurrency "
        f"{args.concurrency}, fake OCS on 127.0.0.1 enforcing {LIMIT:,} requests per "
        f"{args.window:g} s per team"
    )
    policy = ClientPolicy(rate_window=args.window, max_budget_wait=args.window + 10)
    for anchor, world in (
        (today, "world ending today"),
        (today - timedelta(days=60), "world ending 60 days ago"),
    ):
        with (
            FakeOCS.from_demo(args.sessions, args.teams, anchor=anchor) as fake,
            tempfile.TemporaryDirectory() as tmp,
        ):
            fake.rate_limit, fake.rate_window, fake.rate_enforce = LIMIT, int(args.window), True
            settings = Settings(
                data_dir=Path(tmp),
                ocs_api_base_url=fake.base_url,
                ocs_api_keys=tuple(fake.keys),
                sync_concurrency=args.concurrency,
            )
            print(f"-- {world}")
            _run(fake, settings, policy, "first sync (full)")
            _run(fake, settings, policy, "no-change sync")
            what = _change(fake, list(fake.teams))
            _run(fake, settings, policy, "sync after changes")
            print(f"   (changes: {what})")


if __name__ == "__main__":
    main()
