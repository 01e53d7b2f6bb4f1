"""Alert rules and the weekly-report schedule: defaults, or ``DATA_DIR/alerts.toml``.

Without a rules file every rule kind runs once with its defaults and no filters. A file
replaces the defaults entirely (only the rules it lists run)::

    quiet_hours = 12                  # overrides ALERTS_QUIET_HOURS

    [[rule]]
    kind = "unusual_day"              # unusual_day | quality_drop | budget | sync
    name = "nigeria-volume"           # optional; default: the kind (+ a number when repeated)
    filters = "team=ecd-nigeria"      # the page's URL query syntax (services.analytics.filters)
    metrics = ["sessions"]

    [report]
    weekday = "mon"
    hour = 8                           # UTC

Problems (a TOML syntax error, an unknown key, a bad value) are collected as readable lines in
:class:`AlertConfig.problems`; the rules that are fine still run.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from services.analytics import anomalies, quality

KINDS = ("unusual_day", "quality_drop", "budget", "sync")
KIND_LABELS = {
    "unusual_day": "Unusual day (sessions or good rate)",
    "quality_drop": "Good rate dropped vs the previous period",
    "budget": "Monthly cost projection vs budget",
    "sync": "Sync failing or stale",
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
METRICS = tuple(anomalies.METRIC_LABELS)


@dataclass(frozen=True)
class Rule:
    """One rule. Only the fields of its ``kind`` matter; docs/alerts.md lists them."""

    kind: str
    name: str
    filters: str = ""
    enabled: bool = True
    # unusual_day
    metrics: tuple[str, ...] = METRICS
    lookback_days: int = 3
    # quality_drop
    window_days: int = 7
    p_threshold: float = 0.05
    min_n: int = quality.MIN_ANNOTATED
    per_category: bool = True
    # budget
    shares: tuple[float, ...] = (0.8, 1.0)
    budget_usd: float = 0.0
    # sync
    stale_hours: float = 24.0


@dataclass(frozen=True)
class ReportSchedule:
    weekday: int = 0
    """0 = Monday."""
    hour: int = 8
    """UTC hour from which the week's report is due."""
    days: int = 7
    filters: str = ""
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertConfig:
    rules: tuple[Rule, ...]
    quiet_hours: float
    report: ReportSchedule
    source: str
    """Where the rules came from: the file path, or "defaults"."""
    problems: tuple[str, ...] = field(default=())


RULE_KEYS = {  # every key a rule in the rules file may have
    "kind",
    "name",
    "filters",
    "enabled",
    "metrics",
    "lookback_days",
    "window_days",
    "p_threshold",
    "min_n",
    "per_category",
    "shares",
    "budget_usd",
    "stale_hours",
}
_KIND_KEYS = {
    "unusual_day": {"metrics", "lookback_days"},
    "quality_drop": {"window_days", "p_threshold", "min_n", "per_category"},
    "budget": {"shares", "budget_usd"},
    "sync": {"stale_hours"},
}
_COMMON_KEYS = {"kind", "name", "filters", "enabled"}


def default_rules() -> tuple[Rule, ...]:
    return tuple(Rule(kind=kind, name=kind) for kind in KINDS)


def rules_path(settings) -> Path:
    path = settings.alerts.rules_file
    return Path(path) if path else Path(settings.data_dir) / "alerts.toml"


def _number(where: str, key: str, value, problems: list[str], *, integer=False, low=0.0, high=None):
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{where}: {key} must be a number (got {value!r})")
        return None
    if integer and not isinstance(value, int):
        problems.append(f"{where}: {key} must be a whole number (got {value!r})")
        return None
    if value < low or (high is not None and value > high):
        limit = f"between {low} and {high}" if high is not None else f"at least {low}"
        problems.append(f"{where}: {key} must be {limit} (got {value!r})")
        return None
    return value


def _rule(raw, index: int, seen: dict[str, int], problems: list[str]) -> Rule | None:
    where = f"rule {index}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a table ([[rule]])")
        return None
    kind = raw.get("kind")
    if kind not in KINDS:
        problems.append(f"{where}: kind must be one of {', '.join(KINDS)} (got {kind!r})")
        return None
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problems.append(f"{where}: name must be a non-empty string")
        return None
    seen[kind] = seen.get(kind, 0) + 1
    name = (name or (kind if seen[kind] == 1 else f"{kind}-{seen[kind]}")).strip()
    where = f"rule {name!r}"
    unknown = sorted(set(raw) - RULE_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key {', '.join(unknown)}")
        return None
    foreign = sorted(set(raw) - _COMMON_KEYS - _KIND_KEYS[kind])
    if foreign:
        problems.append(f"{where}: {', '.join(foreign)} does not apply to a {kind} rule")
        return None
    values: dict = {"kind": kind, "name": name}
    before = len(problems)
    if "filters" in raw:
        if not isinstance(raw["filters"], str):
            problems.append(f'{where}: filters must be a string like "team=a&experiment=b"')
        else:
            values["filters"] = raw["filters"].strip().lstrip("?")
    if "enabled" in raw:
        if not isinstance(raw["enabled"], bool):
            problems.append(f"{where}: enabled must be true or false")
        else:
            values["enabled"] = raw["enabled"]
    if "metrics" in raw:
        chosen = raw["metrics"]
        if not isinstance(chosen, list) or not chosen or any(m not in METRICS for m in chosen):
            problems.append(f"{where}: metrics must be a list from {', '.join(METRICS)}")
        else:
            values["metrics"] = tuple(dict.fromkeys(chosen))
    if "shares" in raw:
        shares = raw["shares"]
        if not isinstance(shares, list) or not shares:
            problems.append(f"{where}: shares must be a list such as [0.8, 1.0]")
        else:
            checked = [_number(where, "shares", s, problems, low=0.01, high=10) for s in shares]
            if None not in checked:
                values["shares"] = tuple(sorted({float(s) for s in checked}))
    for key, integer, low, high in (
        ("lookback_days", True, 1, 60),
        ("window_days", True, 1, 365),
        ("p_threshold", False, 1e-9, 0.5),
        ("min_n", True, 1, None),
        ("budget_usd", False, 0, None),
        ("stale_hours", False, 0.1, None),
    ):
        if key in raw:
            number = _number(where, key, raw[key], problems, integer=integer, low=low, high=high)
            if number is not None:
                values[key] = number
    if "per_category" in raw:
        if not isinstance(raw["per_category"], bool):
            problems.append(f"{where}: per_category must be true or false")
        else:
            values["per_category"] = raw["per_category"]
    if len(problems) > before:
        return None
    return Rule(**values)


def _report(raw, settings, problems: list[str]) -> ReportSchedule:
    schedule = ReportSchedule(channels=tuple(settings.alerts.report))
    if raw is None:
        return schedule
    if not isinstance(raw, dict):
        problems.append("[report] must be a table")
        return schedule
    unknown = sorted(set(raw) - {"weekday", "hour", "days", "filters", "channels"})
    if unknown:
        problems.append(f"[report]: unknown key {', '.join(unknown)}")
    values: dict = {}
    if "weekday" in raw:
        day = str(raw["weekday"]).strip().lower()[:3]
        if day not in WEEKDAYS:
            problems.append(f"[report]: weekday must be one of {', '.join(WEEKDAYS)}")
        else:
            values["weekday"] = WEEKDAYS.index(day)
    if "hour" in raw:
        hour = _number("[report]", "hour", raw["hour"], problems, integer=True, low=0, high=23)
        if hour is not None:
            values["hour"] = hour
    if "days" in raw:
        days = _number("[report]", "days", raw["days"], problems, integer=True, low=1, high=366)
        if days is not None:
            values["days"] = days
    if "filters" in raw:
        if isinstance(raw["filters"], str):
            values["filters"] = raw["filters"].strip().lstrip("?")
        else:
            problems.append("[report]: filters must be a string")
    if "channels" in raw:
        chosen = raw["channels"]
        if not isinstance(chosen, list) or any(c not in ("email", "webhook") for c in chosen):
            problems.append('[report]: channels must be a list from "email", "webhook"')
        else:
            values["channels"] = tuple(dict.fromkeys(chosen))
    return replace(schedule, **values)


def load_config(settings) -> AlertConfig:
    """The rules and report schedule for ``settings`` (never raises on a bad file)."""
    path = rules_path(settings)
    quiet = float(settings.alerts.quiet_hours)
    problems: list[str] = []
    if not path.exists():
        return AlertConfig(default_rules(), quiet, _report(None, settings, problems), "defaults")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read ({exc.__class__.__name__})")
        return AlertConfig((), quiet, _report(None, settings, []), str(path), tuple(problems))
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: not valid TOML ({exc})")
        return AlertConfig((), quiet, _report(None, settings, []), str(path), tuple(problems))
    unknown = sorted(set(data) - {"quiet_hours", "rule", "report"})
    if unknown:
        problems.append(f"{path.name}: unknown key {', '.join(unknown)}")
    if "quiet_hours" in data:
        value = _number(path.name, "quiet_hours", data["quiet_hours"], problems, low=0)
        if value is not None:
            quiet = float(value)
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        problems.append(f"{path.name}: rules are written as [[rule]] tables")
        raw_rules = []
    seen: dict[str, int] = {}
    rules = []
    names: set[str] = set()
    for index, raw in enumerate(raw_rules, 1):
        rule = _rule(raw, index, seen, problems)
        if rule is None:
            continue
        if rule.name in names:
            problems.append(f"rule {rule.name!r} is defined twice; the second one is ignored")
            continue
        names.add(rule.name)
        rules.append(rule)
    report = _report(data.get("report"), settings, problems)
    return AlertConfig(tuple(rules), quiet, report, str(path), tuple(problems))
