"""The Alerts panel in a real page: the button opens it, it lists the rules and the last
messages of a run made by the CLI against the same DATA_DIR."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser_support import start_app, stop

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("alerts-page")
    (data_dir / "alerts.toml").write_text('[[rule]]\nkind = "budget"\n[[rule]]\nkind = "sync"\n')
    process, base = start_app(
        data_dir,
        {"ALERTS_LOG": "true", "MONTHLY_BUDGET_USD": "1", "DEMO_ANCHOR": "2026-11-22"},
    )
    yield base
    stop(process)


def test_alerts_button_opens_the_panel_with_rules(page, app_url):
    page.goto(app_url + "/")
    expect(page.locator("#data-freshness")).to_contain_text("Demo data", timeout=60_000)
    page.click("#alerts-open")
    panel = page.locator("#alerts-body")  # inside the offcanvas
    expect(panel).to_contain_text("Sending to log", timeout=60_000)  # a loaded 2-core machine
    expect(panel).to_contain_text("Monthly cost projection vs budget")
    expect(panel).to_contain_text("demo mode: nothing is synced")
    expect(panel).to_contain_text("Nothing sent yet.")
    expect(panel).to_be_visible()
    assert page.console_errors == []
