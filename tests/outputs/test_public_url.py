"""``PUBLIC_URL``: the weekly report links to the dashboard with a full URL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from services.analytics.filters import FilterState
from services.outputs import exports, report
from services.settings import SettingsError, load_settings
from services.views.overview import overview
from tests.support.hosted_support import ROOT, clean_env

END = date(2026, 11, 21)
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def test_public_url_is_read_and_checked():
    assert load_settings({}).public_url == ""
    got = load_settings({"PUBLIC_URL": " https://dash.example.org/ocs/ "}).public_url
    assert got == "https://dash.example.org/ocs"
    for bad in ("dash.example.org", "ftp://dash.example.org", "https://x.org/?a=1"):
        with pytest.raises(SettingsError) as err:
            load_settings({"PUBLIC_URL": bad})
        assert "PUBLIC_URL must be the dashboard's http(s) address" in str(err.value)


def test_view_link_is_full_only_with_an_address():
    assert exports.view_link("", "?range=7d") == "?range=7d"
    assert exports.view_link("https://d.example.org/", "?range=7d") == (
        "https://d.example.org/?range=7d"
    )


def test_report_links_open_the_report_period_in_the_dashboard(demo_dataset):
    weekly = report.build_report(
        demo_dataset, days=7, end=END, now=NOW, public_url="https://dash.example.org"
    )
    link = urlsplit(weekly["links"]["current"])
    assert (link.scheme, link.netloc, link.path) == ("https", "dash.example.org", "/")
    query = parse_qs(link.query)
    assert query["start"] == ["2026-11-15"] and query["end"] == ["2026-11-21"]
    assert weekly["links"]["previous"].startswith("https://dash.example.org/?range=custom")

    text = report.render_text(weekly)
    assert f"Dashboard link: {weekly['links']['current']}" in text
    assert f'<a href="{weekly["links"]["current"].replace("&", "&amp;")}"' in (
        report.render_html(weekly)
    )

    bare = report.build_report(demo_dataset, days=7, end=END, now=NOW)
    assert bare["links"]["current"].startswith("?range=custom")
    assert "set PUBLIC_URL for a full link" in report.render_text(bare)


def test_report_cli_uses_the_setting(tmp_path):
    env = clean_env(
        DATA_DIR=str(tmp_path),
        DEMO_SESSIONS="300",
        DEMO_ANCHOR="2026-11-22",
        PUBLIC_URL="https://dash.example.org",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.outputs.report",
            "--format",
            "json",
            "--end",
            "2026-11-21",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    links = json.loads(result.stdout)["links"]
    assert links["current"].startswith("https://dash.example.org/?range=custom&start=2026-11-15")


def test_exports_carry_the_full_link_only_with_an_address(demo_dataset):
    state = FilterState(range="30d", tags=("coaching_good",))
    view = overview(demo_dataset, state, today=date(2026, 11, 22))
    url = "https://dash.example.org"
    expected = f"{url}/{state.to_query()}"

    _, csv_text = exports.view_csv(view, demo_dataset, state, NOW, public_url=url)
    assert f"# link: {expected}\n" in csv_text.replace("\r\n", "\n")
    _, document = exports.view_json(view, demo_dataset, state, NOW, public_url=url)
    assert document["meta"]["link"] == expected
    _, chart_text = exports.any_chart_csv(demo_dataset, state, "team", public_url=url)
    assert f"# link: {expected}" in chart_text

    _, bare = exports.view_csv(view, demo_dataset, state, NOW)
    assert "# link:" not in bare
    assert "link" not in exports.view_json(view, demo_dataset, state, NOW)[1]["meta"]
