"""Evaluate alert rules on the dataset and the sync status; every number comes from
:mod:`services.analytics` (the same functions the page uses), nothing is recomputed here.

Each rule yields :class:`Event` objects. An event's ``key`` is its identity (the same problem
seen again has the same key) and its ``fingerprint`` what would make it news again (a budget
level crossed, a different sync error); see :mod:`services.alerts.state` for how they are
de-duplicated.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from services.alerts.config import KIND_LABELS, Rule
from services.analytics import anomalies, cost, metrics, quality
from services.analytics.filters import FilterState, parse_query
from services.analytics.query import select, select_previous
from services.store.dataset import Dataset
from services.sync import status as sync_status
from services.views.overview import vocabulary


class RuleProblem(ValueError):
    """A rule cannot be evaluated as configured (e.g. an unknown team in its filters)."""


@dataclass(frozen=True)
class Event:
    rule: str
    kind: str
    key: str
    fingerprint: str
    title: str
    """What happened, in one line."""
    figures: str
    """The numbers behind it, with their interval / n."""
    link: str
    """The dashboard view that shows it (``PUBLIC_URL`` + the view's query)."""

    def text(self) -> str:
        return f"{self.title}\n{self.figures}\nView: {self.link}"

    def to_dict(self) -> dict:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "key": self.key,
            "title": self.title,
            "figures": self.figures,
            "link": self.link,
        }


@dataclass(frozen=True)
class Context:
    """What a rule evaluation may look at."""

    settings: object
    dataset: Dataset | None
    now: datetime
    """The current moment (UTC)."""

    def today(self, tz: str) -> date:
        """Today in ``tz``; a demo pinned to ``DEMO_ANCHOR`` counts from its anchor, like the page."""
        if self.settings.demo_mode and self.settings.demo_anchor is not None:
            return self.settings.demo_anchor
        return self.now.astimezone(ZoneInfo(tz)).date()


def link(public_url: str, query: str) -> str:
    """``PUBLIC_URL`` + the view's query (the query alone when PUBLIC_URL is not set)."""
    query = query or "?"
    return f"{public_url.rstrip('/')}/{query}" if public_url else query


def scope_state(rule: Rule, dataset: Dataset | None) -> FilterState:
    """The rule's filters as a page filter state; unknown values are a :class:`RuleProblem`."""
    state, notices = parse_query(rule.filters, vocabulary(dataset))
    if notices:
        raise RuleProblem(f"rule {rule.name!r}: filters: " + " ".join(notices))
    return state


def describe_scope(state: FilterState, dataset: Dataset | None) -> str:
    parts = []
    for dimension, values in (
        ("team", state.teams),
        ("experiment", state.experiments),
        ("tag", state.tags),
        ("platform", state.platforms),
        ("version", state.versions),
    ):
        if values:
            labels = [
                metrics.label_for(dataset, dimension, v)
                if dataset is not None and dimension in ("team", "experiment")
                else v
                for v in values
            ]
            parts.append(f"{dimension} {', '.join(labels)}")
    return "; ".join(parts) if parts else "all teams"


def _custom(state: FilterState, start: date, end: date, granularity: str = "day") -> FilterState:
    return replace(state, range="custom", start=start, end=end, granularity=granularity)


# ---- unusual day ------------------------------------------------------------------------------


def unusual_days(rule: Rule, ctx: Context) -> list[Event]:
    """Days among the last ``lookback_days`` complete days that the Engagement tab would flag
    (:func:`services.analytics.anomalies.anomalies`), for the rule's metrics."""
    ds = ctx.dataset
    if ds is None or ds.n == 0:
        return []
    base = scope_state(rule, ds)
    today = ctx.today(base.tz)
    state = _custom(base, today - timedelta(days=rule.lookback_days), today - timedelta(days=1))
    flags = anomalies.anomalies(select(ds, state, today=today), today=today)
    scope = describe_scope(base, ds)
    events = []
    for row in flags.itertuples():
        if row.metric not in rule.metrics:
            continue
        day = pd.Timestamp(row.day).date()
        label = anomalies.METRIC_LABELS.get(row.metric, row.metric)
        direction = "higher" if row.direction == "up" else "lower"
        unit = "sessions with a good/bad verdict" if row.metric == "good_rate" else "sessions"
        view = _custom(base, day - timedelta(days=27), day)
        events.append(
            Event(
                rule=rule.name,
                kind=rule.kind,
                key=f"{rule.name}:{row.metric}:{day.isoformat()}",
                fingerprint=row.direction,
                title=f"Unusual day: {label.lower()} {direction} than expected on "
                f"{day:%a %d %b %Y} ({scope})",
                figures=f"{anomalies.describe(row)} · band = expected ± {anomalies.K:g}σ · "
                f"n = {int(row.n):,} {unit}",
                link=link(ctx.settings.public_url, view.to_query()),
            )
        )
    return events


# ---- quality drop -----------------------------------------------------------------------------


def _pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.0%}"


def _drop_event(rule: Rule, ctx, key: str, label: str, k1, n1, k2, n2, scope, view) -> Event | None:
    """An event when the good rate fell with p below the threshold and n large on both sides."""
    if n1 < rule.min_n or n2 < rule.min_n:
        return None
    p = quality.two_proportion_test(k1, n1, k2, n2)
    if math.isnan(p) or p >= rule.p_threshold or k2 / n2 >= k1 / n1:
        return None
    low, high = quality.difference_interval(k1, n1, k2, n2)
    a_low, a_high = metrics.wilson_interval(k1, n1)
    b_low, b_high = metrics.wilson_interval(k2, n2)
    return Event(
        rule=rule.name,
        kind=rule.kind,
        key=f"{rule.name}:{key}",
        fingerprint="drop",
        title=f"{label} good rate dropped to {k2 / n2:.0%} from {k1 / n1:.0%} ({scope})",
        figures=(
            f"last {rule.window_days} days {k2:,}/{n2:,} = {k2 / n2:.0%} "
            f"(95% CI {_pct(b_low)}–{_pct(b_high)}) vs previous {k1:,}/{n1:,} = {k1 / n1:.0%} "
            f"(95% CI {_pct(a_low)}–{_pct(a_high)}) · difference {(k2 / n2 - k1 / n1) * 100:+.1f} "
            f"points (95% CI {low * 100:+.1f} to {high * 100:+.1f}) · two-proportion p = {p:.3g}"
        ),
        link=link(ctx.settings.public_url, view.to_query()),
    )


def quality_drops(rule: Rule, ctx: Context) -> list[Event]:
    """The rated-good share (and, with ``per_category``, each category's good rate, as the
    Quality tab's period comparison computes it) of the last ``window_days`` complete days
    against the equally long period before: an event when it fell with a two-proportion
    p-value below ``p_threshold`` and at least ``min_n`` judged sessions on both sides."""
    ds = ctx.dataset
    if ds is None or ds.n == 0:
        return []
    base = scope_state(rule, ds)
    today = ctx.today(base.tz)
    end = today - timedelta(days=1)
    state = _custom(base, end - timedelta(days=rule.window_days - 1), end, "auto")
    current = select(ds, state, today=today)
    previous = select_previous(ds, current)
    scope = describe_scope(base, ds)
    events = []
    k2, n2 = metrics.rated_good(current)
    k1, n1 = metrics.rated_good(previous)
    overall = _drop_event(rule, ctx, "overall", "Overall", k1, n1, k2, n2, scope, state)
    if overall:
        events.append(overall)
    if rule.per_category:
        comparison = quality.compare(ds, state, "periods", None, None, None, today=today)
        rows = comparison.rows if comparison is not None else pd.DataFrame()
        presence = {c.key for c in metrics.annotation_categories(ds.tag_names) if c.presence}
        for row in rows.itertuples():
            if row.category in presence:
                continue  # safe/accurate: a share of annotated sessions, not a good/bad verdict
            event = _drop_event(
                rule,
                ctx,
                row.category,
                row.label,
                int(row.good_a),
                int(row.n_a),
                int(row.good_b),
                int(row.n_b),
                scope,
                state,
            )
            if event:
                events.append(event)
    return events


# ---- budget -----------------------------------------------------------------------------------


def _scoped_month(ds: Dataset, base: FilterState, today: date, budget: float) -> dict:
    """Spend of the rule's scope this month (as the Cost tab sums it for those filters)."""
    month = today.replace(day=1)
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    summary = cost.cost_summary(select(ds, _custom(base, month, today), today=today))
    projected = summary.total / today.day * days_in_month
    return {
        "month": month,
        "spent": summary.total,
        "projected": projected,
        "budget": budget,
        "elapsed": today.day,
        "days": days_in_month,
        "known": summary.known,
        "sessions": summary.sessions,
    }


def budget(rule: Rule, ctx: Context) -> list[Event]:
    """The month's cost projection (:func:`services.analytics.cost.monthly_budget`: spent ÷ elapsed
    days × days in the month) against the budget: an event at the highest of ``shares``
    crossed, so 80% then 100% are two messages. With filters the rule needs its own
    ``budget_usd`` and compares that scope's spend."""
    ds = ctx.dataset
    if ds is None:
        return []
    base = scope_state(rule, ds)
    today = ctx.today(base.tz)
    scoped = bool(rule.filters)
    amount = rule.budget_usd or (0.0 if scoped else ctx.settings.monthly_budget_usd)
    if amount <= 0:
        raise RuleProblem(
            f"rule {rule.name!r}: no budget: set budget_usd in the rule"
            + ("" if scoped else " or MONTHLY_BUDGET_USD")
        )
    if scoped:
        numbers = _scoped_month(ds, base, today, amount)
    else:
        b = cost.monthly_budget(ds, amount, today=today, tz=base.tz)
        numbers = {
            "month": b.month,
            "spent": b.spent_usd,
            "projected": b.projected_usd,
            "budget": b.budget_usd,
            "elapsed": b.elapsed_days,
            "days": b.days_in_month,
            "known": b.known,
            "sessions": b.sessions,
        }
    share = numbers["projected"] / numbers["budget"]
    crossed = [s for s in rule.shares if share >= s]
    if not crossed:
        return []
    level = max(crossed)
    month = numbers["month"]
    scope = describe_scope(base, ds) if scoped else "whole deployment"
    view = _custom(base, month, today, "day")
    return [
        Event(
            rule=rule.name,
            kind=rule.kind,
            key=f"{rule.name}:{month:%Y-%m}",
            fingerprint=f"{level:g}",
            title=f"Cost projected at {share:.0%} of the {month:%B %Y} budget "
            f"(crossed {level:.0%}; {scope})",
            figures=(
                f"spent ${numbers['spent']:,.2f} of ${numbers['budget']:,.2f} in "
                f"{numbers['elapsed']} of {numbers['days']} days · projected "
                f"${numbers['projected']:,.2f} (linear) · cost known for {numbers['known']:,} of "
                f"{numbers['sessions']:,} sessions"
                + ("" if numbers["known"] == numbers["sessions"] else " (a lower bound)")
            ),
            link=link(ctx.settings.public_url, view.to_query()),
        )
    ]


# ---- sync -------------------------------------------------------------------------------------


def _when(stamp: float | None, now: float) -> str:
    if not stamp:
        return "never"
    moment = datetime.fromtimestamp(stamp, UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC ({(now - stamp) / 3600:.1f} h ago)"


def sync_health(rule: Rule, ctx: Context) -> list[Event]:
    """Per team: the last sync failed, or no successful sync for ``stale_hours``. One sync
    covers every team, so a failure is reported for each team in the rule's scope."""
    settings = ctx.settings
    if settings.demo_mode:
        return []
    ds = ctx.dataset
    base = scope_state(rule, ds)
    teams = (
        [t.get("slug") for t in (ds.meta.get("teams") or []) if isinstance(t, dict)] if ds else []
    )
    teams = [t for t in teams if t] or (list(ds.teams) if ds is not None else [])
    if base.teams:
        teams = [t for t in teams if t in base.teams] or list(base.teams)
    names = ds.team_names if ds is not None else {}
    status = sync_status.read_status(settings)
    now = ctx.now.timestamp()
    last_ok = status.get("last_ok_at") or (ds.meta.get("synced_at") if ds is not None else None)
    events = []
    for team in teams or ["all teams"]:
        label = names.get(team, team)
        view = link(settings.public_url, FilterState(teams=(team,)).to_query() if teams else "")
        if status.get("state") == "error":
            error = str(status.get("last_error") or "unknown error")
            events.append(
                Event(
                    rule=rule.name,
                    kind=rule.kind,
                    key=f"{rule.name}:failing:{team}",
                    fingerprint=error,
                    title=f"Sync failing for {label}",
                    figures=f"last error: {error} · last successful sync: {_when(last_ok, now)}",
                    link=view,
                )
            )
        if last_ok is None or now - float(last_ok) > rule.stale_hours * 3600:
            events.append(
                Event(
                    rule=rule.name,
                    kind=rule.kind,
                    key=f"{rule.name}:stale:{team}",
                    fingerprint="stale",
                    title=f"No successful sync for {label} in over {rule.stale_hours:g} h",
                    figures=f"last successful sync: {_when(last_ok, now)} · limit "
                    f"{rule.stale_hours:g} h · sync state now: {status.get('state')}",
                    link=view,
                )
            )
    return events


EVALUATORS = {
    "unusual_day": unusual_days,
    "quality_drop": quality_drops,
    "budget": budget,
    "sync": sync_health,
}


def inactive_reason(rule: Rule, settings) -> str | None:
    """Why a configured rule does not run (None when it does)."""
    if not rule.enabled:
        return "disabled in the rules file"
    if rule.kind == "budget" and not rule.budget_usd:
        if rule.filters:
            return "a budget rule with filters needs budget_usd"
        if settings.monthly_budget_usd <= 0:
            return "no budget: set MONTHLY_BUDGET_USD"
    if rule.kind == "sync" and settings.demo_mode:
        return "demo mode: nothing is synced"
    return None


def describe_rule(rule: Rule) -> str:
    parts = [KIND_LABELS[rule.kind]]
    if rule.kind == "unusual_day":
        parts.append(f"{', '.join(rule.metrics)}; last {rule.lookback_days} complete days")
    elif rule.kind == "quality_drop":
        parts.append(
            f"{rule.window_days} days vs the {rule.window_days} before; p < {rule.p_threshold:g}; "
            f"n ≥ {rule.min_n} on both sides"
        )
    elif rule.kind == "budget":
        shares = ", ".join(f"{s:.0%}" for s in rule.shares)
        parts.append(f"at {shares}" + (f" of ${rule.budget_usd:,.2f}" if rule.budget_usd else ""))
    elif rule.kind == "sync":
        parts.append(f"failing, or no success for {rule.stale_hours:g} h")
    if rule.filters:
        parts.append(f"filters {rule.filters}")
    return " · ".join(parts)
