"""services.settings: every problem is reported as one readable line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.auth.users import hash_password
from services.settings import SettingsError, load_settings


def load(**env: str):
    return load_settings(env, dotenv=False)


def problems(**env: str) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load(**env)
    return caught.value.problems


def test_defaults_are_local_demo_mode():
    settings = load()
    assert settings.demo_mode and not settings.production and not settings.auth_disabled
    assert settings.port == 8050 and settings.data_dir == Path("data")
    assert settings.dashboard_users == {} and settings.show_participant_ids is False


def test_port_or_app_env_mean_production():
    assert load(PORT="5000").production
    assert load(APP_ENV="production").production
    assert not load(PORT="5000", APP_ENV="development").production


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PORT": "abc"}, "PORT must be a whole number (got 'abc')"),
        ({"PORT": "0"}, "PORT must be at least 1"),
        ({"SYNC_TRANSCRIPTS": "bogus"}, "SYNC_TRANSCRIPTS must be one of all, recent, none"),
        ({"OCS_API_BASE_URL": "ftp://x"}, "OCS_API_BASE_URL must be an http(s) URL"),
        ({"OCS_API_BASE_URL": "https://"}, "OCS_API_BASE_URL must be an http(s) URL"),
        ({"AUTH_DISABLED": "maybe"}, "AUTH_DISABLED must be true or false"),
        ({"SHOW_PARTICIPANT_IDS": "2"}, "SHOW_PARTICIPANT_IDS must be true or false"),
        ({"APP_ENV": "staging"}, "APP_ENV must be production or development"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR"),
        ({"SYNC_CONCURRENCY": "99"}, "SYNC_CONCURRENCY must be at most 16"),
        ({"MONTHLY_BUDGET_USD": "-1"}, "MONTHLY_BUDGET_USD must not be negative"),
        ({"DEMO_SESSIONS": "lots"}, "DEMO_SESSIONS must be a whole number"),
        ({"DASHBOARD_USERS": "alice"}, "DASHBOARD_USERS entries must look like name:hash"),
        ({"DASHBOARD_USERS": ":scrypt$a$b"}, "DASHBOARD_USERS entries must look like name:hash"),
    ],
)
def test_invalid_values_give_clear_messages(env, expected):
    found = problems(**env)
    assert any(expected in p for p in found), found
    assert all("\n" not in p for p in found)


def test_all_problems_are_reported_together():
    found = problems(PORT="abc", SYNC_TRANSCRIPTS="bogus", OCS_API_BASE_URL="ftp://x")
    assert len(found) == 3
    text = str(SettingsError(found))
    assert text.startswith("Configuration problem:") and text.count("\n  - ") == 3


def test_dashboard_users_parsing():
    a, b = hash_password("first password"), hash_password("second password")
    settings = load(DASHBOARD_USERS=f" alice:{a},bob:{b}\n")
    assert settings.dashboard_users == {"alice": a, "bob": b}


def test_plain_password_in_dashboard_users_is_refused_without_echoing_it():
    found = problems(DASHBOARD_USERS="alice:hunter2hunter2")
    assert found == [
        "DASHBOARD_USERS: the entry for 'alice' is not a password hash; make one with "
        "`python -m services.auth hash` (see README, Sign-in)"
    ]


def test_duplicate_user_is_refused():
    a = hash_password("first password")
    assert any("listed twice" in p for p in problems(DASHBOARD_USERS=f"alice:{a} alice:{a}"))


def test_api_keys_are_collected_and_deduplicated():
    settings = load(OCS_API_KEY="k1", OCS_API_KEYS="k2, k1,,k3")
    assert settings.ocs_api_keys == ("k1", "k2", "k3") and not settings.demo_mode


def test_secret_values_are_not_in_problem_messages():
    found = problems(OCS_API_KEY="sk-very-secret", SECRET_KEY="also-secret", PORT="x")
    assert not any("sk-very-secret" in p or "also-secret" in p for p in found)
