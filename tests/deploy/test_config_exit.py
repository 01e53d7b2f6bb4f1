"""A configuration problem under the real deployment command: one line, exit code 3, no traceback.

gunicorn.conf.py's ``on_starting`` checks the settings in the master before any worker forks,
so four workers do not print the message four times, and gunicorn cannot end in its own
``HaltServer`` traceback (exit 1) when several workers fail together.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.support.hosted_support import ROOT, clean_env, free_port, procfile_command

pytestmark = pytest.mark.deploy

CASES = {
    "no SECRET_KEY, no users": {},
    "bad number": {"SYNC_CONCURRENCY": "99", "AUTH_DISABLED": "true", "SECRET_KEY": "x" * 32},
}


@pytest.mark.parametrize("extra", CASES.values(), ids=CASES.keys())
def test_gunicorn_config_error_is_one_line_and_exit_3(tmp_path, extra):
    env = clean_env(
        APP_ENV="production",
        PORT=str(free_port()),
        WEB_CONCURRENCY="4",
        DATA_DIR=str(tmp_path),
        **extra,
    )
    result = subprocess.run(
        ["bash", "-c", procfile_command("web")],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert output.count("dashboard not started:") == 1, output
    assert "Traceback" not in output
    assert "Booting worker" not in output  # stopped before any worker started
