"""Weekly report (services/report.py) on the demo world: numbers equal the metrics, all three
formats render, the HTML is self-contained, and the CLI's exit codes and messages."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from services import runtime
from services.analytics import metrics
from services.analytics.filters import FilterState
from services.analytics.query import select
from services.outputs import report

END = date(2026, 11, 21)  # the day before the conftest demo world's anchor
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def weekly(demo_dataset):
    return report.build_report(demo_dataset, days=7, end=END, now=NOW)


def test_sessions_by_hour_matches_naive_pandas(demo_dataset):
    sel = select(demo_dataset, FilterState(range="all"))
    frame = metrics.sessions_by_hour(sel)
    assert frame["hour"].tolist() == list(range(24))
    naive = pd.to_datetime(sel.column("created_ns")).hour.value_counts()
    assert frame["sessions"].tolist() == [int(naive.get(h, 0)) for h in range(24)]
    assert frame["sessions"].sum() == sel.n
    assert np.isclose(frame["share"].sum(), 1.0)
    empty = metrics.sessions_by_hour(select(demo_dataset, FilterState(experiments=("none",))))
    assert len(empty) == 24 and empty["sessions"].sum() == 0


def test_sessions_by_hour_in_the_state_time_zone(demo_dataset):
    utc = metrics.sessions_by_hour(select(demo_dataset, FilterState(range="all")))
    lagos = metrics.sessions_by_hour(
        select(demo_dataset, FilterState(range="all", tz="Africa/Lagos"))
    )
    assert lagos["sessions"].sum() == utc["sessions"].sum()
    # Lagos is UTC+1 all year: every hour moves one later
    assert lagos["sessions"].tolist() == np.roll(utc["sessions"].to_numpy(), 1).tolist()


def test_report_in_a_time_zone(demo_dataset):
    local = report.build_report(
        demo_dataset, days=7, end=END, base=FilterState(tz="Africa/Lagos"), now=NOW
    )
    assert local["timezone"] == "Africa/Lagos"
    assert "(Africa/Lagos)" in report.render_text(local)
    sel = select(
        demo_dataset,
        FilterState(range="custom", start=date(2026, 11, 15), end=END, tz="Africa/Lagos"),
    )
    assert local["kpis"][0]["value"] == sel.n


def test_periods_and_headline_equal_metrics(demo_dataset, weekly):
    assert weekly["period"] == {"start": "2026-11-15", "end": "2026-11-21", "days": 7}
    assert weekly["previous_period"] == {"start": "2026-11-08", "end": "2026-11-14"}
    now = select(demo_dataset, FilterState(range="custom", start=date(2026, 11, 15), end=END))
    before = select(
        demo_dataset,
        FilterState(range="custom", start=date(2026, 11, 8), end=date(2026, 11, 14)),
    )
    expected = {k.key: k for k in metrics.kpis(now, before)}
    got = {k["key"]: k for k in weekly["kpis"]}
    assert got["sessions"]["value"] == now.n > 0
    assert got["sessions"]["previous"] == before.n
    assert got["participants"]["value"] == metrics.active_participants(now)
    assert got["messages"]["value"] == metrics.message_count(now)
    for key in ("annotated", "good"):
        assert got[key]["value"] == pytest.approx(expected[key].value)
        assert got[key]["change"] == pytest.approx(expected[key].change)
    assert sum(d["sessions"] for d in weekly["sessions_per_day"]) == now.n
    assert sum(d["previous"] for d in weekly["sessions_per_day"]) == before.n
    assert sum(h["sessions"] for h in weekly["busiest_hours"]) == now.n
    assert weekly["links"]["current"].startswith("?range=custom&start=2026-11-15&end=2026-11-21")

    quality = metrics.annotation_breakdown(now)
    assert [q["n"] for q in weekly["quality"]] == quality["n"].tolist()
    assert all(q["ci_low"] <= q["rate"] <= q["ci_high"] for q in weekly["quality"] if q["n"])
    tags = metrics.tag_counts(now).head(report.TOP_TAGS)
    assert [t["tag"] for t in weekly["top_tags"]] == tags["tag"].tolist()

    by_team_now = metrics.sessions_by(now, "team").set_index("value")["sessions"]
    by_team_before = metrics.sessions_by(before, "team").set_index("value")["sessions"]
    for row in weekly["changes"]["team"]:
        assert row["sessions"] == by_team_now.get(row["value"], 0)
        assert row["delta"] == row["sessions"] - by_team_before.get(row["value"], 0)
    deltas = [abs(r["delta"]) for r in weekly["changes"]["experiment"]]
    assert deltas == sorted(deltas, reverse=True)
    assert weekly["anomalies"]["available"] is True


def test_filters_narrow_the_report(demo_dataset):
    team = demo_dataset.teams[0]
    narrowed = report.build_report(
        demo_dataset, days=7, end=END, base=FilterState(teams=(team,)), now=NOW
    )
    sel = select(
        demo_dataset,
        FilterState(range="custom", start=date(2026, 11, 15), end=END, teams=(team,)),
    )
    assert narrowed["kpis"][0]["value"] == sel.n
    assert narrowed["filters"] == f"?team={team}"
    assert [r["value"] for r in narrowed["changes"]["team"]] in ([], [team])


def test_text_and_json_render(weekly):
    text = report.render_text(weekly)
    for section in ("HEADLINE", "QUALITY", "TOP TAGS", "BUSIEST HOURS", "BIGGEST CHANGES"):
        assert section in text
    assert "ANOMALIES" in text
    sessions = next(k for k in weekly["kpis"] if k["key"] == "sessions")
    assert re.search(rf"Sessions\s+{sessions['value']:,}\s+{sessions['previous']:,}", text)
    assert json.loads(report.render_json(weekly)) == json.loads(json.dumps(weekly))


def test_html_is_self_contained(weekly):
    page = report.render_html(weekly)
    assert page.startswith("<!doctype html>")
    assert page.count('class="plotly-graph-div"') == 3
    assert not re.search(r"<script[^>]+\bsrc=", page)  # plotly.js inline, works offline
    assert "<link" not in page
    assert len(page) > 1_000_000  # the inline plotly.js bundle
    assert "Annotation quality" in page and "Biggest changes by team" in page


def test_report_of_an_empty_period(demo_dataset):
    empty = report.build_report(demo_dataset, days=7, end=date(2020, 1, 7), now=NOW)
    assert empty["kpis"][0]["value"] == 0
    assert empty["peak_hours"] == []
    for render in report.RENDERERS.values():
        assert render(empty)


def test_report_renders_without_any_annotation_tags():
    """A team that does not annotate: every format renders (HTML once raised KeyError 'rate')."""
    from tests.alerts.data import NOW as ALERTS_NOW
    from tests.alerts.data import volume_world

    untagged = report.build_report(volume_world(), days=7, now=ALERTS_NOW)
    assert untagged["quality"] == []
    for render in report.RENDERERS.values():
        assert render(untagged)
    assert "No annotated sessions match these filters" in report.render_html(untagged)


# ---- the command line ---------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """A clean environment: demo mode on an empty DATA_DIR; runtime restored afterwards."""
    for name in ("OCS_API_KEY", "OCS_API_KEYS", "PORT", "APP_ENV", "SYNC_TRANSCRIPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DEMO_SESSIONS", "600")
    saved = (runtime._settings, runtime._store, runtime._cache)
    yield tmp_path
    runtime._settings, runtime._store, runtime._cache = saved


def test_cli_generates_demo_world_and_writes_all_formats(cli_env, capsys):
    assert report.main([]) == 0  # text to stdout; generates the demo world first
    out = capsys.readouterr().out
    assert out.startswith("OCS sessions: last 7 days")
    for fmt in ("json", "html"):
        target = cli_env / f"weekly.{fmt}"
        assert report.main(["--days", "7", "--format", fmt, "--out", str(target)]) == 0
        assert f"report written to {target}" in capsys.readouterr().err
        assert target.stat().st_size > 0
    assert json.loads((cli_env / "weekly.json").read_text())["period"]["days"] == 7
    assert 'class="plotly-graph-div"' in (cli_env / "weekly.html").read_text()


def test_cli_errors_are_one_line_with_exit_codes(cli_env, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exc:
        report.main(["--days", "0"])
    assert exc.value.code == 2
    assert "must be from 1 to 366" in capsys.readouterr().err

    assert report.main(["--out", str(cli_env / "missing" / "r.txt")]) == report.EXIT_WRITE
    err = capsys.readouterr().err
    assert err.startswith("report: cannot write") and "Traceback" not in err

    monkeypatch.setenv("OCS_API_KEY", "key.without-data")  # a key but nothing synced yet
    monkeypatch.setenv("DATA_DIR", str(cli_env / "empty"))
    assert report.main([]) == report.EXIT_NO_DATA
    assert "python -m services.sync" in capsys.readouterr().err

    monkeypatch.setenv("SYNC_TRANSCRIPTS", "bogus")
    assert report.main([]) == report.EXIT_USAGE
    assert "SYNC_TRANSCRIPTS" in capsys.readouterr().err


def test_format_kpi_says_no_change_instead_of_minus_zero():
    from services.outputs.report import format_kpi

    share = {"kind": "share", "value": 0.5, "previous": 0.5004, "change": -0.0004}
    count = {"kind": "count", "value": 100, "previous": 80, "change": 0.25}
    assert format_kpi(share)[2] == "no change"
    assert format_kpi(count)[2] == "+25.0%"
    assert format_kpi({**share, "change": 0.031})[2] == "+3.1 pts"
