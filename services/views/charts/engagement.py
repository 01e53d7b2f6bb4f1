"""Figures of the Engagement tab: :func:`engagement_figures` draws them from an
:class:`~services.views.engagement.EngagementView` (never from rows), themed like
:mod:`services.views.charts.base`, cached under the view's key and the theme."""

from __future__ import annotations

import numpy as np
import pandas as pd

from services.views.cache import FIGURES
from services.views.charts.base import (
    BAD,
    GOOD,
    PALETTE,
    PlainFigure,
    add_time_line,
    base_figure,
    bucket_hover,
    empty_figure,
    time_axis,
)
from services.views.engagement import EngagementView

ENGAGEMENT_FIGURES = (
    "messages",
    "words",
    "duration",
    "dropoff",
    "participants",
    "per_participant",
    "retention",
    "lexicon",
)
"""The Engagement tab's charts (keys of :func:`engagement_figures`), in page order."""

NO_TRANSCRIPTS = "No transcripts synced for these sessions"
NO_LEXICON = "No word counts yet: they fill in with the next full sync"


def histogram_figure(
    frame: pd.DataFrame,
    theme: str,
    unit: str = "sessions",
    x_title: str | None = None,
    color: str = PALETTE[0],
    empty: str = NO_TRANSCRIPTS,
    height: int = 280,
) -> PlainFigure:
    """Bars of a histogram frame (``bin``, ``<unit>``, ``share``), bins in their given order."""
    if frame.empty or int(frame[unit].sum()) == 0:
        return empty_figure(empty, theme=theme, height=height)
    fig = base_figure(theme, height)
    fig.add_bar(
        x=frame["bin"].astype(str).tolist(),
        y=frame[unit].to_numpy(dtype=np.int64),
        marker_color=color,
        customdata=frame["share"].to_numpy(dtype=float),
        hovertemplate=f"%{{x}}<br>%{{y:,}} {unit} (%{{customdata:.1%}})<extra></extra>",
    )
    fig.update_layout(bargap=0.1, xaxis={"type": "category", "title": x_title}, hovermode="x")
    fig.update_yaxes(rangemode="tozero", tickformat=",d")
    return fig


def dropoff_figure(frame: pd.DataFrame, theme: str, height: int = 280) -> PlainFigure:
    """Share of sessions still going at turn k (line) and ending at turn k (bars)."""
    if frame.empty:
        return empty_figure(NO_TRANSCRIPTS, theme=theme, height=height)
    fig = base_figure(theme, height)
    fig.add_bar(
        x=frame["turn"],
        y=frame["ended_here"],
        name="Ended at this turn",
        marker_color=PALETTE[2],
        opacity=0.55,
        hovertemplate="Turn %{x}: %{y:.1%} of sessions ended here<extra></extra>",
    )
    fig.add_scatter(
        x=frame["turn"],
        y=frame["still_going"],
        mode="lines+markers",
        name="Still going",
        line={"color": PALETTE[0], "width": 2.5},
        marker={"size": 5},
        customdata=frame["sessions"],
        hovertemplate="Turn %{x}: %{y:.1%} still going (%{customdata:,} sessions)<extra></extra>",
    )
    fig.update_layout(
        yaxis={"range": [0, 1.02], "tickformat": ".0%"},
        xaxis={"title": "participant turn", "dtick": 5 if len(frame) > 15 else 1},
        legend={"orientation": "h", "y": 1.12, "x": 0},
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        bargap=0.2,
    )
    return fig


def participants_over_time_figure(frame: pd.DataFrame, granularity: str, theme: str) -> PlainFigure:
    """Distinct active participants per bucket; a partial first or last bucket is dashed and
    says so on hover instead of plunging like a crash."""
    if frame.empty or int(frame["participants"].sum()) == 0:
        return empty_figure(theme=theme, height=280)
    fig = base_figure(theme, 280)
    add_time_line(
        fig,
        frame,
        "participants",
        name="Active participants",
        color=PALETTE[1],
        hover=f"{bucket_hover(granularity)}<br>%{{y:,}} active participants",
        fill="tozeroy",
        fillcolor="rgba(20,163,139,0.12)",
        showlegend=False,
    )
    fig.update_yaxes(rangemode="tozero", tickformat=",d")
    fig.update_xaxes(**time_axis(granularity, frame["bucket"]))
    fig.update_layout(hovermode="x")
    return fig


def lexicon_figure(
    frame: pd.DataFrame, granularity: str, theme: str, empty: str = NO_TRANSCRIPTS
) -> PlainFigure:
    """Shares of sessions with appreciation / dissatisfaction per bucket (two lines; partial
    buckets dashed)."""
    if frame.empty or int(frame["sessions"].sum()) == 0:
        return empty_figure(empty, theme=theme, height=280)
    fig = base_figure(theme, 280)
    for column, name, color in (
        ("appreciation", "Appreciation", GOOD),
        ("dissatisfaction", "Dissatisfaction", BAD),
    ):
        add_time_line(
            fig,
            frame,
            column,
            name=name,
            color=color,
            customdata=frame[["sessions"]].to_numpy(),
            hover=(
                f"{bucket_hover(granularity)}<br>{name}: %{{y:.1%}} of "
                "%{customdata[0]:,} sessions"
            ),
        )
    fig.update_yaxes(rangemode="tozero", tickformat=".0%")
    fig.update_xaxes(**time_axis(granularity, frame["bucket"]))
    fig.update_layout(
        hovermode="x", legend={"orientation": "h", "y": 1.12, "x": 0, "yanchor": "bottom"}
    )
    return fig


def retention_figure(frame: pd.DataFrame, theme: str) -> PlainFigure:
    """Cohort × weeks-since heatmap of the share of the cohort active that week."""
    if frame.empty:
        return empty_figure("No new participants in this window", theme=theme, height=300)
    weeks = [c for c in frame.columns if c.startswith("week_")]
    # week 0 is 100% by definition: show from week 1 so the colour scale is readable
    shown = weeks[1:] if len(weeks) > 1 else weeks
    z = frame[shown].to_numpy(dtype=float)
    labels = [
        f"{c:%d %b %Y} (n={s:,})" for c, s in zip(frame["cohort"], frame["size"], strict=True)
    ]
    dark = theme == "dark"
    fig = base_figure(theme, height=max(240, 24 * len(frame) + 90))
    text = np.where(np.isnan(z), "", np.vectorize(lambda v: f"{v:.0%}")(np.nan_to_num(z)))
    fig.add_heatmap(
        z=z,
        x=[f"+{w.split('_')[1]}" for w in shown],
        y=labels,
        text=text,
        texttemplate="%{text}" if len(frame) <= 30 else None,
        textfont={"size": 10},
        colorscale=[[0, "#1f2a3a" if dark else "#f3f6fc"], [1, PALETTE[0]]],
        zmin=0,
        zmax=max(float(np.nanmax(z)) if np.isfinite(z).any() else 0.0, 0.05),
        xgap=2,
        ygap=2,
        colorbar={"tickformat": ".0%", "thickness": 10, "outlinewidth": 0},
        hovertemplate="Cohort %{y}<br>week %{x}: %{z:.1%} came back<extra></extra>",
        hoverongaps=False,
    )
    fig.update_layout(
        xaxis={"title": "weeks after first session", "side": "bottom", "type": "category"},
        yaxis={"autorange": "reversed", "automargin": True, "type": "category"},
    )
    return fig


def engagement_figures(view: EngagementView, theme: str) -> dict[str, PlainFigure]:
    """Chart key (:data:`ENGAGEMENT_FIGURES`) → figure of the Engagement tab."""
    return FIGURES.get_or_compute((view.key, theme), lambda: _draw(view, theme))


def _draw(view: EngagementView, theme: str) -> dict[str, PlainFigure]:
    if view.scope.n == 0:
        return dict.fromkeys(ENGAGEMENT_FIGURES, empty_figure(theme=theme, height=280))
    granularity = view.scope.granularity
    return {
        "messages": histogram_figure(view.messages.histogram, theme, x_title="messages"),
        "words": histogram_figure(view.words.histogram, theme, x_title="words", color="#14a38b"),
        "duration": histogram_figure(
            view.duration.histogram, theme, x_title="first → last message", color="#9b59b6"
        ),
        "dropoff": dropoff_figure(view.dropoff, theme),
        "participants": participants_over_time_figure(view.participants, granularity, theme),
        "per_participant": histogram_figure(
            view.per_participant.histogram,
            theme,
            unit="participants",
            x_title="sessions",
            color="#14a38b",
        ),
        "retention": retention_figure(view.cohorts, theme),
        "lexicon": lexicon_figure(
            view.lexicon_over_time,
            granularity,
            theme,
            empty=NO_LEXICON if view.lexicon.uncounted else NO_TRANSCRIPTS,
        ),
    }
