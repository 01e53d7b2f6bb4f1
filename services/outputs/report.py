"""Weekly report: the last N days against the N days before, as text, JSON or HTML.

Usage::

    python -m services.outputs.report                                   # last 7 days, text, stdout
    python -m services.outputs.report --days 7 --format html --out weekly.html
    python -m services.outputs.report --days 30 --format json --filters "team=ecd-nigeria"

The period is the N **complete** days (UTC, or the ``tz`` in ``--filters``) ending with ``--end`` (default: yesterday), compared
with the N days before. ``--filters`` takes the dashboard's URL query (same keys and rules; a
``range``/``start``/``end`` in it is replaced by the report period). Every number comes from
:mod:`services.analytics.metrics` on the same store the dashboard reads (``DATA_DIR``); without an OCS
key the demo world is used (generated first when the store is empty).

Sections: headline numbers (sessions, active participants, messages, annotated and rated-good
shares) with the change, annotation quality per category with 95% Wilson intervals, top tags,
busiest hours, the biggest per-experiment and per-team changes in sessions, and anomaly
flags (:mod:`services.analytics.anomalies`). The HTML file is self-contained (plotly.js inline, no
network needed to open it).

Exit codes: 0 written, 2 bad arguments or configuration, 3 no data, 4 the output file could
not be written, 1 anything unexpected (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import html
import logging
import math
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pandas as pd
import plotly.io as pio

from services.analytics import metrics
from services.analytics.filters import FilterState, parse_query
from services.analytics.query import Selection, select
from services.outputs import exports
from services.store.dataset import Dataset
from services.views.charts import base as figures
from services.views.overview import vocabulary

try:  # optional: anomaly flags (services/anomalies.py); the section is skipped without it
    from services.analytics.anomalies import anomalies as find_anomalies
    from services.analytics.anomalies import describe as describe_anomaly
except ImportError:  # pragma: no cover - only when the module is absent
    find_anomalies = describe_anomaly = None

log = logging.getLogger("dashboard.report")

FORMATS = ("text", "json", "html")
MAX_DAYS = 366
TOP_TAGS = 10
TOP_CHANGES = 5
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NO_DATA, EXIT_WRITE = 0, 1, 2, 3, 4


class ReportError(Exception):
    """A problem the user can fix; ``code`` is the exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


# ---- building -----------------------------------------------------------------------------


def period_state(base: FilterState, start: date, end: date) -> FilterState:
    """``base`` filters over the custom window ``[start, end]`` (inclusive), daily buckets."""
    return replace(base, range="custom", start=start, end=end, granularity="day", notices=())


def _delta_rows(now: pd.DataFrame, before: pd.DataFrame, key: str, top: int) -> list[dict]:
    """Per value: sessions now and before, delta and relative change; largest |delta| first."""
    merged = pd.merge(
        now[["value", "label", key]],
        before[["value", "label", key]].rename(columns={key: "previous", "label": "label_prev"}),
        on="value",
        how="outer",
    )
    merged["label"] = merged["label"].astype(object).fillna(merged["label_prev"])
    merged[key] = merged[key].fillna(0).astype(int)
    merged["previous"] = merged["previous"].fillna(0).astype(int)
    merged["delta"] = merged[key] - merged["previous"]
    merged = merged[merged["delta"] != 0]
    merged["size"] = merged["delta"].abs()
    merged = merged.sort_values(["size", "label"], ascending=[False, True]).head(top)
    return [
        {
            "value": row.value,
            "label": row.label,
            "sessions": int(getattr(row, key)),
            "previous": int(row.previous),
            "delta": int(row.delta),
            "change": metrics.change(float(getattr(row, key)), float(row.previous)),
        }
        for row in merged.itertuples()
    ]


def _tags(sel: Selection, prev: Selection) -> list[dict]:
    now = metrics.tag_counts(sel).head(TOP_TAGS)
    before = metrics.tag_counts(prev).set_index("tag")["sessions"]
    return [
        {
            "tag": row.tag,
            "sessions": int(row.sessions),
            "share": metrics.ratio(int(row.sessions), sel.n),
            "previous": int(before.get(row.tag, 0)),
            "change": metrics.change(float(row.sessions), float(before.get(row.tag, 0))),
        }
        for row in now.itertuples()
    ]


def _anomalies(sel: Selection, today: date) -> dict:
    if find_anomalies is None:
        return {"available": False, "flags": []}
    flags = find_anomalies(sel, today=today)
    rows = exports.records(flags)
    for row, flag in zip(rows, flags.itertuples(), strict=True):
        row["text"] = describe_anomaly(flag)
    return {"available": True, "flags": rows}


def build_report(
    dataset: Dataset,
    days: int = 7,
    end: date | None = None,
    base: FilterState | None = None,
    notices: list[str] | tuple = (),
    now: datetime | None = None,
    public_url: str = "",
) -> dict:
    """Every number of the report as a JSON-safe dict (what ``--format json`` prints).

    ``public_url`` (the ``PUBLIC_URL`` setting) makes ``links`` full URLs of the dashboard;
    without it they are the bare view query (``?range=custom&start=…``).
    """
    now = now or datetime.now(UTC)
    base = base or FilterState()
    if end is None:  # yesterday, in the report's time zone
        end = now.astimezone(ZoneInfo(exports.timezone(base))).date() - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    prev_end = start - timedelta(days=1)
    prev_start = prev_end - timedelta(days=days - 1)
    state = period_state(base, start, end)
    prev_state = period_state(base, prev_start, prev_end)
    sel = select(dataset, state)
    prev = select(dataset, prev_state)

    kpis = []
    for kpi in metrics.kpis(sel, prev):
        kpis.append(
            {
                "key": kpi.key,
                "label": kpi.label,
                "kind": kpi.kind,
                "value": exports.plain(kpi.value),
                "previous": exports.plain(kpi.previous),
                "change": exports.plain(kpi.change),
            }
        )
    quality = metrics.annotation_breakdown(sel)
    prev_quality = metrics.annotation_breakdown(prev).set_index("category")["rate"]
    quality_rows = exports.records(quality[exports.ANNOTATION_COLUMNS])
    for row in quality_rows:
        row["previous_rate"] = exports.plain(prev_quality.get(row["category"]))
    daily = metrics.sessions_over_time(sel)
    prev_daily = metrics.sessions_over_time(prev)
    hours = metrics.sessions_by_hour(sel)
    filters = replace(base, range=FilterState().range, start=None, end=None).to_query()
    return {
        "title": f"OCS sessions: last {days} day{'s' if days != 1 else ''}",
        "period": {"start": start.isoformat(), "end": end.isoformat(), "days": days},
        "previous_period": {"start": prev_start.isoformat(), "end": prev_end.isoformat()},
        "links": {
            "current": exports.view_link(public_url, state.to_query()),
            "previous": exports.view_link(public_url, prev_state.to_query()),
        },
        "filters": filters,
        "notices": list(notices),
        "timezone": exports.timezone(base),
        "data_source": dataset.meta.get("source"),
        "generation": dataset.generation,
        "synced_at": exports.synced_at(dataset),
        "generated_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "kpis": kpis,
        "quality": quality_rows,
        "top_tags": _tags(sel, prev),
        "busiest_hours": exports.records(hours),
        "peak_hours": [
            int(h) for h in hours.sort_values(["sessions", "hour"], ascending=[False, True])["hour"]
        ][:3]
        if sel.n
        else [],
        "changes": {
            "experiment": _delta_rows(
                metrics.sessions_by(sel, "experiment"),
                metrics.sessions_by(prev, "experiment"),
                "sessions",
                TOP_CHANGES,
            ),
            "team": _delta_rows(
                metrics.sessions_by(sel, "team"),
                metrics.sessions_by(prev, "team"),
                "sessions",
                TOP_CHANGES,
            ),
        },
        "sessions_per_day": [
            {"day": d.strftime("%Y-%m-%d"), "sessions": int(s), "previous": int(p)}
            for d, s, p in zip(
                daily["bucket"], daily["sessions"], prev_daily["sessions"], strict=False
            )
        ],
        "anomalies": _anomalies(sel, end + timedelta(days=1)),
    }


# ---- rendering ----------------------------------------------------------------------------


def _count(value) -> str:
    return "–" if value is None else f"{int(value):,}"


def _share(value) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.1%}"


def format_kpi(kpi: dict) -> tuple[str, str, str]:
    """(value, previous, change) as display text; counts change in %, shares in points."""
    fmt = _share if kpi["kind"] == "share" else _count
    change = kpi["change"]
    if change is None:
        text = "n/a"
    elif round(change * 100, 1) == 0:  # prints as 0.0: no change, never "-0.0"
        text = "no change"
    elif kpi["kind"] == "share":
        text = f"{change * 100:+.1f} pts"
    else:
        text = f"{change:+.1%}"
    return fmt(kpi["value"]), fmt(kpi["previous"]), text


def _rate(row: dict) -> str:
    if not row["n"]:
        return "–"
    return f"{row['rate']:.0%} ({row['ci_low']:.0%}–{row['ci_high']:.0%})"


def _change_text(row: dict) -> str:
    rel = "new" if row["change"] is None else f"{row['change']:+.0%}"
    return f"{row['delta']:+,} ({row['previous']:,} → {row['sessions']:,}, {rel})"


def render_text(report: dict) -> str:
    """A plain-text report for e-mail or a terminal."""
    p, q = report["period"], report["previous_period"]
    out = [
        report["title"],
        f"{p['start']} to {p['end']} ({report['timezone']}) vs {q['start']} to {q['end']}",
        f"Filters: {report['filters'] or 'none (all but evaluations platform and setup status)'}",
        f"Data: {report['data_source'] or 'store'} generation {report['generation']},"
        f" last sync {report['synced_at'] or 'unknown'}",
    ]
    out += [f"Note: {n}" for n in report["notices"]]
    out += ["", "HEADLINE", f"  {'':22}{'now':>10}{'before':>10}{'change':>12}"]
    for kpi in report["kpis"]:
        value, previous, change = format_kpi(kpi)
        out.append(f"  {kpi['label']:22}{value:>10}{previous:>10}{change:>12}")
    out += ["", "QUALITY (good rate with 95% interval; n = sessions with a verdict)"]
    rated = [r for r in report["quality"] if r["n"]]
    for row in rated:
        small = "  (small n)" if row["n"] < 30 else ""
        out.append(f"  {row['label']:22}{_rate(row):>18}  n={row['n']:,}{small}")
    if not rated:
        out.append("  no annotated sessions")
    out += ["", "TOP TAGS"]
    for row in report["top_tags"]:
        out.append(f"  {row['tag']:32}{row['sessions']:>7,}  (before {row['previous']:,})")
    if not report["top_tags"]:
        out.append("  no tagged sessions")
    out += ["", f"BUSIEST HOURS ({report['timezone']})"]
    if report["peak_hours"]:
        hours = {h["hour"]: h for h in report["busiest_hours"]}
        for hour in report["peak_hours"]:
            h = hours[hour]
            out.append(
                f"  {hour:02d}:00–{hour:02d}:59  {h['sessions']:,} sessions ({h['share']:.0%})"
            )
    else:
        out.append("  no sessions")
    for key, title in (("experiment", "EXPERIMENTS"), ("team", "TEAMS")):
        out += ["", f"BIGGEST CHANGES: {title}"]
        for row in report["changes"][key]:
            out.append(f"  {row['label'][:40]:40}{_change_text(row)}")
        if not report["changes"][key]:
            out.append("  no change")
    out += ["", "ANOMALIES"]
    anomalies = report["anomalies"]
    if not anomalies["available"]:
        out.append("  not available (services/anomalies.py is missing)")
    elif not anomalies["flags"]:
        out.append("  nothing unusual")
    else:
        out += [f"  {flag['text']}" for flag in anomalies["flags"]]
    link = report["links"]["current"]
    where = (
        f"Dashboard link: {link}"
        if link.startswith("http")
        else f"Dashboard view: {link} (after the dashboard's address; set PUBLIC_URL for a full link)"
    )
    out += ["", f"Generated {report['generated_at']}. {where}"]
    return "\n".join(out) + "\n"


def render_json(report: dict) -> str:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n"


def report_figures(report: dict) -> dict:
    """The HTML report's charts, built with the dashboard's figure builders."""
    daily = pd.DataFrame(report["sessions_per_day"])
    per_day = figures.base_figure("light", 300)
    if daily.empty or daily["sessions"].sum() + daily["previous"].sum() == 0:
        per_day = figures.empty_figure(theme="light", height=300)
    else:
        per_day.add_bar(x=daily["day"], y=daily["sessions"], name="This period")
        per_day.add_scatter(
            x=daily["day"],
            y=daily["previous"],
            name="Previous period (same weekday offset)",
            mode="lines+markers",
            line={"dash": "dot", "color": figures.NEUTRAL},
        )
        per_day.update_layout(hovermode="x", margin={"b": 40})
    hours = pd.DataFrame(report["busiest_hours"])
    by_hour = figures.base_figure("light", 260)
    by_hour.add_bar(
        x=[f"{h:02d}" for h in hours["hour"]],
        y=hours["sessions"],
        marker_color=figures.PALETTE[1],
        hovertemplate=f"%{{x}}:00 {report['timezone']}<br>%{{y:,}} sessions<extra></extra>",
    )
    by_hour.update_layout(xaxis_title=f"hour of day ({report['timezone']})")
    quality = pd.DataFrame(report["quality"])
    if not quality.empty:  # no annotation categories at all: the figure says so
        quality = quality.astype({"rate": float, "ci_low": float, "ci_high": float})
    return {
        "Sessions per day": per_day,
        "Annotation quality (good rate, 95% interval)": figures.annotation_figure(quality, "light"),
        "Sessions by hour of day": by_hour,
    }


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#212529;
max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:2rem;
border-bottom:1px solid #dee2e6;padding-bottom:.3rem}.sub{color:#6c757d;font-size:.9rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{padding:.3rem .5rem;
border-bottom:1px solid #eee;text-align:right}th:first-child,td:first-child{text-align:left}
.up{color:#1f9d6b}.down{color:#d64f4f}.small{color:#c9a227}.note{color:#6c757d;font-size:.85rem}
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict) -> str:
    """A self-contained HTML page: tables plus plotly charts with plotly.js inline."""
    p, q = report["period"], report["previous_period"]
    parts = [
        f"<h1>{html.escape(report['title'])}</h1>",
        f'<div class="sub">{p["start"]} to {p["end"]} ({html.escape(report["timezone"])}) vs '
        f"{q['start']} to {q['end']} · "
        f"filters: {html.escape(report['filters'] or 'none')} · data generation "
        f"{report['generation']}, last sync {html.escape(report['synced_at'] or 'unknown')}</div>",
    ]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in report["notices"]]
    parts.append("<h2>Headline</h2>")
    parts.append(
        _table(
            ["", "This period", "Previous", "Change"],
            [[k["label"], *format_kpi(k)] for k in report["kpis"]],
        )
    )
    charts = report_figures(report)
    first = True
    for title, fig in charts.items():
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(
            pio.to_html(
                fig,
                full_html=False,
                include_plotlyjs=first,  # inline once: the file works offline
                config={"displaylogo": False, "responsive": True},
            )
        )
        first = False
        if title.startswith("Annotation"):
            parts.append(
                _table(
                    ["Category", "Good", "Bad", "Undet.", "n", "Good rate (95% CI)", "Before"],
                    [
                        [
                            r["label"],
                            f"{r['good']:,}",
                            "–" if r["presence"] else f"{r['bad']:,}",
                            "–" if r["presence"] else f"{r['undetermined']:,}",
                            f"{r['n']:,}" + (" (small n)" if 0 < r["n"] < 30 else ""),
                            _rate(r),
                            _share(r["previous_rate"]),
                        ]
                        for r in report["quality"]
                    ],
                )
            )
    parts.append("<h2>Top tags</h2>")
    parts.append(
        _table(
            ["Tag", "Sessions", "Share", "Previous"],
            [
                [t["tag"], f"{t['sessions']:,}", _share(t["share"]), f"{t['previous']:,}"]
                for t in report["top_tags"]
            ],
        )
    )
    for key, title in (("experiment", "experiment"), ("team", "team")):
        parts.append(f"<h2>Biggest changes by {title}</h2>")
        rows = report["changes"][key]
        parts.append(
            _table(
                [title.capitalize(), "Previous", "Now", "Change"],
                [
                    [
                        r["label"],
                        f"{r['previous']:,}",
                        f"{r['sessions']:,}",
                        f"{r['delta']:+,} ("
                        + ("new" if r["change"] is None else f"{r['change']:+.0%}")
                        + ")",
                    ]
                    for r in rows
                ],
            )
            if rows
            else '<p class="note">No change.</p>'
        )
    parts.append("<h2>Anomalies</h2>")
    anomalies = report["anomalies"]
    if not anomalies["available"]:
        parts.append('<p class="note">Not available (services/anomalies.py is missing).</p>')
    elif not anomalies["flags"]:
        parts.append('<p class="note">Nothing unusual.</p>')
    else:
        items = "".join(f"<li>{html.escape(f['text'])}</li>" for f in anomalies["flags"])
        parts.append(f"<ul>{items}</ul>")
    link = report["links"]["current"]
    where = (
        f'<a href="{html.escape(link)}">Open this view in the dashboard</a>'
        if link.startswith("http")
        else f"Dashboard view: <code>{html.escape(link)}</code>"
    )
    parts.append(
        f'<p class="note">Generated {report["generated_at"]} by OCS Session Analytics. {where}</p>'
    )
    body = "\n".join(parts)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(report['title'])}</title><style>{_CSS}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


RENDERERS = {"text": render_text, "json": render_json, "html": render_html}


# ---- command line -------------------------------------------------------------------------


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
    if not 1 <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_DAYS} (got {value})")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date like 2026-11-22 (got {text!r})") from None


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.outputs.report",
        description="Report the last N days of OCS sessions against the N days before.",
    )
    parser.add_argument("--days", type=_days, default=7, help="period length (default 7)")
    parser.add_argument(
        "--end",
        type=_date,
        default=None,
        help="last day of the period, inclusive (YYYY-MM-DD; default yesterday in the report's"
        " time zone: the tz in --filters, else UTC)",
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="default text")
    parser.add_argument("--out", default=None, help="write here instead of stdout")
    parser.add_argument(
        "--filters",
        default="",
        help='dashboard URL query, e.g. "team=ecd-nigeria&tag=coaching_bad"',
    )
    return parser


def load_dataset(settings) -> Dataset:
    """The store's current dataset (demo mode: generate the demo world when the store is empty)."""
    from services import runtime

    runtime.configure(settings)
    try:
        empty = runtime.store().current_generation() is None
    except Exception as exc:  # StoreError and friends: report, do not crash
        raise ReportError(f"the data store in {settings.data_dir} is unreadable: {exc}", 3) from exc
    if empty and settings.demo_mode:
        runtime.prepare_data(settings)
    dataset = runtime.dataset()
    if dataset is None:
        notice = runtime.datasets().notice
        raise ReportError(
            notice or f"no data in {settings.store_dir}: run `python -m services.sync` first",
            EXIT_NO_DATA,
        )
    return dataset


def write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}", EXIT_WRITE) from exc


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # bad arguments: usage + message, exit 2
    from services.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(stream=sys.stderr, level=settings.log_level, format="%(message)s")
    try:
        dataset = load_dataset(settings)
        base, notices = parse_query(args.filters, vocabulary(dataset))
        report = build_report(
            dataset, args.days, args.end, base, notices, public_url=settings.public_url
        )
        write(RENDERERS[args.format](report), args.out)
    except ReportError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return exc.code
    except Exception as exc:  # no traceback for the scheduler's log; DEBUG shows it
        log.debug("traceback", exc_info=exc)
        print(f"report failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.out:
        print(f"report written to {args.out}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
