"""Issue #12 guarantees of the sync, against the fake OCS server over real sockets.

Nothing lost under faults, resume after an interruption (also kill -9), per-team isolation,
the re-check bound of incremental syncs, no-change syncs, bad answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime

import pyarrow.compute as pc
import pytest

from services.store.parquet import Store
from services.sync import demo
from services.sync.checkpoint import FileCheckpoints
from services.sync.client import BadAnswer, ClientPolicy
from services.sync.engine import EXIT_OK, EXIT_PARTIAL, SyncCancelled, run_sync
from services.sync.records import parse_timestamp
from services.sync.status import read_status
from tests.support.fake_ocs import FakeOCS
from tests.sync.test_sync import FAST, ROOT, _env, cli_env, comparable, settings_for, wait_for

TODAY = datetime.now(UTC).date()
DAY = 86_400.0
TEAMS = [slug for slug, _ in demo.TEAMS]


def sync(settings, **kw):
    kw.setdefault("policy", FAST)
    kw.setdefault("sleep", lambda seconds: None)
    return run_sync(settings, **kw)


def details_requested(fake: FakeOCS) -> list[str]:
    return [e["path"].split("/")[3] for e in fake.log if e["path"].count("/") == 4]


# -- nothing lost under faults --------------------------------------------------------------------


def test_faulty_server_with_enforced_rate_limit_loses_nothing(tmp_path):
    """3,000 sessions on 3 teams; 5% 5xx, 2% connections dropped mid-body, 10% slow answers, the
    server enforcing 2,000 requests / 5 min: exactly the server's data, 0 × 429."""
    n = 3000
    with FakeOCS.from_demo(n_sessions=n, seed=5, anchor=TODAY) as fake:
        fake.rate_enforce = True  # 2,000 / 5 min per team, like OCS
        fake.set_fault_rates(error=0.05, mid_body=0.02, slow=0.10, slow_delay=0.2, seed=12)
        settings = settings_for(fake, tmp_path)
        policy = ClientPolicy(connect_timeout=2, read_timeout=5, backoff_factor=0.001)
        summary = run_sync(settings, policy=policy)
        statuses = fake.statuses()
    assert summary.sessions_total == n and summary.skipped_malformed == 0
    tables = Store(settings.store_dir).read()
    ids = tables.sessions.column("session_id").to_pylist()
    assert len(ids) == len(set(ids)) == n  # 0 lost, 0 duplicated
    got = comparable(tables)
    want = comparable(demo.world_tables(demo.generate(n, 5, TODAY)))
    for row in got["sessions"] + want["sessions"]:
        row.pop("url")
    assert got == want
    assert statuses[500] > 50 and statuses["mid-body"] > 20
    assert fake.received_429 == 0 and summary.rate_limited == 0
    assert summary.retries == statuses[500] + statuses["mid-body"]
    assert f"retries {summary.retries:,}, 429s 0" in summary.line()


# -- resume ---------------------------------------------------------------------------------------


def test_cancelled_first_sync_resumes_without_fetching_again(tmp_path):
    n = 300
    with FakeOCS.from_demo(n_sessions=n, seed=11, anchor=TODAY) as fake:
        settings = settings_for(fake, tmp_path)
        calls = []

        def should_cancel():
            calls.append(1)
            return sum(1 for e in fake.log if e["path"].count("/") == 4) >= 40

        with pytest.raises(SyncCancelled):
            sync(settings, should_cancel=should_cancel)
        assert Store(settings.store_dir).current_generation() is None
        first_details = set(details_requested(fake))
        fake.reset_log()
        progress = []
        summary = sync(settings, progress=progress.append)
        second = fake.log
    resumed = summary.transcripts_resumed
    assert resumed >= 30  # (answers still in flight at the cancel are not journalled)
    journalled = first_details - set(details_requested_from(second))
    assert len(journalled) >= resumed
    # team 1: its head page listed again (sessions created meanwhile), its remaining transcripts
    # and the experiments list; teams 2 and 3: one page, their transcripts, the experiments list
    assert len(second) == (n - resumed) + 2 + 2 * 2
    assert not any("cursor=" in e["query"] for e in second)  # no journalled page again
    team_1 = sum(1 for s in demo.generate(n, 11, TODAY).sessions if s["team"]["slug"] == TEAMS[0])
    text = f"resuming: {resumed:,} of {team_1:,} transcripts already fetched"
    assert any(text in p["message"] for p in progress if p.get("running")), text
    got = comparable(Store(settings.store_dir).read())
    want = comparable(demo.world_tables(demo.generate(n, 11, TODAY)))
    for row in got["sessions"] + want["sessions"]:
        row.pop("url")
    assert got == want
    assert not list(settings.sync_dir.glob("journal-*"))  # cleared once stored


def details_requested_from(log: list[dict]) -> list[str]:
    return [e["path"].split("/")[3] for e in log if e["path"].count("/") == 4]


def journal_events(settings) -> list[dict]:
    checkpoints = FileCheckpoints(settings.sync_dir)
    events = []
    for path in settings.sync_dir.glob("journal-*.jsonl"):
        found = checkpoints.read_journal(path.stem.removeprefix("journal-"))
        events.extend(found[1] if found else [])
    return events


@pytest.mark.parametrize("stop", ["listing", "transcripts"])
def test_resumed_full_sync_lists_the_head_again_and_ends_with_exactly_the_servers_data(
    tmp_path, stop
):
    """A --full sync interrupted half-way (during team 1's listing, or its transcripts); then
    sessions are created and one deleted in OCS. The resumed run re-lists the head pages until
    it reaches sessions it has, continues the journal, and stores exactly the server's data;
    list pages and transcripts in the journal are not fetched again."""
    size = 40
    policy = replace(FAST, page_size=size)
    with FakeOCS.from_demo(n_sessions=600, seed=11, anchor=TODAY) as fake:
        team_1 = fake.session_ids(TEAMS[0])
        pages_1 = -(-len(team_1) // size)
        assert pages_1 >= 4
        settings = settings_for(fake, tmp_path / "resumed")

        def should_cancel() -> bool:
            if stop == "listing":
                return fake.requests_for("/api/sessions/") >= 3  # page 3 not journalled
            return len(details_requested(fake)) >= 30

        with pytest.raises(SyncCancelled):
            sync(settings, full=True, should_cancel=should_cancel, policy=policy)
        events = journal_events(settings)
        written = "".join(path.read_text() for path in settings.sync_dir.iterdir())
        assert not any(key in written for key in fake.keys)  # teams are hashes, keys never kept
        pages = sum(1 for e in events if e["kind"] == "page")
        journalled = {e["sid"] for e in events if e["kind"] == "tx"}
        assert pages == (2 if stop == "listing" else pages_1)
        assert len(journalled) >= (0 if stop == "listing" else 20)
        first_log = list(fake.log)

        added = fake.add_sessions(TEAMS[0], size + 15)  # two head pages of new sessions
        added_2 = fake.add_sessions(TEAMS[1], 3)  # a team the first run had not reached
        fake.delete_session(team_1[0])  # the newest session listed before the interruption
        changed = team_1[1]  # a status change moves updated_at: its transcript is fetched again
        fake.set_status(
            changed, "active" if fake.session(changed)["status"] != "active" else "complete"
        )
        fake.set_tags(team_1[2], ["retagged"])  # tags only: the row changes, updated_at does not
        fake.reset_log()
        progress = []
        summary = sync(settings, full=True, policy=policy, progress=progress.append)
        second = list(fake.log)
        server = set(fake.session_ids())

        fresh = settings_for(fake, tmp_path / "fresh")
        sync(fresh, full=True, policy=policy)
    assert summary.transcripts_resumed == len(journalled - {team_1[0], changed})
    assert summary.sessions_total == len(server)
    # exactly the server's data: what a fresh full sync stores now
    stored = Store(settings.store_dir).read()
    assert set(stored.sessions.column("session_id").to_pylist()) == server
    assert set(added) | set(added_2) <= server and team_1[0] not in server
    assert comparable(stored) == comparable(Store(fresh.store_dir).read())

    # nothing in the journal is fetched again
    details = details_requested_from(second)
    assert len(details) == len(set(details))
    assert set(details) == (server - journalled) | {changed}
    assert (
        "retagged"
        in stored.sessions.filter(pc.equal(stored.sessions["session_id"], team_1[2]))
        .column("tags")
        .to_pylist()[0]
    )
    links = [e["next"] for e in events if e["kind"] == "page"]  # a page's link to the next
    journalled_pages = {link.split("?", 1)[1] for link in links[:-1]}  # pages 2 … last
    lists = [e for e in second if e["path"] == "/api/sessions/"]
    assert len(journalled_pages) == pages - 1
    assert not {e["query"] for e in lists} & journalled_pages
    other_pages = sum(-(-len(fake.session_ids(t)) // size) for t in TEAMS[1:])
    # team 1: 2 head pages re-listed (55 new sessions), then the pages the journal lacks
    assert len(lists) == 2 + (pages_1 - pages) + other_pages
    experiments = sum(1 for e in second if e["path"] == "/api/experiments/")
    assert experiments == 3
    assert len(second) == len(lists) + len(details) + experiments
    assert len(first_log) + len(second) < len(server) + 2 * (pages_1 + other_pages) + 20
    if journalled:
        text = f"resuming: {len(journalled - {team_1[0], changed}):,} of "
        assert any(text in p["message"] for p in progress if p.get("running")), text
    assert not list(settings.sync_dir.glob("journal-*"))


def test_killed_sync_resumes_and_the_second_run_fetches_only_the_rest(tmp_path):
    n = 300
    with FakeOCS.from_demo(n_sessions=n, seed=11, anchor=TODAY) as fake:
        fake.delay, fake.delay_path_prefix = 0.02, "/api/sessions/"
        env = _env(**cli_env(fake, tmp_path))
        first = subprocess.Popen(
            [sys.executable, "-m", "services.sync"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        journals = tmp_path / "sync"

        def fetched() -> int:
            return sum(path.read_text().count('"kind":"tx"') for path in journals.glob("journal-*"))

        try:
            wait_for(lambda: fetched() >= 60, timeout=60, what="60 transcripts journalled")
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        assert Store(tmp_path / "store").current_generation() is None
        events = []
        for path in journals.glob("journal-*"):
            for line in path.read_text().splitlines():
                with contextlib.suppress(ValueError):  # a line cut short by the kill
                    events.append(json.loads(line))
        done = {e["sid"] for e in events if e.get("kind") == "tx"}
        pages = sum(1 for e in events if e.get("kind") == "page")
        experiments = sum(1 for e in events if e.get("kind") == "experiments")
        first_requests = len(fake.log)
        fake.reset_log()
        fake.delay = 0
        result = subprocess.run(
            [sys.executable, "-m", "services.sync"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        second = list(fake.log)
    assert result.returncode == EXIT_OK, result.stderr
    assert f"({len(done):,} resumed)" in result.stdout
    assert not done & set(details_requested_from(second))  # nothing fetched twice
    list_pages = sum(1 for e in second if e["path"] == "/api/sessions/")
    exp_pages = sum(1 for e in second if e["path"] == "/api/experiments/")
    # one page per team: the journalled ones are only re-listed as the head (new sessions)
    assert pages >= 1 and list_pages == 3 and exp_pages == 3 - experiments
    assert len(second) == (n - len(done)) + list_pages + exp_pages
    assert first_requests + len(second) < n + 2 * 3 + 10  # not much more than one sync's worth
    assert Store(tmp_path / "store").read().sessions.num_rows == n


# -- per-team isolation ---------------------------------------------------------------------------


def test_rejected_key_fails_only_that_team_and_the_cli_exits_partial(tmp_path):
    from tests.sync.test_sync import cli

    with FakeOCS.from_demo(n_sessions=300, seed=11, anchor=TODAY) as fake:
        env = cli_env(fake, tmp_path)
        env["OCS_API_KEYS"] = ",".join([fake.keys[0], "nope.secretsecret1234", fake.keys[2]])
        result = cli(**env)
    assert result.returncode == EXIT_PARTIAL, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("sync partial (full): 2 teams")
    assert "FAILED key …1234: API key rejected for key …1234 (HTTP 401: Invalid token.)" in line
    assert "secretsecret" not in result.stdout + result.stderr
    tables = Store(tmp_path / "store").read()
    assert set(tables.sessions.column("team_slug").to_pylist()) == {TEAMS[0], TEAMS[2]}
    settings = settings_for(fake, tmp_path)
    status = read_status(settings)
    assert status["state"] == "partial"
    assert status["failed_teams"] == [
        {"team": "key …1234", "error": "API key rejected for key …1234 (HTTP 401: Invalid token.)"}
    ]


def test_unreachable_team_keeps_its_previous_data_while_the_others_land(tmp_path):
    with FakeOCS.from_demo(n_sessions=300, seed=11, anchor=TODAY) as fake:
        settings = settings_for(fake, tmp_path)
        first = sync(settings)
        store = Store(settings.store_dir)
        before = {
            r["session_id"]: r
            for r in comparable(store.read())["sessions"]
            if r["team_slug"] == TEAMS[1]
        }
        new_ids = fake.add_sessions(TEAMS[0], 3) + fake.add_sessions(TEAMS[2], 2)
        fake.add_sessions(TEAMS[1], 4)
        fake.fail_teams = {TEAMS[1]}
        summary = sync(settings)
    assert summary.partial and summary.teams == [TEAMS[0], TEAMS[2]]
    assert list(summary.failed) == [f"team {TEAMS[1]}"]
    assert "OCS server error 503" in summary.failed[f"team {TEAMS[1]}"]
    assert summary.generation == first.generation + 1
    tables = store.read()
    rows = {r["session_id"]: r for r in comparable(tables)["sessions"]}
    assert all(sid in rows for sid in new_ids)
    assert {sid: r for sid, r in rows.items() if r["team_slug"] == TEAMS[1]} == before
    assert {t["slug"] for t in tables.meta["teams"]} == set(TEAMS)
    status = read_status(settings)
    assert status["state"] == "partial" and f"team {TEAMS[1]}" in status["last_error"]
    assert status["failed_teams"][0]["team"] == f"team {TEAMS[1]}"


# -- completeness: the re-check bound -------------------------------------------------------------


def _pick(fake: FakeOCS, days: float, status: set[str] | None = None) -> str:
    now = time.time_ns()
    best = None
    for sid in fake.session_ids():
        record = fake.session(sid)
        if status and record["status"] not in status:
            continue
        age = (now - parse_timestamp(record["created_at"])) / 86_400e9
        if best is None or abs(age - days) < best[0]:
            best = (abs(age - days), sid)
    return best[1]


def test_old_changes_land_within_the_recheck_bound_and_at_once_with_full(tmp_path):
    recheck_days = 7
    policy = ClientPolicy(
        connect_timeout=2, read_timeout=5, retries=1, backoff_factor=0.001, page_size=20
    )
    with FakeOCS.from_demo(n_sessions=600, seed=11, anchor=TODAY) as fake:
        settings = settings_for(
            fake,
            tmp_path / "a",
            sync_recheck_days=recheck_days,
            sync_recheck_requests=25,
            sync_overlap_days=3,
        )
        start = time.time()
        sync(settings, policy=policy, clock=lambda: start)
        open_60 = _pick(fake, 60, {"active"})
        tagged_200 = _pick(fake, 200)
        status_100 = _pick(fake, 100, {"pending-review", "complete"})
        fake.append_messages(open_60, 4)
        fake.set_tags(tagged_200, ["late_annotation"])
        fake.set_status(
            status_100,
            "complete" if fake.session(status_100)["status"] != "complete" else "pending-review",
        )
        expected_status = fake.session(status_100)["status"]
        deleted_220 = _pick(fake, 220)
        fake.delete_session(deleted_220)
        messages = sum(1 for m in fake.session(open_60)["messages"] if m["role"] == "user")
        landed: dict[str, int] = {}
        for day in range(1, recheck_days + 2):  # one incremental sync a day
            fake.reset_log()
            summary = sync(settings, policy=policy, clock=lambda d=day: start + d * DAY)
            lists = sum(1 for e in fake.log if e["path"] == "/api/sessions/")
            experiments = sum(1 for e in fake.log if e["path"] == "/api/experiments/")
            # per team ≤ 2 head pages + the capped re-check slice (+ the daily experiments list)
            assert len(fake.log) <= 3 * (2 + 25 + 1), (day, len(fake.log))
            assert lists - summary.recheck_pages <= 3 * 2 and experiments <= 3
            rows = {
                r["session_id"]: r for r in Store(settings.store_dir).read().sessions.to_pylist()
            }
            if rows[open_60]["human_messages"] == messages:
                landed.setdefault("message", day)
            if "late_annotation" in rows[tagged_200]["tags"]:
                landed.setdefault("tag", day)
            if rows[status_100]["status"] == expected_status:
                landed.setdefault("status", day)
        assert set(landed) == {"message", "tag", "status"}, landed
        assert deleted_220 not in rows  # the rotating list walk removed it as it passed
        assert max(landed.values()) <= recheck_days + 1  # the bound: N days + one sync interval
        assert summary.recheck_behind == 0
        incremental = comparable(Store(settings.store_dir).read())

        # --full: at once, on a fresh store, and deleted sessions leave
        fresh = settings_for(fake, tmp_path / "b")
        sync(fresh, policy=policy)
        assert comparable(Store(fresh.store_dir).read()) == incremental
        gone = _pick(fake, 250)
        fake.delete_session(gone)
        full = sync(settings, policy=policy, full=True, clock=lambda: start + 9 * DAY)
    assert full.full
    rows = {r["session_id"] for r in Store(settings.store_dir).read().sessions.to_pylist()}
    assert gone not in rows and len(rows) == 598


@pytest.mark.parametrize("anchor_days", [0, 1, 2])
def test_sessions_deleted_between_two_list_pages_leave_within_the_recheck_bound(
    tmp_path, anchor_days
):
    """A session deleted where two list pages now meet lies on neither page's range; the
    rotating walk still removes it, also where one sync's walk stopped and the next goes on."""
    recheck_days, size = 5, 20
    policy = ClientPolicy(
        connect_timeout=2, read_timeout=5, retries=1, backoff_factor=0.001, page_size=size
    )
    anchor = date.fromordinal(TODAY.toordinal() - anchor_days)
    with FakeOCS.from_demo(n_sessions=240, seed=3, anchor=anchor) as fake:
        settings = settings_for(
            fake,
            tmp_path,
            sync_recheck_days=recheck_days,
            sync_recheck_requests=25,
            sync_overlap_days=1,
            sync_transcripts="none",
        )
        start = time.time()
        sync(settings, policy=policy, clock=lambda: start)
        # newest first, as listed; deleting index k*size puts it between two pages' ranges
        order = sorted(
            fake.session_ids(),
            key=lambda sid: (parse_timestamp(fake.session(sid)["created_at"]), sid),
            reverse=True,
        )
        boundary = [order[k * size] for k in range(2, len(order) // size)]
        for sid in boundary:
            fake.delete_session(sid)
        for day in range(1, recheck_days + 2):  # one incremental sync a day
            summary = sync(settings, policy=policy, clock=lambda d=day: start + d * DAY)
            assert summary.recheck_pages <= 25
        stored = set(Store(settings.store_dir).read().sessions.column("session_id").to_pylist())
    assert stored == set(order) - set(boundary)


def test_full_sync_lands_old_changes_at_once(tmp_path):
    policy = ClientPolicy(connect_timeout=2, read_timeout=5, retries=1, page_size=20)
    with FakeOCS.from_demo(n_sessions=300, seed=11, anchor=TODAY) as fake:
        settings = settings_for(fake, tmp_path, sync_recheck_requests=0)
        sync(settings, policy=policy)
        open_60 = _pick(fake, 60, {"active"})
        tagged_200 = _pick(fake, 200)
        fake.append_messages(open_60, 2)
        fake.set_tags(tagged_200, ["late_annotation"])
        incremental = sync(settings, policy=policy)  # no re-check budget: nothing old moves
        rows = {r["session_id"]: r for r in Store(settings.store_dir).read().sessions.to_pylist()}
        assert not incremental.changed and "late_annotation" not in rows[tagged_200]["tags"]
        sync(settings, policy=policy, full=True)
        messages = sum(1 for m in fake.session(open_60)["messages"] if m["role"] == "user")
    rows = {r["session_id"]: r for r in Store(settings.store_dir).read().sessions.to_pylist()}
    assert "late_annotation" in rows[tagged_200]["tags"]
    assert rows[open_60]["human_messages"] == messages


# -- no-change syncs and the experiments list -----------------------------------------------------


def test_experiments_list_is_reread_for_an_unknown_experiment_or_daily(tmp_path):
    with FakeOCS.from_demo(n_sessions=300, seed=11, anchor=TODAY) as fake:
        settings = settings_for(fake, tmp_path)
        start = time.time()
        sync(settings, clock=lambda: start)
        fake.reset_log()
        sync(settings, clock=lambda: start + 3600)
        assert fake.requests_for("/api/experiments/") == 0
        fake.reset_log()
        sync(settings, clock=lambda: start + 1.1 * DAY)
        assert fake.requests_for("/api/experiments/") == 3  # once a day
        new_bot = dict(fake.experiments[TEAMS[0]][0], id="9a9e2bbd-5b1e-4c55-9d55-0d6f1c2c0a11")
        new_bot["name"] = "Brand new bot"
        fake.experiments[TEAMS[0]].append(new_bot)
        sid = fake.add_sessions(TEAMS[0], 1)[0]
        fake.session(sid)["experiment"] = dict(fake.session(sid)["experiment"], id=new_bot["id"])
        fake.reset_log()
        summary = sync(settings, clock=lambda: start + 1.2 * DAY)
        assert fake.requests_for("/api/experiments/") == 1  # only the team that needs it
    tables = Store(settings.store_dir).read()
    assert "Brand new bot" in tables.experiments.column("name").to_pylist()
    assert summary.sessions_new == 1


# -- bad answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("non_json_prefix", "not JSON (text/html"),
        ("wrong_shape_prefix", "expected a page with a results list"),
        ("repeat_next", "same next-page link twice"),
    ],
)
def test_bad_answers_fail_the_team_with_a_clear_message(tmp_path, option, message):
    policy = ClientPolicy(connect_timeout=2, read_timeout=5, retries=1, page_size=20)
    with FakeOCS.from_demo(n_sessions=300, seed=11, anchor=TODAY) as fake:
        setattr(fake, option, True if option == "repeat_next" else "/api/sessions/")
        settings = settings_for(fake, tmp_path, ocs_api_keys=(fake.keys[0],))
        with pytest.raises(BadAnswer, match=r"team|key"):
            sync(settings, policy=policy)
    status = read_status(settings)
    assert status["state"] == "error" and message in status["last_error"]
    assert "Traceback" not in status["last_error"]
    assert FileCheckpoints(settings.sync_dir).read_journal("x") is None


def test_an_old_journal_is_not_resumed_and_full_does_not_resume_an_incremental_one(tmp_path):
    with FakeOCS.from_demo(n_sessions=300, seed=11, anchor=TODAY) as fake:
        settings = settings_for(fake, tmp_path)

        def cancel_after(k):
            return lambda: len(details_requested(fake)) >= k

        start = time.time()
        with pytest.raises(SyncCancelled):
            sync(settings, should_cancel=cancel_after(40), clock=lambda: start)
        fake.reset_log()
        late = sync(settings, clock=lambda: start + 4 * DAY)  # the journal is 4 days old
        assert late.transcripts_resumed == 0 and late.transcripts_fetched == 300
        fake.add_sessions(TEAMS[0], 50)
        fake.reset_log()
        with pytest.raises(SyncCancelled):  # an incremental run, interrupted
            sync(settings, should_cancel=cancel_after(20), clock=lambda: start + 4 * DAY)
        fake.reset_log()
        full = sync(settings, full=True, clock=lambda: start + 4 * DAY)
    assert full.transcripts_resumed == 0 and full.transcripts_fetched == 350
