"""The Alerts panel: a button at the end of the saved-views row, opening an offcanvas with the
active rules and the last deliveries (rule, time, channel, delivered or failed). Content comes
from :func:`services.alerts.rules_overview` through callbacks/alerts.py."""

from __future__ import annotations

import time

import dash_bootstrap_components as dbc
from dash import html

from layouts import ids

DOCS = "docs/alerts.md"


def alerts_panel() -> html.Div:
    return html.Div(
        [
            html.Button(
                "Alerts",  # text only: no emoji font needed (an empty box without one)
                id=ids.ALERTS_OPEN,
                className="btn btn-outline-secondary btn-sm",
                title="Alert rules and the last messages sent",
                n_clicks=0,
            ),
            dbc.Offcanvas(
                html.Div(id=ids.ALERTS_BODY),
                id=ids.ALERTS_OFFCANVAS,
                title="Alerts",
                placement="end",
                is_open=False,
                scrollable=True,
            ),
        ],
        className="alerts-entry ms-auto",
    )


def _when(stamp: float | None) -> str:
    if not stamp:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))


def _table(header: list[str], rows: list[list]) -> dbc.Table:
    return dbc.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in header])),
            html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows]),
        ],
        size="sm",
        className="alerts-table small",
    )


def alerts_body(overview: dict) -> list:
    """The offcanvas content for a :func:`services.alerts.rules_overview` dict."""
    parts: list = []
    channels = overview["channels"]
    if channels:
        parts.append(
            html.P(
                f"Sending to {', '.join(channels)}; an unchanged alert is repeated after "
                f"{overview['quiet_hours']:g} h. Rules: {overview['source']}.",
                className="small",
            )
        )
    else:
        parts.append(
            dbc.Alert(
                f"Alerts are off: no channel is configured (ALERTS_WEBHOOK_URL, ALERTS_SMTP_HOST "
                f"+ ALERTS_EMAIL_TO, or ALERTS_LOG). See {DOCS}.",
                color="secondary",
                className="small py-2",
            )
        )
    if overview["report_channels"]:
        parts.append(
            html.P(
                f"Weekly report: {', '.join(overview['report_channels'])}, "
                f"{overview['report_when']}.",
                className="small",
            )
        )
    if overview["problems"]:
        parts.append(
            dbc.Alert(
                [
                    html.Div("Problems in the alert setup:"),
                    html.Ul([html.Li(p) for p in overview["problems"]]),
                ],
                color="warning",
                className="small py-2",
            )
        )
    parts.append(html.H6("Rules"))
    parts.append(
        _table(
            ["Rule", "What", "Active"],
            [
                [
                    r["name"],
                    r["description"],
                    html.Span("active", className="badge text-bg-success")
                    if r["active"]
                    else html.Span(r["reason"], className="text-body-secondary"),
                ]
                for r in overview["rules"]
            ],
        )
        if overview["rules"]
        else html.P("No rules.", className="small")
    )
    last_run = overview.get("last_run")
    parts.append(html.H6("Last messages"))
    if last_run:
        problems = last_run.get("problems") or []
        parts.append(
            html.P(
                f"Last run {_when(last_run.get('at'))}: {last_run.get('events', 0)} events, "
                f"{last_run.get('delivered', 0)} delivered, {last_run.get('failed', 0)} failed"
                + (f", {len(problems)} problems" if problems else "")
                + ".",
                className="small",
            )
        )
    history = overview["history"]
    if not history:
        parts.append(html.P("Nothing sent yet.", className="small text-body-secondary"))
    else:
        parts.append(
            _table(
                ["Time", "Rule", "Channel", "Result", "Alert"],
                [
                    [
                        _when(h.get("at")),
                        h.get("rule", ""),
                        h.get("channel", ""),
                        html.Span(
                            h.get("status", ""),
                            className="badge text-bg-"
                            + ("success" if h.get("status") == "delivered" else "danger"),
                        ),
                        html.Div(
                            [
                                html.Div(h.get("title", "")),
                                html.Div(h["error"], className="text-danger")
                                if h.get("error")
                                else None,
                            ]
                        ),
                    ]
                    for h in history
                ],
            )
        )
    return parts
