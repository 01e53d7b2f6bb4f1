"""Export builders: chart CSVs, the whole Overview as CSV, JSON or XLSX, and the API's summary.

Pure functions over the tabs' view models (:mod:`services.views`: the same view models the page
renders), so an exported or API number is the number on the page. Every file says what it
shows: the canonical filters (the page's URL query), the time zone of dates and buckets
(the filter state's ``tz``, UTC by default), the data generation and the last sync time — CSV
as leading ``# key: value`` comment lines (``pandas.read_csv(path, comment="#")`` reads it
back), JSON in a ``meta`` object, XLSX on an "About" sheet.

Every CSV goes through :func:`to_csv`: a text cell starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return gets a leading ``'`` so a spreadsheet shows it as text instead of
running it as a formula (OWASP "CSV injection"); numbers are never touched. XLSX cells are
typed (strings are written as strings, never as formulas), so they need no prefix.

No Dash import: callbacks (``callbacks/exports.py``), the API (``services/api.py``) and the
weekly report call these.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from services.analytics import metrics
from services.analytics.filters import FilterState
from services.store.dataset import Dataset
from services.views import engagement as engagement_views
from services.views.cost import cost_view
from services.views.engagement import engagement_view
from services.views.overview import OverviewView, overview
from services.views.quality import Controls, quality_view
from services.views.scope import Scope, describe
from services.views.sessions import SessionsView

TIMEZONE = "UTC"
"""Time zone of dates and buckets when the filter state names none."""
CHARTS = {
    "time": "Sessions over time",
    "experiment": "Sessions by experiment",
    "team": "Sessions by team",
    "annotations": "Annotation quality",
}
"""Chart key → title of the Overview's four charts (:func:`chart_csv` builds them from an
:class:`OverviewView`); every chart of every tab is in :data:`CHART_EXPORTS`."""
VIEW_CSV_COLUMNS = ["section", "key", "label", "metric", "value"]
ANNOTATION_COLUMNS = metrics.ANNOTATION_COLUMNS
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet may run a text cell that starts with one of these as a formula."""
XLSX_SHEETS = {
    "kpis": "Headline",
    "time": "Sessions over time",
    "experiment": "By experiment",
    "team": "By team",
    "annotations": "Annotation quality",
}
"""Section → sheet name of the XLSX export (after its first sheet, "About")."""
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ---- CSV formula-injection guard ----------------------------------------------------------


def neutralise(value):
    """``value`` with a leading ``'`` when it is text a spreadsheet could run as a formula.

    Only ``str`` values are changed; numbers (also negative ones), None and NaN pass through.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with :func:`neutralise` applied to every text cell (vectorised per column).

    Numeric, boolean and datetime columns are left as they are, so numbers stay numbers.
    """
    out = None
    for column in frame.columns:
        series = frame[column]
        if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
            continue
        try:
            hostile = series.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
        except AttributeError:  # text mixed with numbers (the long-form "value" column)
            hostile = series.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_PREFIXES))
            hostile = hostile.astype(bool)
        if not hostile.any():
            continue
        if out is None:
            out = frame.copy()
        fixed = series.astype(object)
        fixed[hostile] = "'" + series[hostile].astype(str)
        out[column] = fixed
    return frame if out is None else out


CSV_LINE_END = "\r\n"
"""RFC 4180 line ends. They also make the writer quote a text cell holding a lone CR (with
``\n`` line ends it does not), which a spreadsheet would otherwise read as a row break, so the
rest of the cell would start a new row unguarded."""


def to_csv(frame: pd.DataFrame) -> str:
    """CSV text of ``frame`` (no index, CRLF line ends) with formula-like text cells neutralised.

    Every text cell is quoted (numbers are not): a ``#`` inside a name then cannot cut the row
    for ``pandas.read_csv(path, comment="#")``, and a ``;`` inside a name cannot split the cell
    in a spreadsheet that separates with semicolons.
    """
    return csv_safe(frame).to_csv(
        index=False, lineterminator=CSV_LINE_END, quoting=csv.QUOTE_NONNUMERIC
    )


# ---- JSON-safe values ---------------------------------------------------------------------


def iso_utc(epoch_ns_or_s: float | int | None, *, ns: bool = True) -> str | None:
    """Epoch nanoseconds (or seconds with ``ns=False``) → ``2026-11-22T00:00:00Z``; None stays."""
    if epoch_ns_or_s is None:
        return None
    seconds = epoch_ns_or_s / 1e9 if ns else float(epoch_ns_or_s)
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def plain(value):
    """A numpy/pandas scalar as a JSON-safe Python value (NaN, NA and NaT → None)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return None if math.isnan(value) else float(value)
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    """DataFrame → list of dicts with JSON-safe values."""
    columns = list(frame.columns)
    return [
        {c: plain(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


# ---- what every export says about itself --------------------------------------------------


def window_info(view: OverviewView) -> dict:
    """The view's half-open date window ``[start, end)`` in UTC (None = unbounded)."""
    return selection_window(view.scope)


def selection_window(scope: Scope) -> dict:
    """A view's half-open date window ``[start, end)`` in UTC (None = unbounded)."""
    return {"start": iso_utc(scope.start_ns), "end": iso_utc(scope.end_ns), "end_exclusive": True}


def synced_at(dataset: Dataset) -> str | None:
    """When the shown data was last synced from OCS (demo: when it was generated), ISO UTC."""
    stamp = dataset.meta.get("synced_at")
    return iso_utc(stamp, ns=False) if isinstance(stamp, int | float) else None


def timezone(state: FilterState) -> str:
    """The IANA zone the view's days, weeks and buckets are counted in."""
    return getattr(state, "tz", None) or TIMEZONE


def view_link(public_url: str, query: str) -> str:
    """A link to the dashboard view ``query`` (``?range=30d…``): the full URL when the
    dashboard's address is known (the ``PUBLIC_URL`` setting), else the bare query."""
    return f"{public_url.rstrip('/')}/{query}" if public_url else query


def export_meta(
    view: OverviewView | SessionsView,
    dataset: Dataset,
    state: FilterState,
    now: datetime | None = None,
    *,
    public_url: str = "",
) -> dict:
    """The ``meta`` of an export: filters, window, time zone, data generation and sync time."""
    return selection_meta(view.scope, view.description, dataset, state, now, public_url=public_url)


def selection_meta(
    scope: Scope,
    description: str,
    dataset: Dataset,
    state: FilterState,
    now: datetime | None = None,
    *,
    public_url: str = "",
) -> dict:
    """:func:`export_meta` for any tab: ``description`` is the page's one-line summary.

    With ``public_url`` (the ``PUBLIC_URL`` setting) the meta has a ``link``: the full URL of
    the exported view in the dashboard.
    """
    now = now or datetime.now(UTC)
    link = {"link": view_link(public_url, state.to_query())} if public_url else {}
    return {
        "title": "OCS Session Analytics",
        "filters": state.to_query(),
        **link,
        "filter_state": state.to_dict(),
        "description": description,
        "window": selection_window(scope),
        "granularity": scope.granularity,
        "timezone": timezone(state),
        "data_source": dataset.meta.get("source"),
        "generation": dataset.generation,
        "synced_at": synced_at(dataset),
        "exported_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


# ---- the view's numbers -------------------------------------------------------------------


def kpi_records(view: OverviewView) -> list[dict]:
    """The five cards: key, label, kind (count/share), value, previous, change."""
    out = []
    for kpi in view.kpis:
        value, previous = plain(kpi.value), plain(kpi.previous)
        if kpi.kind == "count":
            value = int(value) if value is not None else None
            previous = int(previous) if previous is not None else None
        out.append(
            {
                "key": kpi.key,
                "label": kpi.label,
                "kind": kpi.kind,
                "value": value,
                "previous": previous,
                "change": plain(kpi.change),
            }
        )
    return out


TIME_COLUMNS = ["bucket", "sessions", "days", "bucket_days", "complete"]
"""Columns of the sessions-over-time numbers: ``days`` of the bucket inside the window with
data, of ``bucket_days``; ``complete`` False marks a partial bucket
(:func:`services.analytics.metrics.bucket_spans`)."""
SPAN_NAMES = {"days": "days", "bucket_days": "bucket_days", "complete": "complete"}
"""The partial-bucket columns every over-time export carries beside its numbers."""


def chart_frame(view: OverviewView, chart: str) -> pd.DataFrame:
    """The aggregate behind one Overview chart, with readable column names.

    ``time``: bucket (start date in the view's time zone), sessions, days, bucket_days,
    complete (False: a partial bucket) · ``experiment``: experiment_id, experiment,
    sessions, share · ``team``: team_slug, team, sessions, share · ``annotations``: per
    category good/bad/undetermined/conflicting, n, rate, ci_low, ci_high, presence.
    """
    if chart == "time":
        frame = view.over_time.copy()
        frame["bucket"] = pd.to_datetime(frame["bucket"]).dt.strftime("%Y-%m-%d")
        return frame[TIME_COLUMNS].reset_index(drop=True)
    if chart == "experiment":
        return view.by_experiment.rename(
            columns={"value": "experiment_id", "label": "experiment"}
        ).reset_index(drop=True)
    if chart == "team":
        return view.by_team.rename(columns={"value": "team_slug", "label": "team"}).reset_index(
            drop=True
        )
    if chart == "annotations":
        return view.annotations[ANNOTATION_COLUMNS].reset_index(drop=True)
    raise KeyError(f"unknown chart {chart!r} (one of {', '.join(CHARTS)})")


def view_data(view: OverviewView) -> dict:
    """Every number of the Overview as JSON-safe lists (the body of the JSON export and API)."""
    return {
        "kpis": kpi_records(view),
        "granularity": view.scope.granularity,
        "sessions_over_time": records(chart_frame(view, "time")),
        "by_experiment": records(view.by_experiment),
        "by_team": records(view.by_team),
        "annotations": records(view.annotations[ANNOTATION_COLUMNS]),
    }


def summary(
    view: OverviewView,
    dataset: Dataset,
    state: FilterState,
    notices: list[str] | tuple = (),
    engagement: engagement_views.EngagementView | None = None,
) -> dict:
    """The body of ``GET /api/v1/summary``; with ``engagement`` (the Engagement tab's view of
    the same filters) also its headline numbers, as the tab's cards CSV has them."""
    extra = {}
    if engagement is not None:
        extra["engagement"] = records(engagement_views.headline(engagement))
    return {
        "filters": state.to_query(),
        "filter_state": state.to_dict(),
        "notices": list(notices),
        "window": window_info(view),
        "timezone": timezone(state),
        **view_data(view),
        **extra,
        "generation": dataset.generation,
        "synced_at": synced_at(dataset),
    }


# ---- every chart of every tab -------------------------------------------------------------


@dataclass(frozen=True)
class ChartOptions:
    """What a chart's numbers depend on besides the filters: the Quality tab's comparison
    controls, the monthly budget and the day (None = today where the viewer is). The view
    models are cached by these and the filters (never the theme), so a download reuses the view
    the page just drew."""

    mode: str = "versions"
    experiment: str | None = None
    version_a: str | None = None
    version_b: str | None = None
    budget_usd: float = 0.0
    today: date | None = None

    @property
    def controls(self) -> Controls:
        return Controls(self.mode, self.experiment, self.version_a, self.version_b)


@dataclass
class ChartTable:
    """The numbers behind one chart (readable column names), the sessions they count and the
    chart's own header lines (see :func:`comment_header`)."""

    frame: pd.DataFrame
    scope: Scope
    notes: dict = field(default_factory=dict)
    description: str | None = None
    """The page's one-line summary; None = :func:`services.views.scope.describe` of the scope."""


@dataclass(frozen=True)
class ChartExport:
    title: str
    """The chart's name in the file name and the ``# export:`` line."""
    build: Callable[[Dataset, FilterState, ChartOptions], ChartTable]


def _dates(values) -> pd.Series:
    """Bucket or cohort starts as ``YYYY-MM-DD`` text (their day in the view's time zone)."""
    return pd.to_datetime(pd.Series(values)).dt.strftime("%Y-%m-%d")


def _columns(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """``frame``'s columns ``names`` (in that order), renamed, with dates as text."""
    out = frame[list(names)].rename(columns=names).reset_index(drop=True)
    for column in ("bucket", "cohort_week"):
        if column in out:
            out[column] = _dates(out[column]).to_numpy()
    return out


def _overview_chart(chart: str) -> Callable[[Dataset, FilterState, ChartOptions], ChartTable]:
    def build(dataset: Dataset, state: FilterState, options: ChartOptions) -> ChartTable:
        view = overview(dataset, state, options.today)
        return ChartTable(chart_frame(view, chart), view.scope, {}, view.description)

    return build


# Quality tab: the numbers of the QualityView the page draws

COMPARE_COLUMNS = [
    "category",
    "label",
    "good_a",
    "n_a",
    "rate_a",
    "ci_low_a",
    "ci_high_a",
    "good_b",
    "n_b",
    "rate_b",
    "ci_low_b",
    "ci_high_b",
    "difference",
    "diff_low",
    "diff_high",
    "p_value",
    "verdict",
]


def _compare(dataset: Dataset, state: FilterState, options: ChartOptions) -> ChartTable:
    view = quality_view(dataset, state, options.controls, options.today)
    if options.mode == "versions":
        notes = {
            "comparison": "two versions of one experiment: sessions that talked to exactly "
            "one version, the page's other filters (its version filter ignored)",
            "experiment": f"{view.experiment_label} ({options.experiment})"
            if options.experiment
            else "(none chosen)",
            "side_a": options.version_a or "(none chosen)",
            "side_b": options.version_b or "(none chosen)",
        }
    else:
        notes = {
            "comparison": "this period (B) against the previous period of equal length (A), "
            "both with all the page's filters",
            "side_a": "previous period",
            "side_b": "this period",
        }
    if view.comparison is None:
        notes["comparison"] += " — incomplete, so no rows"
        return ChartTable(pd.DataFrame(columns=COMPARE_COLUMNS), view.scope, notes)
    frame = view.comparison.rows[COMPARE_COLUMNS].reset_index(drop=True)
    return ChartTable(frame, view.scope, notes, view.description)


def _quality_frame(
    attribute: str, names: dict[str, str], granularity_note: bool = False
) -> Callable[[Dataset, FilterState, ChartOptions], ChartTable]:
    def build(dataset: Dataset, state: FilterState, options: ChartOptions) -> ChartTable:
        numbers = quality_view(dataset, state, options.controls, options.today).numbers
        notes = {"granularity": numbers.granularity} if granularity_note else {}
        frame = _columns(getattr(numbers, attribute), names)
        return ChartTable(frame, numbers.scope, notes, numbers.description)

    return build


# Engagement and Cost tabs: the frames on their view models

_HISTOGRAMS = {
    # chart → (view attribute, bin column, bin start column, counted unit)
    "messages": ("messages", "messages", "from_messages", "sessions"),
    "words": ("words", "words_per_message", "from_words", "sessions"),
    "duration": ("duration", "duration", "from_minutes", "sessions"),
    "per-participant": ("per_participant", "sessions", "from_sessions", "participants"),
}


def _histogram(chart: str) -> Callable[[Dataset, FilterState, ChartOptions], ChartTable]:
    attribute, label, low, unit = _HISTOGRAMS[chart]

    def build(dataset: Dataset, state: FilterState, options: ChartOptions) -> ChartTable:
        view = engagement_view(dataset, state, options.today)
        distribution = getattr(view, attribute)
        names = {"bin": label, "low": low, unit: unit, "share": "share"}
        frame = _columns(distribution.histogram, names)
        if (frame[low] % 1 == 0).all():  # whole-number bin starts read as such
            frame[low] = frame[low].astype(np.int64)
        notes = {"counted": f"{distribution.n:,} {unit}"}
        return ChartTable(frame, view.scope, notes, view.description)

    return build


def _engagement_frame(
    attribute: str, names: dict[str, str]
) -> Callable[[Dataset, FilterState, ChartOptions], ChartTable]:
    def build(dataset: Dataset, state: FilterState, options: ChartOptions) -> ChartTable:
        view = engagement_view(dataset, state, options.today)
        frame = _columns(getattr(view, attribute), names)
        return ChartTable(frame, view.scope, {}, view.description)

    return build


def _retention(dataset: Dataset, state: FilterState, options: ChartOptions) -> ChartTable:
    view = engagement_view(dataset, state, options.today)
    weeks = [c for c in view.cohorts.columns if str(c).startswith("week_")]
    names = {"cohort": "cohort_week", "size": "new_participants", **{w: w for w in weeks}}
    frame = _columns(view.cohorts, names)
    return ChartTable(frame, view.scope, {"granularity": "week"}, view.description)


def _cost_frame(
    attribute: str, names: dict[str, str]
) -> Callable[[Dataset, FilterState, ChartOptions], ChartTable]:
    def build(dataset: Dataset, state: FilterState, options: ChartOptions) -> ChartTable:
        view = cost_view(dataset, state, options.budget_usd, options.today)
        frame = _columns(getattr(view, attribute), names)
        return ChartTable(frame, view.scope, {}, view.description)

    return build


CHART_EXPORTS: dict[str, ChartExport] = {
    "time": ChartExport(CHARTS["time"], _overview_chart("time")),
    "experiment": ChartExport(CHARTS["experiment"], _overview_chart("experiment")),
    "team": ChartExport(CHARTS["team"], _overview_chart("team")),
    "annotations": ChartExport(CHARTS["annotations"], _overview_chart("annotations")),
    "compare": ChartExport("Version comparison", _compare),
    "quality-time": ChartExport(
        "Quality over time",
        _quality_frame(
            "over_time",
            {
                c: c
                for c in ("bucket", "category", "label", "good", "n", "rate", "ci_low", "ci_high")
            },
            granularity_note=True,
        ),
    ),
    "coverage-time": ChartExport(
        "Annotation coverage over time",
        _quality_frame(
            "coverage_time",
            {
                "bucket": "bucket",
                "sessions": "sessions",
                "annotated": "annotated",
                "share": "share",
            },
        ),
    ),
    "coverage-experiment": ChartExport(
        "Annotation coverage by experiment",
        _quality_frame(
            "coverage_experiment",
            {
                "experiment": "experiment_id",
                "label": "experiment",
                "sessions": "sessions",
                "annotated": "annotated",
                "share": "share",
            },
        ),
    ),
    "cooccurrence": ChartExport(
        "Tag co-occurrence among annotated sessions",
        _quality_frame(
            "cooccurrence",
            {
                "tag_a": "tag_a",
                "tag_b": "tag_b",
                "both": "sessions_with_both",
                "count_a": "sessions_with_a",
                "count_b": "sessions_with_b",
                "lift": "lift",
                "conditional": "share_of_a_with_b",
            },
        ),
    ),
    "messages": ChartExport("Messages per session", _histogram("messages")),
    "words": ChartExport("Words per participant message", _histogram("words")),
    "duration": ChartExport("Session length", _histogram("duration")),
    "dropoff": ChartExport(
        "Where conversations end",
        _engagement_frame(
            "dropoff",
            {
                "turn": "turn",
                "sessions": "sessions_reaching_turn",
                "still_going": "share_still_going",
                "ended_here": "share_ended_here",
            },
        ),
    ),
    "participants": ChartExport(
        "Active participants over time",
        _engagement_frame(
            "participants", {"bucket": "bucket", "participants": "participants", **SPAN_NAMES}
        ),
    ),
    "per-participant": ChartExport("Sessions per participant", _histogram("per-participant")),
    "retention": ChartExport("Retention cohorts", _retention),
    "lexicon": ChartExport(
        "Appreciation and dissatisfaction over time",
        _engagement_frame(
            "lexicon_over_time",
            {
                "bucket": "bucket",
                "sessions": "sessions",
                "appreciation": "share_appreciation",
                "dissatisfaction": "share_dissatisfaction",
                **SPAN_NAMES,
            },
        ),
    ),
    "cost-time": ChartExport(
        "Cost over time",
        _cost_frame(
            "over_time",
            {
                "bucket": "bucket",
                "cost_usd": "cost_usd",
                "sessions": "sessions",
                "known": "sessions_with_known_cost",
                "coverage": "coverage",
                **SPAN_NAMES,
            },
        ),
    ),
    "cost-model": ChartExport(
        "Cost by model",
        _cost_frame(
            "by_model",
            {
                "model": "model",
                "cost_usd": "cost_usd",
                "share": "share",
                "tokens": "tokens",
                "sessions": "sessions",
            },
        ),
    ),
    "cost-experiment": ChartExport(
        "Cost by experiment",
        _cost_frame(
            "by_experiment",
            {
                "value": "experiment_id",
                "label": "experiment",
                "cost_usd": "cost_usd",
                "sessions": "sessions",
                "known": "sessions_with_known_cost",
                "coverage": "coverage",
                "mean_usd": "mean_usd_per_known",
            },
        ),
    ),
}
"""Chart key (the ``chart`` of the CSV button's id ``{"type": "chart-csv", "chart": key}``) →
title and the function that returns the chart's numbers from the page's view model."""


@dataclass(frozen=True)
class CardExport:
    title: str
    """The cards' name in the file name and the ``# export:`` line."""
    build: Callable[[Dataset, FilterState, ChartOptions], ChartTable]


def _engagement_cards(dataset: Dataset, state: FilterState, options: ChartOptions) -> ChartTable:
    view = engagement_view(dataset, state, options.today)
    return ChartTable(engagement_views.headline(view), view.scope, {}, view.description)


CARD_EXPORTS: dict[str, CardExport] = {
    "engagement-cards": CardExport("Engagement headline numbers", _engagement_cards),
}
"""Key (the ``chart`` of a CSV button above a tab's headline cards) → title and the function
that returns the cards' numbers from the page's view model."""
EXPORTS: dict[str, ChartExport | CardExport] = {**CHART_EXPORTS, **CARD_EXPORTS}
"""Every per-chart and per-cards CSV (what :func:`any_chart_csv` builds)."""


# ---- files --------------------------------------------------------------------------------


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%d-%H%M")


_SPLIT_FORMULA = re.compile(r"([,;]\s*)([=+\-@])")


def _header_value(key: str, value) -> str:
    """One header value on one line; a spreadsheet splits the line at ``,`` (or ``;``), so no
    piece after a separator may start like a formula: in the filters (a URL query) such a
    character is percent-encoded (the link still means the same), elsewhere it gets a ``'``."""
    text = " ".join(str(value).split())
    if key in ("filters", "link"):  # URLs: percent-encode, so the link still works
        return _SPLIT_FORMULA.sub(lambda m: f"{m.group(1)}%{ord(m.group(2)):02X}", text)
    return _SPLIT_FORMULA.sub(r"\1'\2", text)


def comment_header(meta: dict, title: str, notes: dict | None = None) -> str:
    """``# key: value`` lines for the top of a CSV (one line each, no newlines inside).

    ``notes`` are a chart's own lines (e.g. the Quality comparison's sides): a key already
    there (``granularity``) gets the note's value in place, other notes follow the description.
    Each line starts with ``#``, so its first cell is never a formula; see
    :func:`_header_value` for the rest of the line.
    """
    window = meta["window"]
    head = {
        "export": title,
        "filters": meta["filters"] or "(default view)",
        **({"link": meta["link"]} if "link" in meta else {}),
        "description": meta["description"],
    }
    tail = {
        "window": f"{window['start'] or 'first session'} to {window['end'] or 'now'}"
        " (end exclusive)",
        "granularity": meta["granularity"],
        "timezone": meta["timezone"],
        "data_source": meta["data_source"] or "",
        "generation": meta["generation"],
        "last_sync": meta["synced_at"] or "unknown",
        "exported_at": meta["exported_at"],
    }
    lines = head | {k: v for k, v in (notes or {}).items() if k not in tail} | tail
    lines |= {k: v for k, v in (notes or {}).items() if k in tail}
    return "".join(
        f"# {key}: {_header_value(key, value)}{CSV_LINE_END}" for key, value in lines.items()
    )


def _chart_file(
    chart: str,
    table: ChartTable,
    dataset: Dataset,
    state: FilterState,
    now: datetime | None,
    public_url: str = "",
) -> tuple[str, str]:
    """(filename, CSV text) of one chart's table under its ``# key: value`` header."""
    now = now or datetime.now(UTC)
    title = EXPORTS[chart].title
    description = table.description or describe(state, dataset, table.scope.n)
    meta = selection_meta(table.scope, description, dataset, state, now, public_url=public_url)
    text = comment_header(meta, title, table.notes) + to_csv(table.frame)
    name = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f"ocs-{name}-{_stamp(now)}.csv", text


def chart_csv(
    view: OverviewView,
    dataset: Dataset,
    state: FilterState,
    chart: str,
    now: datetime | None = None,
    *,
    public_url: str = "",
) -> tuple[str, str]:
    """(filename, CSV text) of one Overview chart from an already built Overview view."""
    frame = chart_frame(view, chart)
    table = ChartTable(frame, view.scope, {}, view.description)
    return _chart_file(chart, table, dataset, state, now, public_url)


def any_chart_csv(
    dataset: Dataset,
    state: FilterState,
    chart: str,
    options: ChartOptions | None = None,
    now: datetime | None = None,
    *,
    public_url: str = "",
) -> tuple[str, str]:
    """(filename, CSV text) of any chart or headline cards of any tab (a key of
    :data:`EXPORTS`): the numbers the page shows for ``state`` (and, on the Quality tab,
    ``options``)."""
    table = EXPORTS[chart].build(dataset, state, options or ChartOptions())
    return _chart_file(chart, table, dataset, state, now, public_url)


def sessions_csv(
    view: SessionsView,
    dataset: Dataset,
    state: FilterState,
    rows: pd.DataFrame,
    now: datetime | None = None,
    *,
    public_url: str = "",
) -> tuple[str, str]:
    """(filename, CSV text) of the Sessions table's rows (every filtered session, table order),
    with the same comment header as the other exports."""
    now = now or datetime.now(UTC)
    meta = export_meta(view, dataset, state, now, public_url=public_url)
    return f"ocs-sessions-{_stamp(now)}.csv", comment_header(meta, "Sessions") + to_csv(rows)


def view_frame(view: OverviewView) -> pd.DataFrame:
    """The whole Overview in long form: one row per number (columns :data:`VIEW_CSV_COLUMNS`).

    Sections: ``kpi`` (metric value/previous/change), ``sessions_over_time`` (key = bucket
    start), ``by_experiment`` and ``by_team`` (metric sessions/share), ``annotations`` (metric
    good/bad/undetermined/conflicting/n/rate/ci_low/ci_high).
    """
    rows: list[tuple] = []
    for kpi in kpi_records(view):
        for metric in ("value", "previous", "change"):
            rows.append(("kpi", kpi["key"], kpi["label"], metric, kpi[metric]))
    for row in records(chart_frame(view, "time")):
        rows.append(
            ("sessions_over_time", row["bucket"], row["bucket"], "sessions", row["sessions"])
        )
    for section, frame in (("by_experiment", view.by_experiment), ("by_team", view.by_team)):
        for row in records(frame):
            for metric in ("sessions", "share"):
                rows.append((section, row["value"], row["label"], metric, row[metric]))
    for row in records(view.annotations):
        for metric in ANNOTATION_COLUMNS[2:10]:
            rows.append(("annotations", row["category"], row["label"], metric, row[metric]))
    frame = pd.DataFrame(rows, columns=VIEW_CSV_COLUMNS)
    # one column holds counts and shares: kept as Python numbers, so a count is written 716,
    # never 716.0 (a float column would turn every count into a float)
    frame["value"] = pd.Series([row[4] for row in rows], dtype=object)
    return frame


def view_csv(
    view: OverviewView,
    dataset: Dataset,
    state: FilterState,
    now: datetime | None = None,
    *,
    public_url: str = "",
) -> tuple[str, str]:
    """(filename, CSV text) of the whole Overview (long form, comment header on top)."""
    now = now or datetime.now(UTC)
    meta = export_meta(view, dataset, state, now, public_url=public_url)
    text = comment_header(meta, "Overview") + to_csv(view_frame(view))
    return f"ocs-overview-{_stamp(now)}.csv", text


def view_json(
    view: OverviewView,
    dataset: Dataset,
    state: FilterState,
    now: datetime | None = None,
    *,
    public_url: str = "",
) -> tuple[str, dict]:
    """(filename, JSON-safe document) of the whole Overview: ``{"meta": …, "kpis": …, …}``."""
    now = now or datetime.now(UTC)
    return f"ocs-overview-{_stamp(now)}.json", {
        "meta": export_meta(view, dataset, state, now, public_url=public_url),
        **view_data(view),
    }


# ---- XLSX ---------------------------------------------------------------------------------


def _about_rows(meta: dict) -> list[tuple[str, object]]:
    window = meta["window"]
    return [
        ("Export", "Overview"),
        ("Filters (page URL query)", meta["filters"] or "(default view)"),
        *([("Link", meta["link"])] if "link" in meta else []),
        ("Description", meta["description"]),
        ("Window start (UTC)", window["start"] or "first session"),
        ("Window end (UTC, exclusive)", window["end"] or "now"),
        ("Granularity", meta["granularity"]),
        ("Time zone of dates and buckets", meta["timezone"]),
        ("Data source", meta["data_source"] or ""),
        ("Data generation", meta["generation"]),
        ("Last sync (UTC)", meta["synced_at"] or "unknown"),
        ("Exported at (UTC)", meta["exported_at"]),
        ("Sheets", ", ".join(XLSX_SHEETS.values())),
    ]


def xlsx_sections(view: OverviewView) -> dict[str, pd.DataFrame]:
    """Section key (see :data:`XLSX_SHEETS`) → the table on its sheet."""
    time = view.over_time[TIME_COLUMNS].reset_index(drop=True).copy()
    time["bucket"] = pd.to_datetime(time["bucket"])
    return {
        "kpis": pd.DataFrame(
            kpi_records(view), columns=["key", "label", "kind", "value", "previous", "change"]
        ),
        "time": time,
        "experiment": chart_frame(view, "experiment"),
        "team": chart_frame(view, "team"),
        "annotations": chart_frame(view, "annotations"),
    }


_PERCENT_COLUMNS = {"share", "rate", "ci_low", "ci_high"}


def xlsx_format(section: str, column: str, row: dict) -> str | None:
    """The number format of one XLSX cell: "percent" (0.0%), "count" (#,##0) or None.

    Shares, rates and their intervals are percentages. On the Headline sheet a share card's
    value and previous value are percentages, a count card's are whole numbers, and every
    change is a percentage: a count's relative change, a share's difference in points
    (0.012 shows as 1.2%, i.e. +1.2 points)."""
    if column in _PERCENT_COLUMNS:
        return "percent"
    if section == "kpis" and column in ("value", "previous"):
        return "percent" if row.get("kind") == "share" else "count"
    if section == "kpis" and column == "change":
        return "percent"
    return None


def view_xlsx(
    view: OverviewView,
    dataset: Dataset,
    state: FilterState,
    now: datetime | None = None,
    *,
    public_url: str = "",
) -> tuple[str, bytes]:
    """(filename, XLSX bytes) of the whole Overview: an "About" sheet (filters, time zone,
    window, generation, last sync) and one sheet per section with the same numbers as the CSV
    and JSON exports. Cells are typed: numbers as numbers (shares with a % format), bucket
    starts as dates, text as text — never a formula."""
    import xlsxwriter  # imported here: only this export needs it

    now = now or datetime.now(UTC)
    meta = export_meta(view, dataset, state, now, public_url=public_url)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    book.set_properties(
        {
            "title": "OCS Session Analytics: Overview",
            "comments": f"filters {meta['filters'] or '(default view)'}; "
            f"time zone {meta['timezone']}; last sync {meta['synced_at'] or 'unknown'}",
            "created": now.replace(tzinfo=None),
        }
    )
    bold = book.add_format({"bold": True})
    percent = book.add_format({"num_format": "0.0%"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})

    def cell(sheet, row: int, col: int, value, fmt=None) -> None:
        value = plain(value) if not isinstance(value, pd.Timestamp | date) else value
        if value is None:
            sheet.write_blank(row, col, None, fmt)
        elif isinstance(value, bool):
            sheet.write_boolean(row, col, value, fmt)
        elif isinstance(value, int | float):
            sheet.write_number(row, col, value, fmt)
        elif isinstance(value, pd.Timestamp | date):
            sheet.write_datetime(row, col, pd.Timestamp(value).to_pydatetime(), day)
        else:
            sheet.write_string(row, col, str(value), fmt)

    about = book.add_worksheet("About")
    about.write_string(0, 0, "OCS Session Analytics", bold)
    for i, (key, value) in enumerate(_about_rows(meta), start=2):
        about.write_string(i, 0, key, bold)
        cell(about, i, 1, value)
    about.set_column(0, 0, 30)
    about.set_column(1, 1, 70)

    count = book.add_format({"num_format": "#,##0"})
    formats = {"percent": percent, "count": count, None: None}
    for key, frame in xlsx_sections(view).items():
        sheet = book.add_worksheet(XLSX_SHEETS[key])
        columns = list(frame.columns)
        for col, name in enumerate(columns):
            sheet.write_string(0, col, str(name), bold)
            sheet.set_column(col, col, max(12, min(len(str(name)) + 2, 40)))
        for r, row in enumerate(frame.itertuples(index=False, name=None), start=1):
            values = dict(zip(columns, row, strict=True))
            for col, (name, value) in enumerate(values.items()):
                cell(sheet, r, col, value, formats[xlsx_format(key, name, values)])
        sheet.freeze_panes(1, 0)
    book.close()
    return f"ocs-overview-{_stamp(now)}.xlsx", buffer.getvalue()
