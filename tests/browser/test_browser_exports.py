"""Browser test of the downloads: the real app (``python app.py``) in Debian's headless Chromium.

Per-chart CSVs (Overview, Engagement, Quality) and the whole view as CSV, JSON and XLSX are
downloaded by clicking, exactly as a person would, captured with ``page.expect_download()``,
read back and compared with the numbers the page shows (KPI cards, chart subtitles, the
comparison table) and the view's filters and time zone.
"""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.outputs.test_export_safety import read_xlsx
from tests.support.browser_support import start_app, stop

QUERY = "?range=30d&tz=Asia/Kolkata"
YEAR_QUERY = "?range=365d&tz=Asia/Kolkata"
COUNTS = ("sessions", "participants", "messages")
SHARES = ("annotated", "good")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, base = start_app(tmp_path_factory.mktemp("browser-exports"))
    yield base
    stop(process)


def shown_kpis(page) -> dict[str, str]:
    """The KPI cards' texts, e.g. {"sessions": "1,234", "annotated": "41.2%"}."""
    return {key: page.locator(f"#kpi-{key}").inner_text() for key in (*COUNTS, *SHARES)}


def count(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def as_card(value: float | None) -> str:
    """A share as the card formats it."""
    return "–" if value is None or value != value else f"{value:.1%}"


def download(page, click) -> tuple[str, bytes]:
    """(suggested filename, content) of the download that ``click()`` starts."""
    with page.expect_download(timeout=60_000) as info:
        click()
    item = info.value
    assert item.failure() is None
    with open(item.path(), "rb") as handle:
        return item.suggested_filename, handle.read()


def csv_parts(text: str) -> tuple[dict[str, str], pd.DataFrame]:
    header = {}
    for line in text.splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(": ")
        header[key] = value
    return header, pd.read_csv(io.StringIO(text), comment="#")


def export_item(page, item_id: str):
    def click():
        page.get_by_role("button", name="Export").click()
        page.locator(f"#{item_id}").click()

    return click


def test_downloads_equal_the_page(server, page):
    page.goto(server + "/" + QUERY)
    page.wait_for_selector("#kpi-sessions")
    page.wait_for_selector("#fig-time .main-svg")
    expect(page.locator("#time-subtitle")).to_contain_text("Asia/Kolkata")  # the link's view
    cards = shown_kpis(page)
    sessions = count(cards["sessions"])
    assert sessions > 0

    # one chart's CSV: sessions by team add up to the Sessions card
    button = page.locator("button[id*='chart-csv'][id*='\"team\"']")
    name, data = download(page, button.click)
    assert re.fullmatch(r"ocs-sessions-by-team-\d{8}-\d{4}\.csv", name)
    header, frame = csv_parts(data.decode("utf-8"))
    assert header["filters"] == QUERY and header["timezone"] == "Asia/Kolkata"
    assert header["last_sync"] != "unknown"
    assert int(frame["sessions"].sum()) == sessions

    # the time chart's CSV counts the same sessions, in Kolkata days
    button = page.locator("button[id*='chart-csv'][id*='\"time\"']")
    _, data = download(page, button.click)
    _, frame = csv_parts(data.decode("utf-8"))
    assert int(frame["sessions"].sum()) == sessions

    # the whole view as CSV: every card's number
    name, data = download(page, export_item(page, "export-view-csv"))
    assert re.fullmatch(r"ocs-overview-\d{8}-\d{4}\.csv", name)
    header, frame = csv_parts(data.decode("utf-8"))
    assert header["filters"] == QUERY and header["timezone"] == "Asia/Kolkata"
    values = frame[(frame["section"] == "kpi") & (frame["metric"] == "value")]
    values = values.set_index("key")["value"].astype(float)
    for key in COUNTS:
        assert int(values[key]) == count(cards[key]), key
    for key in SHARES:
        assert as_card(values[key]) == cards[key], key

    # …as JSON
    name, data = download(page, export_item(page, "export-view-json"))
    assert re.fullmatch(r"ocs-overview-\d{8}-\d{4}\.json", name)
    document = json.loads(data)
    assert document["meta"]["filters"] == QUERY
    assert document["meta"]["timezone"] == "Asia/Kolkata"
    by_key = {k["key"]: k["value"] for k in document["kpis"]}
    for key in COUNTS:
        assert by_key[key] == count(cards[key]), key
    for key in SHARES:
        assert as_card(by_key[key]) == cards[key], key
    assert sum(p["sessions"] for p in document["sessions_over_time"]) == sessions

    # …and as XLSX
    name, data = download(page, export_item(page, "export-view-xlsx"))
    assert re.fullmatch(r"ocs-overview-\d{8}-\d{4}\.xlsx", name)
    book = read_xlsx(data)
    assert book.pop("_formulas") == 0
    about = {row[0]: row[1] for row in book["About"][2:]}
    assert about["Filters (page URL query)"] == QUERY
    assert about["Time zone of dates and buckets"] == "Asia/Kolkata"
    assert about["Last sync (UTC)"] == document["meta"]["synced_at"]
    header_row, *rows = book["Headline"]
    kpis = {row[0]: dict(zip(header_row, row, strict=False)) for row in rows}
    for key in COUNTS:
        assert kpis[key]["value"] == count(cards[key]), key
    for key in SHARES:
        assert as_card(kpis[key]["value"]) == cards[key], key
    teams = book["By team"]
    assert sum(row[teams[0].index("sessions")] for row in teams[1:]) == sessions

    assert page.console_errors == []


def chart_button(page, chart: str):
    """The CSV button of chart ``chart`` (its id is the JSON of {"chart": …, "type": …})."""
    return page.locator(f"button[id*='chart-csv'][id*='\"{chart}\"']")


def test_engagement_and_quality_chart_csvs_equal_the_page(server, page):
    page.goto(server + "/" + QUERY)
    page.wait_for_selector("#kpi-sessions")

    # Engagement: the messages histogram counts every session with a transcript (its subtitle)
    page.get_by_role("tab", name="Engagement").click()
    expect(page.locator("#eng-fig-messages .main-svg").first).to_be_visible(timeout=30_000)
    subtitle = page.locator("#eng-sub-messages")
    expect(subtitle).to_contain_text("sessions with a synced transcript", timeout=30_000)
    transcripts = count(subtitle.inner_text().split(" sessions", 1)[0])
    assert transcripts > 0
    name, data = download(page, chart_button(page, "messages").click)
    assert re.fullmatch(r"ocs-messages-per-session-\d{8}-\d{4}\.csv", name)
    header, frame = csv_parts(data.decode("utf-8"))
    assert header["export"] == "Messages per session"
    assert header["filters"] == QUERY and header["timezone"] == "Asia/Kolkata"
    assert int(frame["sessions"].sum()) == transcripts
    assert header["counted"] == f"{transcripts:,} sessions"

    # Quality: coverage over time adds up to "X of Y sessions annotated"; the comparison CSV
    # has the sides and the n of the table on the page. A year: in 30 days the demo world
    # (anchored today) can have one version with sessions, and then there is nothing to compare
    page.goto(server + "/" + YEAR_QUERY)
    page.wait_for_selector("#kpi-sessions")
    page.get_by_role("tab", name="Quality & versions").click()
    table = page.locator("#q-compare-table")
    expect(table).to_contain_text("Difference (95% CI)", timeout=30_000)
    coverage = page.locator("#q-coverage-subtitle")
    expect(coverage).to_contain_text("sessions annotated", timeout=30_000)
    annotated, sessions = (count(n) for n in re.findall(r"[\d,]+", coverage.inner_text())[:2])
    name, data = download(page, chart_button(page, "coverage-time").click)
    assert re.fullmatch(r"ocs-annotation-coverage-over-time-\d{8}-\d{4}\.csv", name)
    header, frame = csv_parts(data.decode("utf-8"))
    assert header["filters"] == YEAR_QUERY and header["timezone"] == "Asia/Kolkata"
    assert int(frame["annotated"].sum()) == annotated
    assert int(frame["sessions"].sum()) == sessions

    side_a = table.locator("th").nth(1).inner_text()
    side_b = table.locator("th").nth(2).inner_text()
    name, data = download(page, chart_button(page, "compare").click)
    assert re.fullmatch(r"ocs-version-comparison-\d{8}-\d{4}\.csv", name)
    header, frame = csv_parts(data.decode("utf-8"))
    assert (header["side_a"], header["side_b"]) == (side_a, side_b)
    rows = table.locator("table").first.locator("tbody tr")
    assert len(frame) > 0 and rows.count() == len(frame)
    for i, row in enumerate(frame.itertuples()):
        cells = rows.nth(i).locator("td")
        assert cells.nth(0).inner_text() == row.label
        assert f"n={row.n_a:,}" in cells.nth(1).inner_text()
        assert f"n={row.n_b:,}" in cells.nth(2).inner_text()

    assert page.console_errors == []
