"""Quality and versions: honest answers to "is version 14 better than 13?".

Definitions (also in the README, "Quality and versions"):

* **A session's version** is what its AI messages were tagged with (``vN`` or
  ``vN-unreleased``, docs/ocs-api.md §6.1) — never ``experiment.version_number``. A session whose AI
  messages carry several versions (a release happened mid-conversation) matches a version
  *filter* for each of them, but is **excluded from version comparisons**, so each side of a
  comparison only holds sessions that talked to exactly that version. Sessions without AI
  messages (or without a synced transcript) have no version.
* **Good rate** of a category: good ÷ (good + bad) among sessions annotated in that category
  (see :func:`services.analytics.metrics.annotation_breakdown`), with a 95% Wilson interval.
* **Difference** of two good rates: B − A with Newcombe's hybrid score interval (method 10),
  and a two-sided two-proportion z-test p-value (pooled variance).
* **Lift** of two tags: P(A and B) / (P(A) · P(B)) over the selected sessions that carry at least
  one annotation tag (the annotated sessions); 1 = independent.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.analytics import engagement, metrics, rollups
from services.analytics.filters import NS_PER_DAY, FilterState
from services.analytics.query import Selection, select
from services.store.dataset import Dataset

MIN_ANNOTATED = 30
"""Below this many annotated sessions on a side, a comparison is flagged as inconclusive."""


# ---- statistics -----------------------------------------------------------------------------


def two_proportion_test(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test; NaN when a side is empty.

    When both proportions are 0 or both are 1 the test has no variance: p = 1.
    """
    if n1 <= 0 or n2 <= 0:
        return math.nan
    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 1.0
    z = (k2 / n2 - k1 / n1) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def difference_interval(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """95% interval of p2 − p1 (Newcombe's hybrid score method); NaNs when a side is empty."""
    if n1 <= 0 or n2 <= 0:
        return (math.nan, math.nan)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = metrics.wilson_interval(k1, n1)
    l2, u2 = metrics.wilson_interval(k2, n2)
    diff = p2 - p1
    low = diff - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = diff + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return (max(-1.0, low), min(1.0, high))


def lift(both: int, a: int, b: int, n: int) -> float:
    """P(A∧B) / (P(A)·P(B)); NaN when either tag never occurs."""
    if n <= 0 or a == 0 or b == 0:
        return math.nan
    return (both / n) / ((a / n) * (b / n))


def describe_p(p: float) -> str:
    """A p-value in words, for people who do not read p-values."""
    if math.isnan(p):
        return "no data"
    if p < 0.01:
        return "very unlikely to be chance"
    if p < 0.05:
        return "unlikely to be chance"
    if p < 0.2:
        return "could be chance"
    return "no evidence of a difference"


# ---- versions -------------------------------------------------------------------------------


def session_versions(dataset: Dataset, positions: np.ndarray) -> list[str | None]:
    """The single version of each session, None for no version or several versions."""
    first = dataset.first_version[positions]
    last = dataset.last_version[positions]
    count = dataset.version_matrix[:, positions].sum(axis=0) if dataset.version_names else None
    out: list[str | None] = []
    for i in range(len(positions)):
        if first[i] < 0 or count is None or count[i] != 1 or first[i] != last[i]:
            out.append(None)
        else:
            out.append(dataset.version_names[first[i]])
    return out


def single_version_codes(dataset: Dataset) -> np.ndarray:
    """Per session (all rows): the index in ``version_names`` of the one version its AI
    messages used, −1 for none or several. Computed once per dataset (read-only)."""
    found = dataset._derived.get("single_version_codes")
    if found is None:
        matrix = dataset.version_matrix
        if len(dataset.version_names) == 0:
            found = np.full(dataset.n, -1, dtype=np.int32)
        else:
            only = matrix.sum(axis=0) == 1
            found = np.where(only, np.argmax(matrix, axis=0), -1).astype(np.int32)
        found.flags.writeable = False
        dataset._derived["single_version_codes"] = found
    return found


def single_version_mask(dataset: Dataset, label: str) -> np.ndarray:
    """Sessions (all rows) whose AI messages used exactly the version ``label`` and no other."""
    if label not in dataset.version_names:
        return np.zeros(dataset.n, dtype=bool)
    return single_version_codes(dataset) == dataset.version_names.index(label)


def single_version_sides(selection: Selection, labels: tuple[str, ...]) -> list[np.ndarray]:
    """Per label: which selected sessions used exactly that version —
    ``single_version_mask(dataset, label)[selection.positions()]``, read through the
    selection's index once instead of a full-length mask per label."""
    dataset = selection.dataset
    single = selection.rows_of(single_version_codes(dataset))
    names = dataset.version_names
    return [single == (names.index(label) if label in names else -2) for label in labels]


def version_options(dataset: Dataset, experiment: str | None) -> list[dict]:
    """Version choices, labelled with the experiment's version descriptions and default flag."""
    described = {}
    if experiment:
        table = dataset.versions_table
        rows = table[table["experiment_id"] == experiment]
        for row in rows.itertuples():
            described[f"v{row.version_number}"] = (row.description, bool(row.is_default))
        exp_index = (
            dataset.experiments.index(experiment) if experiment in dataset.experiments else -1
        )
        in_experiment = dataset.experiment_codes == exp_index
        present = [
            label
            for i, label in enumerate(dataset.version_names)
            if (dataset.version_matrix[i] & in_experiment).any()
        ]
    else:
        present = list(dataset.version_names)
    options = []
    for label in present:
        description, default = described.get(label, ("", False))
        text = label
        if description:
            text += f" — {description}"
        if default:
            text += " (default)"
        options.append({"label": text, "value": label})
    return options


_VERSION_LABEL = re.compile(r"^v(\d+)(-unreleased)?$")


def version_key(label: str) -> tuple:
    """Sort key of a version label: by number (v9 before v10), ``vN-unreleased`` after ``vN``,
    labels of another shape last (alphabetically)."""
    match = _VERSION_LABEL.match(label)
    if not match:
        return (1, 0, 0, label)
    return (0, int(match.group(1)), 1 if match.group(2) else 0, label)


def is_released(label: str) -> bool:
    """Whether ``label`` is a published version (``vN``), not ``vN-unreleased``."""
    return not label.endswith("-unreleased")


VERSION_COUNT_COLUMNS = ["experiment", "version", "sessions", "single"]


def version_session_counts(selection: Selection) -> pd.DataFrame:
    """Per (experiment, version) used by the selected sessions: ``sessions`` that used the
    version (what a version filter would match) and ``single``, the sessions that used only
    that version (what a version comparison counts, :func:`single_version_mask`).

    Rows with ``sessions`` > 0 only, ordered by experiment then :func:`version_key`.
    """
    ds = selection.dataset
    if not ds.version_names or selection.n == 0:
        return pd.DataFrame(columns=VERSION_COUNT_COLUMNS)
    size, n_versions = len(ds.experiments), len(ds.version_names)
    summed = rollups.window_sum(selection, "version_counts", _version_rollup)
    if summed is not None:  # [used by version and experiment…, single…]
        used_all = summed[: n_versions * size].astype(np.int64)
        only_all = summed[n_versions * size :].astype(np.int64)
    else:
        used = selection.matrix_rows("version_matrix", list(range(n_versions)))
        codes = selection.column("experiment_codes").astype(np.int64)
        single = selection.rows_of(single_version_codes(ds)).astype(np.int64)
        keep = single >= 0
        only_all = np.bincount(single[keep] * size + codes[keep], minlength=n_versions * size)
        used_all = np.concatenate(
            [np.bincount(codes[used[index]], minlength=size) for index in range(n_versions)]
        )
    rows = []
    for index, label in enumerate(ds.version_names):
        sessions = used_all[index * size : (index + 1) * size]
        only = only_all[index * size : (index + 1) * size]
        for code in np.flatnonzero(sessions):
            rows.append((ds.experiments[code], label, int(sessions[code]), int(only[code])))
    frame = pd.DataFrame(rows, columns=VERSION_COUNT_COLUMNS)
    order = sorted(range(len(frame)), key=lambda i: (rows[i][0], version_key(rows[i][1])))
    return frame.iloc[order].reset_index(drop=True)


def _version_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict:
    """Per day (:func:`version_session_counts`): sessions per (version, experiment) that used
    the version, then those that used only it (int32, versions × experiments columns each)."""
    ds = every.dataset
    size, n_versions = len(ds.experiments), len(ds.version_names)
    cells = n_versions * size
    if every.n == 0:
        return {"version_counts": np.zeros((n_days, 2 * cells), dtype=np.int32)}
    codes = every.column("experiment_codes").astype(np.int64)
    used = every.matrix_rows("version_matrix", list(range(n_versions)))
    parts = []
    for index in range(n_versions):
        flat = days[used[index]] * size + codes[used[index]]
        parts.append(np.bincount(flat, minlength=n_days * size)[: n_days * size])
    per_version = np.stack([p.reshape(n_days, size) for p in parts], axis=1)
    single = every.rows_of(single_version_codes(ds)).astype(np.int64)
    keep = single >= 0
    flat = days[keep] * cells + single[keep] * size + codes[keep]
    only = np.bincount(flat, minlength=n_days * cells)[: n_days * cells].reshape(n_days, cells)
    table = np.hstack([per_version.reshape(n_days, cells), only])
    return {"version_counts": table.astype(np.int32)}


def versions_seen(dataset: Dataset) -> list[tuple[int, str]]:
    """Every (experiment code, version label) pair the sessions' AI messages used."""
    from services.analytics.releases import first_seen

    return sorted(first_seen(dataset))


# ---- comparison -----------------------------------------------------------------------------


@dataclass
class Comparison:
    a: str
    b: str
    rows: pd.DataFrame  # per category
    engagement: pd.DataFrame  # sessions, messages/session, words/user message, 👍 rate
    warnings: list[str]


def _masked(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return values if mask is None else values[mask]


def _side_numbers(selection: Selection, mask: np.ndarray | None) -> dict:
    """A side's engagement numbers: its sessions (``mask`` over the selection; None: every
    selected session, read without a copy and with the roll-ups where they answer)."""
    human = _masked(selection.column("human_messages"), mask)
    ai = _masked(selection.column("ai_messages"), mask)
    up = _masked(selection.column("thumbs_up"), mask)
    down = _masked(selection.column("thumbs_down"), mask)
    messages = human + ai
    ups, downs = float(np.nansum(up)), float(np.nansum(down))
    return {
        "sessions": selection.n if mask is None else int(mask.sum()),
        "messages_per_session": float(np.nanmean(messages))
        if np.isfinite(messages).any()
        else math.nan,
        # the Engagement tab's number (one definition): the median over sessions with a
        # participant message of their words per participant message
        "words_per_user_message": engagement.words_per_user_message(selection, mask).median,
        "thumbs_up_rate": metrics.ratio(ups, ups + downs),
        "ratings": int(ups + downs),
    }


def _category_counts(selection: Selection, mask: np.ndarray | None) -> dict[str, tuple[int, int]]:
    """category → (good, n) for the masked sessions (same rules as annotation_breakdown)."""
    result = {}
    categories = metrics.annotation_categories(selection.dataset.tag_names)
    if not categories:
        return result
    # sessions per annotation pattern among the masked ones; every count is a sum over patterns
    patterns = metrics.annotation_patterns(selection.dataset)
    size = len(patterns.table)
    ids = _masked(metrics.pattern_ids(selection), mask)
    counts = np.bincount(ids, minlength=size)[:size] if ids.size else np.zeros(size, np.int64)
    annotated_any = int(counts[patterns.table.any(axis=1)].sum())
    for category in categories:
        good_pattern = patterns.column(category.good)
        if category.presence:
            result[category.key] = (int(counts[good_pattern].sum()), annotated_any)
            continue
        bad_pattern = patterns.column(category.bad)
        good = int(counts[good_pattern & ~bad_pattern].sum())
        bad = int(counts[bad_pattern & ~good_pattern].sum())
        result[category.key] = (good, good + bad)
    return result


def compare(
    dataset: Dataset,
    state: FilterState,
    mode: str,
    experiment: str | None,
    version_a: str | None,
    version_b: str | None,
    today=None,
) -> Comparison | None:
    """Compare two versions of one experiment, or the current window with the previous one.

    ``mode="versions"``: both sides use the page's filters (date window included, version
    filter ignored) restricted to ``experiment`` and to sessions that used exactly that version.
    ``mode="periods"``: side A is the previous period of equal length, side B the current
    window, both with all the page's filters. Returns None when the inputs are incomplete.
    """
    base_state = state.with_changes(versions=())
    if mode == "versions":
        if not experiment or not version_a or not version_b:
            return None
        scoped = base_state.with_changes(experiments=(experiment,))
        selection = select(dataset, scoped, today=today)
        side_a, side_b = single_version_sides(selection, (version_a, version_b))
        sides = [(version_a, selection, side_a), (version_b, selection, side_b)]
    else:
        current = select(dataset, state, today=today)
        from services.analytics.query import select_previous

        previous = select_previous(dataset, current)
        if previous is None:
            return None
        sides = [("previous period", previous, None), ("this period", current, None)]
    (label_a, sel_a, mask_a), (label_b, sel_b, mask_b) = sides
    counts_a = _category_counts(sel_a, mask_a)
    counts_b = _category_counts(sel_b, mask_b)
    rows = []
    for category in metrics.annotation_categories(dataset.tag_names):
        k1, n1 = counts_a.get(category.key, (0, 0))
        k2, n2 = counts_b.get(category.key, (0, 0))
        low_a, high_a = metrics.wilson_interval(k1, n1)
        low_b, high_b = metrics.wilson_interval(k2, n2)
        d_low, d_high = difference_interval(k1, n1, k2, n2)
        p = two_proportion_test(k1, n1, k2, n2)
        rows.append(
            {
                "category": category.key,
                "label": category.label,
                "good_a": k1,
                "n_a": n1,
                "rate_a": metrics.ratio(k1, n1),
                "ci_low_a": low_a,
                "ci_high_a": high_a,
                "good_b": k2,
                "n_b": n2,
                "rate_b": metrics.ratio(k2, n2),
                "ci_low_b": low_b,
                "ci_high_b": high_b,
                "difference": metrics.ratio(k2, n2) - metrics.ratio(k1, n1)
                if n1 and n2
                else math.nan,
                "diff_low": d_low,
                "diff_high": d_high,
                "p_value": p,
                "verdict": describe_p(p),
            }
        )
    numbers_a = _side_numbers(sel_a, mask_a)
    numbers_b = _side_numbers(sel_b, mask_b)
    engagement = pd.DataFrame(
        [
            {"metric": "Sessions", "a": numbers_a["sessions"], "b": numbers_b["sessions"]},
            {
                "metric": "Messages per session (mean)",
                "a": numbers_a["messages_per_session"],
                "b": numbers_b["messages_per_session"],
            },
            {
                "metric": "Words per user message (median)",
                "a": numbers_a["words_per_user_message"],
                "b": numbers_b["words_per_user_message"],
            },
            {
                "metric": "Thumbs-up share of rated messages",
                "a": numbers_a["thumbs_up_rate"],
                "b": numbers_b["thumbs_up_rate"],
            },
            {
                "metric": "Rated messages (thumbs up + down)",
                "a": numbers_a["ratings"],
                "b": numbers_b["ratings"],
            },
        ]
    )
    frame = pd.DataFrame(rows)
    warnings = []
    annotated_a = int(np.count_nonzero(_masked(metrics.annotated_mask(sel_a), mask_a)))
    annotated_b = int(np.count_nonzero(_masked(metrics.annotated_mask(sel_b), mask_b)))
    for label, count in ((label_a, annotated_a), (label_b, annotated_b)):
        if count == 0:
            warnings.append(f"No annotated sessions for {label} in this selection.")
        elif count < MIN_ANNOTATED:
            warnings.append(
                f"Only {count} annotated session{'s' if count != 1 else ''} for {label}: "
                f"too few to conclude (aim for at least {MIN_ANNOTATED})."
            )
    return Comparison(label_a, label_b, frame, engagement, warnings)


# ---- coverage, co-occurrence, quality over time -------------------------------------------------


def coverage_by_category(selection: Selection) -> pd.DataFrame:
    """Share of selected sessions annotated in each category (any of its tags)."""
    rows = []
    n = selection.n
    for category in metrics.annotation_categories(selection.dataset.tag_names):
        if not category.tags:
            continue
        mask = np.zeros(n, dtype=bool)
        for tag in category.tags:
            mask |= selection.tag(tag)
        count = int(mask.sum())
        rows.append(
            {
                "category": category.key,
                "label": category.label,
                "annotated": count,
                "share": metrics.ratio(count, n),
            }
        )
    return pd.DataFrame(rows, columns=["category", "label", "annotated", "share"])


def coverage_over_time(selection: Selection) -> pd.DataFrame:
    """Per time bucket: sessions, annotated sessions and the annotated share."""
    over_time = metrics.sessions_over_time(selection)
    if over_time.empty:
        return over_time.assign(annotated=[], share=[])
    annotated = annotated_subselection_counts(selection, over_time)
    over_time["annotated"] = annotated
    over_time["share"] = np.where(
        over_time["sessions"] > 0,
        over_time["annotated"] / over_time["sessions"].clip(lower=1),
        np.nan,
    )
    return over_time


def annotated_subselection_counts(selection: Selection, over_time: pd.DataFrame) -> np.ndarray:
    """Annotated sessions per bucket of ``over_time`` (same buckets)."""
    cells = rollups.window_cells(selection, "patterns", metrics.pattern_rollup)
    if cells is not None:  # annotated sessions per day of the window from the roll-up
        day, codes, counts = cells
        annotated = metrics.annotation_patterns(selection.dataset).table.any(axis=1)
        keep = annotated[codes] & (counts > 0)
        if not keep.any():
            return np.zeros(len(over_time), dtype=np.int64)
        first = rollups.whole_days(selection)[0] + int(day[keep].min())
        offset = day[keep] - int(day[keep].min())
        per_day = np.bincount(offset, weights=counts[keep]).astype(np.int64)
    else:
        mask = metrics.annotated_mask(selection)
        days = selection.column("day")[mask].astype("int64")
        if days.size == 0:
            return np.zeros(len(over_time), dtype=np.int64)
        # per day first (bincount), then the few days into buckets
        first = int(days.min())
        per_day = np.bincount(days - first)
    present = np.flatnonzero(per_day)
    buckets = metrics.bucket_labels(present + first, selection.granularity)
    counts = pd.Series(per_day[present], index=pd.to_datetime(buckets)).groupby(level=0).sum()
    return counts.reindex(over_time["bucket"], fill_value=0).to_numpy()


def coverage_by_experiment(selection: Selection) -> pd.DataFrame:
    """Per experiment: sessions, annotated sessions and the annotated share."""
    ds = selection.dataset
    summed = rollups.window_sum(selection, "annotated_by_experiment", _annotated_rollup)
    if summed is not None:  # [not annotated per experiment…, annotated per experiment…]
        annotated = summed[len(ds.experiments) :].astype(np.int64)
        total = summed[: len(ds.experiments)].astype(np.int64) + annotated
    else:
        codes = selection.column("experiment_codes")
        mask = metrics.annotated_mask(selection)
        total = np.bincount(codes, minlength=len(ds.experiments))
        annotated = np.bincount(codes[mask], minlength=len(ds.experiments))
    present = np.nonzero(total)[0]
    frame = pd.DataFrame(
        {
            "experiment": [ds.experiments[i] for i in present],
            "label": [metrics.label_for(ds, "experiment", ds.experiments[i]) for i in present],
            "sessions": total[present],
            "annotated": annotated[present],
        }
    )
    frame["share"] = frame["annotated"] / frame["sessions"].clip(lower=1)
    return frame.sort_values("sessions", ascending=False, ignore_index=True)


def _annotated_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict:
    """Per day, the filter set's sessions per experiment that are not annotated, then those
    that are (:func:`coverage_by_experiment`); the same per platform (:func:`sample_warnings`)."""
    out = {}
    mask = metrics.annotated_mask(every) if every.n else np.zeros(0, dtype=bool)
    for name, codes_name, labels in (
        ("annotated_by_experiment", "experiment_codes", every.dataset.experiments),
        ("annotated_by_platform", "platform_codes", every.dataset.platforms),
    ):
        width = len(labels)
        codes = every.column(codes_name).astype(np.int64) if every.n else days
        flat = days * 2 * width + codes + width * mask
        table = np.bincount(flat, minlength=n_days * 2 * width)[: n_days * 2 * width]
        out[name] = table.reshape(n_days, 2 * width).astype(np.int32)
    return out


def _messages_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict | None:
    """Per day (:func:`sample_warnings`): messages per session, of all sessions then of the
    annotated ones, as cells of whole-number counts (the cap's column holds the counts from
    :data:`~services.analytics.rollups.HISTOGRAM_CAP` up; NaN, not counted, has none)."""
    width = rollups.HISTOGRAM_CAP + 1
    if every.n == 0:
        return rollups.sparse_per_day("sample_messages", days, n_days, days, 2 * width)
    messages = every.column("human_messages") + every.column("ai_messages")
    counted = ~np.isnan(messages)
    if not rollups.counts(every.dataset, "human_messages", "ai_messages"):
        return None
    mask = metrics.annotated_mask(every)[counted]
    codes = np.minimum(messages[counted], rollups.HISTOGRAM_CAP).astype(np.int64)
    return rollups.sparse_per_day(
        "sample_messages", days[counted], n_days, codes + width * mask, 2 * width
    )


def _median_of_counts(counts: np.ndarray) -> float | None:
    """``np.nanmedian`` of the whole numbers whose capped histogram is ``counts``: NaN for
    none, None when an order statistic is in the cap's column."""
    n = int(counts.sum())
    if n == 0:
        return math.nan
    low = rollups.order_statistic(counts, (n - 1) // 2)
    high = rollups.order_statistic(counts, n // 2)
    if low is None or high is None:
        return None
    return float(np.mean(np.array([low, high])))


def _sample_numbers(selection: Selection) -> tuple | None:
    """(annotated, median messages of all, of annotated, sessions per platform, annotated per
    platform) from the roll-ups; None when they cannot answer."""
    platforms = len(selection.dataset.platforms)
    summed = rollups.window_sum(selection, "annotated_by_platform", _annotated_rollup)
    cells = rollups.window_cells(selection, "sample_messages", _messages_rollup)
    if summed is None or cells is None:
        return None
    width = rollups.HISTOGRAM_CAP + 1
    _, codes, counts = cells
    histogram = np.bincount(codes, weights=counts, minlength=2 * width).astype(np.int64)
    annotated_histogram = histogram[width:]
    all_median = _median_of_counts(histogram[:width] + annotated_histogram)
    annotated_median = _median_of_counts(annotated_histogram)
    if all_median is None or annotated_median is None:
        return None
    annotated_by_platform = summed[platforms:].astype(np.int64)
    by_platform = summed[:platforms].astype(np.int64) + annotated_by_platform
    annotated = int(annotated_by_platform.sum())
    return annotated, all_median, annotated_median, by_platform, annotated_by_platform


def sample_warnings(selection: Selection, ratio_limit: float = 1.5) -> list[str]:
    """Where annotated sessions differ from all selected sessions, so rates need care.

    Compares the median messages per session and the platform mix of annotated sessions with
    the whole selection.
    """
    found = _sample_numbers(selection) if selection.n >= 20 else None
    if found is not None:
        annotated, all_median, annotated_median, by_platform, annotated_by_platform = found
    else:
        mask = metrics.annotated_mask(selection)
        annotated = int(mask.sum())
    if annotated < 5 or selection.n < 20:
        return []
    warnings = []
    if found is None:
        messages = selection.column("human_messages") + selection.column("ai_messages")
        all_median = float(np.nanmedian(messages)) if np.isfinite(messages).any() else math.nan
        annotated_median = (
            float(np.nanmedian(messages[mask])) if np.isfinite(messages[mask]).any() else math.nan
        )
        platforms = selection.column("platform_codes")
        size = len(selection.dataset.platforms)
        by_platform = np.bincount(platforms, minlength=size)
        annotated_by_platform = np.bincount(platforms[mask], minlength=size)
    if all_median and not math.isnan(all_median) and not math.isnan(annotated_median):
        ratio_value = annotated_median / all_median
        if ratio_value >= ratio_limit or ratio_value <= 1 / ratio_limit:
            warnings.append(
                f"Annotated sessions are {'longer' if ratio_value > 1 else 'shorter'} than average "
                f"(median {annotated_median:.0f} vs {all_median:.0f} messages): good rates describe "
                "the reviewed sample, not every session."
            )
    share_all = by_platform / selection.n
    share_annotated = annotated_by_platform / annotated
    worst = int(np.argmax(np.abs(share_annotated - share_all)))
    if abs(share_annotated[worst] - share_all[worst]) >= 0.2:
        warnings.append(
            f"Platform mix differs: {selection.dataset.platforms[worst]} is "
            f"{share_annotated[worst]:.0%} of annotated sessions but {share_all[worst]:.0%} of all."
        )
    return warnings


def cooccurrence(selection: Selection, top: int = 15) -> pd.DataFrame:
    """Pairs of session tags among the **annotated** selected sessions (those carrying at least
    one annotation tag, :func:`services.analytics.metrics.annotated_mask`): count of sessions
    with both, and lift, for the ``top`` tags most frequent among them.

    Every number is over annotated sessions only: over all sessions any two annotation tags
    look strongly associated (both are rare among all sessions and always come together with a
    review), which says nothing about the tags themselves. Columns: tag_a, tag_b, both,
    count_a, count_b, lift, conditional (P(B | A)). The diagonal (tag_a == tag_b) holds each
    tag's own count. Empty when no selected session is annotated.
    """
    ds = selection.dataset
    columns = ["tag_a", "tag_b", "both", "count_a", "count_b", "lift", "conditional"]
    if not ds.tag_names or selection.n == 0:
        return pd.DataFrame(columns=columns)
    combos = metrics.tag_combinations(ds)
    cells = rollups.window_cells(selection, "annotated_combinations", _combinations_rollup)
    if cells is not None:
        _, codes, counts = cells
        per_combo = np.bincount(codes, weights=counts, minlength=len(combos.table))
        per_combo = per_combo.astype(np.int64)
        n = int(per_combo.sum())
    else:
        annotated = metrics.annotated_mask(selection)
        n = int(annotated.sum())
        if n:
            ids = selection.rows_of(combos.ids)[annotated]
            per_combo = np.bincount(ids, minlength=len(combos.table))
    if n == 0:
        return pd.DataFrame(columns=columns)
    # annotated sessions per tag combination (one bincount), then every pair's count is a sum
    # over the combinations holding both tags
    holds = combos.table.astype(np.int64)
    counts = per_combo @ holds
    order = [i for i in np.argsort(-counts, kind="stable") if counts[i] > 0][:top]
    sub = holds[:, order]
    both = sub.T @ (sub * per_combo[:, None])
    rows = []
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            rows.append(
                {
                    "tag_a": ds.tag_names[a],
                    "tag_b": ds.tag_names[b],
                    "both": int(both[i, j]),
                    "count_a": int(counts[a]),
                    "count_b": int(counts[b]),
                    "lift": lift(int(both[i, j]), int(counts[a]), int(counts[b]), n),
                    "conditional": metrics.ratio(int(both[i, j]), int(counts[a])),
                }
            )
    return pd.DataFrame(rows, columns=columns)


def _combinations_rollup(every: Selection, days: np.ndarray, n_days: int) -> dict:
    """Per day: the filter set's annotated sessions per combination of all session tags
    (:func:`cooccurrence`), nonzero cells only."""
    combos = metrics.tag_combinations(every.dataset)
    annotated = metrics.annotated_mask(every) if every.n else np.zeros(0, dtype=bool)
    ids = every.rows_of(combos.ids)[annotated] if every.n else days
    return rollups.sparse_per_day(
        "annotated_combinations", days[annotated], n_days, ids, len(combos.table)
    )


def over_time_granularity(selection: Selection) -> str:
    """Bucket of the quality-over-time chart: weeks for windows up to 200 days (and an
    unbounded window counts as a year), months beyond."""
    span_days = (
        (selection.end_ns - selection.start_ns) / NS_PER_DAY
        if selection.start_ns is not None and selection.end_ns is not None
        else 365
    )
    return "week" if span_days <= 200 else "month"


def quality_over_time(selection: Selection, granularity: str = "week") -> pd.DataFrame:
    """Good rate per category per bucket (default weekly) with Wilson bands.

    Columns: bucket, category, label, good, n, rate, ci_low, ci_high (rows with n = 0 kept so
    lines break where nothing was annotated).
    """
    columns = ["bucket", "category", "label", "good", "n", "rate", "ci_low", "ci_high"]
    if selection.n == 0:
        return pd.DataFrame(columns=columns)
    categories = [
        c for c in metrics.annotation_categories(selection.dataset.tag_names) if not c.presence
    ]
    patterns = metrics.annotation_patterns(selection.dataset)
    size = len(patterns.table)
    cells = rollups.window_cells(selection, "patterns", metrics.pattern_rollup)
    if cells is not None:  # sessions per (day, pattern) of the window from the roll-up
        day, ids, counts = cells
        first = rollups.whole_days(selection)[0] + int(day.min())
        day = day - int(day.min())
    else:
        # one bucket index per row via the (few) distinct days: bincounts instead of a pandas
        # groupby per category over every selected row
        days = selection.column("day").astype(np.int64)
        first = int(days.min())
        day, counts = days - first, None
        ids = metrics.pattern_ids(selection).astype(np.int64) if categories else None
    day_counts = np.bincount(day, weights=counts)
    present = np.flatnonzero(day_counts) + first
    labels, day_bucket = np.unique(metrics.bucket_labels(present, granularity), return_inverse=True)
    lookup = np.zeros(len(day_counts), dtype=np.int64)
    lookup[present - first] = day_bucket
    bucket = lookup[day]
    buckets = pd.to_datetime(labels)
    rows = []
    if categories:
        # sessions per (bucket, annotation pattern) in one pass; each category's good and
        # verdict counts are then sums over the few patterns that qualify
        per_pattern = np.bincount(
            bucket * size + ids, weights=counts, minlength=len(labels) * size
        ).reshape(len(labels), size)
        if counts is not None:
            per_pattern = per_pattern.astype(np.int64)
    for category in categories:
        good = patterns.column(category.good)
        bad = patterns.column(category.bad)
        good_n = per_pattern[:, good & ~bad].sum(axis=1)
        verdict_n = per_pattern[:, good ^ bad].sum(axis=1)
        for i, label in enumerate(buckets):
            k, n = int(good_n[i]), int(verdict_n[i])
            low, high = metrics.wilson_interval(k, n)
            rows.append((label, category.key, category.label, k, n, metrics.ratio(k, n), low, high))
    return pd.DataFrame(rows, columns=columns)
