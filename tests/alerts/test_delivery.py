"""Alert runs against real servers on 127.0.0.1: a webhook receiver and an SMTP server with
STARTTLS and login. Sent once, again after the quiet period or when the event changes,
retried after failures, never a secret in a log."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.alerts import rules_overview, run_alerts
from services.alerts.channels import RetryPolicy
from services.alerts.state import AlertState, state_dir
from services.settings import AlertSettings, Settings
from tests.alerts.data import NOW, cost_world
from tests.alerts.servers import SmtpServer, WebhookReceiver

FAST = RetryPolicy(attempts=3, wait_initial=0, wait_max=0)
BUDGET_ONLY = '[[rule]]\nkind = "budget"\n'


def settings_for(tmp_path, rules: str | None = BUDGET_ONLY, budget=16.0, **alerts) -> Settings:
    if rules is not None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        (tmp_path / "alerts.toml").write_text(rules)
    return Settings(
        data_dir=tmp_path,
        ocs_api_keys=("key",),
        monthly_budget_usd=budget,
        public_url="https://dash.example",
        alerts=AlertSettings(**alerts),
    )


@pytest.fixture(scope="module")
def world():
    return cost_world(per_session=1.0, sessions=10)


def run(settings, world, now=NOW, **kw):
    return run_alerts(settings, now=now, dataset=world, retry=FAST, **kw)


def test_alerts_are_off_until_a_channel_is_configured(tmp_path, world):
    summary = run(settings_for(tmp_path), world)
    assert summary.enabled is False and summary.deliveries == []
    assert summary.line().startswith("alerts off")
    assert not state_dir(Settings(data_dir=tmp_path)).exists()


def test_webhook_sends_once_then_again_after_the_quiet_period(tmp_path, world):
    with WebhookReceiver() as hook:
        settings = settings_for(tmp_path, webhook_url=hook.url, quiet_hours=24)
        first = run(settings, world)
        assert first.delivered == 1 and len(hook.requests) == 1
        body = hook.requests[0]
        assert body["text"].startswith("Cost projected at 89% of the November 2026 budget")
        assert "spent $10.00 of $16.00" in body["text"]
        assert "View: https://dash.example/?range=custom&start=2026-11-01" in body["text"]
        assert body["alert"]["rule"] == "budget"

        again = run(settings, world, now=NOW + timedelta(hours=23))
        assert again.delivered == 0 and [d.status for d in again.deliveries] == ["quiet"]
        assert len(hook.requests) == 1

        later = run(settings, world, now=NOW + timedelta(hours=25))
        assert later.delivered == 1 and len(hook.requests) == 2


def test_a_changed_event_is_sent_within_the_quiet_period(tmp_path, world):
    with WebhookReceiver() as hook:
        settings = settings_for(tmp_path, webhook_url=hook.url)
        run(settings, world)
        over = settings_for(tmp_path, budget=14.0, webhook_url=hook.url)  # 80% → 100%
        summary = run(over, world, now=NOW + timedelta(hours=1))
        assert summary.delivered == 1
        assert "crossed 100%" in hook.requests[-1]["text"]


def test_resolved_event_is_forgotten_so_a_recurrence_is_news(tmp_path, world):
    with WebhookReceiver() as hook:
        run(settings_for(tmp_path, webhook_url=hook.url), world)
        calm = settings_for(tmp_path, budget=1000.0, webhook_url=hook.url)
        assert run(calm, world, now=NOW + timedelta(hours=1)).events == []
        back = run(settings_for(tmp_path, webhook_url=hook.url), world, NOW + timedelta(hours=2))
        assert back.delivered == 1 and len(hook.requests) == 2


def test_retries_a_failing_webhook_with_backoff_until_it_answers(tmp_path, world):
    with WebhookReceiver(fail_first=2, fail_status=503) as hook:
        summary = run(settings_for(tmp_path, webhook_url=hook.url), world)
        assert summary.delivered == 1 and hook.attempts == 3 and len(hook.requests) == 1


def test_failed_delivery_is_reported_then_delivered_on_the_next_run(tmp_path, world, caplog):
    caplog.set_level(logging.DEBUG)
    with WebhookReceiver(fail_first=100) as hook:
        settings = settings_for(tmp_path, webhook_url=hook.url)
        failed = run(settings, world)
        assert failed.failed == 1 and hook.attempts == FAST.attempts
        hook.fail_first = 0
        history = rules_overview(settings)["history"]
        assert history[0]["status"] == "failed" and "HTTP 500" in history[0]["error"]
        retried = run(settings, world, now=NOW + timedelta(minutes=10))
        assert retried.delivered == 1 and len(hook.requests) == 1
    statuses = [h["status"] for h in rules_overview(settings)["history"]]
    assert statuses == ["delivered", "failed"]
    assert "s3cr3t-token" not in caplog.text


def test_unreachable_webhook_error_names_no_secret(tmp_path, world, caplog):
    caplog.set_level(logging.DEBUG)
    with WebhookReceiver() as hook:
        url = hook.url
    settings = settings_for(tmp_path, webhook_url=url)  # the receiver is gone: refused
    summary = run(settings, world)
    assert summary.failed == 1
    error = summary.deliveries[0].error
    assert error == "webhook unreachable (ConnectionError)"
    with AlertState(settings) as state:
        assert "s3cr3t-token" not in repr(state.history())
    assert "s3cr3t-token" not in caplog.text


def test_webhook_refusing_the_url_is_not_retried(tmp_path, world):
    with WebhookReceiver() as hook:
        settings = settings_for(tmp_path, webhook_url=hook.url.replace("s3cr3t-token", "wrong"))
        summary = run(settings, world)
        assert summary.failed == 1 and hook.attempts == 1
        assert summary.deliveries[0].error == "webhook refused the message: HTTP 404"


def email_settings(tmp_path, smtp: SmtpServer, **extra) -> Settings:
    return settings_for(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_user=smtp.user,
        smtp_password=smtp.password,
        email_from="dashboard@example.org",
        email_to=("team@example.org", "lead@example.org"),
        **extra,
    )


def test_email_over_starttls_with_login(tmp_path, world):
    with SmtpServer() as smtp:
        settings = email_settings(tmp_path, smtp)
        summary = run(settings, world, ssl_context=smtp.client_context)
        assert summary.delivered == 1
        (mail,) = smtp.messages
        assert mail["tls"] is True and mail["login"] == smtp.user
        assert mail["to"] == ["team@example.org", "lead@example.org"]
        message = mail["message"]
        assert message["Subject"].startswith("[OCS dashboard] Cost projected at 89%")
        body = message.get_content()
        assert "spent $10.00 of $16.00" in body and "View: https://dash.example/?" in body


def test_email_temporary_failure_then_success_and_wrong_password(tmp_path, world, caplog):
    caplog.set_level(logging.DEBUG)
    with SmtpServer(fail_first=1) as smtp:
        summary = run(email_settings(tmp_path, smtp), world, ssl_context=smtp.client_context)
        assert summary.delivered == 1 and smtp.attempts == 2
    with SmtpServer(password="the-right-one") as smtp:
        right = email_settings(tmp_path / "x", smtp)
        wrong = replace(right, alerts=replace(right.alerts, smtp_password="pa55-word-xyz"))
        summary = run(wrong, world, ssl_context=smtp.client_context)
        assert summary.failed == 1 and summary.deliveries[0].error == "SMTP login refused (535)"
        assert smtp.messages == []
    assert "pa55-word-xyz" not in caplog.text


def test_weekly_report_by_email_and_webhook_once_a_week(tmp_path, world):
    monday_early = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    with SmtpServer() as smtp, WebhookReceiver() as hook:
        settings = email_settings(
            tmp_path, smtp, rules="", webhook_url=hook.url, report=("email", "webhook")
        )
        kw = {"ssl_context": smtp.client_context}
        assert run(settings, world, now=monday_early, **kw).deliveries == []
        due = run(settings, world, now=monday_early + timedelta(hours=2), **kw)
        assert sorted(d.channel for d in due.deliveries if d.status == "delivered") == [
            "email",
            "webhook",
        ]
        message = smtp.messages[0]["message"]
        assert "OCS sessions: last 7 days" in message["Subject"]
        text = message.get_body(("plain",)).get_content()
        assert "Dashboard view: https://dash.example/?range=custom&start=2026-11-16" in text
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_filename() == "ocs-report-2026-11-22.html"
        assert "<h1>OCS sessions: last 7 days</h1>" in attachment.get_content()
        assert hook.requests[0]["report"]["period"]["end"] == "2026-11-22"
        assert "Dashboard view:" in hook.requests[0]["text"]
        same_week = run(settings, world, now=monday_early + timedelta(days=3), **kw)
        assert same_week.deliveries == [] and len(smtp.messages) == 1
        next_week = run(settings, world, now=monday_early + timedelta(days=7, hours=2), **kw)
        assert next_week.delivered == 2


def test_dry_run_sends_nothing_and_changes_nothing(tmp_path, world):
    with WebhookReceiver() as hook:
        settings = settings_for(tmp_path, webhook_url=hook.url)
        summary = run(settings, world, dry_run=True)
        assert [d.status for d in summary.deliveries] == ["would-send"]
        assert hook.attempts == 0
        assert run(settings, world).delivered == 1  # the dry run did not mark it sent


def test_panel_overview_lists_rules_and_why_inactive(tmp_path, world):
    rules_file = BUDGET_ONLY + '[[rule]]\nkind = "sync"\nenabled = false\n'
    with WebhookReceiver() as hook:
        settings = settings_for(tmp_path, rules=rules_file, webhook_url=hook.url)
        run(settings, world)
        overview = rules_overview(settings)
    assert overview["channels"] == ["webhook"]
    assert [(r["name"], r["active"]) for r in overview["rules"]] == [
        ("budget", True),
        ("sync", False),
    ]
    assert overview["rules"][1]["reason"] == "disabled in the rules file"
    assert overview["history"][0]["status"] == "delivered"
    assert overview["last_run"]["delivered"] == 1
    off = rules_overview(settings_for(tmp_path / "off"))
    assert all(not r["active"] for r in off["rules"])


def test_weekly_report_text_still_goes_out_when_the_html_fails(tmp_path, world, monkeypatch):
    from services.outputs import report

    def broken(built):
        raise KeyError("rate")

    monkeypatch.setattr(report, "render_html", broken)
    with WebhookReceiver() as hook:
        settings = settings_for(tmp_path, rules="", webhook_url=hook.url, report=("webhook",))
        summary = run(settings, world, now=datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
        assert summary.delivered == 1
        assert "The HTML version could not be built this time" in hook.requests[0]["text"]


def test_a_failing_channel_costs_its_retries_once_per_run(tmp_path, world):
    two_rules = BUDGET_ONLY + '[[rule]]\nkind = "budget"\nname = "strict"\nshares = [0.5]\n'
    with WebhookReceiver(fail_first=100) as hook:
        settings = settings_for(tmp_path, rules=two_rules, webhook_url=hook.url)
        summary = run(settings, world)
        assert [d.status for d in summary.deliveries] == ["failed", "failed"]
        assert hook.attempts == FAST.attempts  # the second message was not tried
        assert summary.deliveries[1].error.startswith("not tried: webhook failed earlier")
        hook.fail_first = 0
        assert run(settings, world, now=NOW + timedelta(minutes=5)).delivered == 2
