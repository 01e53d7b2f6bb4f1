"""The Sessions tab: the filtered sessions, paged from the server, with CSV download."""

from __future__ import annotations

import dash_ag_grid as dag
from dash import html

COLUMN_DEFS = [
    {
        "field": "link",
        "headerName": "Transcript",
        "cellRenderer": "markdown",
        "cellRendererParams": {"linkTarget": "_blank"},
        "pinned": "left",
        "width": 90,
        "flex": 0,
    },
    {"field": "created_at", "headerName": "Started", "sortable": True, "minWidth": 140},
    {"field": "experiment", "headerName": "Experiment", "minWidth": 170},
    {"field": "team", "headerName": "Team", "minWidth": 140},
    {"field": "participant", "headerName": "Participant", "minWidth": 120},
    {"field": "status", "headerName": "Status", "minWidth": 110},
    {"field": "platform", "headerName": "Platform", "minWidth": 120},
    {
        "field": "messages",
        "headerName": "Messages",
        "sortable": True,
        "type": "numericColumn",
        "maxWidth": 120,
    },
    {
        "field": "duration_min",
        "headerName": "Minutes",
        "sortable": True,
        "type": "numericColumn",
        "maxWidth": 110,
    },
    {"field": "versions", "headerName": "Versions", "minWidth": 90},
    {"field": "tags", "headerName": "Session tags", "minWidth": 220, "tooltipField": "tags"},
    {
        "field": "cost_usd",
        "headerName": "Cost ($)",
        "sortable": True,
        "type": "numericColumn",
        "maxWidth": 110,
        "valueFormatter": {
            "function": "params.value == null ? '' : d3.format('.4f')(params.value)"
        },
    },
]


def sessions_tab() -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.Div(id="sessions-count", className="sessions-count"),
                    html.Button(
                        "Download CSV",
                        id="download-button",
                        className="btn btn-outline-primary btn-sm",
                        n_clicks=0,
                    ),
                ],
                className="sessions-toolbar",
            ),
            dag.AgGrid(
                id="sessions-grid",
                columnDefs=COLUMN_DEFS,
                defaultColDef={
                    "sortable": False,
                    "resizable": True,
                    "suppressHeaderMenuButton": True,
                },
                rowModelType="infinite",
                dashGridOptions={
                    "cacheBlockSize": 100,
                    "maxBlocksInCache": 20,
                    "rowBuffer": 10,
                    "tooltipShowDelay": 300,
                },
                style={"height": "620px"},
                className="sessions-grid",
            ),
        ]
    )
