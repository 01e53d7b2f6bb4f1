"""The run and test commands' shell helpers (scripts/venv.sh, scripts/test.sh), called directly.

Each test sources the script in a fresh bash and calls one function, in a scratch folder where
it would otherwise touch the project's own .venv.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent


def bash(script: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    outer = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env={**outer, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def project(tmp_path):
    """A folder with requirements files and a .venv whose python is this interpreter."""
    (tmp_path / "requirements.txt").write_text("flask==3.1.3\n")
    (tmp_path / "requirements-dev.txt").write_text("flask==3.1.3\npytest==9.2.0\n")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (bin_dir / "python").chmod(0o755)
    return tmp_path


VENV_SH = f"source {ROOT}/scripts/venv.sh; "


def stamp(project: Path, kind: str) -> None:
    result = bash(
        VENV_SH + f'wanted_stamp "$(.venv/bin/python -c "import platform; '
        f'print(platform.python_version())")" {kind} > .venv/.locked',
        cwd=project,
    )
    assert result.returncode == 0, result.stderr


def current(project: Path, kind: str) -> bool:
    return bash(VENV_SH + f"venv_is_current {kind}", cwd=project).returncode == 0


def reason(project: Path) -> str:
    return bash(VENV_SH + "venv_reason", cwd=project).stdout.strip()


def test_a_venv_without_stamp_is_half_made(project):
    assert not current(project, "runtime")
    assert reason(project) == "remaking .venv (it was left half-made)"


def test_the_stamp_follows_the_locked_files(project):
    stamp(project, "runtime")
    assert current(project, "runtime")
    assert not current(project, "dev")  # the test tools are not in yet
    stamp(project, "dev")
    assert current(project, "dev") and current(project, "runtime")

    (project / "requirements-dev.txt").write_text("flask==3.1.3\npytest==9.3.0\n")
    assert current(project, "runtime") and not current(project, "dev")
    (project / "requirements.txt").write_text("flask==3.1.4\n")
    assert not current(project, "runtime")
    assert reason(project) == "updating .venv (the locked requirements changed)"


def test_a_too_old_python_is_replaced(project):
    stamp(project, "runtime")
    (project / ".venv" / "bin" / "python").write_text(
        "#!/bin/sh\n"
        'case "$*" in *version_info*) exit 1;; esac\n'  # python_ok: "older than 3.11"
        f'exec {sys.executable} "$@"\n'
    )
    assert not current(project, "runtime")
    assert reason(project) == "remaking .venv (its Python is older than 3.11)"


def test_find_python_refuses_old_interpreters(tmp_path):
    old = tmp_path / "python3"
    old.write_text("#!/bin/sh\nexit 1\n")  # any check of its version fails
    old.chmod(0o755)
    result = bash(VENV_SH + "find_python", PATH=f"{tmp_path}:/usr/bin:/bin", PYTHON=str(old))
    assert result.returncode != 0 and result.stdout == ""
    result = bash(VENV_SH + "find_python", PYTHON=sys.executable)
    assert result.stdout.strip() == sys.executable


def test_what_cannot_be_installed_is_one_line_and_exit_1():
    result = bash(
        f"source {ROOT}/scripts/test.sh; PATH=/nonexistent; "
        "apt_install 'for the browser tests' chromium; echo not reached"
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "test.sh: could not install chromium (for the browser tests): no apt-get here; "
        "install them yourself, or deselect those tests\n"
    )


def test_selected_markers_follow_the_pytest_arguments():
    script = f"source {ROOT}/scripts/test.sh; VENV={VENV}; selected_markers "
    browser = bash(script + "tests/browser/test_browser.py --co")
    assert "browser" in browser.stdout.split(), browser.stderr
    plain = bash(script + "-m 'not browser' tests/browser/test_browser.py tests/test_docs.py")
    assert "browser" not in plain.stdout.split()
    assert plain.returncode == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(
    not (Path("/usr/lib/postgresql").is_dir() and shutil.which("redis-server"))
    or os.geteuid() != 0,
    reason="needs root and Debian's postgresql and redis-server",
)
def test_ensure_services_starts_throw_away_postgres_and_redis_and_stops_them():
    pg, redis = free_port(), free_port()
    result = bash(
        f"source {ROOT}/scripts/test.sh; PG_PORT={pg}; REDIS_PORT={redis}; ensure_services; "
        'echo "$TEST_DATABASE_URL $TEST_REDIS_URL"; '
        f'"$(pg_bin)/psql" -At "$TEST_DATABASE_URL" -c "select 40 + 2"; '
        f"answers {redis} && echo redis-up; stop_services; "
        f"answers {pg} || echo pg-down; answers {redis} || echo redis-down"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert f"postgresql://postgres@127.0.0.1:{pg}/test redis://127.0.0.1:{redis}/0" in lines
    assert "42" in lines and "redis-up" in lines
    assert "pg-down" in lines and "redis-down" in lines
    assert not answers(pg) and not answers(redis)
