"""Several instances, one PostgreSQL store, Redis coordination and a Celery worker (issue #14).

Real servers and processes: PostgreSQL and Redis (see conftest.py for the URLs), the Procfile's
``celery -A worker worker``, ``gunicorn wsgi:server`` instances with separate empty DATA_DIRs,
and the fake OCS server.
"""

from __future__ import annotations

import pytest
import requests

from services.settings import load_settings
from services.store.postgres import PostgresStore
from services.sync import status as sync_status
from services.sync.shared import LOCK_TTL
from services.worker.app import enqueue_sync
from tests.hosted.conftest import (
    DashClient,
    Worker,
    health,
    hosted_env,
    run_cli_sync,
    start_gunicorn,
    wait_until,
)
from tests.support.fake_ocs import FakeOCS

pytestmark = [pytest.mark.hosted, pytest.mark.timeout(600)]


def ocs_settings(fake: FakeOCS, **extra) -> dict:
    return dict(
        OCS_API_BASE_URL=fake.base_url,
        OCS_API_KEYS=",".join(fake.keys),
        SYNC_AUTO_START="false",
        SYNC_CONCURRENCY="2",
        **extra,
    )


def summary(base: str) -> dict:
    response = requests.get(base + "/api/v1/summary", timeout=30)
    assert response.status_code == 200, response.text[:300]
    return {k["key"]: k["value"] for k in response.json()["kpis"]}


def test_refresh_on_a_runs_on_the_worker_and_every_instance_serves_it(
    tmp_path, database_url, redis_url, key_prefix
):
    with FakeOCS.from_demo(n_sessions=300, teams=2) as fake:
        fake.delay, fake.delay_path_prefix = 0.03, "/api/sessions/"
        extra = ocs_settings(fake)
        env = {
            name: hosted_env(tmp_path / name, database_url, redis_url, key_prefix, **extra)
            for name in ("a", "b", "worker", "c")
        }
        worker = Worker(env["worker"])
        servers = []
        try:
            a = start_gunicorn(env["a"])
            servers.append(a)
            b = start_gunicorn(env["b"])
            servers.append(b)
            worker.wait_ready()
            first = health(a)
            assert (first["database"], first["redis"]) == ("ok", "ok")
            assert first["generation"] is None

            result = DashClient(a.base).refresh()
            assert result["state"] == "queued", result

            # B (another instance, its own disk) shows the progress the worker reports
            progress = wait_until(
                lambda: (
                    "sessions" in (health(b).get("sync_progress") or "")
                    and health(b)["sync_progress"]
                ),
                60,
                "progress on B",
            )
            assert progress.startswith("team ")
            assert health(b)["sync_running"] is True

            generation = wait_until(
                lambda: health(a)["stored_generation"], 120, "the worker's sync to be stored"
            )
            wait_until(
                lambda: health(a)["generation"] == generation == health(b)["generation"],
                30,
                "both instances to serve the new generation",
            )
            assert health(b)["sync_state"] == "ok"
            assert summary(a.base) == summary(b.base)
            assert summary(a.base)["sessions"] > 0

            # a new instance with an empty disk serves the stored data at once, without a sync
            requests_before = fake.request_count
            c = start_gunicorn(env["c"])
            servers.append(c)
            assert health(c)["generation"] == generation
            assert summary(c.base) == summary(a.base)
            assert fake.request_count == requests_before
        finally:
            worker.stop()
            for server in servers:
                server.stop()


def test_worker_killed_mid_sync_loses_nothing_and_the_next_sync_completes(
    tmp_path, database_url, redis_url, key_prefix
):
    with FakeOCS.from_demo(n_sessions=300, teams=2) as fake:
        extra = ocs_settings(fake)
        cli_env = hosted_env(tmp_path / "cli", database_url, redis_url, key_prefix, **extra)
        done = run_cli_sync(cli_env)
        out, _ = done.communicate(timeout=300)
        assert done.returncode == 0, out
        settings = load_settings(env=cli_env, dotenv=False)
        store = PostgresStore(database_url)
        before = store.current_generation()
        tables_before = store.read().sessions.sort_by("session_id")

        fake.delay, fake.delay_path_prefix = 0.2, "/api/sessions/"
        worker = Worker(hosted_env(tmp_path / "w1", database_url, redis_url, key_prefix, **extra))
        try:
            worker.wait_ready()
            enqueue_sync(settings, full=True)
            wait_until(
                lambda: (
                    (status := sync_status.read_status(settings))["running"]
                    and status["phase"] == "transcripts"
                    and status["transcripts_done"] > 5
                ),
                120,
                "the worker's sync to be fetching transcripts",
            )
            worker.kill9()
        finally:
            worker.stop()

        assert store.current_generation() == before
        assert store.read().sessions.sort_by("session_id").equals(tables_before)
        assert sync_status.is_running(settings)  # the dead holder's lock is still there...
        wait_until(
            lambda: not sync_status.is_running(settings),
            LOCK_TTL + 20,
            "the killed worker's lock to expire",
            interval=1,
        )  # ...until its TTL runs out
        assert sync_status.read_status(settings)["last_error"] == sync_status.DIED_MESSAGE

        fake.delay = 0.0
        fake.add_sessions(
            next(iter(fake.teams)), 3
        )  # something new: the next sync writes a generation
        worker = Worker(hosted_env(tmp_path / "w2", database_url, redis_url, key_prefix, **extra))
        try:
            worker.wait_ready()
            enqueue_sync(settings)
            wait_until(
                lambda: sync_status.read_status(settings)["state"] == "ok",
                180,
                "the next sync to complete",
                interval=0.5,
            )
        finally:
            worker.stop()
        assert store.current_generation() == before + 1
        assert store.read().sessions.num_rows == tables_before.num_rows + 3


def test_two_cli_syncs_from_different_data_dirs_run_one_at_a_time(
    tmp_path, database_url, redis_url, key_prefix
):
    with FakeOCS.from_demo(n_sessions=200, teams=2) as fake:
        fake.delay, fake.delay_path_prefix = 0.03, "/api/sessions/"
        extra = ocs_settings(fake)
        first = run_cli_sync(
            hosted_env(tmp_path / "one", database_url, redis_url, key_prefix, **extra)
        )
        second = run_cli_sync(
            hosted_env(tmp_path / "two", database_url, redis_url, key_prefix, **extra)
        )
        outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
        codes = sorted(p.returncode for p in (first, second))
        assert codes == [0, 3], outputs
        assert any("already running" in text for text in outputs), outputs
