"""Figures of the Overview tab: a function of (:class:`~services.views.overview.OverviewView`,
theme), cached in :data:`services.views.cache.FIGURES` under the view's key and the theme."""

from __future__ import annotations

import pandas as pd

from services.views.cache import FIGURES
from services.views.charts import base
from services.views.overview import OverviewView

OVERVIEW_FIGURES = ("time", "experiment", "team", "annotations")
"""The Overview's charts (keys of :func:`overview_figures`), in page order."""
RELEASE_COLORS = {
    "light": {"line": "#5a6270", "text": "#212529", "box": "rgba(255,255,255,0.88)"},
    "dark": {"line": "#adb5bd", "text": "#f1f3f5", "box": "rgba(33,37,41,0.88)"},
}
"""Release markers in the theme's own text colours on an almost opaque box: readable over the
bars in light and dark (purple text on blue bars was not)."""
RELEASE_AXIS = "y2"
"""The hidden 0–1 axis the markers' hover points sit on (at the top of the plot)."""


def overview_figures(view: OverviewView, theme: str) -> dict[str, base.PlainFigure]:
    """Chart key → figure of the Overview (empty figures that say so for no sessions)."""
    return FIGURES.get_or_compute((view.key, theme), lambda: _draw(view, theme))


def _draw(view: OverviewView, theme: str) -> dict[str, base.PlainFigure]:
    if view.scope.n == 0:
        return {name: base.empty_figure(theme=theme) for name in OVERVIEW_FIGURES}
    return {
        "time": add_release_markers(
            base.sessions_over_time_figure(
                view.over_time, view.scope.granularity, theme, view.flags_by_bucket
            ),
            view.releases.markers,
            theme,
        ),
        "experiment": base.breakdown_figure(view.by_experiment, theme),
        "team": base.breakdown_figure(view.by_team, theme),
        "annotations": base.annotation_figure(view.annotations, theme),
    }


def add_release_markers(
    fig: base.PlainFigure, markers: pd.DataFrame, theme: str = "light"
) -> base.PlainFigure:
    """A dotted vertical line at each release marker, its label at the top of the plot on a
    box in the theme's colours, and a ▼ whose hover lists every release of the marker."""
    if markers is None or markers.empty or not fig.data:
        return fig
    colors = RELEASE_COLORS.get(theme, RELEASE_COLORS["light"])
    shapes = list(fig.layout.get("shapes") or ())
    notes = list(fig.layout.get("annotations") or ())
    xs = []
    for row in markers.itertuples():
        x = row.day.strftime("%Y-%m-%d")
        xs.append(x)
        shapes.append(
            {
                "type": "line",
                "x0": x,
                "x1": x,
                "xref": "x",
                "y0": 0,
                "y1": 1,
                "yref": "y domain",
                "line": {"dash": "dot", "width": 1.5, "color": colors["line"]},
                "layer": "above",
            }
        )
        notes.append(
            {
                "x": x,
                "y": 0.97,
                "xref": "x",
                "yref": "paper",
                "text": row.label,
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "top",
                "textangle": -90,
                "font": {"size": 11, "color": colors["text"]},
                "bgcolor": colors["box"],
                "borderpad": 2,
                "hovertext": row.detail.replace("\n", "<br>"),
                "name": "release",
            }
        )
    fig.add_scatter(
        x=xs,
        y=[1.0] * len(xs),
        yaxis=RELEASE_AXIS,
        mode="markers",
        name="Releases",
        marker={"symbol": "triangle-down", "size": 9, "color": colors["line"]},
        customdata=[d.replace("\n", "<br>") for d in markers["detail"]],
        hovertemplate="Released<br>%{customdata}<extra></extra>",
        showlegend=False,
        cliponaxis=False,
    )
    fig.update_layout(
        shapes=shapes,
        annotations=notes,
        yaxis2={
            "overlaying": "y",
            "range": [0, 1],
            "visible": False,
            "fixedrange": True,
        },
    )
    return fig
