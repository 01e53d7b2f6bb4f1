"""The whole page, assembled from the parts in this package."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from layouts import ids
from layouts.alerts import alerts_panel
from layouts.cost import cost_tab
from layouts.engagement import engagement_tab
from layouts.filters import filter_bar
from layouts.header import demo_banner, header, stores
from layouts.overview import overview_tab
from layouts.quality import quality_tab
from layouts.saved_views import saved_views_bar
from layouts.sessions import sessions_tab

EMPTY_OPTIONS = {
    "experiments": [],
    "teams": [],
    "tags": [],
    "platforms": [],
    "statuses": [],
    "versions": [],
}


def dropdown_options(dataset) -> dict:
    """Dropdown options from the loaded data (labels are names, values are ids/slugs)."""
    if dataset is None:
        return dict(EMPTY_OPTIONS)
    from services.analytics.metrics import label_for
    from services.analytics.quality import version_options

    experiments = sorted(
        (
            {
                "label": f"{label_for(dataset, 'experiment', e)} · {dataset.team_names.get(dataset.experiment_team.get(e, ''), '')}",
                "value": e,
            }
            for e in dataset.experiments
        ),
        key=lambda o: o["label"].lower(),
    )
    return {
        "experiments": experiments,
        "teams": [{"label": dataset.team_names.get(t, t), "value": t} for t in dataset.teams],
        "tags": [{"label": t, "value": t} for t in dataset.tag_names],
        "platforms": [{"label": p, "value": p} for p in dataset.platforms],
        "statuses": [{"label": s, "value": s} for s in dataset.statuses],
        "versions": version_options(dataset, None),
    }


def page(
    options: dict,
    demo_mode: bool,
    auth_note: str | None = None,
    notice: str | None = None,
    user: str | None = None,
):
    return html.Div(
        [
            *stores(),
            header(demo_mode, auth_note, user),
            dbc.Container(
                [
                    demo_banner() if demo_mode else None,
                    html.Div(id=ids.STORE_NOTICE, children=store_notice(notice)),
                    html.Div(id=ids.URL_NOTICES),
                    filter_bar(options),
                    saved_views_bar(alerts_panel()),
                    dbc.Tabs(
                        [
                            dbc.Tab(overview_tab(), label="Overview", tab_id=ids.TAB_OVERVIEW),
                            dbc.Tab(
                                quality_tab(), label="Quality & versions", tab_id=ids.TAB_QUALITY
                            ),
                            dbc.Tab(
                                engagement_tab(), label="Engagement", tab_id=ids.TAB_ENGAGEMENT
                            ),
                            dbc.Tab(cost_tab(), label="Cost", tab_id=ids.TAB_COST),
                            dbc.Tab(sessions_tab(), label="Sessions", tab_id=ids.TAB_SESSIONS),
                        ],
                        id=ids.TABS,
                        active_tab=ids.TAB_OVERVIEW,
                        className="mb-3",
                    ),
                    html.Footer(
                        [
                            "Numbers follow OCS's metric definitions (ADR-0051) where OCS has one; "
                            "hover or focus (Tab) the (i) on a card for its definition.",
                        ],
                        className="app-footer",
                    ),
                ],
                fluid=True,
                tag="main",
                className="app-main",
            ),
        ],
        className="app-root",
    )


def store_notice(text: str | None):
    if not text:
        return None
    return dbc.Alert(text, color="warning", className="mb-3")
