"""What the page's header shows for the last sync's outcome (callbacks/status.py, called directly)."""

from __future__ import annotations

import time

from callbacks.status import freshness, status_outputs
from services.settings import Settings
from services.sync.status import outcome_text


class _Dataset:
    n = 1234
    generation = 7

    def __init__(self, synced_at: float):
        self.meta = {"source": "ocs", "synced_at": synced_at, "teams": [{"slug": "a"}]}


def test_a_partial_sync_names_the_failed_team_and_why():
    status = {
        "state": "partial",
        "running": False,
        "failed_teams": [{"team": "team ecd", "error": "API key rejected for team ecd (HTTP 401)"}],
    }
    settings = Settings(ocs_api_keys=("k1", "k2"))
    _text, progress, _disabled, _cancel = status_outputs(
        _Dataset(time.time()), settings, status, False
    )
    assert "team ecd: API key rejected for team ecd (HTTP 401)" in progress.children
    assert "other teams updated" in progress.children
    assert outcome_text(dict(status, running=True)) is None


def test_a_no_change_sync_updates_the_checked_time_not_the_data_time():
    now = time.time()
    text = freshness(_Dataset(now - 3 * 3600), now=now, checked_at=now - 120)
    assert text.startswith("Last synced 3 h ago") and "checked 2 min ago, no changes since" in text
    assert "checked" not in freshness(_Dataset(now - 3 * 3600), now=now, checked_at=None)
    status = {"state": "ok", "changed": False, "last_checked_at": now, "running": False}
    assert "no changes" in outcome_text(status)
