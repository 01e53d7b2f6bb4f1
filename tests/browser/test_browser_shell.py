"""Browser tests for what a user hits around the views (issue #17): Copy link, failed updates,
keyboard and accessibility (axe-core), state in the URL, saved-view picker, 404 and favicon.

Each would have failed on the page before the fix (see the issue's numbered points).
"""

from __future__ import annotations

import re
import unicodedata

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.test_browser import kpi, pick, wait_ready
from tests.support.browser_support import ROOT, start_app, stop

TABS = ("Overview", "Quality & versions", "Engagement", "Cost", "Sessions")
DRAWN = """() => [...document.querySelectorAll('.tab-pane.active .js-plotly-plot')]
    .every(g => g.querySelector('.main-svg'))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, base = start_app(tmp_path_factory.mktemp("browser-shell"))
    yield base
    stop(process)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    if name == "Sessions":
        page.wait_for_selector("#sessions-table tbody tr td a")
    else:
        page.wait_for_function(DRAWN)


# ---- 1. Copy link ------------------------------------------------------------------------------


def test_copy_link_copies_the_current_url_with_the_keyboard(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        page.goto(server + "/?range=30d")
        wait_ready(page)
        pick(page, "f-team", "Maternal Health Helpline")
        page.wait_for_url(re.compile("team=maternal-helpline"))
        page.evaluate("navigator.clipboard.writeText('before')")
        button = page.locator("#copy-link")
        assert button.evaluate("e => e.tabIndex") >= 0  # in the Tab order
        page.focus("#f-reset")
        page.keyboard.press("Tab")
        expect(button).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#copy-link-status")).to_have_text("Link copied")
        assert page.evaluate("navigator.clipboard.readText()") == page.url
        assert "team=maternal-helpline" in page.url and "range=30d" in page.url
        page.evaluate("navigator.clipboard.writeText('again')")
        page.keyboard.press("Space")
        page.wait_for_function("async () => (await navigator.clipboard.readText()) !== 'again'")
        assert page.evaluate("navigator.clipboard.readText()") == page.url
    finally:
        context.close()


# ---- 3. a server that stops answering ----------------------------------------------------------


@pytest.mark.parametrize("failure", ["500", "no answer"])
def test_a_failed_update_says_what_failed_and_retry_updates_the_numbers(server, page, failure):
    page.goto(server + "/?range=90d")
    wait_ready(page)
    before = page.locator("#kpi-sessions").inner_text()

    def refuse(route):
        if failure == "500":
            route.fulfill(status=500, body="Internal Server Error")
        else:
            route.abort("connectionrefused")

    page.route("**/_dash-update-component*", refuse)
    pick(page, "f-range", "Last 7 days")
    alert = page.locator("#update-failed")
    expect(alert).to_be_visible(timeout=20_000)
    expect(alert).to_contain_text("Could not update")
    expect(alert).to_contain_text("the filters")
    expect(alert).to_contain_text("500" if failure == "500" else "did not answer")
    expect(alert.get_by_role("button", name="Retry")).to_be_visible()
    assert page.locator("#kpi-sessions").inner_text() == before  # still the 90 days
    # the stale numbers are marked as such
    assert page.evaluate("document.body.classList.contains('updates-failed')")

    page.unroute("**/_dash-update-component*")
    alert.get_by_role("button", name="Retry").click()
    expect(page.locator("#kpi-sessions")).not_to_have_text(before, timeout=30_000)
    expect(page).to_have_url(re.compile("range=7d"))
    expect(alert).to_have_count(0, timeout=20_000)
    seven = kpi(page)
    assert 0 < seven < int(before.replace(",", ""))


# ---- 6. keyboard and accessibility -------------------------------------------------------------


def test_tabs_are_reachable_and_operable_with_the_keyboard(server, page):
    page.goto(server + "/")
    wait_ready(page)
    tabs = page.get_by_role("tab")
    assert tabs.count() == 5
    ids = [tabs.nth(i).get_attribute("id") for i in range(5)]
    assert len(set(ids)) == 5 and not any(i.endswith("null") for i in ids)
    for i in range(5):  # each tab controls its own panel
        controls = tabs.nth(i).get_attribute("aria-controls")
        assert page.locator(f"[id='{controls}'][role='tabpanel']").count() == 1
    assert [tabs.nth(i).get_attribute("tabindex") for i in range(5)] == ["0"] + ["-1"] * 4

    page.focus("#alerts-open")
    page.keyboard.press("Tab")  # the next Tab stop after the Alerts button: the open tab
    overview = page.get_by_role("tab", name="Overview")
    expect(overview).to_be_focused()
    outline = overview.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline not in ("", "none")  # visible focus
    page.keyboard.press("ArrowRight")
    quality = page.get_by_role("tab", name="Quality & versions")
    expect(quality).to_be_focused()
    expect(quality).to_have_attribute("aria-selected", "true")
    page.keyboard.press("End")
    sessions = page.get_by_role("tab", name="Sessions")
    expect(sessions).to_have_attribute("aria-selected", "true")
    expect(page.locator("#sessions-table tbody tr").first).to_contain_text("open", timeout=30_000)
    page.keyboard.press("Home")
    expect(overview).to_have_attribute("aria-selected", "true")


def test_definitions_show_on_focus_and_chart_toolbars_stay_out_of_the_tab_order(server, page):
    page.goto(server + "/")
    wait_ready(page)
    info = page.locator("#kpi-row .kpi-info").first
    assert info.evaluate("e => e.tabIndex") >= 0
    page.focus("#f-reset")
    page.keyboard.press("Tab")  # keyboard focus from here on: :focus-visible
    info.focus()
    shown = info.evaluate("e => getComputedStyle(e, '::after').display")
    text = info.evaluate("e => getComputedStyle(e, '::after').content")
    assert shown == "block" and "Sessions started" in text
    assert "Sessions started" in info.get_attribute("aria-label")
    page.wait_for_selector("#fig-time .modebar-btn", state="attached")
    focusable = page.evaluate(
        "[...document.querySelectorAll('.modebar-btn')].filter(b => b.tabIndex >= 0).length"
    )
    assert focusable == 0


def _serious(results: dict) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:5]]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_any_tab(server, page, theme):
    axe = Axe()
    page.goto(server + "/?range=365d")
    wait_ready(page)
    if theme == "dark":
        page.click("#theme-switch")
        page.wait_for_function("document.documentElement.getAttribute('data-bs-theme') === 'dark'")
    found = {}
    for tab in TABS:
        open_tab(page, tab)
        page.wait_for_timeout(300)  # the tab's fade-in: axe reads colours mid-transition
        problems = _serious(axe.run(page).response)
        if problems:
            found[tab] = problems
    assert found == {}


def test_the_page_needs_no_emoji_font(server, page):
    page.goto(server + "/?range=365d")
    wait_ready(page)
    for tab in TABS:
        open_tab(page, tab)
    text = page.evaluate("document.body.innerText")
    symbols = {c for c in text if unicodedata.category(c) == "So" and ord(c) > 0x2BFF}
    assert symbols == set()


# ---- 10. state in the URL ----------------------------------------------------------------------


def test_tab_sort_and_page_live_in_the_url(server, page, browser):
    page.goto(server + "/?range=all")
    wait_ready(page)
    open_tab(page, "Sessions")
    page.wait_for_url(re.compile(r"tab=sessions"))
    page.locator("#sessions-table thead button", has_text="Messages").click()
    page.wait_for_url(re.compile(r"sort=messages"))
    page.click("#sessions-next")
    page.wait_for_url(re.compile(r"page=2"))
    pager = page.locator("#sessions-range")
    expect(pager).to_contain_text("rows 51–100")
    first_link = page.locator("#sessions-table tbody tr td a").first
    first = first_link.get_attribute("href")

    page.reload()
    page.wait_for_selector("#kpi-sessions", state="attached", timeout=60_000)
    expect(page.get_by_role("tab", name="Sessions")).to_have_attribute(
        "aria-selected", "true", timeout=30_000
    )
    expect(pager).to_contain_text("rows 51–100", timeout=60_000)
    expect(page.locator("th[aria-sort='descending']")).to_contain_text("Messages")
    expect(first_link).to_have_attribute("href", first)

    other = browser.new_page(viewport={"width": 1280, "height": 900})  # a copied link
    other.set_default_timeout(60_000)
    other.goto(page.url)
    expect(other.locator("#sessions-range")).to_contain_text("rows 51–100", timeout=60_000)
    other.close()

    pick(page, "f-range", "Last 365 days")  # new filters: page 1, the tab and sort stay
    expect(pager).to_contain_text("rows 1–50", timeout=30_000)
    # the page number leaves the URL once the table's new state is written back
    page.wait_for_url(lambda url: "range=365d" in url and "page=" not in url, timeout=30_000)
    assert "tab=sessions" in page.url
    page.get_by_role("tab", name="Cost").click()
    page.wait_for_url(re.compile(r"tab=cost"))
    page.go_back()  # back to the Sessions tab
    expect(page.get_by_role("tab", name="Sessions")).to_have_attribute(
        "aria-selected", "true", timeout=20_000
    )
    assert page.console_errors == []


def test_saved_view_name_goes_when_the_filters_change(server, page):
    page.goto(server + "/?range=30d&team=connect-experiments")
    wait_ready(page)
    page.fill("#sv-name", "Connect, 30 days")
    page.click("#sv-save")
    expect(page.locator("#sv-select")).to_contain_text("Connect, 30 days", timeout=20_000)
    pick(page, "f-range", "Last 7 days")
    page.wait_for_url(re.compile("range=7d"))
    expect(page.locator("#sv-select")).to_contain_text("Open a saved view", timeout=20_000)


# ---- 9. first states: 404, favicon, date picker -------------------------------------------------


def test_unknown_paths_answer_404_and_the_favicon_is_the_projects(server):
    response = requests.get(server + "/does-not-exist", timeout=30)
    assert response.status_code == 404 and "Page not found" in response.text
    assert requests.get(server + "/", timeout=30).status_code == 200
    icon = (ROOT / "assets" / "favicon.ico").read_bytes()
    for path in ("/_favicon.ico", "/favicon.ico"):
        assert requests.get(server + path, timeout=30).content == icon


def test_date_picker_opens_on_the_end_of_the_window(server, page):
    page.goto(server + "/?range=custom&start=2026-03-02&end=2026-03-20")
    wait_ready(page)
    page.click("#f-dates")
    calendar = page.locator(".dash-datepicker-calendar-wrapper, [role='dialog']").first
    expect(calendar).to_contain_text("March 2026", timeout=20_000)
