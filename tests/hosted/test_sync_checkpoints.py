"""Sync resume checkpoints in PostgreSQL (``DATABASE_URL``): the tables, and a killed dyno's sync
resumed by another with an empty disk (issue #12, docs/sync.md "Resume", docs/hosted.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import psycopg
import pytest

from services.settings import load_settings
from services.store.migrate import migrate
from services.store.parquet import StoreError
from services.store.postgres import PostgresStore
from services.sync import status as sync_status
from services.sync.checkpoint import PostgresCheckpoints, open_checkpoints, team_id
from tests.hosted.conftest import wait_until
from tests.support import fake_ocs
from tests.support.fake_ocs import FakeOCS
from tests.support.hosted_support import ROOT, clean_env

pytestmark = [pytest.mark.hosted, pytest.mark.timeout(600)]

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def checkpoints(database_url):
    migrate(database_url)
    checkpoints = PostgresCheckpoints(database_url)
    yield checkpoints
    checkpoints.close()


def test_journal_and_state_round_trip_per_team(checkpoints, database_url):
    assert checkpoints.read_journal("t1") is None and checkpoints.load_state("t1") == {}
    checkpoints.start_journal("t1", {"base_url": "http://x/api", "started_ns": 1})
    events = [
        {"kind": "tx", "sid": f"s{i}", "at": 1_764_633_600_123_456_789 + i, "cost": 0.00000015}
        for i in range(30)
    ]
    for event in events:
        checkpoints.append("t1", event)
    checkpoints.start_journal("t2", {"base_url": "http://y/api"})
    # durable when append returns: another connection (another process) sees every event
    other = PostgresCheckpoints(database_url)
    try:
        header, got = other.read_journal("t1")
        assert header == {"kind": "header", "base_url": "http://x/api", "started_ns": 1}
        assert got == events  # in order, integers and floats exact
        assert other.read_journal("t2") == ({"kind": "header", "base_url": "http://y/api"}, [])
    finally:
        other.close()
    checkpoints.start_journal("t1", {"base_url": "http://z/api"})  # a new run replaces the old
    assert checkpoints.read_journal("t1") == ({"kind": "header", "base_url": "http://z/api"}, [])
    checkpoints.clear_journal("t1")
    assert checkpoints.read_journal("t1") is None
    assert checkpoints.read_journal("t2") is not None  # other teams untouched

    checkpoints.save_state("t1", {"checked": {"a": 1}, "sweep_next": None})
    checkpoints.save_state("t1", {"checked": {"a": 2}, "sweep_next": "http://x/api/s/?cursor=q"})
    assert checkpoints.load_state("t1") == {
        "checked": {"a": 2},
        "sweep_next": "http://x/api/s/?cursor=q",
    }
    assert checkpoints.load_state("t2") == {}
    checkpoints.clear_journal("t2")


def test_events_without_a_header_are_not_resumed(checkpoints):
    checkpoints.append("t3", {"kind": "tx", "sid": "a"})
    assert checkpoints.read_journal("t3") is None
    checkpoints.clear_journal("t3")


def test_database_problems_are_one_clear_line(database_url, tmp_path):
    down = PostgresCheckpoints("postgresql://dash:s3cret-pw@127.0.0.1:9/nowhere")
    with pytest.raises(StoreError) as caught:
        down.load_state("t")
    assert "sync checkpoints: the database is unreachable" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)
    # a database without the migration (here: a search path where the tables are not)
    unmigrated = PostgresCheckpoints(database_url + "?options=-csearch_path%3Dno_such_schema")
    with pytest.raises(StoreError, match=r"run `python -m services.store migrate`"):
        unmigrated.read_journal("t")
    unmigrated.close()
    env = clean_env(DATA_DIR=str(tmp_path), DATABASE_URL=database_url)
    assert isinstance(open_checkpoints(load_settings(env=env, dotenv=False)), PostgresCheckpoints)


def _transcripts(log: list[dict], status=None) -> list[str]:
    return [
        e["path"].split("/")[3]
        for e in log
        if e["path"].count("/") == 4 and (status is None or e["status"] == status)
    ]


def test_cli_full_sync_killed_on_one_dyno_resumes_on_another_with_an_empty_disk(
    tmp_path, database_url, checkpoints, monkeypatch
):
    """``python -m services.sync --full`` is killed (SIGKILL) half-way through team 1's
    transcripts on "dyno 1" (DATA_DIR a); sessions are created in OCS meanwhile; the rerun on
    "dyno 2" (an empty DATA_DIR b, the same DATABASE_URL) resumes from the checkpoints in
    PostgreSQL: it completes, fetches no journalled list page or transcript again, shows
    "resuming: N of M transcripts already fetched", and stores exactly the server's sessions."""
    size = 40
    monkeypatch.setattr(fake_ocs, "MAX_PAGE", size)  # the server clamps page_size like OCS
    with FakeOCS.from_demo(n_sessions=400, teams=2, seed=11, anchor=TODAY) as fake:
        team_1, team_2 = list(fake.teams)
        first_ids = fake.session_ids(team_1)
        pages_1 = -(-len(first_ids) // size)
        assert pages_1 >= 2 and fake.session_ids(team_2)
        fake.delay, fake.delay_path_prefix = 0.03, "/api/sessions/"

        def env(name: str) -> dict:
            return clean_env(
                DATA_DIR=str(tmp_path / name),
                DATABASE_URL=database_url,
                OCS_API_BASE_URL=fake.base_url,
                OCS_API_KEYS=",".join(fake.keys),
                SYNC_AUTO_START="false",
                SYNC_CONCURRENCY="2",
            )

        def run(name: str) -> subprocess.Popen:
            return subprocess.Popen(
                [sys.executable, "-m", "services.sync", "--full"],
                cwd=ROOT,
                env=env(name),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        half = len(first_ids) // 2
        dyno_1 = run("a")
        try:
            wait_until(
                lambda: len(_transcripts(list(fake.log), status=200)) >= half,
                120,
                f"{half} transcripts served to dyno 1",
                interval=0.02,
            )
        finally:
            os.kill(dyno_1.pid, signal.SIGKILL)
            dyno_1.communicate(timeout=30)
        assert dyno_1.returncode == -signal.SIGKILL
        assert PostgresStore(database_url).current_generation() is None
        assert not list((tmp_path / "a").rglob("journal-*"))  # not in DATA_DIR/sync
        tid_1 = team_id(fake.base_url, fake.keys[0])
        found = checkpoints.read_journal(tid_1)
        assert found is not None
        events = found[1]
        pages = sum(1 for e in events if e["kind"] == "page")
        journalled = {e["sid"] for e in events if e["kind"] == "tx"}
        assert pages == pages_1 and half - 4 <= len(journalled) < len(first_ids)
        assert checkpoints.read_journal(team_id(fake.base_url, fake.keys[1])) is None
        with psycopg.connect(database_url) as conn:
            written = conn.execute(
                "SELECT string_agg(team || event::text, '') FROM sync_journal"
            ).fetchone()[0]
        assert written and not any(key in written for key in fake.keys)  # keys never stored
        first_served = len(fake.log)

        added = fake.add_sessions(team_1, 3)  # created in OCS while no sync ran
        fake.reset_log()
        settings_b = load_settings(env=env("b"), dotenv=False)
        dyno_2 = run("b")
        messages: list[str] = []

        def finished() -> bool:
            message = sync_status.read_status(settings_b).get("message") or ""
            if message not in messages:
                messages.append(message)
            return dyno_2.poll() is not None

        wait_until(finished, 180, "the sync on dyno 2 to finish", interval=0.02)
        out, err = dyno_2.communicate(timeout=30)
        second = list(fake.log)
        server = set(fake.session_ids())
        total_1 = len(fake.session_ids(team_1))
        pages_2 = -(-len(fake.session_ids(team_2)) // size)
    assert dyno_2.returncode == 0, err
    assert f"({len(journalled):,} resumed)" in out

    # nothing journalled is fetched again: transcripts …
    details = _transcripts(second)
    assert len(details) == len(set(details)) and set(details) == server - journalled
    # … and list pages: team 1 re-lists its head page once (3 new sessions), team 2 lists all
    lists = [e for e in second if e["path"] == "/api/sessions/"]
    links = [e["next"].split("?", 1)[1] for e in events if e["kind"] == "page" and e["next"]]
    assert not {e["query"] for e in lists} & set(links)
    assert len(lists) == 1 + pages_2
    assert len(second) == len(lists) + len(details) + 2  # + one experiments list per team
    assert first_served + len(second) < len(server) + pages_1 + pages_2 + 12

    text = f"resuming: {len(journalled):,} of {total_1:,} transcripts already fetched"
    assert any(text in message for message in messages), (text, messages)
    store = PostgresStore(database_url)
    try:
        tables = store.read()
    finally:
        store.close()
    stored = tables.sessions.column("session_id").to_pylist()
    assert len(stored) == len(set(stored)) and set(stored) == server and set(added) <= server
    assert all(tables.sessions.column("has_transcript").to_pylist())
    # the run landed: journals cleared, states kept, still nothing in DATA_DIR/sync
    assert checkpoints.read_journal(tid_1) is None
    assert checkpoints.load_state(tid_1)["generation"] == tables.meta["generation"]
    assert not list((tmp_path / "b").rglob("journal-*")) + list((tmp_path / "b").rglob("state-*"))
