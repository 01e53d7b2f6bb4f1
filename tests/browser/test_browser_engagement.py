"""Browser test of the Engagement and Cost tabs: the real app in Debian's headless Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_browser import pick, wait_ready
from tests.support.browser_support import start_app, stop


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, base = start_app(
        tmp_path_factory.mktemp("browser-engagement"), {"MONTHLY_BUDGET_USD": "100"}
    )
    yield base
    stop(process)


def test_engagement_tab_shows_charts_that_follow_the_filters(server, page):
    page.goto(server + "/?range=90d")
    wait_ready(page)
    page.get_by_role("tab", name="Engagement").click()
    for graph in (
        "messages",
        "words",
        "duration",
        "dropoff",
        "participants",
        "retention",
        "lexicon",
    ):
        expect(page.locator(f"#eng-fig-{graph} .main-svg").first).to_be_visible(timeout=30_000)
    expect(page.locator("#eng-kpi-messages")).not_to_have_text("", timeout=30_000)
    expect(page.locator("#eng-kpi-appreciation")).to_contain_text("%", timeout=30_000)
    expect(page.locator("#eng-kpi-dissatisfaction")).to_contain_text("%")
    expect(page.locator("#eng-notes")).to_contain_text("not message text")
    words = page.locator("#eng-lexicon-words")
    expect(words.get_by_text("useless", exact=True)).to_be_hidden()
    words.get_by_text("Which words count?").click()
    expect(words.get_by_text("useless", exact=True)).to_be_visible()
    subtitle = page.locator("#eng-sub-per-participant")
    expect(subtitle).to_contain_text("participants with a session", timeout=30_000)
    before = subtitle.inner_text()

    pick(page, "f-team", "Maternal Health Helpline")
    expect(subtitle).not_to_have_text(before, timeout=20_000)
    expect(page).to_have_url(re.compile("team=maternal-helpline"), timeout=20_000)
    expect(page.locator("#eng-fig-retention .main-svg").first).to_be_visible()

    page.get_by_role("tab", name="Cost").click()
    expect(page.locator("#cost-fig-time .main-svg").first).to_be_visible(timeout=30_000)
    expect(page.locator("#cost-kpi-total")).to_contain_text("$", timeout=30_000)
    expect(page.locator("#cost-budget")).to_contain_text("Projected for the month")
    expect(page.locator("#cost-budget-bar")).to_be_visible()
    expect(page.locator("#cost-model-table")).to_contain_text("gpt-4o")
    assert page.console_errors == []
