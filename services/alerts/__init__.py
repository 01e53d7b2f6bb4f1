"""Alerts and scheduled delivery: the dashboard tells the team when something needs a look.

Rules (:mod:`services.alerts.rules`, configured in :mod:`services.alerts.config`) look at the same
numbers the page shows; channels (:mod:`services.alerts.channels`) send what is due once
(:mod:`services.alerts.state`); :func:`run_alerts` is one run, called by ``python -m
services.alerts``, by :func:`after_sync` at the end of every successful sync and by any
scheduler. Documentation: docs/alerts.md.
"""

from services.alerts.runner import RunSummary, after_sync, rules_overview, run_alerts

__all__ = ["RunSummary", "after_sync", "rules_overview", "run_alerts"]
