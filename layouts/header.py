"""The top bar: product name, data freshness, Refresh/Cancel and the light/dark switch."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids


def header(demo_mode: bool, auth_note: str | None = None, user: str | None = None) -> html.Header:
    """``user``: the signed-in user on the hosted app (shows a Sign out link), else None."""
    return html.Header(
        dbc.Container(
            [
                html.Div(
                    [
                        html.Span("◎", className="brand-mark", **{"aria-hidden": "true"}),
                        html.Div(
                            [
                                html.H1("OCS Session Analytics", className="brand-title"),
                                html.Div(id=ids.DATA_FRESHNESS, className="brand-sub"),
                            ]
                        ),
                    ],
                    className="brand",
                ),
                html.Div(
                    [
                        html.Span(auth_note, className="badge text-bg-warning me-2")
                        if auth_note
                        else None,
                        html.Div(id=ids.SYNC_PROGRESS, className="sync-progress"),
                        html.Div(id=ids.SYNC_RESULT_MESSAGE, className="sync-progress"),
                        html.Button(
                            "↻ Refresh",
                            id=ids.REFRESH_BUTTON,
                            className="btn btn-primary btn-sm",
                            title="Sync new sessions from OpenChatStudio"
                            if not demo_mode
                            else "Demo data: configure OCS_API_KEY to sync real sessions",
                            disabled=demo_mode,
                            n_clicks=0,
                        ),
                        html.Button(
                            "Cancel",
                            id=ids.CANCEL_BUTTON,
                            className="btn btn-outline-secondary btn-sm d-none",
                            n_clicks=0,
                        ),
                        html.A(
                            "Sign out",
                            href="/logout",
                            id=ids.SIGN_OUT,
                            className="btn btn-outline-secondary btn-sm",
                            title=f"Signed in as {user}",
                        )
                        if user
                        else None,
                        dbc.Switch(
                            id=ids.THEME_SWITCH,
                            label="Dark",
                            value=False,
                            className="theme-switch mb-0",
                            persistence=True,
                            persistence_type="local",
                        ),
                    ],
                    className="header-actions",
                ),
            ],
            fluid=True,
            className="header-inner",
        ),
        className="app-header",
    )


def demo_banner() -> dbc.Alert:
    return dbc.Alert(
        [
            html.Strong("Demo data. "),
            "You are looking at a generated demo world (3 teams, 7 chatbots, one year). "
            "To see your own chatbot sessions, set ",
            html.Code("OCS_API_KEY"),
            " (one team) or ",
            html.Code("OCS_API_KEYS"),
            " (comma-separated, one key per team) in the environment or a ",
            html.Code(".env"),
            " file and restart — see the README, “Connect your OCS team”.",
        ],
        color="info",
        className="demo-banner mb-3",
        id=ids.DEMO_BANNER,
    )


def stores() -> list:
    return [
        dcc.Location(id=ids.URL, refresh=False),
        dcc.Store(id=ids.FILTER_STATE),
        dcc.Store(id=ids.DATA_GENERATION),
        dcc.Store(id=ids.REFRESH_NONCE),
        dcc.Store(id=ids.THEME, storage_type="local"),
        dcc.Interval(id=ids.STATUS_POLL, interval=2000),
        dcc.Download(id=ids.DOWNLOAD_CSV),
        dcc.Store(id=ids.BROWSER_TZ),
        dcc.Store(id=ids.SYNC_RESULT),
        dcc.Store(id=ids.SYNC_CANCEL_ACK),
    ]


def sync_progress(status: dict | None):
    """Progress bar and one-line state of the shared sync status (same for every viewer)."""
    status = status or {}
    if status.get("running"):
        done = (status.get("sessions_done") or 0) + (status.get("transcripts_done") or 0)
        total = (status.get("sessions_total") or 0) + (status.get("transcripts_total") or 0)
        value = int(100 * done / total) if total else None
        return html.Div(
            [
                html.Div(
                    [html.Strong("Syncing "), status.get("message") or status.get("phase") or "…"],
                    id=ids.SYNC_MESSAGE,
                ),
                dbc.Progress(
                    value=value if value is not None else 100,
                    striped=True,
                    animated=True,
                    label=f"{value}%" if value is not None else None,
                    className="sync-bar",
                ),
            ]
        )
    if status.get("state") == "error" and status.get("last_error"):
        return html.Div(
            f"Last sync failed: {status['last_error']}",
            id=ids.SYNC_MESSAGE,
            className="text-danger",
        )
    if status.get("state") == "cancelled":
        return html.Div("Last sync was cancelled; data unchanged.", id=ids.SYNC_MESSAGE)
    return html.Div(id=ids.SYNC_MESSAGE)


def sync_result_message(result: dict | None):
    """What happened to this tab's own Refresh click."""
    if not result:
        return None
    state = result.get("state")
    if state == "ok":
        return html.Span("✓ Sync finished", className="text-success", title=result.get("message"))
    css = "text-danger" if state == "error" else "text-muted"
    return html.Span(result.get("message"), className=css)
