"""Starting a sync without a browser click: the first-run auto start.

A fresh Heroku dyno or Render instance has an empty ``DATA_DIR``. When a key is configured and
no data exists yet, the first page load starts ``python -m services.sync`` as a detached child
process (same lock as the Refresh button, so a second start is harmless). Attempts are spaced
out so a failing key does not start a sync on every poll.

With ``REDIS_URL`` set the sync is sent to the Celery worker instead (:func:`request_sync`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from services.sync import status as sync_status

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
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
    if not sync_status.claim_auto_start(settings, RETRY_AFTER, now=now):
        return False
    request_sync(settings)
    log.info("first sync started automatically (no data yet)")
    return True


def request_sync(settings, full: bool = False) -> str:
    """Start a sync in the background: on the Celery worker with REDIS_URL, else a detached CLI.

    Returns "queued" or "started"; raises RedisUnavailable when the worker's queue is down.
    """
    if settings.redis_url:
        from services.worker.app import enqueue_sync

        enqueue_sync(settings, full=full)
        return "queued"
    start_detached_sync(settings, full=full)
    return "started"
