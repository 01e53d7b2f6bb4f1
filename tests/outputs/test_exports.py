"""Overview exports (services/exports.py, callbacks/exports.py) read back and compared with the
page's numbers: per-chart CSV, the whole view as CSV (long form) and as JSON, each saying which
filters, time zone and last-sync time it belongs to."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from callbacks.exports import chart_export, view_export
from services import runtime
from services.analytics import metrics
from services.analytics.filters import FilterState
from services.analytics.query import select, select_previous
from services.outputs import exports
from services.settings import Settings
from services.store.parquet import Store
from services.sync import demo
from services.views.overview import overview

TODAY = date(2026, 11, 22)  # the conftest demo world's anchor
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
STATES = [
    FilterState(),
    FilterState(range="30d", granularity="week"),
    FilterState(range="all", tags=("bot_performance_good", "coaching_bad"), tag_mode="all"),
    FilterState(range="custom", start=date(2026, 6, 1), end=date(2026, 6, 30)),
    FilterState(range="7d", experiments=("no-such-bot",)),
]


def read_export(text: str) -> tuple[dict[str, str], pd.DataFrame]:
    """(``# key: value`` header, data) of an exported CSV."""
    header, lines = {}, text.splitlines(keepends=True)
    while lines and lines[0].startswith("# "):
        key, _, value = lines.pop(0)[2:].rstrip("\r\n").partition(": ")
        header[key] = value
    return header, pd.read_csv(io.StringIO("".join(lines)))


def close(a, b) -> bool:
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return (a is None or (isinstance(a, float) and math.isnan(a))) and (
            b is None or (isinstance(b, float) and math.isnan(b))
        )
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-15)


@pytest.fixture(scope="module")
def views(demo_dataset):
    return [(state, overview(demo_dataset, state, today=TODAY)) for state in STATES]


def test_header_says_filters_timezone_and_last_sync(demo_dataset, views):
    state, view = views[1]
    name, text = exports.chart_csv(view, demo_dataset, state, "time", now=NOW)
    assert name == "ocs-sessions-over-time-20261122-0930.csv"
    header, _ = read_export(text)
    assert header["filters"] == "?range=30d&granularity=week"
    assert header["timezone"] == "UTC"
    assert header["last_sync"] == "2026-11-22T00:00:00Z"
    assert header["window"] == "2026-10-24T00:00:00Z to 2026-11-23T00:00:00Z (end exclusive)"
    assert header["granularity"] == "week"
    assert header["exported_at"] == "2026-11-22T09:30:00Z"
    # pandas' own comment skipping reads the same table
    assert pd.read_csv(io.StringIO(text), comment="#").equals(read_export(text)[1])


@pytest.mark.parametrize("index", range(len(STATES)))
def test_chart_csvs_equal_the_page(demo_dataset, views, index):
    state, view = views[index]
    sel = select(demo_dataset, state, today=TODAY)

    _, time = read_export(exports.chart_csv(view, demo_dataset, state, "time", NOW)[1])
    series = metrics.sessions_over_time(sel)
    assert time["sessions"].tolist() == series["sessions"].tolist()
    assert time["bucket"].tolist() == series["bucket"].dt.strftime("%Y-%m-%d").tolist()

    for chart, dimension, id_column in (
        ("experiment", "experiment", "experiment_id"),
        ("team", "team", "team_slug"),
    ):
        _, frame = read_export(exports.chart_csv(view, demo_dataset, state, chart, NOW)[1])
        expected = metrics.sessions_by(sel, dimension)
        assert frame[id_column].tolist() == expected["value"].tolist()
        assert frame["sessions"].tolist() == expected["sessions"].tolist()
        assert frame["sessions"].sum() == sel.n
        assert all(close(a, b) for a, b in zip(frame["share"], expected["share"], strict=True))

    _, quality = read_export(exports.chart_csv(view, demo_dataset, state, "annotations", NOW)[1])
    expected = metrics.annotation_breakdown(sel)
    assert quality["category"].tolist() == expected["category"].tolist()
    for column in ("good", "bad", "undetermined", "n"):
        assert quality[column].tolist() == expected[column].tolist()
    for column in ("rate", "ci_low", "ci_high"):
        assert all(close(a, b) for a, b in zip(quality[column], expected[column], strict=True))


@pytest.mark.parametrize("index", range(len(STATES)))
def test_view_csv_and_json_equal_the_page(demo_dataset, views, index):
    state, view = views[index]
    sel = select(demo_dataset, state, today=TODAY)
    prev = select_previous(demo_dataset, sel)
    kpis = {k.key: k for k in metrics.kpis(sel, prev)}

    name, text = exports.view_csv(view, demo_dataset, state, NOW)
    assert name.endswith(".csv")
    header, frame = read_export(text)
    assert header["filters"] == (state.to_query() or "(default view)")
    assert list(frame.columns) == exports.VIEW_CSV_COLUMNS
    kpi_rows = frame[frame["section"] == "kpi"]
    for key, kpi in kpis.items():
        got = kpi_rows[kpi_rows["key"] == key].set_index("metric")["value"]
        assert close(got["value"], kpi.value)
        assert close(None if pd.isna(got["previous"]) else got["previous"], kpi.previous)
        assert close(None if pd.isna(got["change"]) else got["change"], kpi.change)
    over_time = frame[frame["section"] == "sessions_over_time"]
    assert over_time["value"].astype(int).tolist() == view.over_time["sessions"].tolist()
    by_team = frame[(frame["section"] == "by_team") & (frame["metric"] == "sessions")]
    assert by_team["value"].astype(int).sum() == sel.n

    name, document = exports.view_json(view, demo_dataset, state, NOW)
    assert name.endswith(".json")
    document = json.loads(json.dumps(document, allow_nan=False))  # strictly JSON-safe
    meta = document["meta"]
    assert meta["filters"] == state.to_query()
    assert meta["timezone"] == "UTC"
    assert meta["synced_at"] == "2026-11-22T00:00:00Z"
    assert meta["generation"] == demo_dataset.generation
    assert FilterState.from_dict(meta["filter_state"]) == state
    for got in document["kpis"]:
        want = kpis[got["key"]]
        assert close(got["value"], want.value)
        assert close(got["change"], want.change)
    assert [p["sessions"] for p in document["sessions_over_time"]] == over_time["value"].astype(
        int
    ).tolist()
    quality = metrics.annotation_breakdown(sel)
    assert [a["n"] for a in document["annotations"]] == quality["n"].tolist()
    assert sum(r["sessions"] for r in document["by_experiment"]) == sel.n


def test_export_names_the_view_time_zone(demo_dataset):
    state = FilterState(range="30d", tz="Africa/Nairobi")
    view = overview(demo_dataset, state, today=TODAY)
    header, frame = read_export(exports.chart_csv(view, demo_dataset, state, "time", NOW)[1])
    assert header["timezone"] == "Africa/Nairobi"
    assert "tz=Africa/Nairobi" in header["filters"]
    assert frame["sessions"].sum() == view.scope.n
    assert exports.view_json(view, demo_dataset, state, NOW)[1]["meta"]["timezone"] == (
        "Africa/Nairobi"
    )


def test_unknown_chart_is_an_error(demo_dataset, views):
    _state, view = views[0]
    with pytest.raises(KeyError):
        exports.chart_frame(view, "pie")


# ---- the callbacks' builders on a temporary store -----------------------------------------


@pytest.fixture(scope="module")
def export_runtime(tmp_path_factory):
    saved = (runtime._settings, runtime._store, runtime._cache)
    current = runtime.configure(Settings(data_dir=tmp_path_factory.mktemp("exports")))
    demo.ensure_demo_store(Store(current.store_dir), 1200, anchor=datetime.now(UTC).date())
    yield runtime.dataset()
    runtime._settings, runtime._store, runtime._cache = saved


@pytest.mark.parametrize("chart", list(exports.CHARTS))
def test_chart_download_callback(export_runtime, chart):
    name, text = chart_export({"range": "30d"}, chart)
    assert name.startswith("ocs-") and name.endswith(".csv")
    header, frame = read_export(text)
    assert header["filters"] == "?range=30d"
    assert not frame.empty


def test_view_download_callback(export_runtime):
    state = FilterState(range="30d")
    n = metrics.session_count(select(export_runtime, state))
    _name, text = view_export(state.to_dict(), "json")
    document = json.loads(text)
    assert document["kpis"][0]["value"] == n
    assert document["meta"]["filters"] == "?range=30d"
    _name, text = view_export(state.to_dict(), "csv")
    _, frame = read_export(text)
    sessions = frame[(frame["section"] == "kpi") & (frame["key"] == "sessions")]
    assert int(sessions[sessions["metric"] == "value"]["value"].iloc[0]) == n
    assert chart_export({"range": "30d"}, "pie") is None


def test_downloads_without_data(tmp_path):
    saved = (runtime._settings, runtime._store, runtime._cache)
    try:
        runtime.configure(Settings(data_dir=tmp_path))
        assert chart_export(None, "time") is None
        assert view_export(None, "csv") is None
    finally:
        runtime._settings, runtime._store, runtime._cache = saved


# ---- number formats (issue #17 item 11) -------------------------------------------------------


def _xlsx_formats(data: bytes, sheet_name: str) -> dict[str, str]:
    """Cell reference → number format code of one sheet ("General" without one)."""
    import zipfile
    from xml.etree import ElementTree

    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    book = zipfile.ZipFile(io.BytesIO(data))
    styles = ElementTree.fromstring(book.read("xl/styles.xml"))
    codes = {f.get("numFmtId"): f.get("formatCode") for f in styles.iter(f"{{{ns['m']}}}numFmt")}
    xfs = styles.find("m:cellXfs", ns)
    fmt_of_style = [codes.get(xf.get("numFmtId"), "General") for xf in xfs]
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels}
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    sheet = next(s for s in workbook.find("m:sheets", ns) if s.get("name") == sheet_name)
    root = ElementTree.fromstring(book.read("xl/" + targets[sheet.get(rel)]))
    return {c.get("r"): fmt_of_style[int(c.get("s", 0))] for c in root.iter(f"{{{ns['m']}}}c")}


def test_xlsx_headline_shares_are_percentages_and_counts_whole_numbers(demo_dataset, views):
    state, view = views[0]
    _, data = exports.view_xlsx(view, demo_dataset, state, NOW)
    formats = _xlsx_formats(data, exports.XLSX_SHEETS["kpis"])
    kinds = {i + 2: kpi.kind for i, kpi in enumerate(view.kpis)}  # row 1 is the header
    assert "share" in kinds.values() and "count" in kinds.values()
    for row, kind in kinds.items():
        # columns: key, label, kind, value (D), previous (E), change (F)
        expected = "0.0%" if kind == "share" else "#,##0"
        assert formats[f"D{row}"] == expected, (row, kind)
        if view.kpis[row - 2].previous is not None:
            assert formats[f"E{row}"] == expected
        if view.kpis[row - 2].change is not None:
            assert formats[f"F{row}"] == "0.0%"


def test_csv_counts_are_whole_numbers(demo_dataset, views):
    state, view = views[0]
    _, text = exports.view_csv(view, demo_dataset, state, NOW)
    body = [line for line in text.splitlines() if not line.startswith("#")]
    sessions = next(line for line in body if line.startswith('"kpi","sessions","Sessions","value"'))
    assert sessions.endswith(f",{view.kpis[0].value}") and ".0" not in sessions.split(",")[-1]
    for line in body:
        if '"sessions_over_time"' in line:
            assert not line.endswith(".0"), line
    rows = exports.records(exports.chart_frame(view, "time"))
    assert all(isinstance(r["sessions"], int) and isinstance(r["days"], int) for r in rows)
    assert all(isinstance(r["complete"], bool) for r in rows)


def test_sessions_csv_and_api_write_message_counts_as_whole_numbers(demo_dataset):
    from services.views import sessions

    state = FilterState(range="30d")
    rows = sessions.export_rows(demo_dataset, state)
    assert str(rows["messages"].dtype) == "Int64"
    text = exports.to_csv(rows)
    messages = pd.read_csv(io.StringIO(text), dtype=str)["messages"].dropna()
    assert len(messages) and not messages.str.contains(r"\.").any()
    page = sessions.api_page(demo_dataset, state, None, 20)
    values = [r["messages"] for r in exports.records(page.rows)]
    assert all(v is None or isinstance(v, int) for v in values) and any(values)


def test_summary_carries_the_new_numbers_from_the_view_models(demo_dataset, views):
    from services.views.engagement import engagement_view, headline

    state, view = views[0]
    engagement = engagement_view(demo_dataset, state, today=TODAY)
    body = exports.summary(view, demo_dataset, state, (), engagement)
    kpis = {k["key"]: k for k in body["kpis"]}
    assert kpis["sessions_with_messages"]["value"] == metrics.sessions_with_messages(
        select(demo_dataset, state, today=TODAY)
    )
    rows = {r["metric"]: r for r in body["engagement"]}
    lex = engagement.lexicon
    assert rows["appreciation_message_share"]["value"] == lex.appreciation_message_share
    assert rows["appreciation_message_share"]["base"] == lex.participant_messages
    assert rows["appreciation_message_share"]["base_unit"] == "participant messages"
    assert len(body["engagement"]) == len(headline(engagement))
    assert {r["complete"] for r in body["sessions_over_time"]} <= {True, False}
