"""The filter state of a view, its URL query-string form, and date windows.

The whole view is described by one :class:`FilterState`. It round-trips through the URL query
string (``to_query`` / ``parse_query``), so a copied link reproduces the view. Parsing never
fails: unknown or invalid values are dropped and reported as notices the page shows.

Query keys::

    range=7d|30d|90d|365d|all|custom   start=YYYY-MM-DD  end=YYYY-MM-DD (inclusive)
    experiment=<id>,<id>   team=<slug>,...   tag=<name>,...,__untagged__   tag_mode=any|all
    platform=<slug>,...    status=<name>,... version=<label>|v3..v5,...   granularity=auto|day|week|month
    tz=<IANA zone> (days, weeks and displayed times; default UTC)
    compare=versions|periods  compare_experiment=<id>  compare_a=<version>  compare_b=<version>
        (the Quality tab's comparison; not filters — see :data:`COMPARE_KEYS`)
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np
import pandas as pd

from services.store.schema import NS_PER_DAY

PRESETS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
RANGE_CHOICES = ("7d", "30d", "90d", "365d", "all", "custom")
RANGE_LABELS = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "365d": "Last 365 days",
    "all": "All time",
    "custom": "Custom range",
}
GRANULARITIES = ("auto", "day", "week", "month")
TAG_MODES = ("any", "all")
UNTAGGED = "__untagged__"
DEFAULT_EXCLUDED_PLATFORMS = ("evaluations",)
DEFAULT_EXCLUDED_STATUSES = ("setup",)
DEFAULT_RANGE = "90d"
_LIST_KEYS = {
    "experiment": "experiments",
    "team": "teams",
    "tag": "tags",
    "platform": "platforms",
    "status": "statuses",
    "version": "versions",
}
_MAX_VALUES = 200
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)
"""Dates a view may start or end on; others are dropped with a notice (and refused by the API)."""


@dataclass(frozen=True)
class Vocabulary:
    """Known values, used to drop unknown ones from a URL. None = accept anything."""

    experiments: frozenset[str] | None = None
    teams: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    platforms: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    versions: frozenset[str] | None = None


@dataclass(frozen=True)
class FilterState:
    range: str = DEFAULT_RANGE
    start: date | None = None
    end: date | None = None
    experiments: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    tag_mode: str = "any"
    platforms: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    granularity: str = "auto"
    tz: str = "UTC"
    notices: tuple[str, ...] = field(default=(), compare=False)
    # The Quality tab's comparison choices (URL keys in COMPARE_KEYS). They choose what the tab
    # compares, not which sessions are selected, so they are left out of equality and hashing:
    # views cached by the filters stay valid when only the comparison changes. None = the
    # default for the selection (services.views.quality.resolve_comparison).
    compare: str = field(default="versions", compare=False)
    compare_experiment: str | None = field(default=None, compare=False)
    compare_a: str | None = field(default=None, compare=False)
    compare_b: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        """JSON-safe form (for a dcc.Store of filter values — never rows)."""
        data = asdict(self)
        data.pop("notices")
        data["start"] = self.start.isoformat() if self.start else None
        data["end"] = self.end.isoformat() if self.end else None
        for key in _LIST_KEYS.values():
            data[key] = list(data[key])
        for attr in COMPARE_KEYS.values():
            if data[attr] == ("versions" if attr == "compare" else None):
                del data[attr]  # the comparison's defaults are left out (the API's shape)
        return data

    @classmethod
    def from_dict(cls, data: dict | None) -> FilterState:
        """The state in a ``dcc.Store``; any other shape or type becomes the default (never raises).

        The store's value arrives from the browser, so it is treated as untrusted: text
        fields must be strings and list fields lists of strings, else they are ignored.
        """
        if not data or not isinstance(data, dict):
            return cls()

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        def joined(key: str) -> str:
            values = data.get(key)
            if not isinstance(values, list | tuple):
                return ""
            return ",".join(v for v in values if isinstance(v, str) and "," not in v)

        state, _ = parse_params(
            {
                "range": text("range"),
                "start": text("start"),
                "end": text("end"),
                "tag_mode": text("tag_mode"),
                "granularity": text("granularity"),
                "tz": text("tz"),
                **{k: joined(v) for k, v in _LIST_KEYS.items()},
                **{key: text(attr) for key, attr in COMPARE_KEYS.items()},
            }
        )
        return state

    def to_query(self) -> str:
        """Canonical query string ("" for the default view), keys in a fixed order."""
        params: list[tuple[str, str]] = []
        if self.range != DEFAULT_RANGE:
            params.append(("range", self.range))
        if self.range == "custom":
            if self.start:
                params.append(("start", self.start.isoformat()))
            if self.end:
                params.append(("end", self.end.isoformat()))
        for key, attr in _LIST_KEYS.items():
            values = getattr(self, attr)
            if values:
                params.append((key, ",".join(values)))
        if self.tag_mode != "any":
            params.append(("tag_mode", self.tag_mode))
        if self.granularity != "auto":
            params.append(("granularity", self.granularity))
        if self.tz != "UTC":
            params.append(("tz", self.tz))
        params.extend(comparison_params(self))
        return "?" + urlencode(params, safe=",:/") if params else ""

    def with_changes(self, **changes) -> FilterState:
        return replace(self, **changes)


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        return None


def date_in_window(day: date) -> bool:
    """Whether ``day`` lies within :data:`EARLIEST_DATE` … :data:`LATEST_DATE`."""
    return EARLIEST_DATE <= day <= LATEST_DATE


def window_notice(key: str, day: date, ending: str = "; ignored.") -> str:
    return (
        f"The {key} date {day.isoformat()} is outside {EARLIEST_DATE.isoformat()} … "
        f"{LATEST_DATE.isoformat()}{ending}"
    )


def dates_outside_window(search: str | None) -> list[str]:
    """Messages for ``start``/``end`` values of a query string that are dates outside the window.

    The JSON API refuses these (400); the page drops them with the same words as a notice.
    """
    problems = []
    for key, value in parse_qsl((search or "").lstrip("?"), keep_blank_values=True):
        if key in ("start", "end"):
            day = _parse_date(value)
            if day is not None and not date_in_window(day):
                problems.append(window_notice(key, day, "."))
    return problems


def _split(raw: str) -> list[str]:
    values: list[str] = []
    for part in raw.split(","):
        value = part.strip()
        if value and value not in values:
            values.append(value)
    return values


_VERSION_RANGE = re.compile(r"^v(\d{1,6})\.\.v(\d{1,6})$")


def expand_version_ranges(values: list[str], known: frozenset[str] | None) -> list[str]:
    """``v3..v5`` → ``v3, v4, v5`` (published versions; only known ones when ``known`` is set)."""
    out: list[str] = []
    for value in values:
        match = _VERSION_RANGE.match(value)
        if not match:
            if value not in out:
                out.append(value)
            continue
        low, high = sorted((int(match.group(1)), int(match.group(2))))
        expanded = [f"v{n}" for n in range(low, min(high, low + _MAX_VALUES) + 1)]
        if known is not None:
            expanded = [v for v in expanded if v in known] or [value]
        out.extend(v for v in expanded if v not in out)
    return out


def parse_params(
    params: dict[str, str | None], vocabulary: Vocabulary | None = None
) -> tuple[FilterState, list[str]]:
    """Build a valid state from raw parameter values; returns (state, notices)."""
    vocabulary = vocabulary or Vocabulary()
    notices: list[str] = []
    state: dict = {}

    raw_range = (params.get("range") or "").strip()
    if raw_range:
        if raw_range in RANGE_CHOICES:
            state["range"] = raw_range
        else:
            notices.append(f"Unknown date range “{raw_range[:40]}” ignored.")
    start = end = None
    for key in ("start", "end"):
        raw = params.get(key)
        if raw:
            parsed = _parse_date(raw)
            if parsed is None:
                notices.append(f"Invalid {key} date “{raw[:40]}” ignored.")
            elif not date_in_window(parsed):
                notices.append(window_notice(key, parsed))
            elif key == "start":
                start = parsed
            else:
                end = parsed
    if (start or end) and "range" not in state:
        state["range"] = "custom"
    if state.get("range") == "custom":
        if start and end and end < start:
            notices.append("The end date was before the start date; the two were swapped.")
            start, end = end, start
        state["start"], state["end"] = start, end
    elif start or end:
        notices.append("Start/end dates are only used with a custom range; ignored.")

    for key, attr in _LIST_KEYS.items():
        raw = params.get(key)
        if not raw:
            continue
        values = _split(raw)
        if attr == "versions":
            values = expand_version_ranges(values, vocabulary.versions)
        if len(values) > _MAX_VALUES:
            notices.append(f"Too many {key} values; only the first {_MAX_VALUES} were kept.")
            values = values[:_MAX_VALUES]
        known = getattr(vocabulary, attr)
        if known is not None:
            allowed = set(known) | ({UNTAGGED} if attr == "tags" else set())
            unknown = [v for v in values if v not in allowed]
            if unknown:
                shown = ", ".join(u[:40] for u in unknown[:3]) + ("…" if len(unknown) > 3 else "")
                notices.append(f"Unknown {key} “{shown}” not in the data; ignored.")
            values = [v for v in values if v in allowed]
        if values:
            state[attr] = tuple(values)

    mode = (params.get("tag_mode") or "").strip()
    if mode:
        if mode in TAG_MODES:
            state["tag_mode"] = mode
        else:
            notices.append(f"Unknown tag_mode “{mode[:40]}” ignored (use any or all).")
    granularity = (params.get("granularity") or "").strip()
    if granularity:
        if granularity in GRANULARITIES:
            state["granularity"] = granularity
        else:
            notices.append(f"Unknown granularity “{granularity[:40]}” ignored.")
    zone = (params.get("tz") or "").strip()
    if zone:
        if valid_timezone(zone):
            state["tz"] = zone
        else:
            notices.append(f"Unknown time zone “{zone[:40]}” ignored (UTC used).")
    state.update(parse_comparison(params, vocabulary, notices))
    return FilterState(**state, notices=tuple(notices)), notices


# ---- the Quality tab's comparison choices -------------------------------------------------

COMPARE_MODES = ("versions", "periods")
COMPARE_KEYS = {
    "compare": "compare",
    "compare_experiment": "compare_experiment",
    "compare_a": "compare_a",
    "compare_b": "compare_b",
}
"""URL key → :class:`FilterState` field of the Quality tab's comparison choices."""


def parse_comparison(
    params: dict[str, str | None], vocabulary: Vocabulary, notices: list[str]
) -> dict:
    """The comparison fields of ``params`` (unknown experiments/versions dropped with a notice).

    Whether a known experiment or version has sessions in the selection is decided later, with
    the data (:func:`services.views.quality.resolve_comparison`).
    """
    out: dict = {}
    mode = (params.get("compare") or "").strip()
    if mode:
        if mode in COMPARE_MODES:
            out["compare"] = mode
        else:
            notices.append(f"Unknown compare “{mode[:40]}” ignored (use versions or periods).")
    checks = (
        ("compare_experiment", vocabulary.experiments),
        ("compare_a", vocabulary.versions),
        ("compare_b", vocabulary.versions),
    )
    for key, known in checks:
        value = (params.get(key) or "").strip()[:200]
        if not value:
            continue
        if known is not None and value not in known:
            notices.append(f"Unknown {key} “{value[:40]}” not in the data; ignored.")
            continue
        out[COMPARE_KEYS[key]] = value
    return out


def comparison_params(state: FilterState) -> list[tuple[str, str]]:
    """URL pairs of ``state``'s comparison choices (none for the defaults)."""
    params = []
    for key, attr in COMPARE_KEYS.items():
        value = getattr(state, attr)
        if value and (attr != "compare" or value != "versions"):
            params.append((key, value))
    return params


def parse_query(search: str | None, vocabulary: Vocabulary | None = None):
    """Parse ``location.search`` (with or without ``?``) → (FilterState, notices)."""
    text = (search or "").lstrip("?")
    notices: list[str] = []
    params: dict[str, str] = {}
    known = {
        "range",
        "start",
        "end",
        "tag_mode",
        "granularity",
        "tz",
        *_LIST_KEYS,
        *POSITION_KEYS,
        *COMPARE_KEYS,
    }
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key not in known:
            notices.append(f"Unknown link parameter “{key[:40]}” ignored.")
            continue
        if key in params and key in _LIST_KEYS:
            params[key] = params[key] + "," + value
        else:
            params[key] = value
    state, more = parse_params(params, vocabulary)
    notices.extend(more)
    return replace(state, notices=tuple(notices)), notices


# ---- where the viewer is: the tab and the Sessions table's sort and page ------------------

POSITION_KEYS = ("tab", "sort", "order", "page")
"""Query keys of :class:`Position`, kept in the URL beside the filters (not filters: they do
not change any number): ``tab=<tab id>``, ``sort=<column>``, ``order=asc|desc``, ``page=<n>``."""
_MAX_PAGE = 10**6


@dataclass(frozen=True)
class Position:
    """The open tab and the Sessions table's sort and page; None = the page's default."""

    tab: str | None = None
    sort: str | None = None
    desc: bool | None = None
    page: int | None = None


def parse_position(search: str | None) -> Position:
    """The position keys of ``location.search``; values of the wrong shape are ignored (the
    callbacks also drop unknown tabs and columns and clamp the page to the table)."""
    values = dict(parse_qsl((search or "").lstrip("?"), keep_blank_values=True))
    word = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
    tab = values.get("tab", "").strip()
    sort = values.get("sort", "").strip()
    order = values.get("order", "").strip()
    page = values.get("page", "").strip()
    return Position(
        tab=tab if word.match(tab) else None,
        sort=sort if word.match(sort) else None,
        desc={"desc": True, "asc": False}.get(order),
        page=int(page) if page.isdigit() and 0 < int(page) <= _MAX_PAGE else None,
    )


def position_params(position: Position) -> list[tuple[str, str]]:
    """``position`` as query parameters (defaults left out)."""
    params = []
    if position.tab:
        params.append(("tab", position.tab))
    if position.sort:
        params.append(("sort", position.sort))
    if position.desc is not None:
        params.append(("order", "desc" if position.desc else "asc"))
    if position.page and position.page > 1:
        params.append(("page", str(position.page)))
    return params


def with_position(search: str | None, position: Position) -> str:
    """``search`` with its position keys replaced by ``position``'s; filter keys unchanged."""
    kept = [
        (k, v)
        for k, v in parse_qsl((search or "").lstrip("?"), keep_blank_values=True)
        if k not in POSITION_KEYS
    ]
    params = kept + position_params(position)
    return "?" + urlencode(params, safe=",:/") if params else ""


def keep_position(query: str, search: str | None) -> str:
    """The filter ``query`` (from :meth:`FilterState.to_query`) plus the position of ``search``."""
    return with_position(query, parse_position(search))


# ---- date windows -------------------------------------------------------------------------


_pinned_today: date | None = None


def pin_today(day: date | None) -> None:
    """Make :func:`today_utc` return ``day`` (a demo pinned to ``DEMO_ANCHOR``); None = real date."""
    global _pinned_today
    _pinned_today = day


def today_utc() -> date:
    """Today in UTC, the end of the preset windows (or the pinned demo day)."""
    return _pinned_today or datetime.now(UTC).date()


def day_start_ns(day: date, tz: str = "UTC") -> int:
    """Epoch ns of local midnight starting ``day`` in ``tz``."""
    if tz == "UTC":
        return (day - date(1970, 1, 1)).days * NS_PER_DAY
    moment = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(tz))
    return int(moment.timestamp()) * 10**9


@lru_cache(maxsize=1024)
def valid_timezone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone known to this machine."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError, ZoneInfoNotFoundError):
        return False
    return True


@lru_cache(maxsize=1)
def timezone_names() -> tuple[str, ...]:
    """All IANA zone names, for the time-zone picker."""
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def today_in(tz: str = "UTC") -> date:
    """Today in ``tz`` (or the pinned demo day)."""
    if _pinned_today is not None or tz == "UTC":
        return today_utc()
    return datetime.now(ZoneInfo(tz)).date()


def local_days(ns: np.ndarray, tz: str = "UTC") -> np.ndarray:
    """Epoch ns → local calendar day numbers (days since 1970-01-01) in ``tz``.

    The UTC offset is looked up once per distinct hour, so a million sessions cost a few
    milliseconds plus one small tz conversion.
    """
    ns = np.asarray(ns, dtype=np.int64)
    if tz == "UTC" or ns.size == 0:
        return ns // NS_PER_DAY
    hours, inverse = np.unique(ns // (3600 * 10**9), return_inverse=True)
    index = pd.DatetimeIndex(hours * (3600 * 10**9), tz="UTC").tz_convert(tz)
    offsets = np.asarray(
        [o.total_seconds() for o in index.map(lambda t: t.utcoffset())], dtype=np.int64
    )
    return (ns + offsets[inverse] * 10**9) // NS_PER_DAY


def window(
    state: FilterState, today: date | None = None, data_start: date | None = None
) -> tuple[int | None, int | None]:
    """The half-open window ``[start, end)`` in epoch ns; None means unbounded on that side.

    Presets count whole days ending today: "last 7 days" is today and the six days before.
    A custom end date is inclusive (the window ends at the next midnight). Days start at
    midnight in the state's time zone (``tz``, default UTC).
    """
    today = today or today_in(state.tz)
    tz = state.tz
    if state.range in PRESETS:
        days = PRESETS[state.range]
        return (
            day_start_ns(today - timedelta(days=days - 1), tz),
            day_start_ns(today + timedelta(days=1), tz),
        )
    if state.range == "custom":
        start = day_start_ns(state.start, tz) if state.start else None
        end = day_start_ns(state.end + timedelta(days=1), tz) if state.end else None
        return start, end
    return None, None


def previous_window(start: int | None, end: int | None) -> tuple[int, int] | None:
    """The window of equal length just before ``[start, end)``; None if unbounded."""
    if start is None or end is None:
        return None
    return start - (end - start), start


def auto_granularity(start: int | None, end: int | None) -> str:
    """day up to 62 days, week up to ~9 months, month beyond (and for all time)."""
    if start is None or end is None:
        return "month"
    days = (end - start) / NS_PER_DAY
    if days <= 62:
        return "day"
    if days <= 270:
        return "week"
    return "month"
