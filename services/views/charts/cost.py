"""Figures of the Cost tab: :func:`cost_figures` draws them from a
:class:`~services.views.cost.CostView` (never from rows), themed like
:mod:`services.views.charts.base`, cached under the view's key and the theme."""

from __future__ import annotations

import numpy as np
import pandas as pd

from services.views.cache import FIGURES
from services.views.charts.base import (
    PALETTE,
    PlainFigure,
    base_figure,
    bucket_hover,
    empty_figure,
    partial_bar_style,
    partial_notes,
    time_axis,
)
from services.views.charts.engagement import NO_TRANSCRIPTS
from services.views.cost import CostView

NO_COST = "No cost known for these sessions"
COST_FIGURES = ("time", "model", "experiment")
"""The Cost tab's charts (keys of :func:`cost_figures`), in page order."""


def cost_figures(view: CostView, theme: str) -> dict[str, PlainFigure]:
    """Chart key (:data:`COST_FIGURES`) → figure of the Cost tab."""
    return FIGURES.get_or_compute((view.key, theme), lambda: _draw(view, theme))


def _draw(view: CostView, theme: str) -> dict[str, PlainFigure]:
    if view.scope.n == 0:
        return dict.fromkeys(COST_FIGURES, empty_figure(theme=theme))
    if view.summary.known == 0:
        return dict.fromkeys(COST_FIGURES, empty_figure(NO_TRANSCRIPTS, theme=theme))
    return {
        "time": cost_over_time_figure(view.over_time, view.scope.granularity, theme),
        "model": cost_bars_figure(view.by_model, theme, "model", height=260),
        "experiment": cost_bars_figure(view.by_experiment, theme, "label"),
    }


def cost_over_time_figure(frame: pd.DataFrame, granularity: str, theme: str) -> PlainFigure:
    if frame.empty or int(frame["known"].sum()) == 0:
        return empty_figure(NO_COST, theme=theme)
    fig = base_figure(theme)
    fig.add_bar(
        x=frame["bucket"],
        y=frame["cost_usd"],
        marker=partial_bar_style(frame, PALETTE[2]),
        customdata=np.column_stack(
            [
                frame["known"].to_numpy(dtype=object),
                frame["sessions"].to_numpy(dtype=object),
                frame["coverage"].fillna(0).to_numpy(dtype=object),
                partial_notes(frame),
            ]
        ),
        hovertemplate=(
            f"{bucket_hover(granularity)}<br>$%{{y:,.2f}}"
            "<br>cost known for %{customdata[0]:,} of %{customdata[1]:,} sessions"
            " (%{customdata[2]:.0%})%{customdata[3]}<extra></extra>"
        ),
    )
    fig.update_layout(bargap=0.15, hovermode="x")
    fig.update_xaxes(**time_axis(granularity, frame["bucket"]))
    fig.update_yaxes(rangemode="tozero", tickprefix="$", tickformat=",.2f")
    return fig


def cost_bars_figure(
    frame: pd.DataFrame, theme: str, label: str, top: int = 10, height: int = 300
) -> PlainFigure:
    """Horizontal bars of ``cost_usd`` per ``label`` (most expensive on top; tail as "Other")."""
    if frame.empty or float(frame["cost_usd"].sum()) <= 0:
        return empty_figure(NO_COST, theme=theme, height=height)
    shown = frame.head(top)
    labels = shown[label].astype(str).tolist()
    values = shown["cost_usd"].astype(float).tolist()
    if len(frame) > top:
        labels.append(f"Other ({len(frame) - top})")
        values.append(float(frame["cost_usd"].iloc[top:].sum()))
    total = sum(values) or 1.0
    fig = base_figure(theme, height)
    fig.add_bar(
        x=values[::-1],
        y=labels[::-1],
        orientation="h",
        marker_color=PALETTE[2],
        text=[f"${v:,.2f} · {v / total:.0%}" for v in values[::-1]],
        textposition=["inside" if v >= 0.3 * max(values) else "outside" for v in values[::-1]],
        textangle=0,
        cliponaxis=False,
        hovertemplate="%{y}<br>$%{x:,.2f}<extra></extra>",
    )
    fig.update_layout(yaxis={"automargin": True}, xaxis={"tickprefix": "$", "tickformat": ",.2f"})
    return fig
