"""Browser tests: the real app (``python app.py``) in Debian's headless Chromium.

They check what a person sees: the page loads with demo data and no console errors, every
filter changes the views and the URL, a copied link restores the view, bad links give a notice,
and the sessions table agrees with the cards (also in the downloaded CSV).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.support.browser_support import start_app, stop


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, base = start_app(tmp_path_factory.mktemp("browser-data"))
    yield base
    stop(process)


def kpi(page, key: str = "sessions") -> int:
    text = page.locator(f"#kpi-{key}").inner_text()
    return int(re.sub(r"[^\d]", "", text))


def wait_ready(page) -> None:
    page.wait_for_selector("#kpi-sessions", timeout=60_000)
    page.wait_for_selector("#fig-time .main-svg", timeout=60_000)


def wait_kpi_change(page, before: str) -> str:
    expect(page.locator("#kpi-sessions")).not_to_have_text(before, timeout=20_000)
    return page.locator("#kpi-sessions").inner_text()


def pick(page, dropdown_id: str, option_text: str) -> None:
    page.click(f"#{dropdown_id}")
    page.locator(".dash-dropdown-option", has_text=option_text).first.click()
    page.keyboard.press("Escape")


def test_page_loads_with_demo_data_and_no_console_errors(server, page):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server + "/")
    wait_ready(page)
    assert kpi(page) > 0
    assert kpi(page, "participants") > 0
    expect(page.locator("#demo-banner")).to_contain_text("Demo data")
    expect(page.locator("#data-freshness")).to_contain_text("Demo data")
    for graph in ("fig-time", "fig-experiment", "fig-team", "fig-annotations"):
        expect(page.locator(f"#{graph} .main-svg").first).to_be_visible()
    expect(page.locator("#annotation-table")).to_contain_text("Bot performance")
    assert page.console_errors == []
    # plotly.js is the vendored cartesian bundle; Dash's full plotly.min.js is never fetched
    assert any("/assets/01-plotly-cartesian-" in url for url in requested)
    assert not [url for url in requested if "plotly.min.js" in url or "cdn.plot.ly" in url]
    assert page.evaluate("typeof window.Plotly.newPlot") == "function"


TABS = ("Overview", "Quality & versions", "Engagement", "Cost")
CHARTS_DRAWN = """() => {
    // plotly.js turns a trace type it does not know into an invisible scatter: compare types
    const graphs = [...document.querySelectorAll('.tab-pane.active .js-plotly-plot')];
    // ... and each chart keeps its figure's height (a chart drawn in a hidden tab once
    // collapsed to 0 px and overlapped the next card)
    const drawn = g => g.querySelector('.main-svg') && g._fullData && g._fullData.every(
        t => t._module && t.type === (g.data[t.index].type || 'scatter'))
        && Math.abs(g.getBoundingClientRect().height - g._fullLayout.height) < 2;
    return graphs.length > 0 && graphs.every(drawn)
        && graphs.some(g => g._fullData.length > 0);
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_chart_on_every_tab_renders_with_the_bundle(server, page, theme):
    """Every trace of every chart has a plotly.js module: no trace type missing from the bundle."""
    page.goto(server + "/?range=365d")
    wait_ready(page)
    if theme == "dark":
        page.click("#theme-switch")
        page.wait_for_function("document.documentElement.getAttribute('data-bs-theme') === 'dark'")
    for tab in TABS:
        page.get_by_role("tab", name=tab).click()
        page.wait_for_function(CHARTS_DRAWN, timeout=60_000)
    assert page.console_errors == []


def test_each_filter_changes_every_view_and_the_url(server, page):
    page.goto(server + "/")
    wait_ready(page)

    def change(step: str, url_part: str, *actions):
        # read what is shown *before* acting: a fast update can land before a later read
        kpi_before = page.locator("#kpi-sessions").inner_text()
        summary_before = page.locator("#filter-summary").inner_text()
        for action in actions:
            action()
        wait_kpi_change(page, kpi_before)
        expect(page.locator("#filter-summary")).not_to_have_text(summary_before, timeout=20_000)
        expect(page).to_have_url(re.compile(re.escape(url_part)), timeout=20_000)

    change("range", "range=all", lambda: pick(page, "f-range", "All time"))
    change("experiment", "experiment=", lambda: pick(page, "f-experiment", "ECD Coach - Nigeria"))
    annotation_before = page.locator("#annotation-subtitle").inner_text()
    change("tag", "tag=coaching_good", lambda: pick(page, "f-tag", "coaching_good"))
    expect(page.locator("#annotation-subtitle")).not_to_have_text(annotation_before)
    change("second tag", "safe", lambda: pick(page, "f-tag", "safe"))
    change("tag mode", "tag_mode=all", lambda: page.get_by_text("all", exact=True).click())
    change("platform", "platform=web", lambda: pick(page, "f-platform", "web"))
    page.goto(server + "/?range=all")
    wait_ready(page)
    change(
        "team", "team=maternal-helpline", lambda: pick(page, "f-team", "Maternal Health Helpline")
    )
    change("status", "status=setup", lambda: pick(page, "f-status", "setup"))
    assert page.console_errors == []


def test_copied_link_restores_the_view(server, page, browser):
    page.goto(server + "/?range=all")
    wait_ready(page)
    pick(page, "f-team", "ECD Nigeria Programme")
    page.wait_for_url(re.compile("team=ecd-nigeria"))
    pick(page, "f-tag", "engagement_bad")
    page.wait_for_url(re.compile("tag=engagement_bad"))
    expect(page.locator("#filter-summary")).to_contain_text("engagement_bad")
    link = page.url
    sessions = page.locator("#kpi-sessions").inner_text()
    summary = page.locator("#filter-summary").inner_text()

    other = browser.new_page(viewport={"width": 1280, "height": 900})
    other.set_default_navigation_timeout(120_000)
    other.set_default_timeout(60_000)
    other.goto(link)
    wait_ready(other)
    expect(other.locator("#kpi-sessions")).to_have_text(sessions, timeout=20_000)
    expect(other.locator("#filter-summary")).to_have_text(summary)
    expect(other.locator("#f-team")).to_contain_text("ECD Nigeria Programme")
    other.reload()
    wait_ready(other)
    expect(other.locator("#kpi-sessions")).to_have_text(sessions, timeout=20_000)
    other.close()


def test_bad_link_values_give_a_notice_not_an_error(server, page):
    page.goto(server + "/?range=fortnight&experiment=not-a-bot&granularity=hourly&bogus=1")
    wait_ready(page)
    notice = page.locator(".url-notice")
    expect(notice).to_contain_text("fortnight")
    expect(notice).to_contain_text("not-a-bot")
    expect(notice).to_contain_text("bogus")
    assert kpi(page) > 0
    assert page.console_errors == []


def test_no_match_shows_an_empty_state(server, page):
    page.goto(server + "/?range=7d&tag=__untagged__,coaching_bad&tag_mode=all")
    wait_ready(page)
    expect(page.locator("#kpi-sessions")).to_have_text("0", timeout=20_000)
    expect(page.locator("#fig-time")).to_contain_text("No sessions match these filters")


def test_sessions_table_and_csv_agree_with_the_card(server, page):
    page.goto(server + "/?range=30d&team=connect-experiments")
    wait_ready(page)
    sessions = kpi(page)
    page.get_by_role("tab", name="Sessions").click()
    expect(page.locator("#sessions-count")).to_contain_text(
        f"{sessions:,} sessions", timeout=20_000
    )
    first = page.locator("#sessions-table tbody tr").first
    expect(first).to_contain_text("Connect Experiments", timeout=20_000)
    link = first.locator("td").first.locator("a[href*='/s/']")
    assert link.count() == 1 and link.get_attribute("target") == "_blank"
    expect(page.locator("#sessions-range")).to_contain_text(f"of {sessions:,}")
    with page.expect_download() as info:
        page.click("#download-button")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    body = [line for line in text.splitlines(keepends=True) if not line.startswith("# ")]
    assert text.startswith("# export: Sessions")
    rows = list(csv.DictReader(io.StringIO("".join(body))))
    assert len(rows) == sessions
    assert {row["team"] for row in rows} == {"Connect Experiments"}
    assert "•" in rows[0]["participant"]  # identifiers masked by default


def column_texts(page, header: str) -> list[str]:
    headers = [
        t.strip().strip("⇅▲▼").strip()
        for t in page.locator("#sessions-table thead th").all_inner_texts()
    ]
    index = headers.index(header) + 1
    return page.locator(f"#sessions-table tbody tr td:nth-child({index})").all_inner_texts()


def numbers(texts: list[str]) -> list[float]:
    return [float(t.replace(",", "")) if t.strip() else -1.0 for t in texts]


def test_sessions_table_sorts_by_a_header_and_pages(server, page):
    page.goto(server + "/?range=all")
    wait_ready(page)
    sessions = kpi(page)
    assert sessions > 100
    page.get_by_role("tab", name="Sessions").click()
    pager = page.locator("#sessions-range")
    expect(pager).to_have_text(f"rows 1–50 of {sessions:,}", timeout=20_000)
    expect(page.locator("#sessions-prev")).to_be_disabled()
    started = page.locator("th[aria-sort='descending']")
    expect(started).to_have_text(re.compile("Started"))
    newest = column_texts(page, "Started")
    assert newest == sorted(newest, reverse=True) and len(newest) == 50

    page.locator("#sessions-table thead button", has_text="Messages").click()
    expect(page.locator("th[aria-sort='descending']")).to_have_text(re.compile(r"Messages\s*▼"))
    expect(page.locator("th[aria-sort='none']", has_text="Started")).to_have_count(1)
    most = numbers(column_texts(page, "Messages"))
    assert most == sorted(most, reverse=True)
    assert column_texts(page, "Started") != newest  # the rows changed

    page.click("#sessions-next")
    expect(pager).to_have_text(f"rows 51–100 of {sessions:,}", timeout=20_000)
    expect(page.locator("#sessions-prev")).to_be_enabled()
    second = numbers(column_texts(page, "Messages"))
    assert second == sorted(second, reverse=True) and max(second) <= min(most)

    page.locator("#sessions-table thead button", has_text="Messages").click()  # flip
    expect(page.locator("th[aria-sort='ascending']")).to_have_text(re.compile(r"Messages\s*▲"))
    expect(pager).to_have_text(f"rows 1–50 of {sessions:,}")
    least = numbers(column_texts(page, "Messages"))
    assert least == sorted(least) and least[0] <= second[-1]

    page.click("#sessions-last")
    expect(pager).to_have_text(re.compile(rf"of {sessions:,}$"))
    expect(page.locator("#sessions-next")).to_be_disabled()
    pick(page, "f-range", "Last 30 days")  # new filters: page 1 again
    expect(pager).to_have_text(re.compile(r"^rows 1–"), timeout=20_000)
    assert page.console_errors == []


def test_quality_tab_compares_versions_and_cooccurrence_click_filters(server, page):
    page.goto(server + "/?range=365d")
    wait_ready(page)
    page.get_by_role("tab", name="Quality & versions").click()
    table = page.locator("#q-compare-table")
    expect(table).to_contain_text("Difference (95% CI)", timeout=30_000)
    expect(table).to_contain_text("Bot performance")
    expect(page.locator("#fig-compare .main-svg").first).to_be_visible()
    before = table.inner_text()
    pick(page, "q-version-a", "v1")
    expect(table).not_to_have_text(before, timeout=20_000)
    expect(table.locator("th").nth(1)).to_have_text("v1")
    expect(page.locator("#fig-quality-time .main-svg").first).to_be_visible()

    heatmap = page.locator("#fig-cooccurrence .nsewdrag").first
    heatmap.wait_for(timeout=30_000)
    heatmap.scroll_into_view_if_needed()
    box = heatmap.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.3)
    page.wait_for_url(re.compile("tag_mode=all"), timeout=20_000)
    expect(page.locator("#filter-summary")).to_contain_text("(all)")
    assert page.console_errors == []


def test_clicking_an_experiment_bar_filters_every_view(server, page):
    page.goto(server + "/?range=365d")
    wait_ready(page)
    before = page.locator("#kpi-sessions").inner_text()
    bars = page.locator("#fig-experiment .nsewdrag").first
    bars.scroll_into_view_if_needed()
    box = bars.bounding_box()
    page.mouse.click(box["x"] + 20, box["y"] + 15)  # the top bar: the largest experiment
    page.wait_for_url(re.compile("experiment="), timeout=20_000)
    after = wait_kpi_change(page, before)
    expect(page.locator("#f-experiment")).not_to_contain_text("All experiments")
    # the chart's "Sessions ↗" opens exactly those sessions in the table
    page.locator("#fig-experiment").locator("xpath=ancestor::div[contains(@class,'card')]").locator(
        ".open-sessions"
    ).first.click()
    expect(page.locator("#sessions-count")).to_contain_text(f"{after} sessions", timeout=20_000)


def test_saved_view_is_shared_and_reopens_the_view(server, page, browser):
    page.goto(server + "/?range=all&team=maternal-helpline")
    wait_ready(page)
    expect(page.locator("#filter-summary")).to_contain_text("Maternal Health Helpline")
    sessions = page.locator("#kpi-sessions").inner_text()
    page.fill("#sv-name", "Helpline, all time")
    page.click("#sv-save")
    expect(page.locator("#sv-message")).to_contain_text("Saved", timeout=20_000)

    other = browser.new_page(viewport={"width": 1280, "height": 900})  # another person
    other.set_default_timeout(60_000)
    other.goto(server + "/")
    wait_ready(other)
    pick(other, "sv-select", "Helpline, all time")
    other.wait_for_url(re.compile("team=maternal-helpline"), timeout=20_000)
    expect(other.locator("#kpi-sessions")).to_have_text(sessions, timeout=20_000)
    other.close()


def test_time_zone_defaults_to_the_browser_and_changes_the_buckets(server, browser):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Asia/Kolkata"
    )
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(server + "/?range=30d&granularity=day")
    wait_ready(page)
    zone = re.compile("Asia/(Kolkata|Calcutta)")  # Chromium may report the legacy name
    page.wait_for_url(re.compile("tz=Asia/(Kolkata|Calcutta)"), timeout=20_000)
    expect(page.locator("#time-subtitle")).to_contain_text(zone)
    expect(page.locator("#f-tz")).to_contain_text(zone)
    page.goto(server + "/?range=30d&tz=UTC")  # a link that names a zone keeps it
    wait_ready(page)
    expect(page.locator("#time-subtitle")).to_contain_text("(UTC)")
    context.close()


def test_no_tab_scrolls_sideways_on_a_phone(server, browser):
    """At 390 px wide every tab fits the screen (wide tables scroll inside their card)."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(60_000)
    phone = context.new_page()
    try:
        phone.goto(server + "/?range=365d")
        wait_ready(phone)
        for tab in TABS:
            phone.get_by_role("tab", name=tab).click()
            if tab != "Sessions":
                phone.wait_for_function(CHARTS_DRAWN, timeout=60_000)
            else:
                phone.wait_for_selector("#sessions-table tbody tr")
            fits = "document.documentElement.scrollWidth <= window.innerWidth"
            try:  # charts drawn in a hidden tab are resized to their card once it shows
                phone.wait_for_function(fits, timeout=15_000)
            except PlaywrightTimeout:
                width = phone.evaluate("[document.documentElement.scrollWidth, innerWidth]")
                raise AssertionError(f"{tab} scrolls sideways: {width}") from None
    finally:
        context.close()
