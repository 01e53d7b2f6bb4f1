"""Formula-injection guard of every CSV export and the XLSX export of the whole Overview.

* CSV: a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'``
  (OWASP); numbers, also negative ones, stay numbers. Hostile experiment, team and tag names go
  through the chart CSVs, the view CSV and the Sessions CSV, and through the ``# key: value``
  header lines (which a spreadsheet splits at commas).
* XLSX: read back with ``zipfile`` + the sheet XML (no openpyxl needed) and compared with the
  view CSV, the JSON export and the page's metrics; text is never a formula.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from datetime import UTC, date, datetime, timedelta
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest

from callbacks import sessions as sessions_callbacks
from services.analytics import metrics
from services.analytics.filters import FilterState, parse_query
from services.analytics.query import select, select_previous
from services.outputs import exports
from services.settings import Settings
from services.store.dataset import Dataset
from services.store.tables import build_tables
from services.sync.records import parse_session
from services.views.overview import overview, vocabulary
from tests.conftest import _summary, build_dataset, session_record
from tests.outputs.test_exports import NOW, STATES, TODAY, close, read_export

HOSTILE = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "\tpad", "\rret"]
FORMULA_START = tuple(exports.FORMULA_PREFIXES)


# ---- the guard itself -------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_like_text_gets_a_quote(text):
    assert exports.neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "", "a=b", " =x", "'=x", "#x", -3, -0.5, 0, None])
def test_everything_else_is_untouched(value):
    assert exports.neutralise(value) == value


def test_csv_safe_keeps_numbers_numbers():
    frame = pd.DataFrame(
        {
            "name": ["=cmd", "ok", None, "-x"],
            "mixed": pd.Series(["@a", -1.5, None, "b"], dtype=object),
            "delta": [-1, 2, -3, 4],
            "change": [-0.25, np.nan, 0.5, -1e-9],
            "nullable": pd.array([-1, None, 3, -4], dtype="Int64"),
            "when": pd.to_datetime(["2026-01-01"] * 4),
        }
    )
    safe = exports.csv_safe(frame)
    assert frame.loc[0, "name"] == "=cmd"  # the input is not modified
    assert safe["name"].tolist()[:2] == ["'=cmd", "ok"] and safe.loc[3, "name"] == "'-x"
    assert safe["mixed"].tolist()[0:2] == ["'@a", -1.5]
    back = pd.read_csv(io.StringIO(exports.to_csv(frame)))
    assert back["delta"].tolist() == [-1, 2, -3, 4]
    assert back["change"].iloc[0] == -0.25 and back["change"].iloc[3] == -1e-9
    assert back["nullable"].iloc[3] == -4
    assert back["mixed"].iloc[1] == "-1.5"  # a number in a text column is written as a number
    safe_clean = exports.csv_safe(frame[["delta", "change"]])
    assert safe_clean is not None and safe_clean.equals(frame[["delta", "change"]])


# ---- hostile names through every CSV ---------------------------------------------------------


@pytest.fixture(scope="module")
def hostile():
    """Sessions whose experiment, team and tag names look like spreadsheet formulas."""
    day = date(2026, 11, 20)
    specs = []
    for i, name in enumerate(HOSTILE):
        specs.append(
            {
                "id": f"s{i}",
                "created": f"{(day - timedelta(days=i % 3)).isoformat()}T10:00:00Z",
                "exp": f"exp-{i}",
                "exp_name": name,
                "team": "=team" if i % 2 else "@team",
                "pid": f"+2348000000{i}",
                "tags": [f"-tag{i}", "coaching_good" if i % 2 else "coaching_bad"],
                "human": 2,
                "ai": 2,
            }
        )
    return build_dataset(specs)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cells(text: str) -> list[str]:
    """Every text cell of a CSV as a spreadsheet splits it (header lines included)."""
    lines = text.splitlines(keepends=True)
    header = [line for line in lines if line.startswith("# ")]
    body = "".join(lines[len(header) :])
    out = []
    for line in header:  # not quoted: a spreadsheet splits these at , (or ;)
        out += re.split(r"[,;]", line.rstrip("\r\n"))
    frame = pd.read_csv(io.StringIO(body), header=None, dtype=str, keep_default_na=False)
    out += [cell for row in frame.itertuples(index=False) for cell in row]
    return [cell for cell in out if not _is_number(cell)]


def _assert_no_formula(text: str) -> None:
    for cell in _cells(text):
        assert not cell.lstrip(" ").startswith(FORMULA_START), repr(cell)


def test_chart_and_view_csvs_neutralise_hostile_names(hostile):
    state = FilterState(range="all", tags=("-tag1", "-tag2"), experiments=("exp-1", "exp-2"))
    view = overview(hostile, state, today=TODAY)
    assert view.scope.n == 2
    for chart in exports.CHARTS:
        _, text = exports.chart_csv(view, hostile, state, chart, NOW)
        _assert_no_formula(text)
    _, text = exports.chart_csv(view, hostile, state, "experiment", NOW)
    header, frame = read_export(text)
    assert sorted(frame["experiment"]) == sorted("'" + n for n in HOSTILE[1:3])
    assert frame["sessions"].tolist() == [1, 1]  # numbers stay numbers
    # the filters line is still the page's link: the - after a comma is percent-encoded
    assert "%2Dtag2" in header["filters"]
    again, notices = parse_query(header["filters"].split("?", 1)[1], vocabulary(hostile))
    assert again == state and notices == []

    _, text = exports.view_csv(view, hostile, state, NOW)
    _assert_no_formula(text)
    _, frame = read_export(text)
    labels = frame.loc[frame["section"] == "by_team", "label"].tolist()
    assert labels and all(label.startswith("'") for label in labels)
    kpi = frame[(frame["section"] == "kpi") & (frame["metric"] == "value")]
    assert kpi.set_index("key").loc["sessions", "value"] == 2  # read back as a number


def test_header_lines_split_at_commas_start_no_formula(hostile):
    """One experiment: its name is in the description line, the tags after a comma."""
    state = FilterState(range="all", experiments=("exp-1",), tags=("-tag1", "-tag3"))
    view = overview(hostile, state, today=TODAY)
    _, text = exports.view_csv(view, hostile, state, NOW)
    _assert_no_formula(text)
    header, _ = read_export(text)
    assert "+1+2" in header["description"]  # mid-line after "·", not a cell start
    assert "tags: -tag1, '-tag3" in header["description"]


def test_hash_and_semicolon_in_names_survive_pandas_comment_read_back():
    """Text cells are quoted, so ``comment="#"`` does not cut "Bot #2" and ";" splits nothing."""
    names = ["Bot #2", "a;=1+1", 'say "hi", #3']
    ds = build_dataset(
        [
            {"id": f"s{i}", "exp": f"e{i}", "exp_name": name, "created": "2026-11-20T10:00:00Z"}
            for i, name in enumerate(names)
        ]
    )
    state = FilterState(range="all")
    view = overview(ds, state, today=TODAY)
    _, text = exports.chart_csv(view, ds, state, "experiment", NOW)
    frame = pd.read_csv(io.StringIO(text), comment="#")
    assert sorted(frame["experiment"]) == sorted(names)
    assert frame["sessions"].tolist() == [1, 1, 1]
    for line in text.splitlines():
        if not line.startswith("#") and "a;=1+1" in line:
            assert '"a;=1+1"' in line  # one quoted cell, also for a ;-separated reader


def test_negative_changes_stay_numbers_in_the_view_csv(hostile, monkeypatch):
    # 0 sessions on 21–22 November against 4 on 19–20 November: change -100% (synced on 23
    # November, so the window is complete and compared with the whole previous one)
    monkeypatch.setitem(hostile.meta, "synced_at", 1795392000.0)  # 2026-11-23 00:00 UTC
    state = FilterState(range="custom", start=date(2026, 11, 21), end=date(2026, 11, 22))
    view = overview(hostile, state, today=TODAY)
    _, text = exports.view_csv(view, hostile, state, NOW)
    _, frame = read_export(text)
    change = frame[(frame["section"] == "kpi") & (frame["metric"] == "change")]
    assert float(change.set_index("key").loc["sessions", "value"]) == -1.0
    assert not any(str(v).startswith("'") for v in frame["value"].dropna())


def test_sessions_csv_neutralises_hostile_names(hostile, monkeypatch):
    monkeypatch.setattr(sessions_callbacks.runtime, "dataset", lambda: hostile)
    monkeypatch.setattr(
        sessions_callbacks.runtime,
        "settings",
        lambda: Settings(show_participant_ids=True),
    )
    name, text = sessions_callbacks.csv_export(FilterState(range="all").to_dict())
    assert name.startswith("ocs-sessions-") and name.endswith(".csv")
    _assert_no_formula(text)
    frame = pd.read_csv(io.StringIO(text), comment="#")
    assert len(frame) == len(HOSTILE)
    assert set(frame["experiment"]) == {"'" + n for n in HOSTILE}
    assert set(frame["team"]) == {"'=Team", "'@Team"}
    assert all(p.startswith("'+234") for p in frame["participant"])
    assert all(t.startswith("'-tag") for t in frame["tags"])
    assert frame["messages"].tolist() == [4.0] * len(HOSTILE)


@pytest.fixture(scope="module")
def hostile_costs():
    """The hostile sessions with a cost by model, models named like formulas too."""
    day = date(2026, 11, 20)
    rows, transcripts, costs = [], {}, {}
    for i, name in enumerate(HOSTILE):
        record = session_record(
            f"s{i}",
            created=f"{(day - timedelta(days=i % 3)).isoformat()}T10:00:00Z",
            exp=f"exp-{i}",
            exp_name=name,
            team="=team" if i % 2 else "@team",
            pid=f"+2348000000{i}",
            tags=[f"-tag{i}", "coaching_good" if i % 2 else "coaching_bad"],
        )
        row = parse_session(record)
        rows.append(row)
        transcripts[row["session_id"]] = _summary(
            {"human": 2, "ai": 2, "cost": 0.5 + i, "created": record["created_at"]}
        )
        costs[row["session_id"]] = [{"model": name, "cost_usd": 0.5 + i, "tokens": 100 * (i + 1)}]
    return Dataset.from_tables(build_tables(rows, transcripts, costs), 1)


def test_every_chart_csv_of_every_tab_neutralises_hostile_names(hostile_costs):
    ds = hostile_costs
    last_days = FilterState(range="custom", start=date(2026, 11, 19), end=date(2026, 11, 20))
    for state in (FilterState(range="all"), last_days):
        for options in (
            exports.ChartOptions(mode="versions", experiment="exp-0", today=TODAY),
            exports.ChartOptions(mode="periods", today=TODAY),
        ):
            for chart in exports.CHART_EXPORTS:
                _, text = exports.any_chart_csv(ds, state, chart, options, NOW)
                _assert_no_formula(text)
    state, options = FilterState(range="all"), exports.ChartOptions(today=TODAY)
    _, text = exports.any_chart_csv(ds, state, "cost-model", options, NOW)
    _, frame = read_export(text)
    assert sorted(frame["model"]) == sorted("'" + n for n in HOSTILE)
    assert sorted(frame["tokens"]) == [100 * (i + 1) for i in range(len(HOSTILE))]
    for chart, column in (("cost-experiment", "experiment"), ("coverage-experiment", "experiment")):
        _, text = exports.any_chart_csv(ds, state, chart, options, NOW)
        _, frame = read_export(text)
        assert sorted(frame[column]) == sorted("'" + n for n in HOSTILE), chart
        assert frame["sessions"].sum() == len(HOSTILE)
    _, text = exports.any_chart_csv(ds, state, "cooccurrence", options, NOW)
    _, frame = read_export(text)
    assert {t for t in frame["tag_a"] if "tag" in t and "_" not in t} == {
        f"'-tag{i}" for i in range(len(HOSTILE))
    }
    # the experiment chosen for the comparison is named in the header, defused after a comma
    _, text = exports.any_chart_csv(
        ds, state, "compare", exports.ChartOptions(experiment="exp-0", today=TODAY), NOW
    )
    header, _ = read_export(text)
    assert header["experiment"].startswith('=HYPERLINK("http://x",')  # mid-line, not a cell
    _assert_no_formula(text)


# ---- XLSX read back ---------------------------------------------------------------------------

_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _column_index(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref).group(0)
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def _unescape(text: str) -> str:
    """OOXML's ``_xHHHH_`` escapes of control characters (a CR is stored as ``_x000D_``)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)


def read_xlsx(data: bytes) -> dict[str, list[list]]:
    """Sheet name → rows of typed cell values (str, float, bool or None), and ``"_formulas"``
    → how many formula cells the workbook holds."""
    book = zipfile.ZipFile(io.BytesIO(data))
    strings = [
        _unescape("".join(t.text or "" for t in si.iter(f"{{{_NS['m']}}}t")))
        for si in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).findall("m:si", _NS)
    ]
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels}
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    sheets: dict[str, list[list]] = {}
    formulas = 0
    for sheet in workbook.find("m:sheets", _NS):
        root = ElementTree.fromstring(book.read("xl/" + targets[sheet.get(_REL)]))
        rows = []
        for row in root.find("m:sheetData", _NS):
            values: list = []
            for c in row:
                formulas += c.find("m:f", _NS) is not None
                col = _column_index(c.get("r"))
                values += [None] * (col - len(values) + 1)
                v = c.find("m:v", _NS)
                kind = c.get("t", "n")
                if v is None:
                    values[col] = None
                elif kind == "s":
                    values[col] = strings[int(v.text)]
                elif kind == "b":
                    values[col] = v.text == "1"
                else:
                    values[col] = float(v.text)
            rows.append(values)
        sheets[sheet.get("name")] = rows
    sheets["_formulas"] = formulas
    return sheets


def _table(rows: list[list]) -> list[dict]:
    header = rows[0]
    return [
        dict(zip(header, row + [None] * (len(header) - len(row)), strict=True)) for row in rows[1:]
    ]


def _excel_day(serial: float) -> str:
    return (date(1899, 12, 30) + timedelta(days=int(serial))).isoformat()


def _same(a, b) -> bool:
    """An XLSX cell (blank → None) equals a JSON/CSV number (None/NaN → blank)."""
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None
    return a is not None and close(a, b)


@pytest.mark.parametrize("index", range(len(STATES)))
def test_xlsx_equals_the_view_csv_json_and_page(demo_dataset, index):
    state = STATES[index]
    view = overview(demo_dataset, state, today=TODAY)
    name, data = exports.view_xlsx(view, demo_dataset, state, NOW)
    assert name == "ocs-overview-20261122-0930.xlsx"
    book = read_xlsx(data)
    assert book.pop("_formulas") == 0
    assert list(book) == ["About", *exports.XLSX_SHEETS.values()]

    about = {row[0]: row[1] for row in book["About"][2:]}
    assert about["Filters (page URL query)"] == (state.to_query() or "(default view)")
    assert about["Time zone of dates and buckets"] == "UTC"
    assert about["Last sync (UTC)"] == "2026-11-22T00:00:00Z"
    assert about["Data generation"] == demo_dataset.generation
    assert about["Exported at (UTC)"] == "2026-11-22T09:30:00Z"

    _, document = exports.view_json(view, demo_dataset, state, NOW)
    document = json.loads(json.dumps(document))
    _, csv_text = exports.view_csv(view, demo_dataset, state, NOW)
    _, long = read_export(csv_text)
    sel = select(demo_dataset, state, today=TODAY)
    kpis = {k.key: k for k in metrics.kpis(sel, select_previous(demo_dataset, sel))}

    headline = _table(book["Headline"])
    assert [k["key"] for k in headline] == [k["key"] for k in document["kpis"]]
    for got, want in zip(headline, document["kpis"], strict=True):
        for field in ("value", "previous", "change"):
            assert _same(got[field], want[field]), (got, want)
        assert _same(got["value"], kpis[got["key"]].value)
        csv_value = long[(long["key"] == got["key"]) & (long["metric"] == "value")]["value"]
        assert close(got["value"], float(csv_value.iloc[0]))
    assert headline[0]["key"] == "sessions" and headline[0]["value"] == sel.n

    time = _table(book["Sessions over time"])
    assert [_excel_day(r["bucket"]) for r in time] == [
        p["bucket"] for p in document["sessions_over_time"]
    ]
    assert [r["sessions"] for r in time] == [p["sessions"] for p in document["sessions_over_time"]]

    for sheet, key, id_column in (
        ("By experiment", "by_experiment", "experiment_id"),
        ("By team", "by_team", "team_slug"),
    ):
        rows = _table(book[sheet])
        assert [r[id_column] for r in rows] == [r["value"] for r in document[key]]
        assert [r["sessions"] for r in rows] == [r["sessions"] for r in document[key]]
        assert all(_same(r["share"], w["share"]) for r, w in zip(rows, document[key], strict=True))
        assert sum(r["sessions"] for r in rows) == sel.n

    quality = _table(book["Annotation quality"])
    assert [r["category"] for r in quality] == [a["category"] for a in document["annotations"]]
    for got, want in zip(quality, document["annotations"], strict=True):
        for field in ("good", "bad", "undetermined", "n", "rate", "ci_low", "ci_high"):
            assert _same(got[field], want[field]), (field, got, want)


def test_xlsx_writes_hostile_text_as_text_and_names_the_time_zone(hostile):
    state = FilterState(range="all", tz="Asia/Kolkata")
    view = overview(hostile, state, today=TODAY)
    _, data = exports.view_xlsx(view, hostile, state, datetime(2026, 11, 22, tzinfo=UTC))
    book = read_xlsx(data)
    assert book.pop("_formulas") == 0
    about = {row[0]: row[1] for row in book["About"][2:]}
    assert about["Time zone of dates and buckets"] == "Asia/Kolkata"
    assert "tz=Asia/Kolkata" in about["Filters (page URL query)"]
    names = [r["experiment"] for r in _table(book["By experiment"])]
    assert sorted(names) == sorted(HOSTILE)  # exact text, no quote needed in a typed cell


def test_xlsx_download_callback(hostile, monkeypatch):
    from callbacks import exports as export_callbacks

    monkeypatch.setattr(export_callbacks.runtime, "dataset", lambda: hostile)
    name, data = export_callbacks.view_export(FilterState(range="all").to_dict(), "xlsx")
    assert name.startswith("ocs-overview-") and name.endswith(".xlsx")
    assert isinstance(data, bytes) and data[:2] == b"PK"
    headline = _table(read_xlsx(data)["Headline"])
    assert headline[0]["key"] == "sessions" and headline[0]["value"] == len(HOSTILE)
    assert export_callbacks.VIEW_FORMATS["export-view-xlsx"] == "xlsx"
