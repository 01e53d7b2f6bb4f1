"""Figures of the Engagement and Cost tabs, built from :mod:`services.analytics.engagement` and
:mod:`services.analytics.cost` frames (never from rows), themed like :mod:`services.views.charts.base`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from services.views.charts.base import (
    BAD,
    GOOD,
    PALETTE,
    Figure,
    base_figure,
    bucket_hover,
    empty_figure,
)

NO_TRANSCRIPTS = "No transcripts synced for these sessions"
NO_COST = "No cost known for these sessions"


def histogram_figure(
    frame: pd.DataFrame,
    theme: str,
    unit: str = "sessions",
    x_title: str | None = None,
    color: str = PALETTE[0],
    empty: str = NO_TRANSCRIPTS,
    height: int = 280,
) -> Figure:
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


def dropoff_figure(frame: pd.DataFrame, theme: str, height: int = 280) -> Figure:
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


def participants_over_time_figure(frame: pd.DataFrame, granularity: str, theme: str) -> Figure:
    if frame.empty or int(frame["participants"].sum()) == 0:
        return empty_figure(theme=theme, height=280)
    fig = base_figure(theme, 280)
    fig.add_scatter(
        x=frame["bucket"],
        y=frame["participants"],
        mode="lines+markers" if len(frame) <= 60 else "lines",
        line={"color": PALETTE[1], "width": 2.5, "shape": "linear"},
        fill="tozeroy",
        fillcolor="rgba(20,163,139,0.12)",
        hovertemplate=(
            f"{bucket_hover(granularity)}<br>%{{y:,}} active participants<extra></extra>"
        ),
    )
    fig.update_yaxes(rangemode="tozero", tickformat=",d")
    fig.update_layout(hovermode="x")
    return fig


def lexicon_figure(
    frame: pd.DataFrame, granularity: str, theme: str, empty: str = NO_TRANSCRIPTS
) -> Figure:
    """Shares of sessions with appreciation / dissatisfaction per bucket (two lines)."""
    if frame.empty or int(frame["sessions"].sum()) == 0:
        return empty_figure(empty, theme=theme, height=280)
    fig = base_figure(theme, 280)
    mode = "lines+markers" if len(frame) <= 60 else "lines"
    for column, name, color in (
        ("appreciation", "Appreciation", GOOD),
        ("dissatisfaction", "Dissatisfaction", BAD),
    ):
        fig.add_scatter(
            x=frame["bucket"],
            y=frame[column],
            name=name,
            mode=mode,
            line={"color": color, "width": 2.5},
            customdata=frame["sessions"],
            hovertemplate=(
                f"{bucket_hover(granularity)}<br>{name}: %{{y:.1%}} of "
                "%{customdata:,} sessions<extra></extra>"
            ),
        )
    fig.update_yaxes(rangemode="tozero", tickformat=".0%")
    fig.update_layout(
        hovermode="x", legend={"orientation": "h", "y": 1.12, "x": 0, "yanchor": "bottom"}
    )
    return fig


def retention_figure(frame: pd.DataFrame, theme: str) -> Figure:
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


# ---- cost -----------------------------------------------------------------------------------


def cost_over_time_figure(frame: pd.DataFrame, granularity: str, theme: str) -> Figure:
    if frame.empty or int(frame["known"].sum()) == 0:
        return empty_figure(NO_COST, theme=theme)
    fig = base_figure(theme)
    fig.add_bar(
        x=frame["bucket"],
        y=frame["cost_usd"],
        marker_color=PALETTE[2],
        customdata=np.stack(
            [frame["known"], frame["sessions"], frame["coverage"].fillna(0)], axis=1
        ),
        hovertemplate=(
            f"{bucket_hover(granularity)}<br>$%{{y:,.2f}}"
            "<br>cost known for %{customdata[0]:,} of %{customdata[1]:,} sessions"
            " (%{customdata[2]:.0%})<extra></extra>"
        ),
    )
    fig.update_layout(bargap=0.15, hovermode="x")
    fig.update_yaxes(rangemode="tozero", tickprefix="$", tickformat=",.2f")
    return fig


def cost_bars_figure(
    frame: pd.DataFrame, theme: str, label: str, top: int = 10, height: int = 300
) -> Figure:
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
