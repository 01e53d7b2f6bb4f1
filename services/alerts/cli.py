"""``python -m services.alerts``: one alerts run, for cron / Heroku Scheduler / Render cron jobs.

Options: ``--dry-run`` prints every message that would be sent (and the ones held back by the
quiet period) without sending anything or changing the state; ``--report-now`` sends the
weekly report now, whatever its schedule.

Exit codes: :data:`EXIT_OK` the run completed (also when alerts are off or nothing was due),
:data:`EXIT_ERROR` something unexpected (one line on stderr), :data:`EXIT_CONFIG` a settings or
rules-file problem, or a rule that could not be evaluated (the other rules still ran),
:data:`EXIT_DELIVERY` a message could not be delivered after its retries
(it is tried again on the next run).
"""

from __future__ import annotations

import argparse
import logging
import sys

EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_DELIVERY = 0, 1, 2, 4


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.alerts",
        description="Evaluate the dashboard's alert rules and send what is due (docs/alerts.md).",
        epilog="Exit codes: 0 done (also: alerts off, nothing due), 1 unexpected error, "
        "2 configuration problem (settings, rules file, a rule's filters), "
        "4 a delivery failed after retries (tried again next run).",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would be sent; send nothing")
    p.add_argument(
        "--report-now", action="store_true", help="send the weekly report now (if configured)"
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log details to stderr")
    return p


def print_dry_run(summary, out) -> None:
    channels = ", ".join(summary.channels) or "no channel configured"
    print(f"dry run: channels: {channels}", file=out)
    by_key: dict[str, list] = {}
    order = []
    for delivery in summary.deliveries:
        if delivery.key not in by_key:
            order.append(delivery.key)
        by_key.setdefault(delivery.key, []).append(delivery)
    for event in summary.events:
        if event.key not in by_key:
            print(f"\nwould send [{event.rule}] to nobody (no channel configured):", file=out)
            print("  " + event.text().replace("\n", "\n  "), file=out)
    for key in order:
        deliveries = by_key[key]
        sending = [d.channel for d in deliveries if d.status == "would-send"]
        quiet = [d.channel for d in deliveries if d.status == "quiet"]
        first = deliveries[0]
        rule = first.event.rule if first.event is not None else "weekly-report"
        if sending:
            print(f"\nwould send [{rule}] to {', '.join(sending)}:", file=out)
        else:
            print(
                f"\nheld back [{rule}] (already sent, quiet period) on {', '.join(quiet)}:",
                file=out,
            )
        text = first.event.text() if first.event is not None else first.title
        print("  " + text.replace("\n", "\n  "), file=out)
    if not summary.events and not summary.deliveries:
        print("nothing to send", file=out)
    for note in summary.notes:
        print(f"note: {note}", file=out)
    for problem in summary.problems:
        print(f"problem: {problem}", file=out)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from services.settings import SettingsError, load_settings

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"alerts not run: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from services.alerts.config import load_config
    from services.alerts.runner import run_alerts

    problems = load_config(settings).problems
    if problems:
        print("alerts not run: the rules file has problems:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        summary = run_alerts(settings, dry_run=args.dry_run, force_report=args.report_now)
    except Exception as exc:  # one line for the scheduler's log, never a traceback
        logging.getLogger("dashboard.alerts").debug("alerts failed", exc_info=exc)
        print(f"alerts failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.dry_run:
        print_dry_run(summary, sys.stdout)
        return EXIT_OK
    print(summary.line())
    for delivery in summary.deliveries:
        if delivery.status == "failed":
            print(
                f"failed: {delivery.title} via {delivery.channel}: {delivery.error}",
                file=sys.stderr,
            )
    for problem in summary.problems:
        print(f"problem: {problem}", file=sys.stderr)
    if summary.failed:
        return EXIT_DELIVERY
    return EXIT_CONFIG if summary.problems else EXIT_OK
