"""The real deployment command: the Procfile's ``web`` line under bash, as Heroku runs it.

gunicorn (gunicorn.conf.py: 2 workers × 4 threads here) serves wsgi:server in production mode
(PORT set) with sign-in on; the data comes from the fake OCS server. The test checks that
nothing is reachable without signing in, that a sync (the CLI, which takes the same lock as the
Refresh button) lands, and that **both** workers then serve the new generation.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import signal
import subprocess
import sys
import time

import requests

from services import settings as settings_module
from tests.support.fake_ocs import FakeOCS
from tests.support.hosted_support import (
    ROOT,
    SECRET,
    HttpSession,
    clean_env,
    free_port,
    procfile_command,
    sign_in,
    start_procfile,
    user_entry,
)


def test_procfile_runs_gunicorn_on_wsgi_server():
    assert procfile_command("web") == "gunicorn wsgi:server"


def test_deployed_app_signs_in_syncs_and_all_workers_serve_the_new_generation(tmp_path):
    with FakeOCS.from_demo(n_sessions=300, teams=2) as fake:
        home = tmp_path / "home"
        runtime_dir = tmp_path / "xdg"
        home.mkdir()
        runtime_dir.mkdir()
        env = clean_env(
            PORT=str(free_port()),
            WEB_CONCURRENCY="2",
            DATA_DIR=str(tmp_path / "data"),
            SECRET_KEY=SECRET,
            DASHBOARD_USERS=user_entry("alice"),
            OCS_API_KEYS=",".join(fake.keys),
            OCS_API_BASE_URL=fake.base_url,
            SYNC_AUTO_START="false",
            HOME=str(home),
            XDG_RUNTIME_DIR=str(runtime_dir),
        )
        server = start_procfile(env)
        base = server.base
        try:
            health = requests.get(base + "/health", timeout=5).json()
            assert health["status"] == "ok" and health["generation"] is None
            assert "no data yet" in health["message"]
            assert health["sync_state"] == "idle"

            # -- nothing without signing in ---------------------------------------------------
            page = requests.get(base + "/", allow_redirects=False, timeout=5)
            assert page.status_code == 302 and page.headers["Location"].startswith("/login")
            assert requests.get(base + "/_dash-layout", timeout=5).status_code == 401
            trigger = {
                "output": "sync-result.data",
                "outputs": {"id": "sync-result", "property": "data"},
                "inputs": [{"id": "refresh-button", "property": "n_clicks", "value": 1}],
                "changedPropIds": ["refresh-button.n_clicks"],
                "state": [{"id": "refresh-button", "property": "n_clicks_timestamp", "value": 1}],
            }
            refused = requests.post(base + "/_dash-update-component", json=trigger, timeout=5)
            assert refused.status_code == 401
            time.sleep(0.5)  # a started job would have probed the fake by now
            assert fake.requests_for("/api/") == 0
            assert requests.get(base + "/health", timeout=5).json()["sync_state"] == "idle"

            # -- signed in ---------------------------------------------------------------------
            session = HttpSession()
            assert sign_in(session, base).status_code == 303
            page = session.get(base + "/", timeout=10)
            assert page.status_code == 200 and "_dash-config" in page.text
            layout = session.get(base + "/_dash-layout", timeout=10)
            assert layout.status_code == 200 and '"sign-out"' in layout.text
            for key in fake.keys:
                assert key not in page.text and key not in layout.text

            # -- a sync (same lock as the Refresh button) --------------------------------------
            sync = subprocess.run(
                [sys.executable, "-m", "services.sync"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert sync.returncode == 0, sync.stderr
            assert "sync ok" in sync.stdout

            # -- both workers serve it -----------------------------------------------------------
            seen: dict[int, int | None] = {}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                body = requests.get(base + "/health", timeout=10).json()
                seen[body["worker_pid"]] = body["generation"]
                if len(seen) >= 2 and all(g == 1 for g in seen.values()):
                    break
                time.sleep(0.05)
            assert len(seen) == 2, f"answers came from {sorted(seen)} only"
            assert set(seen.values()) == {1}, seen
            assert body["sync_state"] == "ok" and body["data_source"] == "ocs"
            assert 0 <= body["data_age_seconds"] < 60
            layout = session.get(base + "/_dash-layout", timeout=10)
            assert layout.status_code == 200

            # -- a killed worker is replaced by a fork of the (pre-imported) master -------------
            victim = body["worker_pid"]
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 60
            fresh = None
            while time.monotonic() < deadline and fresh is None:
                try:
                    answer = requests.get(base + "/health", timeout=10).json()
                except requests.RequestException:
                    answer = {}
                if answer.get("worker_pid") not in (None, *seen):
                    fresh = answer
                time.sleep(0.05)
            assert fresh is not None, "no new worker answered after the kill"
            assert fresh["generation"] == 1 and fresh["status"] == "ok"
            for _ in range(6):  # whichever worker answers, the signed-in page works
                assert session.get(base + "/_dash-layout", timeout=10).status_code == 200
        finally:
            server.stop()

    # -- logs: one line per request, no query strings, no secrets --------------------------------
    output = server.output
    access = [line for line in server.lines if '"GET ' in line or '"POST ' in line]
    assert any('"GET /health" 200' in line for line in access)
    assert any('"POST /_dash-update-component" 401' in line for line in access)
    assert not any("?" in line for line in access), "query strings must not be logged"
    assert "next=" not in output
    for secret in [*fake.keys, SECRET, "correct-horse"]:
        assert secret not in output
    assert "Traceback" not in output
    # gunicorn 27's control socket is off
    assert not list(home.rglob("*.ctl")) and not list(runtime_dir.rglob("*.ctl"))


def test_deploy_files_describe_the_same_command():
    """app.json (Heroku) and render.yaml (Render) agree with the Procfile and gunicorn.conf.py."""
    app_json = json.loads((ROOT / "app.json").read_text())
    assert app_json["buildpacks"] == [{"url": "heroku/python"}]
    env = app_json["env"]
    assert env["SECRET_KEY"]["generator"] == "secret"
    for name in ("DASHBOARD_USERS", "OCS_API_KEYS"):
        assert name in env
    render = (ROOT / "render.yaml").read_text()
    assert "startCommand: gunicorn wsgi:server" in render
    assert "healthCheckPath: /health" in render
    assert "buildCommand: pip install -r requirements.txt" in render
    example = (ROOT / ".env.example").read_text()
    source = inspect.getsource(settings_module.load_settings)
    names = set(re.findall(r'env\.get\("([A-Z_]+)"', source))
    assert {"PORT", "SECRET_KEY", "DASHBOARD_USERS", "OCS_API_KEYS"} <= names
    missing = sorted(n for n in names if f"\n{n}=" not in example)
    assert missing == []
