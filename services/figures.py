"""Plotly figures built from metric outputs (never from raw rows).

Each builder takes the small frame a :mod:`services.metrics` function returns and a theme
("light" or "dark"), and returns a ``go.Figure``. Empty inputs give a figure that says so in
words instead of empty axes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

PALETTE = ["#3b6fd8", "#14a38b", "#e07b39", "#9b59b6", "#d64f6f", "#7a8b99", "#c9a227", "#2f9fd0"]
GOOD = "#1f9d6b"
BAD = "#d64f4f"
NEUTRAL = "#8a94a6"
NO_SESSIONS = "No sessions match these filters"


def _template(theme: str) -> dict:
    dark = theme == "dark"
    text = "#dee2e6" if dark else "#212529"
    grid = "rgba(255,255,255,0.08)" if dark else "rgba(0,0,0,0.07)"
    return {
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {
            "family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
            "color": text,
            "size": 12,
        },
        "xaxis": {"gridcolor": grid, "zerolinecolor": grid, "linecolor": grid},
        "yaxis": {"gridcolor": grid, "zerolinecolor": grid, "linecolor": grid},
        "hoverlabel": {"bgcolor": "#343a40" if dark else "#ffffff", "font": {"color": text}},
        "colorway": PALETTE,
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "legend": {"orientation": "h", "y": -0.2},
    }


def base_figure(theme: str, height: int = 320) -> go.Figure:
    """An empty themed figure that skips plotly's property validation.

    Validation re-checks every layout key on each ``update_layout``/``add_*`` call and cost
    ~50 ms per figure (most of a view update at any data size); our builders only set known
    properties. The JSON is the same as with validation, except that a property set to None
    is sent as ``null`` instead of ``{}`` (plotly.js treats both as unset).
    """
    return go.Figure(layout={**_template(theme), "height": height}, _validate=False)


def empty_figure(message: str = NO_SESSIONS, theme: str = "light", height: int = 320) -> go.Figure:
    fig = base_figure(theme, height)
    fig.update_layout(
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 15, "color": NEUTRAL},
            }
        ],
    )
    return fig


def sessions_over_time_figure(
    frame: pd.DataFrame, granularity: str, theme: str, flags: pd.DataFrame | None = None
) -> go.Figure:
    """Sessions per bucket; ``flags`` (:func:`services.anomalies.by_bucket`) adds a ◆ above
    each bucket holding an unusual day, its hover listing the flags."""
    if frame.empty or int(frame["sessions"].sum()) == 0:
        return empty_figure(theme=theme)
    fig = base_figure(theme)
    period = {"day": "Day", "week": "Week of", "month": "Month"}.get(granularity, "")
    hover_date = "%b %Y" if granularity == "month" else "%a %d %b %Y"
    fig.add_bar(
        x=frame["bucket"].to_numpy(),
        y=frame["sessions"].to_numpy(dtype=np.int32),
        marker_color=PALETTE[0],
        hovertemplate=f"{period} %{{x|{hover_date}}}<br>%{{y:,}} sessions<extra></extra>",
        name="Sessions",
    )
    fig.update_layout(bargap=0.15, yaxis_title=None, xaxis_title=None, hovermode="x")
    fig.update_yaxes(rangemode="tozero", tickformat=",d")
    if flags is not None and not flags.empty:
        heights = frame.set_index("bucket")["sessions"]
        top = max(float(frame["sessions"].max()), 1.0)
        fig.update_traces(showlegend=False)  # the bars need no legend beside the markers
        fig.add_scatter(
            x=flags["bucket"],
            y=[float(heights.get(b, 0)) + 0.06 * top for b in flags["bucket"]],
            mode="markers",
            name="Unusual",
            marker={"symbol": "diamond", "size": 10, "color": "#e0a800"},
            customdata=flags["text"],
            hovertemplate="◆ unusual<br>%{customdata}<extra></extra>",
            showlegend=False,
        )
    return fig


def breakdown_figure(
    frame: pd.DataFrame, theme: str, top: int = 12, height: int = 320
) -> go.Figure:
    """Horizontal bars of sessions per value, largest on top; the tail is summed as "Other"."""
    if frame.empty or int(frame["sessions"].sum()) == 0:
        return empty_figure(theme=theme, height=height)
    shown = frame.head(top)
    labels = list(shown["label"])
    values = list(shown["sessions"])
    if len(frame) > top:
        labels.append(f"Other ({len(frame) - top})")
        values.append(int(frame["sessions"].iloc[top:].sum()))
    total = max(int(frame["sessions"].sum()), 1)
    fig = base_figure(theme, height)
    fig.add_bar(
        x=values[::-1],
        y=labels[::-1],
        orientation="h",
        marker_color=PALETTE[0],
        text=[f"{v:,} · {v / total:.0%}" for v in values[::-1]],
        textposition="auto",
        customdata=(list(shown["value"]) + ([None] if len(frame) > top else []))[::-1],
        hovertemplate="%{y}<br>%{x:,} sessions<extra></extra>",
    )
    fig.update_layout(yaxis={"automargin": True}, xaxis={"tickformat": ",d"})
    return fig


def annotation_figure(frame: pd.DataFrame, theme: str) -> go.Figure:
    """Good rate per annotation category with 95% Wilson intervals and n in the label."""
    if frame.empty or int(frame["n"].sum()) == 0:
        return empty_figure("No annotated sessions match these filters", theme=theme)
    frame = frame[frame["n"] > 0].iloc[::-1]
    labels = [f"{row.label}  (n={row.n:,})" for row in frame.itertuples()]
    rate = frame["rate"].to_numpy(dtype=float)
    low = frame["ci_low"].to_numpy(dtype=float)
    high = frame["ci_high"].to_numpy(dtype=float)
    fig = base_figure(theme, height=max(220, 46 * len(frame) + 40))
    fig.add_bar(
        x=rate,
        y=labels,
        orientation="h",
        marker_color=[GOOD if r >= 0.5 else BAD for r in rate],
        error_x={
            "type": "data",
            "symmetric": False,
            "array": high - rate,
            "arrayminus": rate - low,
            "color": NEUTRAL,
            "thickness": 1.5,
            "width": 4,
        },
        text=[_pct(r) for r in rate],
        textposition="inside",
        insidetextanchor="start",
        customdata=np.stack(
            [low, high, frame["good"], frame["bad"], frame["undetermined"]], axis=1
        ),
        hovertemplate=(
            "%{y}<br>good rate %{x:.1%} (95% CI %{customdata[0]:.1%}–%{customdata[1]:.1%})"
            "<br>good %{customdata[2]:,} · bad %{customdata[3]:,} · undetermined %{customdata[4]:,}"
            "<extra></extra>"
        ),
    )
    fig.update_layout(
        xaxis={"range": [0, 1], "tickformat": ".0%"},
        yaxis={"automargin": True},
    )
    return fig


def _pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.0%}"
