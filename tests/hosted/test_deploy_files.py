"""Procfile, app.json and render.yaml describe the team-scale set-up; the release step works."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.support.hosted_support import ROOT, clean_env, procfile_command

pytestmark = pytest.mark.hosted


def test_procfile_has_web_worker_and_release():
    assert procfile_command("web") == "gunicorn wsgi:server"
    worker = procfile_command("worker")
    assert worker.startswith("celery -A worker worker ") and " --beat" in worker
    assert procfile_command("release") == "python -m services.store migrate"


def test_app_json_adds_postgres_redis_and_the_worker():
    app = json.loads((ROOT / "app.json").read_text())
    plans = [addon["plan"].split(":")[0] for addon in app["addons"]]
    assert plans == ["heroku-postgresql", "heroku-redis"]
    assert app["formation"]["worker"]["quantity"] >= 1
    assert app["env"]["REDIS_TLS_VERIFY"]["value"] == "false"
    assert "self-signed" in app["env"]["REDIS_TLS_VERIFY"]["description"]


def test_render_blueprints_team_scale_and_small_option():
    team = (ROOT / "render.yaml").read_text()
    for needle in (
        "databases:",
        "type: keyvalue",
        "maxmemoryPolicy: noeviction",
        "type: web",
        "type: worker",
        "startCommand: gunicorn wsgi:server",
        f"startCommand: {procfile_command('worker')}",
        "preDeployCommand: python -m services.store migrate",
        "fromDatabase:",
    ):
        assert needle in team, needle
    assert not re.search(r"^\s+disk:", team, re.M)
    small = (ROOT / "render.single.yaml").read_text()
    assert re.search(r"^\s+disk:", small, re.M) and "startCommand: gunicorn wsgi:server" in small


def _release(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", procfile_command("release")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def test_release_step_migrates_once_and_is_a_no_op_without_a_database(database_url):
    done = _release(clean_env())
    assert done.returncode == 0 and "nothing to do" in done.stdout
    first = _release(clean_env(DATABASE_URL=database_url))
    second = _release(clean_env(DATABASE_URL=database_url))
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    applied = "0001_initial, 0002_sync_checkpoints, 0003_store_snapshots, 0004_ai_words"
    assert first.stdout.strip() == f"migrate: applied {applied}"
    assert second.stdout.strip() == "migrate: up to date"
    bad = _release(clean_env(DATABASE_URL="postgresql://postgres@127.0.0.1:9/x"))
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        bad.stderr.strip().splitlines()[0]
    ] and bad.stderr.startswith("migrate failed: the database is unreachable")
