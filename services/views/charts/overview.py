"""Figures of the Overview tab: a function of (:class:`~services.views.overview.OverviewView`,
theme), cached in :data:`services.views.cache.FIGURES` under the view's key and the theme."""

from __future__ import annotations

from services.views.cache import FIGURES
from services.views.charts import base
from services.views.charts.quality import add_release_markers
from services.views.overview import OverviewView

OVERVIEW_FIGURES = ("time", "experiment", "team", "annotations")
"""The Overview's charts (keys of :func:`overview_figures`), in page order."""


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
            view.release_markers,
        ),
        "experiment": base.breakdown_figure(view.by_experiment, theme),
        "team": base.breakdown_figure(view.by_team, theme),
        "annotations": base.annotation_figure(view.annotations, theme),
    }
