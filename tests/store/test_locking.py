"""services.store.locking.file_lock: one holder at a time, across processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from services.store.locking import file_lock

ROOT = Path(__file__).resolve().parents[2]

HOLD = """
import sys, time
from pathlib import Path
from services.store.locking import file_lock
with file_lock(Path(sys.argv[1])):
    Path(sys.argv[2]).write_text("held")
    while not Path(sys.argv[3]).exists():
        time.sleep(0.01)
"""


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_a_second_process_waits_for_the_holder(tmp_path):
    lock, held, release = tmp_path / "sub" / "x.lock", tmp_path / "held", tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), str(held), str(release)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    try:
        _wait_for(held)
        from filelock import FileLock, Timeout

        try:
            with FileLock(lock, timeout=0.2, preserve_lock_file=True):
                raise AssertionError("got the lock while another process held it")
        except Timeout:
            pass
        release.write_text("go")
        assert holder.wait(timeout=60) == 0
        with file_lock(lock):  # free again, and the lock file is kept
            assert lock.exists()
    finally:
        holder.kill()
