"""Cross-process file locks for files under DATA_DIR (saved views, the demo store, the secret).

Several gunicorn workers (and the sync CLI) share DATA_DIR; :func:`file_lock` makes one of them
write while the others wait. The lock is ``filelock``'s (an OS ``flock`` on Unix), not our own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the ``with`` block (blocks until granted).

    The lock file stays in place: deleting it on release would let a waiter that opened the old
    file and a newcomer that creates a new one both hold "the" lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path, preserve_lock_file=True):
        yield
