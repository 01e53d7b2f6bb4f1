"""Hosted mode: the alerts' "sent once" state and history live in the shared Redis.

A worker dyno restarts with an empty disk: with ``REDIS_URL`` set, it still knows what it sent
(no repeat within the quiet period), and a web dyno with another disk shows the worker's
deliveries in its Alerts panel. Real Redis (TEST_REDIS_URL), a real webhook receiver.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from services.alerts import rules_overview, run_alerts
from services.alerts.channels import RetryPolicy
from services.alerts.state import HISTORY_SIZE, AlertState, RedisAlertState, open_state
from services.redis_client import RedisUnavailable
from services.settings import AlertSettings, Settings
from tests.alerts.data import NOW, cost_world
from tests.alerts.servers import WebhookReceiver
from tests.support.hosted_support import clean_env

pytestmark = pytest.mark.hosted

FAST = RetryPolicy(attempts=3, wait_initial=0, wait_max=0)
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def hosted_settings(data_dir, redis_url, prefix, **alerts) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "alerts.toml").write_text('[[rule]]\nkind = "budget"\n')
    return Settings(
        data_dir=data_dir,
        ocs_api_keys=("key",),
        monthly_budget_usd=16.0,
        public_url="https://dash.example",
        redis_url=redis_url,
        redis_key_prefix=prefix,
        alerts=AlertSettings(**alerts),
    )


@pytest.fixture(scope="module")
def world():
    return cost_world(per_session=1.0, sessions=10)


def test_open_state_picks_redis_when_redis_url_is_set(tmp_path, redis_url, key_prefix):
    with open_state(hosted_settings(tmp_path, redis_url, key_prefix)) as state:
        assert isinstance(state, RedisAlertState)
    with open_state(Settings(data_dir=tmp_path)) as state:
        assert isinstance(state, AlertState)


def test_redis_state_keeps_the_rules_of_the_disk_state(tmp_path, redis_url, key_prefix):
    settings = hosted_settings(tmp_path, redis_url, key_prefix)
    with RedisAlertState(settings) as state, state.run_lock():
        assert state.due("webhook", "budget:80", "f1", now=100.0, quiet_s=60)
        state.mark_sent("webhook", "budget:80", "f1", "budget", now=100.0)
        state.mark_sent("webhook", "report:2026-W48", "r", "budget", now=100.0)
        assert not state.due("webhook", "budget:80", "f1", now=159.0, quiet_s=60)
        assert state.due("webhook", "budget:80", "f1", now=160.0, quiet_s=60)  # quiet over
        assert state.due("webhook", "budget:80", "f2", now=101.0, quiet_s=60)  # changed
        assert state.due("email", "budget:80", "f1", now=101.0, quiet_s=60)  # other channel
        assert state.forget_resolved("budget", {"budget:100"}) == 1  # reports are kept
        assert state.sent("webhook", "budget:80") is None
        assert state.sent("webhook", "report:2026-W48") is not None
        state.record([{"rule": "a", "n": i} for i in range(HISTORY_SIZE + 5)])
        state.record([{"rule": "newest"}, {"rule": "second"}])
        history = state.history(HISTORY_SIZE + 50)
        assert len(history) == HISTORY_SIZE
        assert [h["rule"] for h in history[:3]] == ["newest", "second", "a"]
        assert state.last_run() is None
        state.set_last_run({"delivered": 2, "at": 5.0})
        assert state.last_run() == {"delivered": 2, "at": 5.0}


def test_a_restarted_worker_with_an_empty_disk_does_not_send_again(
    tmp_path, redis_url, key_prefix, world
):
    with WebhookReceiver() as hook:
        dyno1 = hosted_settings(tmp_path / "dyno1", redis_url, key_prefix, webhook_url=hook.url)
        first = run_alerts(dyno1, now=NOW, dataset=world, retry=FAST)
        assert first.delivered == 1 and len(hook.requests) == 1
        assert not (tmp_path / "dyno1" / "cache" / "alerts").exists()  # nothing on the disk

        dyno2 = hosted_settings(tmp_path / "dyno2", redis_url, key_prefix, webhook_url=hook.url)
        again = run_alerts(dyno2, now=NOW + timedelta(hours=1), dataset=world, retry=FAST)
        assert [d.status for d in again.deliveries] == ["quiet"]
        assert len(hook.requests) == 1

        later = run_alerts(dyno2, now=NOW + timedelta(hours=25), dataset=world, retry=FAST)
        assert later.delivered == 1 and len(hook.requests) == 2

        web = hosted_settings(tmp_path / "web", redis_url, key_prefix, webhook_url=hook.url)
        panel = rules_overview(web)
        assert [h["status"] for h in panel["history"]] == ["delivered", "delivered"]
        assert panel["last_run"]["delivered"] == 1


def test_the_embedded_default_forgets_with_its_disk(tmp_path, world):
    """The contrast that motivates the Redis state: without REDIS_URL a new disk sends again."""
    with WebhookReceiver() as hook:
        for dyno in ("dyno1", "dyno2"):
            settings = hosted_settings(tmp_path / dyno, "", "ocs:", webhook_url=hook.url)
            assert run_alerts(settings, now=NOW, dataset=world, retry=FAST).delivered == 1
        assert len(hook.requests) == 2


def test_redis_down_is_one_clear_line(tmp_path, world):
    settings = hosted_settings(tmp_path, "redis://127.0.0.1:9/0", "ocs:", webhook_url="")
    state = open_state(settings)
    with pytest.raises(RedisUnavailable, match="alert state in Redis could not be used"):
        state.history()
    env = clean_env(
        DATA_DIR=str(tmp_path),
        REDIS_URL="redis://127.0.0.1:9/0",
        ALERTS_WEBHOOK_URL="http://127.0.0.1:9/hook",
        OCS_API_KEY="key",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "services.alerts"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "alert state in Redis could not be used" in proc.stderr, proc.stderr
