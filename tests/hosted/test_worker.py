"""The Celery app's schedule: SYNC_EVERY_MINUTES, at most one scheduled sync per period."""

from __future__ import annotations

import pytest

from services.settings import SettingsError, load_settings
from services.worker import app as worker_app
from services.worker.app import (
    ALERTS_TASK,
    SYNC_TASK,
    alerts_task,
    claim_schedule_slot,
    make_celery,
    sync_task,
)

pytestmark = pytest.mark.hosted


def test_beat_schedule_follows_sync_every_minutes(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:6379/15"}
    every = make_celery(load_settings(env=dict(env, SYNC_EVERY_MINUTES="15"), dotenv=False))
    entry = every.conf.beat_schedule["periodic-sync"]
    assert (entry["task"], entry["schedule"], entry["kwargs"]) == (
        SYNC_TASK,
        900.0,
        {"scheduled": True},
    )
    assert SYNC_TASK in every.tasks
    assert not make_celery(load_settings(env=env, dotenv=False)).conf.beat_schedule


def test_sync_every_minutes_without_redis_is_a_clear_settings_problem():
    with pytest.raises(SettingsError, match="SYNC_EVERY_MINUTES needs REDIS_URL"):
        load_settings(env={"SYNC_EVERY_MINUTES": "30"}, dotenv=False)


def test_two_beats_in_one_period_run_one_scheduled_sync(tmp_path, redis_url, key_prefix):
    from services import runtime

    settings = load_settings(
        env={
            "DATA_DIR": str(tmp_path),
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": key_prefix,
            "SYNC_EVERY_MINUTES": "30",
        },
        dotenv=False,
    )
    assert claim_schedule_slot(settings) is True
    assert claim_schedule_slot(settings) is False  # the second worker's beat in the same period
    runtime.configure(settings)
    assert sync_task(scheduled=True)["state"] == "skipped"


def test_beat_runs_the_alerts_hourly_once_a_channel_is_configured(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:6379/15"}
    on = make_celery(load_settings(env=dict(env, ALERTS_LOG="true"), dotenv=False))
    entry = on.conf.beat_schedule["periodic-alerts"]
    assert (entry["task"], entry["schedule"], entry["kwargs"]) == (
        ALERTS_TASK,
        3600.0,
        {"scheduled": True},
    )
    assert ALERTS_TASK in on.tasks
    assert "periodic-alerts" not in (
        make_celery(load_settings(env=env, dotenv=False)).conf.beat_schedule or {}
    )


def test_the_worker_sync_is_followed_by_the_alerts_and_beats_share_one_alert_run(
    tmp_path, redis_url, key_prefix, monkeypatch
):
    from services import alerts, runtime
    from services.sync import engine

    settings = load_settings(
        env={
            "DATA_DIR": str(tmp_path),
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": key_prefix,
            "ALERTS_LOG": "true",
        },
        dotenv=False,
    )
    runtime.configure(settings)
    seen = {}

    class Summary:
        def line(self):
            return "synced"

    def fake_run_sync(current, full=False, after_success=None):
        seen["hook"] = after_success
        return Summary()

    monkeypatch.setattr(engine, "run_sync", fake_run_sync)
    assert sync_task()["state"] == "ok"
    assert seen["hook"] is alerts.after_sync

    runs = []
    monkeypatch.setattr(alerts, "run_alerts", lambda current: runs.append(current) or Summary())
    assert alerts_task(scheduled=True) == {"state": "ok", "message": "synced"}
    assert alerts_task(scheduled=True)["state"] == "skipped"  # a second beat, same period
    assert len(runs) == 1
    assert worker_app.ALERTS_EVERY_SECONDS == 3600.0
