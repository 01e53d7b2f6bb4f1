"""``python -m services.alerts`` as a scheduler runs it (subprocess), the rules file, and the
hook at the end of a successful sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.alerts import config as alert_config
from services.alerts import runner
from services.alerts.cli import EXIT_CONFIG, EXIT_DELIVERY, EXIT_OK
from services.alerts.config import load_config
from services.alerts.state import AlertState
from services.settings import AlertSettings, Settings, SettingsError, load_settings
from services.sync import status as sync_status
from tests.alerts.data import write_store
from tests.alerts.servers import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "DATA_DIR": str(tmp_path),
        "OCS_API_KEY": "test-key",
        "PUBLIC_URL": "https://dash.example",
    }
    return subprocess.run(
        [sys.executable, "-m", "services.alerts", *args],
        cwd=tmp_path,  # no .env from the checkout
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def failing_sync(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path, ocs_api_keys=("test-key",))
    sync_status.write_status(settings, state="error", last_error="OCS answered 503")
    return settings


def test_dry_run_prints_what_would_be_sent_and_sends_nothing(tmp_path):
    settings = failing_sync(tmp_path)
    with WebhookReceiver() as hook:
        result = cli(tmp_path, "--dry-run", ALERTS_WEBHOOK_URL=hook.url, ALERTS_LOG="true")
        assert result.returncode == EXIT_OK, result.stderr
        out = result.stdout
        assert "dry run: channels: webhook, log" in out
        assert "would send [sync] to webhook, log:" in out
        assert "Sync failing for all teams" in out and "last error: OCS answered 503" in out
        assert "View: https://dash.example/?" in out
        assert hook.attempts == 0
    with AlertState(settings) as state:
        assert state.history() == [] and state.last_run() is None


def test_run_then_restart_sends_each_event_once(tmp_path):
    failing_sync(tmp_path)
    with WebhookReceiver() as hook:
        first = cli(tmp_path, ALERTS_WEBHOOK_URL=hook.url)
        assert first.returncode == EXIT_OK, first.stderr
        assert "2 events found, 2 messages sent" in first.stdout  # failing + never synced
        texts = sorted(r["text"].splitlines()[0] for r in hook.requests)
        assert texts == [
            "No successful sync for all teams in over 24 h",
            "Sync failing for all teams",
        ]
        again = cli(tmp_path, ALERTS_WEBHOOK_URL=hook.url)  # a new process: state on disk
        assert again.returncode == EXIT_OK and "0 messages sent" in again.stdout
        assert len(hook.requests) == 2
        dry = cli(tmp_path, "--dry-run", ALERTS_WEBHOOK_URL=hook.url)
        assert "held back [sync] (already sent, quiet period) on webhook" in dry.stdout


def test_failed_delivery_exit_code_and_no_secret_on_screen(tmp_path):
    failing_sync(tmp_path)
    with WebhookReceiver(fail_first=100) as hook:
        url = hook.url
        result = cli(tmp_path, ALERTS_WEBHOOK_URL=url, LOG_LEVEL="DEBUG")
    assert result.returncode == EXIT_DELIVERY
    assert (
        "failed: Sync failing for all teams via webhook: webhook answered HTTP 500" in result.stderr
    )
    assert "s3cr3t-token" not in result.stdout + result.stderr


def test_alerts_off_without_a_channel(tmp_path):
    result = cli(tmp_path)
    assert result.returncode == EXIT_OK
    assert result.stdout.startswith("alerts off: no channel configured")


@pytest.mark.parametrize(
    ("env", "rules", "message"),
    [
        ({"ALERTS_SMTP_PORT": "abc"}, None, "ALERTS_SMTP_PORT must be a whole number"),
        ({}, "[[rule\n", "not valid TOML"),
    ],
)
def test_configuration_problems_are_one_clear_message(tmp_path, env, rules, message):
    if rules is not None:
        (tmp_path / "alerts.toml").write_text(rules)
    result = cli(tmp_path, "--dry-run", ALERTS_LOG="true", **env)
    assert result.returncode == EXIT_CONFIG
    assert message in result.stderr and "Traceback" not in result.stderr


def test_unknown_team_in_a_rule_is_reported_and_the_others_still_run(tmp_path):
    failing_sync(tmp_path)
    write_store(tmp_path, [{"id": "s1", "created": "2026-11-10T12:00:00Z", "team": "team-a"}])
    (tmp_path / "alerts.toml").write_text(
        '[[rule]]\nkind = "sync"\n\n[[rule]]\nkind = "unusual_day"\nfilters = "team=nope"\n'
    )
    result = cli(tmp_path, "--dry-run", ALERTS_LOG="true")
    assert result.returncode == EXIT_OK  # a dry run always exits 0 once it ran
    assert "would send [sync] to log:" in result.stdout
    assert "Sync failing for Team A" in result.stdout
    assert (
        "problem: rule 'unusual_day': filters: Unknown team “nope” not in the data" in result.stdout
    )
    real = cli(tmp_path, ALERTS_LOG="true")
    assert real.returncode == EXIT_CONFIG and "Unknown team" in real.stderr


# ---- the rules file ---------------------------------------------------------------------------


def test_rules_file_defaults_and_parsing(tmp_path):
    settings = Settings(data_dir=tmp_path)
    defaults = load_config(settings)
    assert defaults.source == "defaults" and defaults.problems == ()
    assert [r.kind for r in defaults.rules] == ["unusual_day", "quality_drop", "budget", "sync"]
    (tmp_path / "alerts.toml").write_text(
        "quiet_hours = 6\n"
        '[[rule]]\nkind = "quality_drop"\nfilters = "?team=a"\np_threshold = 0.01\nmin_n = 50\n'
        '[[rule]]\nkind = "quality_drop"\nwindow_days = 28\n'
        '[[rule]]\nkind = "budget"\nstale_hours = 3\n'
        '[[rule]]\nkind = "sms"\n'
        '[report]\nweekday = "Friday"\nhour = 16\nchannels = ["email"]\n'
    )
    config = load_config(settings)
    assert config.quiet_hours == 6
    assert [(r.name, r.filters) for r in config.rules] == [
        ("quality_drop", "team=a"),
        ("quality_drop-2", ""),
    ]
    assert config.rules[0].p_threshold == 0.01 and config.rules[1].window_days == 28
    assert config.report.weekday == 4 and config.report.hour == 16
    assert config.report.channels == ("email",)
    assert config.problems == (
        "rule 'budget': stale_hours does not apply to a budget rule",
        "rule 4: kind must be one of unusual_day, quality_drop, budget, sync (got 'sms')",
    )


def test_settings_read_alert_channels_and_hide_secrets():
    settings = load_settings(
        {
            "PUBLIC_URL": "https://dash.example/",
            "ALERTS_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/xyz",
            "ALERTS_SMTP_HOST": "smtp.example.org",
            "ALERTS_SMTP_PASSWORD": "hunter2-long",
            "ALERTS_EMAIL_FROM": "dash@example.org",
            "ALERTS_EMAIL_TO": "a@example.org, b@example.org",
            "ALERTS_REPORT": "email",
        },
        dotenv=False,
    )
    assert settings.public_url == "https://dash.example"
    assert settings.alerts.channels == ("webhook", "email")
    assert settings.alerts.email_to == ("a@example.org", "b@example.org")
    assert settings.alerts.smtp_port == 587 and settings.alerts.smtp_starttls is True
    with pytest.raises(SettingsError) as err:
        load_settings({"ALERTS_WEBHOOK_URL": "hooks.slack.com/T/B/xyz-secret"}, dotenv=False)
    assert "ALERTS_WEBHOOK_URL must be an http(s) URL" in str(err.value)
    assert "xyz-secret" not in str(err.value)
    with pytest.raises(SettingsError, match="ALERTS_REPORT must list email and/or webhook"):
        load_settings({"ALERTS_REPORT": "pigeon"}, dotenv=False)
    with pytest.raises(SettingsError, match=r"PUBLIC_URL must be the dashboard's http"):
        load_settings({"PUBLIC_URL": "dash.example"}, dotenv=False)


# ---- after a sync -----------------------------------------------------------------------------


def test_a_successful_sync_runs_the_alerts_and_their_failure_never_fails_it(tmp_path, monkeypatch):
    from services.alerts import after_sync
    from services.sync.client import ClientPolicy
    from services.sync.engine import run_sync
    from tests.support.fake_ocs import FakeOCS

    policy = ClientPolicy(connect_timeout=2, read_timeout=5, retries=1, backoff_factor=0.001)
    with FakeOCS.from_demo(n_sessions=60, teams=1) as fake:
        settings = Settings(
            data_dir=tmp_path,
            ocs_api_base_url=fake.base_url,
            ocs_api_keys=tuple(fake.keys),
            alerts=AlertSettings(log=True),
        )
        run_sync(settings, policy=policy, sleep=lambda s: None, after_success=after_sync)
        with AlertState(settings) as state:
            assert state.last_run() is not None  # the alerts ran after the sync

        def broken(*args, **kwargs):
            raise RuntimeError("alerts exploded")

        monkeypatch.setattr(runner, "run_alerts", broken)
        summary = run_sync(settings, policy=policy, sleep=lambda s: None, after_success=after_sync)
        assert summary.generation == 1  # nothing changed on the server: no new generation
        assert sync_status.read_status(settings)["state"] == "ok"


def test_the_sync_cli_composes_the_alerts_hook():
    """``python -m services.sync`` passes the alerts' hook to the engine (which knows no alerts)."""
    import ast
    import importlib.util
    from pathlib import Path

    tree = ast.parse(Path(importlib.util.find_spec("services.sync.__main__").origin).read_text())
    calls = [
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "main"
    ]
    assert [kw.arg for kw in calls[0].keywords] == ["after_success"]


# ---- the rules file never crashes the run -----------------------------------------------------

_VALUES = st.one_of(
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=12),
    st.lists(
        st.one_of(st.integers(-5, 5), st.floats(0, 3), st.sampled_from(["sessions", "x"])),
        max_size=3,
    ),
)
_KEYS = st.sampled_from([*sorted(alert_config.RULE_KEYS), "colour"])  # "colour": unknown


@settings(max_examples=150, deadline=None)
@given(
    rules=st.lists(st.dictionaries(_KEYS, _VALUES, max_size=6), max_size=4),
    kinds=st.lists(
        st.sampled_from(["unusual_day", "quality_drop", "budget", "sync", "sms"]), max_size=4
    ),
)
def test_any_rules_file_gives_rules_or_readable_problems(tmp_path_factory, rules, kinds):
    folder = tmp_path_factory.mktemp("rules")
    lines = []
    for index, rule in enumerate(rules):
        if index < len(kinds):
            rule = {**rule, "kind": kinds[index]}
        lines.append("[[rule]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in rule.items()]
    (folder / "alerts.toml").write_text("\n".join(lines) + "\n")
    config = load_config(Settings(data_dir=folder))
    assert len(config.rules) + len(config.problems) >= 1 or not rules
    for problem in config.problems:
        assert isinstance(problem, str) and "Traceback" not in problem
    for rule in config.rules:
        assert rule.kind in ("unusual_day", "quality_drop", "budget", "sync")
