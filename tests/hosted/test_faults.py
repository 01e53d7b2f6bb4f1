"""Faults of the hosted set-up: bad URLs, Redis down, PostgreSQL stopped while serving."""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import requests

from services import runtime
from services.settings import SettingsError, load_settings
from tests.hosted.conftest import health, start_gunicorn, wait_until
from tests.support.hosted_support import ROOT, SECRET, clean_env, free_port

pytestmark = pytest.mark.hosted

CLOSED = "redis://127.0.0.1:9/0"  # port 9 (discard): nothing listens there


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DATABASE_URL", "mysql://u:hunter2@db/x", "DATABASE_URL must look like postgres://"),
        ("DATABASE_URL", "postgres://u:hunter2@db:port/x", "DATABASE_URL is not a valid URL"),
        ("REDIS_URL", "http://u:hunter2@cache:6379", "REDIS_URL must look like redis://"),
    ],
)
def test_a_bad_service_url_is_one_clear_line_without_the_password(name, value, expected):
    with pytest.raises(SettingsError) as err:
        load_settings(env={name: value}, dotenv=False)
    assert err.value.problems == [err.value.problems[0]]
    assert expected in err.value.problems[0]
    assert "hunter2" not in str(err.value)


def test_gunicorn_entry_stops_with_one_line_on_a_bad_url():
    env = clean_env(DATABASE_URL="mysql://u:hunter2@db/x", AUTH_DISABLED="true")
    done = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dashboard not started: DATABASE_URL")
    assert "hunter2" not in done.stderr


def test_an_unreachable_database_and_redis_are_one_log_line_each_at_start(tmp_path, caplog):
    settings = load_settings(
        env={
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:9/x",
            "REDIS_URL": CLOSED,
        },
        dotenv=False,
    )
    runtime.configure(settings)
    with caplog.at_level(logging.ERROR):
        parts = runtime.check_services(settings)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 2, lines
    assert lines[0].startswith("DATABASE_URL: the database is unreachable")
    assert lines[1].startswith("REDIS_URL: Redis is unreachable")
    assert parts["database"].startswith("down") and parts["redis"].startswith("down")
    assert "hunter2" not in " ".join(lines)


def test_redis_down_refresh_says_so_and_the_page_still_answers(tmp_path):
    from callbacks.status import poll_data
    from callbacks.sync import refresh

    settings = load_settings(
        env={"DATA_DIR": str(tmp_path), "OCS_API_KEY": "k", "REDIS_URL": CLOSED}, dotenv=False
    )
    runtime.configure(settings)
    result = refresh(1, 123)
    assert result["state"] == "error"
    assert result["message"].startswith("Refresh is unavailable: Redis is unreachable")
    outputs = poll_data(1, None)
    text, progress, refresh_disabled = outputs[1], outputs[3], outputs[4]
    assert text == "No data yet"
    assert "Redis is unreachable" in str(progress) and "Refresh is unavailable" in str(progress)
    assert refresh_disabled is True


# -- PostgreSQL stopped while serving ---------------------------------------------------------


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if isinstance(found, list):
        return found[-1] if found else None
    return found


@pytest.fixture
def private_postgres():
    """A PostgreSQL server of our own (temp data dir, free port), as the postgres user."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("pg_ctl/initdb not found (Debian package postgresql): cannot stop a server")
    as_user: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: PostgreSQL refuses to run as root")
        as_user = [runuser, "-u", "postgres", "--"]
    folder = tempfile.mkdtemp(prefix="ocs-pg-")
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    data, port = os.path.join(folder, "data"), free_port()

    def run(*args: str, check: bool = True):
        return subprocess.run([*as_user, *args], capture_output=True, text=True, check=check)

    run(initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"

    def start():
        run(pg_ctl, "-D", data, "-o", options, "-l", os.path.join(folder, "log"), "-w", "start")

    def stop():
        run(pg_ctl, "-D", data, "-m", "fast", "-w", "stop", check=False)

    start()
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", start, stop
    finally:
        stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_postgres_stopped_while_serving_pages_answer_with_a_stale_notice(
    tmp_path, private_postgres
):
    url, start, stop = private_postgres
    env = clean_env(
        DATA_DIR=str(tmp_path / "web"),
        DATABASE_URL=url,
        DEMO_SESSIONS="400",
        DEMO_ANCHOR="2026-09-30",
        SECRET_KEY=SECRET,
        AUTH_DISABLED="true",
        APP_ENV="development",
    )
    server = start_gunicorn(env)  # demo mode: the first worker writes the demo world to Postgres
    try:
        before = health(server)
        assert before["database"] == "ok" and before["generation"] == 1
        served = requests.get(server.base + "/api/v1/summary", timeout=30).json()

        stop()
        down = wait_until(
            lambda: (h := health(server))["database"].startswith("down") and h, 30, "health"
        )
        assert down["status"] == "degraded"
        assert down["generation"] == 1  # still serving what it loaded
        assert "the database is unreachable" in down["database"]
        layout = wait_until(
            lambda: (
                "may be stale" in (text := requests.get(server.base + "/_dash-layout").text)
                and text
            ),
            30,
            "the stale-data notice in the page",
        )
        assert "could not be read" in layout
        again = requests.get(server.base + "/api/v1/summary", timeout=30)
        assert again.status_code == 200 and again.json()["kpis"] == served["kpis"]

        start()
        wait_until(lambda: health(server)["database"] == "ok", 30, "the database to be back")
        wait_until(
            lambda: "may be stale" not in requests.get(server.base + "/_dash-layout").text,
            30,
            "the notice to go away",
        )
    finally:
        with contextlib.suppress(Exception):
            server.stop()
