"""Starting a sync without a browser click: the first-run auto start.

A fresh Heroku dyno or Render instance has an empty ``DATA_DIR``. When a key is configured and
no data exists yet, the first page load starts ``python -m services.sync`` as a detached child
process (same lock as the Refresh button, so a second start is harmless). Attempts are spaced
out so a failing key does not start a sync on every poll.

This is the seam where a scaled-out deployment would enqueue a Celery task instead.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from services.sync import status as sync_status

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
AUTO_START_KEY = "sync:auto-start-at"
RETRY_AFTER = 600.0


def start_detached_sync(settings, full: bool = False, capture: bool = False) -> subprocess.Popen:
    """Run the CLI sync in a new session (it outlives the request, not the dyno).

    With ``capture`` its one-line summary (stdout and stderr together) can be read.
    """
    args = [sys.executable, "-m", "services.sync"] + (["--full"] if full else [])
    env = dict(os.environ, DATA_DIR=str(settings.data_dir.resolve()))
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if capture else subprocess.DEVNULL,
        text=capture,
        start_new_session=True,
    )


def maybe_auto_start(settings, has_data: bool, now: float | None = None) -> bool:
    """Start the first sync when a key is set, nothing is stored and none is running.

    Returns True when a sync was started by this call.
    """
    if settings.demo_mode or has_data or not settings.sync_auto_start:
        return False
    now = now or time.time()
    cache = sync_status.status_cache(settings)
    with cache.transact():
        if sync_status.is_running(settings):
            return False
        last = cache.get(AUTO_START_KEY)
        if last is not None and now - last < RETRY_AFTER:
            return False
        cache.set(AUTO_START_KEY, now)
    start_detached_sync(settings)
    log.info("first sync started automatically (no data yet)")
    return True
