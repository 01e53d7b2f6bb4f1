"""One alerts run: evaluate the rules, send what is due, deliver the weekly report when due.

:func:`run_alerts` is the plain function every schedule calls (the CLI, the hook at the end of
a successful sync, the hosted mode's Celery beat). It never raises for a rule or a delivery
problem: those end up in the returned :class:`RunSummary` (and in the page's Alerts panel).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.alerts import rules as rule_kinds
from services.alerts.channels import (
    Channel,
    DeliveryError,
    Message,
    RetryPolicy,
    configured_channels,
    redact,
)
from services.alerts.config import AlertConfig, ReportSchedule, load_config
from services.alerts.state import AlertState, RedisAlertState, open_state
from services.store.cache import DatasetCache
from services.store.parquet import Store

log = logging.getLogger("dashboard.alerts")

REPORT_RULE = "weekly-report"


@dataclass
class Delivery:
    event: rule_kinds.Event | None
    channel: str
    status: str
    """delivered | failed | would-send | quiet"""
    error: str = ""
    title: str = ""
    key: str = ""


@dataclass
class RunSummary:
    enabled: bool
    channels: tuple[str, ...]
    events: list[rule_kinds.Event] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def delivered(self) -> int:
        return sum(d.status == "delivered" for d in self.deliveries)

    @property
    def failed(self) -> int:
        return sum(d.status == "failed" for d in self.deliveries)

    def line(self) -> str:
        if not self.enabled and not self.dry_run:
            return "alerts off: no channel configured (see docs/alerts.md)"
        verb = "would send" if self.dry_run else "sent"
        count = (
            sum(d.status == "would-send" for d in self.deliveries)
            if self.dry_run
            else self.delivered
        )
        text = (
            f"alerts: {len(self.events)} event{'s' * (len(self.events) != 1)} found, "
            f"{count} message{'s' * (count != 1)} {verb}"
        )
        if self.failed:
            text += f", {self.failed} failed (retried on the next run)"
        if self.problems:
            text += f", {len(self.problems)} problem{'s' * (len(self.problems) != 1)}"
        return text

    def to_dict(self) -> dict:
        return {
            "enabled": self.enabled,
            "channels": list(self.channels),
            "events": len(self.events),
            "delivered": self.delivered,
            "failed": self.failed,
            "problems": list(self.problems),
        }


def load_dataset(settings):
    """The store's current dataset, or None when nothing was synced yet."""
    return DatasetCache(Store(settings.store_dir)).get()


def _alert_message(event: rule_kinds.Event) -> Message:
    return Message(
        subject=f"[OCS dashboard] {event.title}",
        text=event.text(),
        data={"alert": event.to_dict()},
    )


def _send(
    state: AlertState | RedisAlertState,
    channel: Channel,
    message: Message,
    *,
    key: str,
    fingerprint: str,
    rule: str,
    title: str,
    event,
    now: float,
    history: list[dict],
    down: dict[str, str],
) -> Delivery:
    if channel.name in down:  # one failing channel costs its retries once per run, not per event
        error = f"not tried: {channel.name} failed earlier in this run ({down[channel.name]})"
        history.append(_entry(now, rule, key, channel.name, "failed", title, error))
        return Delivery(event, channel.name, "failed", error, title, key)
    try:
        channel.deliver(message)
    except DeliveryError as exc:
        error = str(exc)
        log.error("alert delivery failed: %s via %s: %s", title, channel.describe(), error)
        history.append(_entry(now, rule, key, channel.name, "failed", title, error))
        down[channel.name] = error
        return Delivery(event, channel.name, "failed", error, title, key)
    except Exception as exc:  # a bug must not lose the message silently either
        error = redact(f"{type(exc).__name__}: {exc}", channel.secrets)
        log.error("alert delivery failed: %s via %s: %s", title, channel.describe(), error)
        history.append(_entry(now, rule, key, channel.name, "failed", title, error))
        down[channel.name] = error
        return Delivery(event, channel.name, "failed", error, title, key)
    state.mark_sent(channel.name, key, fingerprint, rule, now)
    history.append(_entry(now, rule, key, channel.name, "delivered", title, ""))
    return Delivery(event, channel.name, "delivered", "", title, key)


def _entry(now, rule, key, channel, status, title, error) -> dict:
    return {
        "at": now,
        "rule": rule,
        "key": key,
        "channel": channel,
        "status": status,
        "title": title,
        "error": error,
    }


def evaluate(config: AlertConfig, settings, dataset, now: datetime) -> tuple[list, list, set]:
    """(events, problems, names of rules that evaluated cleanly)."""
    ctx = rule_kinds.Context(settings, dataset, now)
    events, problems, clean = [], [], set()
    for rule in config.rules:
        if rule_kinds.inactive_reason(rule, settings):
            continue
        try:
            events.extend(rule_kinds.EVALUATORS[rule.kind](rule, ctx))
            clean.add(rule.name)
        except rule_kinds.RuleProblem as exc:
            problems.append(str(exc))
        except Exception as exc:  # one broken rule never stops the others
            log.debug("rule %s failed", rule.name, exc_info=exc)
            problems.append(f"rule {rule.name!r} failed: {type(exc).__name__}: {exc}")
    return events, problems, clean


# ---- weekly report ----------------------------------------------------------------------------


def report_week(now: datetime, schedule: ReportSchedule) -> str | None:
    """The ISO week whose report is due at ``now`` (UTC), or None before its weekday and hour."""
    year, week, weekday = now.isocalendar()
    if (weekday - 1, now.hour) < (schedule.weekday, schedule.hour):
        return None
    return f"{year}-W{week:02d}"


def report_message(settings, dataset, schedule: ReportSchedule, now: datetime) -> Message:
    """The weekly report (:mod:`services.outputs.report`) as text + an HTML attachment."""
    from services.analytics.filters import parse_query
    from services.outputs import report
    from services.views.overview import vocabulary

    base, notices = parse_query(schedule.filters, vocabulary(dataset))
    end = None
    if settings.demo_mode and settings.demo_anchor is not None:
        end = settings.demo_anchor - timedelta(days=1)
    built = report.build_report(dataset, schedule.days, end, base, notices, now=now)
    view = rule_kinds.link(settings.public_url, built["links"]["current"])
    text = report.render_text(built).rstrip() + f"\n\nDashboard view: {view}\n"
    period = built["period"]
    try:
        attachments = [(f"ocs-report-{period['end']}.html", report.render_html(built), "html")]
    except Exception as exc:  # the text report still goes out
        log.warning("weekly report: the HTML version failed (%s); sending the text only", exc)
        attachments = []
        text += "(The HTML version could not be built this time; see the server log.)\n"
    return Message(
        subject=f"[OCS dashboard] {built['title']} ({period['start']} to {period['end']})",
        text=text,
        attachments=attachments,
        data={"report": {"period": period, "link": view, "kpis": built["kpis"]}},
    )


def _deliver_report(
    settings, config, channels, dataset, state, summary, now, history, down, force: bool
) -> None:
    schedule = config.report
    wanted = [c for c in schedule.channels if c in channels]
    missing = [c for c in schedule.channels if c not in channels]
    if missing:
        summary.problems.append(f"weekly report: channel {', '.join(missing)} is not configured")
    if not wanted:
        return
    week = report_week(now, schedule)
    if week is None and not force:
        return
    key = f"report:{week or now.date().isoformat()}"
    due = [c for c in wanted if force or state.due(c, key, "sent", now.timestamp(), float("inf"))]
    if not due:
        return
    if dataset is None:
        summary.problems.append("weekly report: no data yet (run `python -m services.sync`)")
        return
    try:
        message = report_message(settings, dataset, schedule, now)
    except Exception as exc:
        log.debug("report failed", exc_info=exc)
        summary.problems.append(f"weekly report could not be built: {type(exc).__name__}: {exc}")
        return
    title = message.subject.removeprefix("[OCS dashboard] ")
    for name in due:
        if summary.dry_run:
            summary.deliveries.append(Delivery(None, name, "would-send", "", title, key))
            continue
        summary.deliveries.append(
            _send(
                state,
                channels[name],
                message,
                key=key,
                fingerprint="sent",
                rule=REPORT_RULE,
                title=title,
                event=None,
                now=now.timestamp(),
                history=history,
                down=down,
            )
        )


# ---- the run ----------------------------------------------------------------------------------


def run_alerts(
    settings,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    dataset=None,
    retry: RetryPolicy | None = None,
    ssl_context=None,
    force_report: bool = False,
) -> RunSummary:
    """Evaluate every active rule and deliver what is due; returns what happened.

    ``dry_run`` evaluates and reports what would be sent without sending or changing the state.
    Alerts are off (nothing evaluated) until a channel is configured, except in a dry run.
    ``now``/``dataset``/``retry``/``ssl_context`` are for tests and the hosted scheduler.
    """
    now = now or datetime.now(UTC)
    channels = configured_channels(settings, retry, ssl_context)
    summary = RunSummary(enabled=bool(channels), channels=tuple(channels), dry_run=dry_run)
    if not channels and not dry_run:
        return summary
    config = load_config(settings)
    summary.problems.extend(config.problems)
    if not settings.public_url:
        summary.notes.append("PUBLIC_URL is not set: links in messages are relative")
    if dataset is None:
        dataset = load_dataset(settings)
    if dataset is None:
        summary.notes.append("no data yet: only the sync rule runs")
    events, problems, clean = evaluate(config, settings, dataset, now)
    summary.events = events
    summary.problems.extend(problems)
    quiet_s = config.quiet_hours * 3600
    stamp = now.timestamp()
    history: list[dict] = []
    down: dict[str, str] = {}
    with open_state(settings) as state, state.run_lock():
        for event in events:
            for name, channel in channels.items():
                if not state.due(name, event.key, event.fingerprint, stamp, quiet_s):
                    summary.deliveries.append(
                        Delivery(event, name, "quiet", "", event.title, event.key)
                    )
                    continue
                if dry_run:
                    summary.deliveries.append(
                        Delivery(event, name, "would-send", "", event.title, event.key)
                    )
                    continue
                summary.deliveries.append(
                    _send(
                        state,
                        channel,
                        _alert_message(event),
                        key=event.key,
                        fingerprint=event.fingerprint,
                        rule=event.rule,
                        title=event.title,
                        event=event,
                        now=stamp,
                        history=history,
                        down=down,
                    )
                )
        _deliver_report(
            settings, config, channels, dataset, state, summary, now, history, down, force_report
        )
        if not dry_run:
            for name in clean:
                state.forget_resolved(name, {e.key for e in events if e.rule == name})
            state.record(list(reversed(history)))
            state.set_last_run(dict(summary.to_dict(), at=stamp, problems=summary.problems[:20]))
    if not dry_run and (summary.delivered or summary.failed or summary.problems):
        log.info("%s", summary.line())
    for problem in summary.problems:
        log.warning("alerts: %s", problem)
    return summary


def after_sync(settings) -> None:
    """Run the alerts after a successful sync; never raises (a sync never fails because of it)."""
    try:
        if not settings.alerts.channels:
            return
        run_alerts(settings)
    except Exception as exc:
        log.error("alerts after sync failed: %s", type(exc).__name__)
        log.debug("alerts after sync failed", exc_info=exc)


# ---- for the page -----------------------------------------------------------------------------


def rules_overview(settings) -> dict:
    """What the Alerts panel shows: channels, rules (active or why not), problems, last run."""
    config = load_config(settings)
    channels = settings.alerts.channels
    rows = []
    for rule in config.rules:
        reason = rule_kinds.inactive_reason(rule, settings)
        if reason is None and not channels:
            reason = "alerts off: no channel configured"
        rows.append(
            {
                "name": rule.name,
                "kind": rule.kind,
                "description": rule_kinds.describe_rule(rule),
                "active": reason is None,
                "reason": reason or "",
            }
        )
    with open_state(settings) as state:
        history = state.history(20)
        last_run = state.last_run()
    return {
        "channels": list(channels),
        "source": config.source,
        "quiet_hours": config.quiet_hours,
        "report_channels": [c for c in config.report.channels if c in channels],
        "report_when": f"{['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][config.report.weekday]} "
        f"from {config.report.hour:02d}:00 UTC",
        "rules": rows,
        "problems": list(config.problems),
        "history": history,
        "last_run": last_run,
    }
