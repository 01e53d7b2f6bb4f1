"""pytest plugin for scripts/test.sh: which markers do the selected tests carry?

``python -m pytest -p scripts.pytest_needs --collect-only ARGS`` writes the marker names of
every test that ARGS select (after ``-m``, ``-k`` and paths) to the file named by
``PYTEST_NEEDS_OUT``, one per line, so the test command installs Chromium only for ``browser``
tests and starts PostgreSQL and Redis only for ``hosted`` tests.
"""

from __future__ import annotations

import os
from pathlib import Path


def pytest_collection_finish(session) -> None:
    out = os.environ.get("PYTEST_NEEDS_OUT")
    if not out:
        return
    names = {mark.name for item in session.items for mark in item.iter_markers()}
    Path(out).write_text("".join(f"{name}\n" for name in sorted(names)))
