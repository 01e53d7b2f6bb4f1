"""Figures of the Quality tab: :func:`quality_figures` draws them from a
:class:`~services.views.quality.QualityView` (built from :mod:`services.analytics.quality`
frames), cached under the view's key and the theme."""

from __future__ import annotations

import numpy as np
import pandas as pd

from services.views.cache import FIGURES
from services.views.charts.base import PALETTE, PlainFigure, base_figure, empty_figure
from services.views.quality import QualityView

SIDE_COLORS = (PALETTE[5], PALETTE[0])


def comparison_figure(comparison, theme: str) -> PlainFigure:
    """Good rate of side A and side B per category, each with its 95% interval."""
    frame = comparison.rows
    if frame.empty or int(frame["n_a"].sum() + frame["n_b"].sum()) == 0:
        return empty_figure("No annotated sessions on either side", theme=theme, height=300)
    fig = base_figure(theme, height=max(260, 60 * len(frame) + 60))
    labels = frame["label"].tolist()[::-1]
    for (side, name), color, offset in zip(
        (("a", comparison.a), ("b", comparison.b)), SIDE_COLORS, (-0.15, 0.15), strict=True
    ):
        rate = frame[f"rate_{side}"].to_numpy(dtype=float)[::-1]
        low = frame[f"ci_low_{side}"].to_numpy(dtype=float)[::-1]
        high = frame[f"ci_high_{side}"].to_numpy(dtype=float)[::-1]
        n = frame[f"n_{side}"].to_numpy()[::-1]
        fig.add_scatter(
            x=rate,
            y=np.arange(len(labels)) + offset,
            mode="markers",
            name=name,
            marker={"color": color, "size": 11},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": high - rate,
                "arrayminus": rate - low,
                "color": color,
                "thickness": 2,
                "width": 0,
            },
            customdata=np.stack([low, high, n], axis=1),
            hovertemplate=(
                f"{name}<br>%{{x:.1%}} (95% CI %{{customdata[0]:.1%}}–%{{customdata[1]:.1%}})"
                "<br>n=%{customdata[2]:,}<extra></extra>"
            ),
        )
    fig.update_layout(
        xaxis={"range": [0, 1.02], "tickformat": ".0%", "title": "good rate"},
        yaxis={"tickvals": list(range(len(labels))), "ticktext": labels, "automargin": True},
        legend={"orientation": "h", "y": 1.08, "x": 0},
        margin={"t": 30},
    )
    return fig


def quality_over_time_figure(frame: pd.DataFrame, theme: str) -> PlainFigure:
    """One line per category (good rate per bucket) with a shaded 95% band."""
    if frame.empty or int(frame["n"].sum()) == 0:
        return empty_figure("No annotated sessions match these filters", theme=theme)
    fig = base_figure(theme, height=340)
    for i, (category, group) in enumerate(frame.groupby("category", sort=False)):
        group = group[group["n"] > 0]
        if group.empty:
            continue
        color = PALETTE[i % len(PALETTE)]
        x = group["bucket"].to_numpy()
        fig.add_scatter(
            x=np.concatenate([x, x[::-1]]),
            y=np.concatenate(
                [group["ci_high"].to_numpy(float), group["ci_low"].to_numpy(float)[::-1]]
            ),
            fill="toself",
            fillcolor=_alpha(color, 0.12),
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
            legendgroup=category,
        )
        fig.add_scatter(
            x=x,
            y=group["rate"].to_numpy(float),
            mode="lines+markers",
            name=group["label"].iloc[0],
            legendgroup=category,
            line={"color": color, "width": 2},
            marker={"size": 5},
            customdata=np.stack(
                [
                    group["n"].to_numpy(),
                    group["ci_low"].to_numpy(float),
                    group["ci_high"].to_numpy(float),
                ],
                axis=1,
            ),
            hovertemplate=(
                "%{x|%d %b %Y}: %{y:.0%} (95% CI %{customdata[1]:.0%}–%{customdata[2]:.0%}),"
                " n=%{customdata[0]:,}<extra>%{fullData.name}</extra>"
            ),
        )
    fig.update_layout(yaxis={"range": [0, 1.02], "tickformat": ".0%"}, hovermode="closest")
    return fig


def coverage_time_figure(frame: pd.DataFrame, theme: str) -> PlainFigure:
    if frame.empty or int(frame["sessions"].sum()) == 0:
        return empty_figure(theme=theme)
    fig = base_figure(theme)
    fig.add_bar(
        x=frame["bucket"].to_numpy(),
        y=frame["annotated"].to_numpy(),
        name="annotated sessions",
        marker_color=PALETTE[1],
        opacity=0.55,
        hovertemplate="%{x|%d %b %Y}: %{y:,} annotated<extra></extra>",
    )
    fig.add_scatter(
        x=frame["bucket"].to_numpy(),
        y=frame["share"].to_numpy(float),
        name="share annotated",
        yaxis="y2",
        mode="lines+markers",
        line={"color": PALETTE[0], "width": 2},
        hovertemplate="%{x|%d %b %Y}: %{y:.1%} of sessions<extra></extra>",
    )
    fig.update_layout(
        yaxis={"title": "annotated", "tickformat": ",d", "rangemode": "tozero"},
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "tickformat": ".0%",
            "rangemode": "tozero",
            "showgrid": False,
        },
        legend={"orientation": "h", "y": 1.1, "x": 0},
        margin={"t": 30},
    )
    return fig


def coverage_experiment_figure(frame: pd.DataFrame, theme: str) -> PlainFigure:
    if frame.empty:
        return empty_figure(theme=theme)
    shown = frame.head(12).iloc[::-1]
    fig = base_figure(theme)
    fig.add_bar(
        x=shown["share"].to_numpy(float),
        y=shown["label"].tolist(),
        orientation="h",
        marker_color=PALETTE[1],
        text=[
            f"{s:.0%} · {a:,}/{n:,}"
            for s, a, n in zip(shown["share"], shown["annotated"], shown["sessions"], strict=True)
        ],
        textposition="auto",
        hovertemplate="%{y}: %{x:.1%} annotated<extra></extra>",
    )
    fig.update_layout(
        xaxis={"tickformat": ".0%", "rangemode": "tozero"}, yaxis={"automargin": True}
    )
    return fig


NO_LIFT_CELL = {"light": ("#e9ecef", "#212529"), "dark": ("#343a40", "#f8f9fa")}
"""(fill, text) of cells without a lift colour — a tag with itself, pairs never seen together:
an opaque fill with a text colour chosen for it, so their counts stay readable in both themes."""
LIFT_SCALE = {
    "light": [[0, "#c0392b"], [0.5, "#f7f7f7"], [1, "#18875c"]],
    "dark": [[0, "#e06666"], [0.5, "#2b3340"], [1, "#3cc48b"]],
}
"""Diverging lift colours (log scale, white/slate = independent); plotly writes each cell's
count in black or white, whichever contrasts with that cell."""


def cooccurrence_figure(frame: pd.DataFrame, theme: str, annotated: int = 0) -> PlainFigure:
    """Heatmap of tags among the ``annotated`` sessions: cell text = sessions with both tags,
    colour = lift (log scale, 1 = independent). Two traces: the coloured cells, and beneath
    them the cells without a lift colour (diagonal, pairs never together) in a neutral fill."""
    if frame.empty:
        return empty_figure("No annotated sessions match these filters", theme=theme)
    tags = list(dict.fromkeys(frame["tag_a"]))
    size = len(tags)
    both = frame["both"].to_numpy().reshape(size, size)
    lifts = frame["lift"].to_numpy(float).reshape(size, size)
    conditional = frame["conditional"].to_numpy(float).reshape(size, size)
    with np.errstate(divide="ignore", invalid="ignore"):
        color = np.log2(np.where(both > 0, lifts, np.nan))
    np.fill_diagonal(color, np.nan)
    coloured = np.isfinite(color)
    limit = max(1.0, float(np.nanmax(np.abs(color)))) if coloured.any() else 1.0
    customdata = np.stack([lifts, conditional], axis=-1)
    among = f"among {annotated:,} annotated sessions" if annotated else "among annotated sessions"
    hover = (
        "%{y} & %{x}: %{text:,} sessions with both<br>lift %{customdata[0]:.2f} "
        f"({among})<br>P(%{{x}} | %{{y}}) = %{{customdata[1]:.0%}}<extra>click to filter</extra>"
    )
    fill, ink = NO_LIFT_CELL["dark" if theme == "dark" else "light"]
    fig = base_figure(theme, height=max(360, 30 * size + 140))
    fig.add_heatmap(
        x=tags,
        y=tags,
        z=np.where(coloured, np.nan, 0.0),
        colorscale=[[0, fill], [1, fill]],
        showscale=False,
        text=np.where(coloured, "", both.astype(str)).tolist(),
        texttemplate="%{text}",
        textfont={"color": ink},
        customdata=customdata,
        hovertemplate=hover,
        hoverongaps=False,
        xgap=1,
        ygap=1,
    )
    ticks = [t for t in range(-6, 7) if abs(t) <= limit + 1e-9]
    fig.add_heatmap(
        x=tags,
        y=tags,
        z=color,
        zmin=-limit,
        zmax=limit,
        zmid=0,
        colorscale=LIFT_SCALE["dark" if theme == "dark" else "light"],
        text=np.where(coloured, both.astype(str), "").tolist(),
        texttemplate="%{text}",
        customdata=customdata,
        hovertemplate=hover,
        hoverongaps=False,
        colorbar={
            # the title on the bar's side and the bar kept below the chart's toolbar
            "title": {"text": "lift (log scale)", "side": "right"},
            "thickness": 12,
            "len": 0.8,
            "y": 0,
            "yanchor": "bottom",
            "tickvals": ticks,
            "ticktext": [_lift_tick(t) for t in ticks],
        },
        xgap=1,
        ygap=1,
    )
    fig.update_layout(
        xaxis={"tickangle": -40, "automargin": True, "showgrid": False},
        yaxis={"automargin": True, "autorange": "reversed", "showgrid": False},
    )
    return fig


def _lift_tick(power: int) -> str:
    """A colour-bar tick at lift 2**power: ×4, ×2, 1, ÷2, ÷4 …"""
    if power == 0:
        return "1"
    return f"×{2**power}" if power > 0 else f"÷{2**-power}"


def _alpha(hex_color: str, alpha: float) -> str:
    hex_color = hex_color.lstrip("#")
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


QUALITY_FIGURES = (
    "compare",
    "quality_time",
    "coverage_time",
    "coverage_experiment",
    "cooccurrence",
)
"""The Quality tab's charts (keys of :func:`quality_figures`), in page order."""
CHOOSE_VERSIONS = "Choose an experiment and two versions"
ONE_VERSION = "Only one version has sessions in this selection"
CHOOSE_PERIOD = "Choose a bounded date range to compare with the previous period"


def quality_figures(view: QualityView, theme: str) -> dict[str, PlainFigure]:
    """Chart key (:data:`QUALITY_FIGURES`) → figure of the Quality tab."""
    return FIGURES.get_or_compute((view.key, theme), lambda: _draw(view, theme))


def _draw(view: QualityView, theme: str) -> dict[str, PlainFigure]:
    numbers = view.numbers
    if view.comparison is None:
        message = CHOOSE_VERSIONS if view.controls.mode == "versions" else CHOOSE_PERIOD
        if view.controls.mode == "versions" and view.note:
            message = ONE_VERSION
        compare = empty_figure(message, theme=theme, height=260)
    else:
        compare = comparison_figure(view.comparison, theme)
    return {
        "compare": compare,
        "quality_time": quality_over_time_figure(numbers.over_time, theme),
        "coverage_time": coverage_time_figure(numbers.coverage_time, theme),
        "coverage_experiment": coverage_experiment_figure(numbers.coverage_experiment, theme),
        "cooccurrence": cooccurrence_figure(numbers.cooccurrence, theme, numbers.annotated),
    }
