"""The page's Alerts panel, called directly: rules with their state, the last deliveries."""

from __future__ import annotations

import json

from plotly.utils import PlotlyJSONEncoder

from callbacks.alerts import open_alerts, panel
from layouts.page import EMPTY_OPTIONS, page
from services import runtime
from services.alerts.channels import RetryPolicy
from services.alerts.runner import run_alerts
from services.settings import AlertSettings, Settings
from tests.alerts.data import NOW, cost_world
from tests.alerts.servers import WebhookReceiver


def text_of(components) -> str:
    return json.dumps(components, cls=PlotlyJSONEncoder)


def test_panel_shows_active_rules_and_delivered_and_failed_messages(tmp_path):
    (tmp_path / "alerts.toml").write_text('[[rule]]\nkind = "budget"\n[[rule]]\nkind = "sync"\n')
    world = cost_world()
    with WebhookReceiver(fail_first=3) as hook:
        settings = Settings(
            data_dir=tmp_path,
            monthly_budget_usd=16.0,
            alerts=AlertSettings(webhook_url=hook.url),
        )
        fast = RetryPolicy(attempts=3, wait_initial=0, wait_max=0)
        run_alerts(settings, now=NOW, dataset=world, retry=fast)  # 3 × HTTP 500: failed
        run_alerts(settings, now=NOW, dataset=world, retry=fast)  # then delivered
    text = text_of(panel(settings))
    assert "Sending to webhook" in text
    assert "Monthly cost projection vs budget" in text and "active" in text
    assert "demo mode: nothing is synced" in text  # the sync rule, with why it is inactive
    assert text.count("Cost projected at 89%") == 2
    assert "delivered" in text and "failed" in text and "webhook answered HTTP 500" in text
    assert "s3cr3t-token" not in text


def test_panel_when_alerts_are_off_and_the_callback_opens_it(tmp_path):
    settings = Settings(data_dir=tmp_path)
    runtime.configure(settings)
    is_open, body = open_alerts(1)
    assert is_open is True
    text = text_of(body)
    assert "Alerts are off: no channel is configured" in text and "Nothing sent yet." in text
    assert "alerts-open" in text_of(page(dict(EMPTY_OPTIONS), True))
