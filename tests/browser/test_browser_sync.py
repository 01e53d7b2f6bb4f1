"""Browser test of Refresh: click it, watch progress, reload mid-sync, see the new data.

The app runs as ``python app.py`` with three team keys pointing at the fake OCS HTTP server;
the fake answers slowly so the sync is observable.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support.browser_support import CHROMIUM_ARGS, chromium_path, start_app, stop
from tests.support.fake_ocs import FakeOCS


@pytest.fixture(scope="module")
def fake():
    with FakeOCS.from_demo(n_sessions=900, teams=3) as server:
        yield server


@pytest.fixture(scope="module")
def app_url(fake, tmp_path_factory):
    process, base = start_app(
        tmp_path_factory.mktemp("sync-data"),
        {
            "OCS_API_BASE_URL": fake.base_url,
            "OCS_API_KEYS": ",".join(fake.keys),
            "SYNC_AUTO_START": "false",
            "SYNC_CONCURRENCY": "2",
        },
    )
    yield base
    stop(process)


def test_refresh_shows_progress_survives_reload_and_loads_new_data(fake, app_url):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_navigation_timeout(120_000)
        page.set_default_timeout(60_000)
        page.goto(app_url + "/?range=all")
        expect(page.locator("#data-freshness")).to_contain_text("No data yet", timeout=30_000)
        expect(page.locator("#fig-time")).to_contain_text("No data yet")

        fake.delay = 0.03  # ~1k requests → the sync takes long enough to watch and reload
        page.click("#refresh-button")
        progress = page.locator("#sync-progress")
        expect(progress).to_contain_text("Syncing", timeout=20_000)
        expect(progress).to_contain_text("team", timeout=20_000)
        expect(page.locator("#refresh-button")).to_be_disabled()
        expect(page.locator("#cancel-button")).to_be_visible()

        page.reload()  # the job keeps running; every viewer sees the shared status
        expect(progress).to_contain_text("Syncing", timeout=20_000)
        expect(page.locator("#refresh-button")).to_be_disabled()

        fake.delay = 0.0
        expect(page.locator("#data-freshness")).to_contain_text("Last synced", timeout=120_000)
        expect(page.locator("#data-freshness")).to_contain_text("900 sessions")
        expect(page.locator("#kpi-sessions")).not_to_have_text("0", timeout=30_000)
        before = page.locator("#kpi-sessions").inner_text()
        expect(page.locator("#refresh-button")).to_be_enabled(timeout=20_000)

        # a second refresh after new sessions arrive in OCS picks them up
        fake.add_sessions("connect-experiments", 7, status="active")
        page.click("#refresh-button")
        expect(page.locator("#data-freshness")).to_contain_text("907 sessions", timeout=60_000)
        after = int(before.replace(",", "")) + 7
        expect(page.locator("#kpi-sessions")).to_have_text(f"{after:,}", timeout=30_000)
        browser.close()
