"""Every number the dashboard shows, defined once.

Cards, charts, the sessions table, downloads, the JSON API and reports all call these
functions with a :class:`~services.analytics.query.Selection`, so the same question always gets the same
answer. Definitions follow OCS's ADR-0051 where OCS defines the metric (docs/ocs-api.md §9):

* Sessions are counted by when they **started** (``created_at``) inside the half-open window.
* Messages are human + AI messages only; system messages (history summaries) never count.
* ``setup`` sessions and the ``evaluations`` platform are excluded unless chosen in the filters.

Differences from OCS, on purpose and documented in the README: messages and participants are
attributed to the window in which their session started (OCS counts by message time), because
our store keeps per-session summaries, not every message.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import quote

import numpy as np
import pandas as pd

from services.analytics import query, rollups
from services.analytics.filters import day_start_ns, local_days
from services.analytics.query import Selection
from services.store.dataset import ROW_COLUMNS

Z95 = 1.959963984540054
_VERDICT = re.compile(r"^(?P<category>.+)_(?P<verdict>good|bad|undetermined)$")
PRESENCE_TAGS = ("safe", "accurate")
"""Tags that are annotations on their own (no _good/_bad pair)."""
CATEGORY_LABELS = {
    "bot_performance": "Bot performance",
    "coaching": "Coaching",
    "engagement": "Engagement",
    "user_knowledge": "User knowledge",
    "safe": "Safe",
    "accurate": "Accurate",
}


# ---- annotation vocabulary -----------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """An annotation category recognised from the tag vocabulary.

    ``<name>_good`` / ``<name>_bad`` / ``<name>_undetermined`` form a verdict category; ``safe``
    and ``accurate`` are presence categories (the tag is there or it is not).
    """

    key: str
    label: str
    good: str | None
    bad: str | None
    undetermined: str | None
    presence: bool = False

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(t for t in (self.good, self.bad, self.undetermined) if t)


def annotation_categories(tag_names: list[str]) -> list[Category]:
    """Recognise categories in a tag vocabulary (nothing is hard-coded but ``safe``/``accurate``)."""
    return list(_annotation_categories(tuple(tag_names)))


@functools.lru_cache(maxsize=16)
def _annotation_categories(tag_names: tuple[str, ...]) -> tuple[Category, ...]:
    found: dict[str, dict[str, str]] = {}
    for tag in tag_names:
        match = _VERDICT.match(tag)
        if match:
            found.setdefault(match.group("category"), {})[match.group("verdict")] = tag
    categories = []
    for key in sorted(
        found, key=lambda k: (list(CATEGORY_LABELS).index(k) if k in CATEGORY_LABELS else 99, k)
    ):
        parts = found[key]
        if "good" not in parts and "bad" not in parts:
            continue
        categories.append(
            Category(
                key=key,
                label=CATEGORY_LABELS.get(key, key.replace("_", " ").capitalize()),
                good=parts.get("good"),
                bad=parts.get("bad"),
                undetermined=parts.get("undetermined"),
            )
        )
    for tag in PRESENCE_TAGS:
        if tag in tag_names:
            categories.append(Category(tag, CATEGORY_LABELS[tag], tag, None, None, presence=True))
    return tuple(categories)


def annotation_tags(tag_names: list[str]) -> list[str]:
    """All tags that belong to a recognised annotation category."""
    return [t for c in annotation_categories(tag_names) for t in c.tags]


# ---- statistics ---------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; ``(nan, nan)`` when ``n == 0``."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is 0."""
    return numerator / denominator if denominator else math.nan


def change(current: float, previous: float | None) -> float | None:
    """Relative change against the previous period; None when there is no basis."""
    if previous is None or previous == 0 or math.isnan(previous) or math.isnan(current):
        return None
    return (current - previous) / previous


# ---- counts -------------------------------------------------------------------------------


def session_count(sel: Selection) -> int:
    """Sessions started in the window that pass every filter (ADR-0051 ``sessions_started``)."""
    return sel.n


def active_participants(sel: Selection) -> int:
    """Distinct participants (team + identifier) with a selected session in which they wrote.

    A session counts when its participant wrote (:func:`engaged`; ADR-0051: an active
    participant authored a human message).
    """
    if sel.n == 0:
        return 0
    codes = sel.column("participant_codes")[engaged(sel)]
    if codes.size == 0:
        return 0
    return int(np.count_nonzero(np.bincount(codes, minlength=sel.dataset.n_participants)))


DISTINCT_BITMAP_CELLS = 32 * 2**20
"""Largest transient bitmap (bytes) :func:`distinct_pairs` uses instead of sorting."""


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct integers of ``values``, ascending — ``np.unique(values)`` — by one sort.

    NumPy ≥ 2.3 answers a plain ``np.unique`` (no ``return_*``) from a hash set, which at a
    million int64 values took 625–875 ms here against 11–13 ms for a sort (numpy issue
    #31969); the sort is SIMD-accelerated. For integer arrays only (NaN is not collapsed).
    """
    ordered = np.sort(values)
    if ordered.size <= 1:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def distinct_pairs(major: np.ndarray, minor: np.ndarray, n_major: int, n_minor: int) -> np.ndarray:
    """The distinct ``major * n_minor + minor`` values, ascending — what ``np.unique`` of them
    gives — for ``0 <= major < n_major`` and ``0 <= minor < n_minor``.

    Up to :data:`DISTINCT_BITMAP_CELLS` cells this marks a bitmap of every possible pair
    (O(rows + cells), ~10× faster than a sort at 1M sessions: e.g. 60 buckets × 300k
    participants = 18 MB); beyond it, :func:`distinct` (a sort).
    """
    flat = major.astype(np.int64) * n_minor + minor.astype(np.int64)
    cells = int(n_major) * int(n_minor)
    if cells > DISTINCT_BITMAP_CELLS:
        return distinct(flat)
    seen = np.zeros(cells, dtype=bool)
    seen[flat] = True
    return np.flatnonzero(seen)


def distinct_per_group(
    group: np.ndarray, codes: np.ndarray, n_groups: int, n_codes: int
) -> np.ndarray:
    """Per group ``0..n_groups-1``: how many distinct ``codes`` it holds (int64 counts)."""
    flat_cells = int(n_groups) * int(n_codes)
    if flat_cells <= DISTINCT_BITMAP_CELLS and n_groups > 0:
        seen = np.zeros((int(n_groups), int(n_codes)), dtype=bool)
        seen[group.astype(np.int64), codes.astype(np.int64)] = True
        return np.count_nonzero(seen, axis=1).astype(np.int64)
    pairs = distinct_pairs(group, codes, n_groups, n_codes)
    return np.bincount(pairs // n_codes, minlength=n_groups).astype(np.int64)


def engaged(sel: Selection) -> np.ndarray:
    """Per selected session: did its participant write (the active-participant test)?

    True when the transcript shows ≥1 participant message, and when the transcript is not
    synced yet (NaN: we cannot tell, so the session counts).
    """
    return ~(sel.column("human_messages") == 0)


def message_count(sel: Selection) -> int:
    """Human + AI messages of the selected sessions (system messages excluded)."""
    if sel.n == 0:
        return 0
    return int(np.nansum(sel.column("human_messages")) + np.nansum(sel.column("ai_messages")))


def sessions_with_messages(sel: Selection) -> int:
    """Selected sessions with at least one participant or bot message (ADR-0051's "active
    session", counted by when the session started). System messages never count. Only
    sessions whose transcript is synced can be counted: one not synced yet is left out (the
    Engagement tab says how many transcripts are synced)."""
    if sel.n == 0:
        return 0
    messages = sel.column("human_messages") + sel.column("ai_messages")
    return int(np.count_nonzero(messages > 0))  # NaN (not synced) compares False


def transcript_coverage(sel: Selection) -> float:
    """Share of selected sessions whose transcript has been synced (message numbers use these)."""
    return ratio(int(np.count_nonzero(sel.column("has_transcript"))), sel.n)


@dataclass(frozen=True)
class TagCombinations:
    """The distinct combinations of a set of session tags that sessions carry, per dataset.

    ``ids[row]`` numbers the combination of row ``row``; ``table[id, j]`` says whether that
    combination holds ``tags[j]``. Counting sessions per combination (one ``bincount`` over the
    selection) answers every question about those tags — for annotation tags: annotated,
    verdicts, per-category good/bad/undetermined/conflicting; for all tags: co-occurrence —
    exactly, without one masked copy of the selection per tag.
    """

    tags: tuple[str, ...]
    ids: np.ndarray
    table: np.ndarray

    def column(self, tag: str | None) -> np.ndarray:
        if tag is None:
            return np.zeros(len(self.table), dtype=bool)
        return self.table[:, self.tags.index(tag)]


def _combinations(ds, tags: tuple[str, ...]) -> TagCombinations:
    rows = [ds.tag_index[t] for t in tags]
    if len(rows) <= 63:
        key = np.zeros(ds.n, dtype=np.uint64)
        for bit, row in enumerate(rows):
            key |= ds.tag_matrix[row].astype(np.uint64) << np.uint64(bit)
        keys, ids = np.unique(key, return_inverse=True)
        table = ((keys[:, None] >> np.arange(len(rows), dtype=np.uint64)) & 1).astype(bool)
    else:  # more tags than bits in a word: unique rows of the matrix
        table, ids = np.unique(ds.tag_matrix[rows].T, axis=0, return_inverse=True)
        table = table.astype(bool)
    if len(table) == 0:  # no sessions
        table = np.zeros((1, len(rows)), dtype=bool)
    ids = np.asarray(ids).reshape(-1)
    dtype = np.uint8 if len(table) <= 256 else np.uint16 if len(table) <= 65536 else np.int32
    ids = ids.astype(dtype)
    ids.flags.writeable = False
    return TagCombinations(tags, ids, table)


def annotation_patterns(ds) -> TagCombinations:
    """Combinations of the annotation tags (:func:`annotation_tags` order), once per dataset."""
    cached = ds._derived.get("annotation_patterns")
    if cached is None:
        cached = ds._derived["annotation_patterns"] = _combinations(
            ds, tuple(annotation_tags(ds.tag_names))
        )
    return cached


def tag_combinations(ds) -> TagCombinations:
    """Combinations of all session tags (``tag_names`` order), once per dataset."""
    cached = ds._derived.get("tag_combinations")
    if cached is None:
        cached = ds._derived["tag_combinations"] = _combinations(ds, tuple(ds.tag_names))
    return cached


def pattern_ids(sel: Selection) -> np.ndarray:
    """Annotation pattern id of every selected session (cached on the selection)."""
    if "annotation_pattern_ids" not in sel._cache:
        sel._cache["annotation_pattern_ids"] = sel.rows_of(annotation_patterns(sel.dataset).ids)
    return sel._cache["annotation_pattern_ids"]


def _pattern_counts(sel: Selection) -> np.ndarray:
    """Selected sessions per annotation pattern (cached on the selection)."""
    if "annotation_pattern_counts" not in sel._cache:
        size = len(annotation_patterns(sel.dataset).table)
        cells = rollups.window_cells(sel, "patterns", pattern_rollup) if sel.n else None
        if cells is not None:
            _, codes, counts = cells
            found = np.bincount(codes, weights=counts, minlength=size)[:size].astype(np.int64)
        else:
            ids = pattern_ids(sel)
            found = (
                np.bincount(ids, minlength=size)[:size] if ids.size else np.zeros(size, np.int64)
            )
        sel._cache["annotation_pattern_counts"] = found
    return sel._cache["annotation_pattern_counts"]


def pattern_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict:
    """Per day and annotation pattern: the filter set's sessions (a roll-up,
    :mod:`services.analytics.rollups`; every session has a pattern, so a day's cells also
    count its sessions)."""
    size = len(annotation_patterns(every.dataset).table)
    ids = pattern_ids(every) if every.n else np.zeros(0, dtype=np.int64)
    return rollups.sparse_per_day("patterns", days, n_days, ids, size)


def _verdict_patterns(
    patterns: TagCombinations, categories: list[Category]
) -> tuple[np.ndarray, ...]:
    """Per pattern: has any ``*_good`` tag, has any ``*_bad`` tag (verdict categories only)."""
    good = np.zeros(len(patterns.table), dtype=bool)
    bad = np.zeros(len(patterns.table), dtype=bool)
    for category in categories:
        if category.presence:
            continue
        good |= patterns.column(category.good)
        bad |= patterns.column(category.bad)
    return good, bad


def annotated_mask(sel: Selection) -> np.ndarray:
    """Selected sessions carrying at least one annotation-category tag."""
    if not annotation_tags(sel.dataset.tag_names) or sel.n == 0:
        return np.zeros(sel.n, dtype=bool)
    return annotation_patterns(sel.dataset).table.any(axis=1)[pattern_ids(sel)]


def annotated_count(sel: Selection) -> int:
    """Sessions with at least one annotation tag (any recognised category, incl. safe/accurate)."""
    if not annotation_tags(sel.dataset.tag_names) or sel.n == 0:
        return 0
    return int(_pattern_counts(sel)[annotation_patterns(sel.dataset).table.any(axis=1)].sum())


def verdict_masks(sel: Selection) -> tuple[np.ndarray, np.ndarray]:
    categories = annotation_categories(sel.dataset.tag_names)
    if sel.n == 0 or not any(not c.presence for c in categories):
        return np.zeros(sel.n, dtype=bool), np.zeros(sel.n, dtype=bool)
    good, bad = _verdict_patterns(annotation_patterns(sel.dataset), categories)
    ids = pattern_ids(sel)
    return good[ids], bad[ids]


def rated_good(sel: Selection) -> tuple[int, int]:
    """(sessions rated good, sessions with a verdict).

    A session has a verdict when it carries any ``*_good`` or ``*_bad`` tag; it is rated good
    when it has at least one ``*_good`` tag and no ``*_bad`` tag.
    """
    categories = annotation_categories(sel.dataset.tag_names)
    if sel.n == 0 or not any(not c.presence for c in categories):
        return 0, 0
    good, bad = _verdict_patterns(annotation_patterns(sel.dataset), categories)
    counts = _pattern_counts(sel)
    return int(counts[good & ~bad].sum()), int(counts[good | bad].sum())


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: float
    previous: float | None
    change: float | None
    kind: str  # "count" | "share"
    help: str


KPI_HELP = {
    "sessions": "Sessions started in the window, after all filters. Setup sessions and the evaluations platform are excluded unless chosen (as in OCS).",
    "sessions_with_messages": "Sessions with at least one participant or bot message (system summaries do not count); sessions whose transcript is not synced yet are not counted.",
    "participants": "Distinct participants who wrote at least one message in a session started in the window (ADR-0051).",
    "messages": "Participant + bot messages of those sessions; system summary messages are not counted.",
    "annotated": "Share of sessions carrying at least one annotation tag (…_good/_bad/_undetermined, safe, accurate).",
    "good": "Among sessions with a good/bad verdict in any category: share with a _good tag and no _bad tag.",
}


COMPARISON_HELP = (
    "Change: against the same span of the previous period, cut at the same point — while "
    "the data reaches into today, today so far is compared with the same hours one period "
    "earlier."
)


def kpis(sel: Selection, prev: Selection | None) -> list[Kpi]:
    """The headline cards, each with the change against the previous period
    (:func:`services.analytics.query.previous_cut`: like for like, also mid-day)."""

    def values(s: Selection) -> dict[str, float]:
        n = session_count(s)
        good, verdicts = rated_good(s)
        return {
            "sessions": n,
            "sessions_with_messages": sessions_with_messages(s),
            "participants": active_participants(s),
            "messages": message_count(s),
            "annotated": ratio(annotated_count(s), n),
            "good": ratio(good, verdicts),
        }

    now = values(sel)
    before = values(prev) if prev is not None else None
    labels = {
        "sessions": ("Sessions", "count"),
        "sessions_with_messages": ("Sessions with messages", "count"),
        "participants": ("Active participants", "count"),
        "messages": ("Messages", "count"),
        "annotated": ("Annotated sessions", "share"),
        "good": ("Rated good", "share"),
    }
    result = []
    for key, (label, kind) in labels.items():
        previous = before[key] if before is not None else None
        if kind == "share":
            delta = (
                None
                if previous is None or math.isnan(previous) or math.isnan(now[key])
                else now[key] - previous
            )
        else:
            delta = change(now[key], previous)
        help_text = f"{KPI_HELP[key]} {COMPARISON_HELP}"
        result.append(Kpi(key, label, now[key], previous, delta, kind, help_text))
    return result


# ---- time series --------------------------------------------------------------------------


def bucket_labels(days: np.ndarray, granularity: str) -> np.ndarray:
    """Day numbers (since epoch) → bucket start as datetime64[D]."""
    as_date = days.astype("datetime64[D]")
    if granularity == "week":  # weeks start on Monday (1970-01-01 was a Thursday)
        return (days - (days + 3) % 7).astype("datetime64[D]")
    if granularity == "month":
        return as_date.astype("datetime64[M]").astype("datetime64[D]")
    return as_date


def window_days(sel: Selection) -> tuple[int, int] | None:
    """First and last calendar day (since epoch, in the state's time zone) of the selection's
    window — for all time, the data's extent — so ``sel.column("day")`` indexes into it; None
    for an empty window. Every zero-filled series over time spans these days."""
    ds = sel.dataset
    start = sel.start_ns if sel.start_ns is not None else ds.data_start_ns
    end = sel.end_ns
    if end is None and ds.n:  # all time: up to the (local) day of the newest session
        end = ds.data_end_ns + 1
    if start is None or end is None or end <= start:
        return None
    first, last = local_days(np.array([start, end - 1]), sel.state.tz)
    return int(first), int(last)


BUCKET_DAYS = {"day": 1, "week": 7}
"""Calendar days in a bucket (a month's length depends on the month)."""
SPAN_COLUMNS = ["bucket", "days", "bucket_days", "complete", "note"]


def _local_clock(ns: int, tz: str) -> str:
    """``HH:MM`` of epoch ns in ``tz``."""
    moment = pd.Timestamp(ns, unit="ns", tz="UTC")
    return (moment if tz == "UTC" else moment.tz_convert(tz)).strftime("%H:%M")


def bucket_spans(sel: Selection) -> pd.DataFrame:
    """Which buckets of the window are whole, so a partial one is never read as a drop.

    A bucket (day, week or month in the state's time zone) is **complete** when every one of
    its calendar days is inside the window and the data reaches the bucket's end
    (:func:`services.analytics.query.data_as_of_ns`). The first and last weeks or months of a
    window usually are not (a 90-day window starting on a Thursday holds 4 days of its first
    week), and neither is the bucket holding today while today is still going on.

    Columns: ``bucket`` (datetime64, as in :func:`sessions_over_time`), ``days`` (days of the
    bucket inside the window with data, the day in progress included), ``bucket_days`` (1, 7 or
    the month's length), ``complete`` (bool), ``note`` ("" or e.g. "partial week: 3 of 7
    days", "partial day: data up to 14:05").
    """
    span = window_days(sel)
    if span is None:
        return pd.DataFrame({c: [] for c in SPAN_COLUMNS}).astype({"bucket": "datetime64[ns]"})
    first_day, last_day = span
    all_days = np.arange(first_day, last_day + 1, dtype=np.int64)
    buckets, day_to_bucket = np.unique(
        bucket_labels(all_days, sel.granularity), return_inverse=True
    )
    tz = sel.state.tz
    as_of = query.data_as_of_ns(sel.dataset)
    covered = np.ones(all_days.size, dtype=bool)
    in_progress = np.zeros(len(buckets), dtype=bool)
    if as_of is not None:
        last_data_day = int(local_days(np.array([as_of - 1]), tz)[0])
        covered = all_days <= last_data_day
        next_midnight = day_start_ns(date(1970, 1, 1) + timedelta(days=last_data_day + 1), tz)
        if first_day <= last_data_day <= last_day and as_of < next_midnight:
            in_progress[day_to_bucket[last_data_day - first_day]] = True
    days = np.bincount(day_to_bucket[covered], minlength=len(buckets))
    if sel.granularity == "month":
        starts = buckets.astype("datetime64[M]")
        bucket_days = (
            (starts + 1).astype("datetime64[D]") - starts.astype("datetime64[D]")
        ).astype(np.int64)
    else:
        bucket_days = np.full(len(buckets), BUCKET_DAYS.get(sel.granularity, 1), dtype=np.int64)
    complete = (days == bucket_days) & ~in_progress
    notes = []
    for i in range(len(buckets)):
        if complete[i]:
            notes.append("")
        elif sel.granularity == "day":
            notes.append(
                f"partial day: data up to {_local_clock(as_of, tz)}" if days[i] else "no data yet"
            )
        else:
            note = f"partial {sel.granularity}: {days[i]} of {bucket_days[i]} days"
            if in_progress[i]:
                note += f", the last one up to {_local_clock(as_of, tz)}"
            notes.append(note)
    return pd.DataFrame(
        {
            "bucket": pd.to_datetime(buckets),
            "days": days.astype(np.int64),
            "bucket_days": bucket_days,
            "complete": complete,
            "note": notes,
        }
    )


def with_spans(frame: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (one row per bucket) with the ``days``, ``bucket_days``, ``complete`` and
    ``note`` of :func:`bucket_spans` beside each bucket."""
    if frame.empty or spans.empty:
        out = frame.copy()
        for column in SPAN_COLUMNS[1:]:
            out[column] = pd.Series(dtype=spans[column].dtype if column in spans else object)
        return out
    if (
        len(frame) == len(spans)
        and not set(SPAN_COLUMNS[1:]) & set(frame.columns)
        and np.array_equal(frame["bucket"].to_numpy(), spans["bucket"].to_numpy())
    ):  # the usual case (both zero-filled over the window): the columns side by side
        out = frame.reset_index(drop=True)
        for column in SPAN_COLUMNS[1:]:
            out[column] = spans[column].to_numpy()
        return out
    return frame.merge(spans, on="bucket", how="left", validate="one_to_one")


def sessions_over_time(sel: Selection) -> pd.DataFrame:
    """Sessions per day/week/month bucket, zero-filled over the window.

    Columns: ``bucket`` (datetime64, bucket start as a calendar date in the state's time
    zone), ``sessions``.
    """
    span_days = window_days(sel)
    if span_days is None:
        return pd.DataFrame(
            {"bucket": pd.to_datetime([]), "sessions": np.array([], dtype=np.int64)}
        )
    first_day, last_day = span_days
    span = int(last_day - first_day + 1)
    rows = rollups.window_rows(sel, "sessions_by_status", _DIMENSION_ROLLUPS["status"])
    if rows is not None:  # any dimension's per-day values add up to the day's sessions
        per_day = rows.sum(axis=1, dtype=np.int64)
    else:
        days = sel.column("day").astype(np.int64) - first_day
        per_day = (
            np.bincount(days, minlength=span)[:span] if days.size else np.zeros(span, np.int64)
        )
    all_days = np.arange(first_day, last_day + 1, dtype=np.int64)
    buckets = bucket_labels(all_days, sel.granularity)
    frame = pd.DataFrame({"bucket": buckets, "sessions": per_day})
    if sel.granularity != "day":
        frame = frame.groupby("bucket", as_index=False, sort=True)["sessions"].sum()
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame


# ---- breakdowns ---------------------------------------------------------------------------

_DIMENSIONS = {
    "experiment": ("experiment_codes", "experiments"),
    "team": ("team_codes", "teams"),
    "platform": ("platform_codes", "platforms"),
    "status": ("status_codes", "statuses"),
}


def _dimension_rollup(dimension: str) -> rollups.Builder:
    """Builder of the filter set's sessions per day and value of ``dimension``."""
    codes_name, labels_name = _DIMENSIONS[dimension]

    def build(every: Selection, days: np.ndarray, n_days: int) -> dict:
        width = len(getattr(every.dataset, labels_name))
        codes = every.column(codes_name).astype(np.int64) if every.n else days
        flat = np.bincount(days * width + codes, minlength=n_days * width)[: n_days * width]
        return {f"sessions_by_{dimension}": flat.reshape(n_days, width).astype(np.int32)}

    return build


_DIMENSION_ROLLUPS = {dimension: _dimension_rollup(dimension) for dimension in _DIMENSIONS}


def label_for(ds, dimension: str, value: str) -> str:
    """Human label for a dimension value (experiment and team names, not ids)."""
    if dimension == "experiment":
        name = ds.experiment_names.get(value, value)
        team = ds.experiment_team.get(value)
        duplicates = [k for k, v in ds.experiment_names.items() if v == name]
        if len(duplicates) > 1 and team:
            return f"{name} ({ds.team_names.get(team, team)})"
        return name
    if dimension == "team":
        return ds.team_names.get(value, value)
    return value


def sessions_by(sel: Selection, dimension: str) -> pd.DataFrame:
    """Sessions per experiment / team / platform / status, largest first.

    Columns: ``value`` (id or slug), ``label``, ``sessions``, ``share`` (of the selection).
    Values with no session in the selection are left out.
    """
    codes_name, labels_name = _DIMENSIONS[dimension]
    labels = getattr(sel.dataset, labels_name)
    summed = rollups.window_sum(sel, f"sessions_by_{dimension}", _DIMENSION_ROLLUPS[dimension])
    if summed is not None:
        counts = summed.astype(np.int64)
    else:
        counts = np.bincount(sel.column(codes_name), minlength=len(labels))[: len(labels)]
    present = np.nonzero(counts)[0]
    frame = pd.DataFrame(
        {
            "value": [labels[i] for i in present],
            "label": [label_for(sel.dataset, dimension, labels[i]) for i in present],
            "sessions": counts[present].astype(np.int64),
        }
    )
    frame["share"] = frame["sessions"] / max(sel.n, 1)
    return frame.sort_values(["sessions", "label"], ascending=[False, True], ignore_index=True)


ANNOTATION_COLUMNS = [
    "category",
    "label",
    "good",
    "bad",
    "undetermined",
    "conflicting",
    "n",
    "rate",
    "ci_low",
    "ci_high",
    "presence",
]
"""Columns of :func:`annotation_breakdown` (also the annotation section of exports)."""


def annotation_breakdown(sel: Selection) -> pd.DataFrame:
    """Per annotation category: how many sessions were annotated and the good rate with a 95% CI.

    For a verdict category, ``n`` counts sessions with a good or bad tag of that category
    (undetermined and contradictory good+bad sessions are reported but not in ``n``);
    ``rate`` = good / n with a Wilson interval. For a presence tag (safe, accurate) ``n`` is
    the number of sessions annotated in any category and ``rate`` the share carrying the tag.
    """
    rows = []
    annotated = annotated_count(sel)
    categories = annotation_categories(sel.dataset.tag_names)
    if categories:
        patterns = annotation_patterns(sel.dataset)
        counts = _pattern_counts(sel)
    for category in categories:
        if category.presence:
            good = int(counts[patterns.column(category.good)].sum())
            n = annotated
            bad = n - good
            undetermined = conflicting = 0
        else:
            good_mask = patterns.column(category.good)
            bad_mask = patterns.column(category.bad)
            und_mask = patterns.column(category.undetermined)
            conflicting = int(counts[good_mask & bad_mask].sum())
            good = int(counts[good_mask & ~bad_mask].sum())
            bad = int(counts[bad_mask & ~good_mask].sum())
            undetermined = int(counts[und_mask & ~good_mask & ~bad_mask].sum())
            n = good + bad
        low, high = wilson_interval(good, n)
        rows.append(
            {
                "category": category.key,
                "label": category.label,
                "good": good,
                "bad": bad,
                "undetermined": undetermined,
                "conflicting": conflicting,
                "n": n,
                "rate": ratio(good, n),
                "ci_low": low,
                "ci_high": high,
                "presence": category.presence,
            }
        )
    return pd.DataFrame(rows, columns=ANNOTATION_COLUMNS)


def tag_counts(sel: Selection) -> pd.DataFrame:
    """Sessions carrying each session tag in the selection, most frequent first."""
    ds = sel.dataset
    if not ds.tag_names or sel.n == 0:
        return pd.DataFrame({"tag": [], "sessions": []})
    counts = sel.matrix_rows("tag_matrix", list(range(len(ds.tag_names)))).sum(axis=1)
    frame = pd.DataFrame({"tag": ds.tag_names, "sessions": counts.astype(np.int64)})
    frame = frame[frame["sessions"] > 0]
    return frame.sort_values(["sessions", "tag"], ascending=[False, True], ignore_index=True)


def sessions_by_hour(sel: Selection) -> pd.DataFrame:
    """Sessions started in each hour of the day (by ``created_at``, in the state's time zone).

    Columns: ``hour`` (0–23, all 24), ``sessions``, ``share`` (of the selection; 0 when empty).
    """
    created = sel.column("created_ns")
    tz = getattr(sel.state, "tz", "UTC")
    if tz == "UTC" or created.size == 0:
        hours = (created // (3600 * 10**9)) % 24
    else:
        hours = pd.DatetimeIndex(created.astype("datetime64[ns]"), tz="UTC").tz_convert(tz).hour
        hours = np.asarray(hours, dtype=np.int64)
    counts = np.bincount(hours, minlength=24)[:24] if hours.size else np.zeros(24, np.int64)
    frame = pd.DataFrame({"hour": np.arange(24), "sessions": counts.astype(np.int64)})
    frame["share"] = frame["sessions"] / max(sel.n, 1)
    return frame


# ---- the sessions table -------------------------------------------------------------------

TABLE_COLUMNS = [
    "created_at",
    "session_id",
    "team",
    "experiment",
    "participant",
    "status",
    "platform",
    "messages",
    "duration_min",
    "versions",
    "tags",
    "cost_usd",
]
_SORTABLE = {
    "created_at": "created_ns",
    "messages": None,
    "duration_min": "duration_s",
    "cost_usd": "cost_usd",
}


def mask_identifier(identifier: str) -> str:
    """Participant identifiers are personal data: show only enough to tell them apart."""
    if not identifier:
        return ""
    if len(identifier) <= 4:
        return "•" * len(identifier)
    return identifier[:2] + "•" * min(len(identifier) - 4, 6) + identifier[-2:]


def table_order(sel: Selection, sort_by: str = "created_at", descending: bool = True) -> np.ndarray:
    """Row positions of the selection in display order (newest first by default): sorted by
    the column, ties in row order (oldest first; reversed when descending, as is the rest)."""
    positions = sel.positions()
    key = _table_key(sel, sort_by)
    if key is None:
        return positions[::-1] if descending else positions
    order = np.argsort(key, kind="stable")
    if descending:
        order = order[::-1]
    return positions[order]


def table_slice(
    sel: Selection, start: int, end: int, sort_by: str = "created_at", descending: bool = True
) -> np.ndarray:
    """``table_order(sel, sort_by, descending)[start:end]`` (one page of the table) without
    sorting every row: the page's first and last keys are found by one partition and only the
    rows between them are sorted — at 1M sessions ~10 ms where the whole sort takes 30–120 ms."""
    positions = sel.positions()
    n = len(positions)
    start, end = min(max(start, 0), n), min(max(end, 0), n)
    key = _table_key(sel, sort_by)
    if key is None:
        order = positions[::-1] if descending else positions
        return order[start:end]
    lo, hi = (n - end, n - start) if descending else (start, end)  # ascending ranks
    if hi - lo > n // 8:
        ranks = np.argsort(key, kind="stable")[lo:hi]
    else:
        ranks = _ascending_ranks(key, lo, hi)
    return positions[ranks[::-1] if descending else ranks]


def _ascending_ranks(key: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``np.argsort(key, kind="stable")[lo:hi]`` for ``0 <= lo < hi <= len(key)`` and a key
    without NaN: the values at ranks ``lo`` and ``hi - 1`` by one partition, then a sort of the
    rows from the first to the second (ties of either end taken in row order, as stable)."""
    if hi <= lo:
        return np.zeros(0, dtype=np.int64)
    first, last = np.partition(key, [lo, hi - 1])[[lo, hi - 1]]
    below = int(np.count_nonzero(key < first))
    at_first = np.flatnonzero(key == first)
    if first == last:
        return at_first[lo - below : hi - below]
    between = np.flatnonzero((key > first) & (key < last))
    below_last = below + len(at_first) + len(between)
    at_last = np.flatnonzero(key == last)[: hi - below_last]
    rows = np.concatenate([at_first[lo - below :], between, at_last])
    return rows[np.lexsort((rows, key[rows]))]


def _table_key(sel: Selection, sort_by: str) -> np.ndarray | None:
    """The sort key of the table's column ``sort_by`` (NaN as -1), None for row order — also
    for ``created_at``: rows are stored by (created_at, session id), so row order is already
    the stable sort by start time (no sort or partition of every row for the default page)."""
    if sort_by == "created_at":
        return None
    if sort_by == "messages":
        return np.nan_to_num(sel.column("human_messages") + sel.column("ai_messages"), nan=-1)
    if _SORTABLE.get(sort_by):
        key = sel.column(_SORTABLE[sort_by])
        return np.nan_to_num(key, nan=-1) if key.dtype.kind == "f" else key
    return None


def session_rows(
    sel: Selection,
    positions: np.ndarray,
    web_base_url: str = "",
    show_identifiers: bool = False,
) -> pd.DataFrame:
    """Table/export rows for the given positions, with the columns in :data:`TABLE_COLUMNS`.

    ``link`` points at the session's transcript in OCS
    (``/a/<team>/experiments/e/<experiment>/s/<session>/view/``).
    """
    ds = sel.dataset
    frame = ds.rows(positions, list(ROW_COLUMNS))
    duration = ds.duration_s[positions]
    identifiers = frame["participant_identifier"].fillna("")
    out = pd.DataFrame(
        {
            "created_at": frame["created_at"]
            .dt.tz_convert(sel.state.tz)
            .dt.strftime("%Y-%m-%d %H:%M"),
            "session_id": frame["session_id"],
            "team": frame["team_name"],
            "experiment": [
                ds.experiment_names.get(e, n)
                for e, n in zip(frame["experiment_id"], frame["experiment_name"], strict=True)
            ],
            "participant": identifiers if show_identifiers else identifiers.map(mask_identifier),
            "status": frame["status"],
            "platform": frame["platform"],
            "messages": (frame["human_messages"] + frame["ai_messages"]).astype("Float64"),
            "duration_min": np.round(duration / 60.0, 1),
            "versions": frame["versions"].map(lambda v: ", ".join(v) if v is not None else ""),
            "tags": frame["tags"].map(lambda v: ", ".join(v) if v is not None else ""),
            "cost_usd": frame["cost_usd"],
        }
    )
    base = web_base_url.rstrip("/")
    out["link"] = [
        f"{base}/a/{team}/experiments/e/{exp}/s/{quote(str(sid), safe='')}/view/" if base else ""
        for team, exp, sid in zip(
            frame["team_slug"], frame["experiment_id"], frame["session_id"], strict=True
        )
    ]
    return out
