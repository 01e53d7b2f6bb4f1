"""The Celery app's schedule: SYNC_EVERY_MINUTES, at most one scheduled sync per period."""

from __future__ import annotations

import pytest

from services.settings import SettingsError, load_settings
from services.worker.app import SYNC_TASK, claim_schedule_slot, make_celery, sync_task

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
