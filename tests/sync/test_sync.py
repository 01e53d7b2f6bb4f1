"""Sync of OCS teams into the store, against the fake OCS server (real sockets, no real waits)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from services.settings import Settings
from services.store.parquet import Store
from services.sync import demo
from services.sync.client import AuthError, ClientPolicy, ServerError
from services.sync.engine import (
    EXIT_ALREADY_RUNNING,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    SyncCancelled,
    run_sync,
)
from services.sync.records import parse_timestamp
from services.sync.status import (
    DIED_MESSAGE,
    SyncAlreadyRunning,
    is_running,
    read_status,
    request_cancel,
    sync_lock,
)
from tests.support.fake_ocs import FakeOCS

ROOT = Path(__file__).resolve().parents[2]
FAST = ClientPolicy(
    connect_timeout=2, read_timeout=5, retries=1, backoff_factor=0.001, backoff_jitter=0.0
)
TODAY = datetime.now(UTC).date()
PAST = TODAY - timedelta(days=60)  # nothing in this world is "recently active"
N = 300


def settings_for(fake: FakeOCS, data_dir: Path, **overrides) -> Settings:
    values = {
        "data_dir": data_dir,
        "ocs_api_base_url": fake.base_url,
        "ocs_api_keys": tuple(fake.keys),
        "sync_concurrency": 4,
    }
    values.update(overrides)
    return Settings(**values)


def sync(settings: Settings, **kw):
    kw.setdefault("policy", FAST)
    kw.setdefault("sleep", lambda seconds: None)
    return run_sync(settings, **kw)


def comparable(tables) -> dict:
    """Store tables as sorted row lists, for equality checks."""
    return {
        "sessions": sorted(tables.sessions.to_pylist(), key=lambda r: r["session_id"]),
        "experiments": sorted(tables.experiments.to_pylist(), key=lambda r: r["experiment_id"]),
        "versions": sorted(
            tables.experiment_versions.to_pylist(),
            key=lambda r: (r["experiment_id"], r["version_number"]),
        ),
        "costs": sorted(
            tables.session_costs.to_pylist(), key=lambda r: (r["session_id"], r["model"])
        ),
    }


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fake():
    with FakeOCS.from_demo(n_sessions=N, seed=11, anchor=TODAY) as fake:
        yield fake


@pytest.fixture
def past_fake():
    with FakeOCS.from_demo(n_sessions=N, seed=11, anchor=PAST) as fake:
        yield fake


# -- full sync ------------------------------------------------------------------------------------


def test_full_sync_equals_the_demo_world_normalised_directly(tmp_path, fake):
    settings = settings_for(fake, tmp_path)
    progress = []
    summary = sync(settings, progress=progress.append)
    assert summary.full and summary.sessions_total == N == summary.sessions_new
    assert summary.transcripts_fetched == N and summary.skipped_malformed == 0
    assert summary.teams == [slug for slug, _ in demo.TEAMS]
    # one session page (which also authenticates: no probe) + experiments per team, one detail
    # per session
    assert summary.requests == 3 * 2 + N
    assert "/api/v2/me/" not in {entry["path"] for entry in fake.log}
    tables = Store(settings.store_dir).read()
    expected = demo.world_tables(demo.generate(N, 11, TODAY))
    got, want = comparable(tables), comparable(expected)
    for row in got["sessions"] + want["sessions"]:
        row.pop("url")
    assert got == want
    meta = tables.meta
    assert meta["source"] == "ocs" and meta["base_url"] == fake.base_url
    assert meta["teams"] == [{"slug": s, "name": n} for s, n in demo.TEAMS]
    assert sum(meta["requests"].values()) == summary.requests
    assert meta["skipped_malformed"] == dict.fromkeys(summary.teams, 0)
    assert abs(meta["synced_at"] - time.time()) < 60
    assert tables.sync_state.num_rows == N
    assert any("team 1/3" in p["message"] for p in progress)
    assert progress[-1]["state"] == "ok" and progress[-1]["running"] is False
    status = read_status(settings)
    assert status["state"] == "ok" and status["summary"] == summary.line()
    assert status["last_ok_at"] and not status["running"] and status["last_error"] is None


def test_demo_store_is_fully_replaced(tmp_path, fake):
    settings = settings_for(fake, tmp_path)
    store = Store(settings.store_dir)
    demo.ensure_demo_store(store, 50)
    summary = sync(settings)
    assert summary.full
    tables = store.read()
    assert tables.meta["source"] == "ocs" and tables.sessions.num_rows == N


# -- incremental ----------------------------------------------------------------------------------


def test_incremental_after_changes_equals_full_resync(tmp_path, fake):
    teams = [slug for slug, _ in demo.TEAMS]
    chatty, ending = fake.add_sessions(teams[2], 2, status="active")  # open, recent
    settings = settings_for(fake, tmp_path / "a")
    sync(settings)

    new_ids = fake.add_sessions(teams[0], 3)
    deleted = fake.session_ids(teams[0])[4]
    fake.delete_session(deleted)
    # tag changes land when inside the re-read window (newest stored - SYNC_OVERLAP_DAYS)
    retagged = fake.session_ids(teams[1])[0]
    fake.set_tags(retagged, ["coaching_good", "safe", "late_tag"])
    fake.append_messages(chatty, 4)  # updated_at does not move: found by the open+recent rule
    fake.set_status(ending, "pending-review")
    # an older open session that is still within SYNC_RECENT_DAYS gets new messages too
    day = 86_400 * 10**9
    older_open = [
        sid
        for sid in fake.session_ids()
        if fake.session(sid)["status"] == "active"
        and time.time_ns() - 12 * day < parse_timestamp(fake.session(sid)["created_at"])
        and sid not in (chatty, ending, retagged, *new_ids)
    ]
    for sid in older_open[-2:]:
        fake.append_messages(sid, 2)

    incremental = sync(settings)
    assert not incremental.full
    assert incremental.sessions_new == 3 and incremental.sessions_deleted == 1
    assert incremental.sessions_updated >= 3  # retagged, chatty, ending
    assert incremental.transcripts_fetched < N / 3
    fresh_settings = settings_for(fake, tmp_path / "b")
    full = sync(fresh_settings, full=True)
    assert full.full and full.sessions_total == N + 4

    got = comparable(Store(settings.store_dir).read())
    want = comparable(Store(fresh_settings.store_dir).read())
    assert got == want
    rows = {row["session_id"]: row for row in got["sessions"]}
    assert deleted not in rows and all(sid in rows for sid in new_ids)
    assert "late_tag" in rows[retagged]["tags"]
    assert rows[ending]["status"] == "pending-review"
    assert rows[chatty]["human_messages"] == sum(
        1 for m in fake.session(chatty)["messages"] if m["role"] == "user"
    )


def test_no_change_sync_costs_two_list_requests_and_writes_no_generation(tmp_path, past_fake):
    settings = settings_for(past_fake, tmp_path)
    first = sync(settings)
    store = Store(settings.store_dir)
    before = comparable(store.read())
    past_fake.reset_log()
    second = sync(settings)
    assert not second.full and not second.changed
    assert second.sessions_new == second.sessions_updated == second.sessions_deleted == 0
    # per team: one head page (which authenticates), no probe, no experiments list (read
    # less than a day ago, nothing unknown), plus the re-check slice
    paths = [entry["path"] for entry in past_fake.log]
    assert paths.count("/api/sessions/") <= 3 * 2
    assert "/api/v2/me/" not in paths and "/api/experiments/" not in paths
    details = len(paths) - paths.count("/api/sessions/")
    assert details == second.recheck_transcripts <= 3 * settings.sync_recheck_requests
    assert second.requests == len(paths)
    assert second.generation == first.generation == store.current_generation()
    assert comparable(store.read()) == before
    status = read_status(settings)
    assert status["state"] == "ok" and status["changed"] is False
    assert status["last_checked_at"] >= status["started_at"]
    assert "no changes" in status["summary"] and "generation 1 kept" in status["summary"]


def test_recently_active_open_sessions_are_rechecked_every_sync(tmp_path, fake):
    settings = settings_for(fake, tmp_path)
    sync(settings)
    tables = Store(settings.store_dir).read()
    cut = time.time_ns() - settings.sync_recent_days * 86_400 * 10**9
    recent = {
        row["session_id"]
        for row in tables.sessions.to_pylist()
        if row["status"] in ("active", "pending", "setup")
        and max(
            int(row["created_at"].timestamp() * 1e9),
            int(row["updated_at"].timestamp() * 1e9),
            int(row["last_message_at"].timestamp() * 1e9) if row["last_message_at"] else 0,
        )
        >= cut
    }
    fake.reset_log()
    summary = sync(settings)
    fetched = {entry["path"].split("/")[3] for entry in fake.log if entry["path"].count("/") == 4}
    assert recent and recent <= fetched
    assert len(fetched) == summary.recheck_transcripts == summary.transcripts_fetched
    assert len(fetched - recent) <= 3  # plus the rotating share of older open sessions


def test_history_limit_stops_paging(tmp_path, fake):
    settings = settings_for(fake, tmp_path, sync_history_days=30)
    summary = sync(settings)
    created = Store(settings.store_dir).read().sessions.column("created_at").to_pylist()
    limit = datetime.now(UTC) - timedelta(days=30, minutes=5)
    assert created and min(created) >= limit
    assert summary.sessions_total < N / 3


def test_transcripts_policy_none_fetches_no_details(tmp_path, fake):
    settings = settings_for(fake, tmp_path, sync_transcripts="none")
    summary = sync(settings)
    assert summary.transcripts_fetched == 0 and summary.requests == 6
    assert not any(Store(settings.store_dir).read().sessions.column("has_transcript").to_pylist())


# -- malformed records and old servers ------------------------------------------------------------


def test_malformed_records_are_skipped_and_counted(tmp_path, fake):
    bad_list = fake.inject_malformed(3)
    bad_detail = set(fake.inject_malformed(9, detail=True)) - set(bad_list)
    fake.malformed_detail_ids = set(list(bad_detail)[:2])
    settings = settings_for(fake, tmp_path)
    summary = sync(settings)
    assert summary.skipped_malformed == 5
    tables = Store(settings.store_dir).read()
    assert tables.sessions.num_rows == N - 3
    assert tables.sessions.column("has_transcript").to_pylist().count(False) == 2
    assert sum(tables.meta["skipped_malformed"].values()) == 5


def test_2025_shape_server(tmp_path, fake):
    fake.shape = "2025"
    fake.has_me = False
    fake.has_experiments = False  # experiments then come from the sessions (with versions)
    settings = settings_for(fake, tmp_path)
    summary = sync(settings)
    assert summary.sessions_total == N and summary.skipped_malformed == 0
    tables = Store(settings.store_dir).read()
    assert tables.meta["teams"] == [{"slug": s, "name": n} for s, n in demo.TEAMS]
    assert set(tables.sessions.column("status").to_pylist()) == {"unreported"}
    assert set(tables.sessions.column("cost_usd").to_pylist()) == {None}
    assert tables.experiment_versions.num_rows > 0
    again = sync(settings)  # incremental works on 2025 servers too
    assert not again.full and again.sessions_new == 0


# -- failures leave the previous generation ------------------------------------------------------


def test_failure_half_way_keeps_previous_generation(tmp_path, fake):
    settings = settings_for(fake, tmp_path)
    first = sync(settings)
    store = Store(settings.store_dir)
    before = comparable(store.read())
    fake.fail_from = fake.request_count + 40  # mid-transcripts of the first team
    with pytest.raises(ServerError):
        sync(settings, full=True)
    assert store.current_generation() == first.generation
    assert comparable(store.read()) == before
    status = read_status(settings)
    assert status["state"] == "error" and "server error 500" in status["last_error"]
    assert not status["running"] and not is_running(settings)
    fake.fail_from = None
    assert sync(settings).generation == first.generation + 1


def test_cancel_keeps_previous_generation(tmp_path, fake):
    settings = settings_for(fake, tmp_path)
    first = sync(settings)
    calls = []

    def should_cancel():
        calls.append(1)
        return len(calls) > 20

    with pytest.raises(SyncCancelled):
        sync(settings, full=True, should_cancel=should_cancel)
    assert Store(settings.store_dir).current_generation() == first.generation
    assert read_status(settings)["state"] == "cancelled"


def test_request_cancel_from_another_viewer(tmp_path, fake):
    settings = settings_for(fake, tmp_path)
    fake.delay = 0.01
    fake.delay_path_prefix = "/api/sessions/"
    outcome = {}

    def target():
        try:
            sync(settings)
        except SyncCancelled as exc:
            outcome["cancelled"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    status = wait_for(
        lambda: (s := read_status(settings))["phase"] == "transcripts" and s, what="transcripts"
    )
    assert status["running"] and status["state"] == "running" and is_running(settings)
    assert "team 1/3" in status["message"]
    assert request_cancel(settings)
    thread.join(timeout=20)
    assert not thread.is_alive() and "cancelled" in outcome
    assert read_status(settings)["state"] == "cancelled"
    assert Store(settings.store_dir).current_generation() is None
    assert not request_cancel(settings)  # nothing running any more


def test_auth_error_of_every_team_is_recorded(tmp_path, fake):
    settings = settings_for(fake, tmp_path, ocs_api_keys=("wrong.key-abcd",))
    with pytest.raises(AuthError, match="API key rejected for key …abcd"):
        sync(settings)
    status = read_status(settings)
    assert status["state"] == "error" and "wrong.key" not in status["last_error"]


# -- the lock --------------------------------------------------------------------------------------


def test_lock_held_means_already_running(tmp_path, fake):
    settings = settings_for(fake, tmp_path)
    with sync_lock(settings):
        assert is_running(settings)
        with pytest.raises(SyncAlreadyRunning, match="already running"):
            sync(settings)
    assert not is_running(settings)
    sync(settings)


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from services.settings import Settings
from services.sync.status import acquire_lock, write_status
settings = Settings(data_dir=Path(sys.argv[1]))
acquire_lock(settings)
write_status(settings, state="running", phase="sessions")
print("locked", flush=True)
time.sleep(120)
"""


def test_stale_lock_from_killed_process_is_recovered(tmp_path, fake):
    settings = settings_for(fake, tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(tmp_path)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert is_running(settings) and read_status(settings)["running"]
        with pytest.raises(SyncAlreadyRunning):
            sync(settings)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    assert not is_running(settings)
    status = read_status(settings)
    assert status["state"] == "error" and status["last_error"] == DIED_MESSAGE
    assert not status["running"]
    assert sync(settings).sessions_total == N
    assert read_status(settings)["state"] == "ok"


# -- CLI -------------------------------------------------------------------------------------------


def _env(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OCS_", "SYNC_", "DATA_DIR", "APP_ENV", "PORT", "LOG_LEVEL"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def cli(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.sync", *args],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli_env(fake: FakeOCS, data_dir: Path) -> dict:
    return {
        "OCS_API_BASE_URL": fake.base_url,
        "OCS_API_KEYS": ",".join(fake.keys),
        "DATA_DIR": str(data_dir),
    }


def test_cli_prints_one_line_and_exits_zero(tmp_path, fake):
    result = cli(**cli_env(fake, tmp_path))
    assert result.returncode == EXIT_OK, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("sync ok (full): 3 teams")
    assert f"{N:,} total" in lines[0] and "generation 1" in lines[0] and "requests" in lines[0]
    again = cli("--full", **cli_env(fake, tmp_path))
    assert again.returncode == EXIT_OK and "sync ok (full)" in again.stdout
    for key in fake.keys:
        assert key not in result.stdout + result.stderr + again.stdout + again.stderr


def test_cli_settings_error_is_clear(tmp_path, fake):
    result = cli(SYNC_TRANSCRIPTS="sometimes", SYNC_CONCURRENCY="many", **cli_env(fake, tmp_path))
    assert result.returncode == EXIT_CONFIG
    assert "Configuration problem" in result.stderr and "SYNC_TRANSCRIPTS" in result.stderr
    assert "SYNC_CONCURRENCY" in result.stderr and "Traceback" not in result.stderr


def test_cli_without_keys_explains(tmp_path):
    result = cli(DATA_DIR=str(tmp_path))
    assert result.returncode == EXIT_CONFIG
    assert "no OCS API key configured" in result.stderr and "Traceback" not in result.stderr


def test_cli_auth_failure(tmp_path, fake):
    env = cli_env(fake, tmp_path)
    env["OCS_API_KEYS"] = "nope.secretsecret1234"
    result = cli(**env)
    assert result.returncode == EXIT_FAILED
    assert "API key rejected for key …1234" in result.stderr
    assert "secretsecret" not in result.stderr and "Traceback" not in result.stderr


def test_two_processes_start_at_once_and_exactly_one_runs(tmp_path, fake):
    fake.delay = 0.02  # slow transcripts: the first sync holds the lock for a few seconds
    fake.delay_path_prefix = "/api/sessions/"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "services.sync"],
            cwd=ROOT,
            env=_env(**cli_env(fake, tmp_path)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [EXIT_OK, EXIT_ALREADY_RUNNING], results
    loser = next(r for r in results if r[0] == EXIT_ALREADY_RUNNING)
    assert "already running" in loser[2] and "Traceback" not in loser[2]
    assert Store(tmp_path / "store").current_generation() == 1


def test_run_sync_is_side_effect_free_at_import():
    code = "import services.sync.engine, services.sync.status, services.sync.client; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    assert result.stdout.strip() == "ok" and not list(Path(ROOT).glob("data/cache/status/*.db-x"))


def test_demo_anchor_dates_are_as_expected():
    assert isinstance(TODAY, date) and PAST < TODAY


def _assert_store_order(tables) -> None:
    """Newest first (ties by id, descending), costs in session order, one fetch time each."""
    sessions = tables.sessions.to_pylist()
    keys = [(r["created_at"], r["session_id"]) for r in sessions]
    assert keys == sorted(keys, reverse=True)
    rank = {r["session_id"]: i for i, r in enumerate(sessions)}
    cost_ranks = [rank[r["session_id"]] for r in tables.session_costs.to_pylist()]
    assert cost_ranks == sorted(cost_ranks)
    state = tables.sync_state.to_pylist()
    assert [r["session_id"] for r in state] == [r["session_id"] for r in sessions]
    assert all(
        (s["transcript_fetched_at"] is not None) == r["has_transcript"]
        for s, r in zip(state, sessions, strict=True)
    )


def test_incremental_rounds_equal_a_full_sync_in_content_and_order(tmp_path, fake):
    """Several incremental syncs (one finding nothing) build on the columnar previous
    generation: kept sessions are copied by position, touched ones rebuilt, and the store
    ends exactly as a full sync of the server, in the same order."""
    teams = [slug for slug, _ in demo.TEAMS]
    settings = settings_for(fake, tmp_path / "a")
    sync(settings)
    fake.add_sessions(teams[1], 2)
    fake.delete_session(fake.session_ids(teams[2])[3])
    second = sync(settings)
    assert (second.sessions_new, second.sessions_deleted) == (2, 1)
    _assert_store_order(Store(settings.store_dir).read())
    quiet = sync(settings)
    assert not quiet.changed and quiet.recheck_transcripts > 0
    fake.add_sessions(teams[0], 1, status="active")
    chatty = fake.session_ids(teams[0])[0]
    fake.append_messages(chatty, 3)
    third = sync(settings)
    assert third.changed and third.sessions_new == 1
    got_tables = Store(settings.store_dir).read()
    _assert_store_order(got_tables)
    assert got_tables.meta["previous_generation"] == second.generation
    fresh_settings = settings_for(fake, tmp_path / "b")
    sync(fresh_settings, full=True)
    want_tables = Store(fresh_settings.store_dir).read()
    assert got_tables.sessions.equals(want_tables.sessions)
    assert comparable(got_tables) == comparable(want_tables)


def test_a_sync_tunes_its_allocation_first(tmp_path, past_fake, monkeypatch):
    from services import memory

    calls = []
    monkeypatch.setattr(memory, "limit_arenas", lambda n=2: calls.append(("arenas", n)))
    monkeypatch.setattr(memory, "map_large_blocks", lambda n: calls.append(("mmap", n)))
    sync(settings_for(past_fake, tmp_path))
    assert pa.default_memory_pool().backend_name == "system"
    assert calls == [("arenas", 2), ("mmap", 1 << 20)]
