"""Plotly figures built from metric outputs (never from raw rows).

Each builder takes the small frame a :mod:`services.analytics.metrics` function returns and a theme
("light" or "dark"), and returns a :class:`PlainFigure`: the plain ``{"data": [...], "layout": {...}}``
dict plotly.js reads, which ``dcc.Graph`` takes as it is. Empty inputs give a figure that says so
in words instead of empty axes.
"""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pandas as pd

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


TRACE_TYPES = ("bar", "scatter", "heatmap")
"""Every trace type the dashboard draws (the vendored plotly.js bundle must include them)."""


def _plotly_template() -> dict:
    """plotly.py's default "plotly" template, which ``go.Figure`` adds to every figure, cut to
    the trace types in :data:`TRACE_TYPES`; our layout keys override it as before."""
    import plotly.io as pio

    full = pio.templates["plotly"].to_plotly_json()
    return {
        "layout": full["layout"],
        "data": {name: full["data"][name] for name in TRACE_TYPES if name in full["data"]},
    }


TEMPLATE = _plotly_template()
"""Shared by every figure (never mutated): a figure that changes its template gets a copy."""

_NESTED = frozenset({"marker", "line", "xaxis", "yaxis", "legend", "font", "title", "margin"})
"""Prefixes of plotly's "magic underscore" keys the builders use inside a property
(``marker_line_color=`` → ``{"marker": {"line": {"color": …}}}``)."""


def _valid_keys() -> dict[str, frozenset[str]]:
    """Top-level property names plotly accepts: of the layout, of an axis, of each trace type."""
    import plotly.graph_objs as go

    keys = {"layout": go.Layout()._valid_props, "axis": go.layout.XAxis()._valid_props}
    keys |= {name: getattr(go, name.title())()._valid_props for name in TRACE_TYPES}
    return {name: frozenset(props) for name, props in keys.items()}


_VALID = _valid_keys()
_SUBPLOT = re.compile(r"^(xaxis|yaxis|legend|coloraxis)\d*$")
"""Layout keys that may carry a number (``yaxis2``)."""


def _plain(value):
    """pandas containers → NumPy (Dash's JSON encoder sends arrays as they are)."""
    if isinstance(value, pd.Series | pd.Index):
        return value.to_numpy()
    return value


def _merge(target: dict, updates: dict) -> dict:
    """Deep-merge ``updates`` into ``target`` (dicts merge, everything else replaces), with
    magic-underscore keys expanded and string titles as ``{"text": …}``, as ``go.Figure`` does."""
    for key, value in updates.items():
        head, _, rest = key.partition("_")
        if rest and head in _NESTED:
            key, value = head, {rest: value}
        value = _plain(value)
        if key == "title" and isinstance(value, str):
            value = {"text": value}  # plotly.js ≥ 3 reads titles only as {"text": …}
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, dict):
            target[key] = _merge({}, value)
        else:
            target[key] = value
    return target


def _checked(updates: dict, kind: str) -> dict:
    """``updates`` with each top-level key one plotly knows for ``kind`` (a magic-underscore
    key ``head_rest`` expanded to ``{head: {rest: …}}``), or a ValueError naming the key: a
    misspelt property would otherwise reach the browser, which ignores it without a word."""
    valid = _VALID[kind]
    if valid.issuperset(updates):
        return updates  # the common case, one set operation
    out: dict = {}
    for key, value in updates.items():
        if key not in valid and not (kind == "layout" and _SUBPLOT.match(key)):
            head, _, rest = key.partition("_")
            if not rest or (head not in valid and not (kind == "layout" and _SUBPLOT.match(head))):
                raise ValueError(f"PlainFigure: {kind} has no property {key!r}")
            key, value = head, {rest: value}
        if key in out and isinstance(out[key], dict) and isinstance(value, dict):
            _merge(out[key], value)
        else:
            out[key] = value
    return out


class PlainFigure(dict):
    """A plotly figure as the plain dict plotly.js reads: ``{"data": [...], "layout": {...}}``,
    with the few ``go.Figure`` methods the chart builders use and nothing else.

    Why not ``go.Figure``: speed. ``go.Figure`` deep-copies and validates every property when it
    is built and walks it again when Dash serialises it, which was most of a view update (~20 ms
    of figures and ~14 ms of JSON per Overview, docs/performance.md). ``dcc.Graph`` takes this
    dict as it is; ``plotly.io`` functions (the weekly report's HTML) take it too.

    What it keeps of ``go.Figure``: ``add_bar``/``add_scatter``/``add_heatmap`` (the trace types
    in :data:`TRACE_TYPES`, the ones the vendored plotly.js bundle draws), ``update_layout``,
    ``update_xaxes``/``update_yaxes``, ``update_traces``, the ``data``/``layout`` properties,
    magic-underscore keys and string titles. Anything else fails at once instead of passing
    silently: a top-level layout, axis or trace key plotly does not know (ValueError), a trace
    type outside :data:`TRACE_TYPES` (ValueError), a figure key other than ``data``/``layout``
    (KeyError), a ``go.Figure`` method or attribute it does not have (AttributeError). Keys
    inside a property (``marker={...}``) are not checked here; ``go.Figure(fig)`` in
    tests/views/test_figures.py validates every figure the dashboard builds.

    Every figure shares the read-only :data:`TEMPLATE`; ``update_layout(template=…)`` gives the
    figure its own copy first, so no figure changes another.
    """

    __slots__ = ()  # no attributes besides the methods: ``fig.frames = …`` fails

    def __init__(self, layout: dict | None = None):
        layout = dict(layout or {})
        template = layout.pop("template", None)
        super().__init__(data=[], layout=_merge({}, _checked(layout, "layout")))
        self["layout"]["template"] = TEMPLATE  # shared, never mutated (see update_layout)
        if template is not None:
            self.update_layout(template=template)

    def __setitem__(self, key, value) -> None:
        if key not in ("data", "layout"):
            raise KeyError(f"PlainFigure holds only 'data' and 'layout', not {key!r}")
        super().__setitem__(key, value)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"PlainFigure has no {name!r}: it implements only the go.Figure methods the chart "
            "builders use (add_bar/add_scatter/add_heatmap, update_layout, update_xaxes/"
            "update_yaxes, update_traces); add the method here or build a go.Figure"
        )

    def __reduce__(self):
        """Pickled without the shared :data:`TEMPLATE` (2.6 KB per figure), which unpickling
        puts back as the same shared object (the view caches keep figures pickled)."""
        layout = self["layout"]
        shared = layout.get("template") is TEMPLATE
        if shared:
            layout = {**layout, "template": None}  # the key keeps its place
        return (_unpickle_figure, (self["data"], layout, shared))

    @property
    def data(self) -> list[dict]:
        return self["data"]

    @property
    def layout(self) -> dict:
        return self["layout"]

    def add_trace(self, trace_type: str, **props) -> PlainFigure:
        if trace_type not in TRACE_TYPES:
            raise ValueError(
                f"PlainFigure: trace type {trace_type!r} is not one of {TRACE_TYPES} "
                "(the vendored plotly.js bundle draws only those)"
            )
        self["data"].append(_merge({"type": trace_type}, _checked(props, trace_type)))
        return self

    def add_bar(self, **props) -> PlainFigure:
        return self.add_trace("bar", **props)

    def add_scatter(self, **props) -> PlainFigure:
        return self.add_trace("scatter", **props)

    def add_heatmap(self, **props) -> PlainFigure:
        return self.add_trace("heatmap", **props)

    def update_layout(self, **props) -> PlainFigure:
        props = _checked(props, "layout")
        layout = self["layout"]
        template = props.pop("template", None)
        if isinstance(template, dict):
            # copy before changing: the shared TEMPLATE (or another figure's) stays as it was
            layout["template"] = _merge(copy.deepcopy(layout.get("template") or {}), template)
        elif template is not None:
            layout["template"] = template  # a template name such as "plotly_dark"
        _merge(layout, props)
        return self

    def _update_axes(self, letter: str, props: dict) -> PlainFigure:
        props = _checked(props, "axis")
        layout = self["layout"]
        layout.setdefault(f"{letter}axis", {})
        for key in [k for k in layout if re.fullmatch(rf"{letter}axis\d*", k)]:
            _merge(layout[key], props)
        return self

    def update_xaxes(self, **props) -> PlainFigure:
        return self._update_axes("x", props)

    def update_yaxes(self, **props) -> PlainFigure:
        return self._update_axes("y", props)

    def update_traces(self, **props) -> PlainFigure:
        for trace in self["data"]:
            _merge(trace, _checked(props, trace["type"]))
        return self


def _unpickle_figure(data: list, layout: dict, shared_template: bool) -> PlainFigure:
    fig = PlainFigure.__new__(PlainFigure)
    dict.__setitem__(fig, "data", data)
    dict.__setitem__(fig, "layout", layout)
    if shared_template:
        layout["template"] = TEMPLATE
    return fig


def base_figure(theme: str, height: int = 320) -> PlainFigure:
    """An empty figure with the dashboard's theme."""
    return PlainFigure({**_template(theme), "height": height})


def bucket_hover(granularity: str) -> str:
    """The hover text naming a time bucket, e.g. ``Week of %{x|%a %d %b %Y}``."""
    period = {"day": "Day", "week": "Week of", "month": "Month"}.get(granularity, "")
    date_format = "%b %Y" if granularity == "month" else "%a %d %b %Y"
    return f"{period} %{{x|{date_format}}}"


def empty_figure(
    message: str = NO_SESSIONS, theme: str = "light", height: int = 320
) -> PlainFigure:
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


PARTIAL_OPACITY = 0.4
"""Opacity of a partial bucket's bar (a hatched, lighter bar; its hover says how partial)."""
PARTIAL_PATTERN = "/"
DAY_MS = 86_400_000


def partial_mask(frame: pd.DataFrame) -> np.ndarray:
    """Per row of a time frame: is its bucket partial (``complete`` False, see
    :func:`services.analytics.metrics.bucket_spans`)? All False when the frame has no spans."""
    if "complete" not in frame:
        return np.zeros(len(frame), dtype=bool)
    return ~frame["complete"].fillna(True).to_numpy(dtype=bool)


def partial_notes(frame: pd.DataFrame) -> np.ndarray:
    """The hover line of each bucket: "" or "<br>⚠ partial week: 3 of 7 days"."""
    if "note" not in frame:
        return np.full(len(frame), "", dtype=object)
    return np.array(
        [f"<br>⚠ {note}" if note else "" for note in frame["note"].fillna("")], dtype=object
    )


def partial_bar_style(frame: pd.DataFrame, color: str) -> dict:
    """``marker`` of a bar trace over time: partial buckets lighter and hatched."""
    partial = partial_mask(frame)
    if not partial.any():
        return {"color": color}
    return {
        "color": color,
        "opacity": np.where(partial, PARTIAL_OPACITY, 1.0),
        "pattern": {
            "shape": np.where(partial, PARTIAL_PATTERN, ""),
            "fgcolor": color,
            "solidity": 0.3,
        },
        "line": {"color": color, "width": np.where(partial, 1.0, 0.0)},
    }


def time_axis(granularity: str, buckets) -> dict:
    """x-axis settings whose ticks fall on bucket starts: every month (or every 2, 3, 6, 12
    months) for months, Mondays every 1, 2, 4 … weeks for weeks, with labels in the bucket's
    terms — never a tick every two weeks under monthly bars."""
    count = len(buckets)
    if count == 0:
        return {}
    first = pd.Timestamp(pd.to_datetime(buckets).min())
    if granularity == "month":
        step = next((k for k in (1, 2, 3, 6, 12) if count / k <= 14), 12)
        return {
            "tick0": first.strftime("%Y-%m-%d"),
            "dtick": f"M{step}",
            "tickformat": "%b %Y",
        }
    if granularity == "week":
        step = next((k for k in (1, 2, 4, 8, 13, 26) if count / k <= 14), 52)
        return {
            "tick0": first.strftime("%Y-%m-%d"),
            "dtick": 7 * step * DAY_MS,
            "tickformat": "%d %b" if count <= 26 else "%d %b %Y",
        }
    return {"tickformat": "%d %b"}


def add_time_line(
    fig: PlainFigure,
    frame: pd.DataFrame,
    column: str,
    *,
    name: str,
    color: str,
    hover: str,
    customdata: np.ndarray | None = None,
    **props,
) -> PlainFigure:
    """A line over time whose partial buckets (``complete`` False) are not drawn like a drop:
    the line is solid through complete buckets and **dashed** into a partial one, which gets
    a hollow marker and the hover note ("partial week: 3 of 7 days").

    ``hover`` is the hovertemplate body without ``<extra>``; ``customdata`` (rows × k) is
    passed through, the note is appended as its last column. ``props`` go to the solid trace
    (``fill``, ``fillcolor``, ``mode``, ``showlegend``, ``legendgroup``…).
    """
    x = frame["bucket"].to_numpy()
    y = frame[column].to_numpy(dtype=float)
    partial = partial_mask(frame)
    notes = partial_notes(frame)
    data = notes[:, None] if customdata is None else np.column_stack([customdata, notes])
    note_ref = f"%{{customdata[{data.shape[1] - 1}]}}"
    template = f"{hover}{note_ref}<extra></extra>"
    group = props.pop("legendgroup", name)
    mode = props.pop("mode", "lines+markers" if len(frame) <= 60 else "lines")
    line = {"color": color, "width": 2.5}
    fig.add_scatter(
        x=x,
        y=np.where(partial, np.nan, y),
        name=name,
        mode=mode,
        line=line,
        customdata=data,
        hovertemplate=template,
        connectgaps=False,
        legendgroup=group,
        **props,
    )
    if partial.any():
        before = np.zeros_like(partial)
        before[:-1] = partial[1:]
        after = np.zeros_like(partial)
        after[1:] = partial[:-1]
        joined = partial | ((before | after) & ~partial)
        fig.add_scatter(
            x=x,
            y=np.where(joined, y, np.nan),
            name=f"{name} (partial)",
            mode="lines",
            line={"color": color, "width": 2, "dash": "dash"},
            opacity=0.8,
            hoverinfo="skip",
            showlegend=False,
            legendgroup=group,
            connectgaps=False,
        )
        fig.add_scatter(
            x=x,
            y=np.where(partial, y, np.nan),
            name=f"{name} (partial)",
            mode="markers",
            marker={"color": color, "size": 8, "symbol": "circle-open", "line": {"width": 2}},
            customdata=data,
            hovertemplate=template,
            showlegend=False,
            legendgroup=group,
        )
    return fig


def sessions_over_time_figure(
    frame: pd.DataFrame, granularity: str, theme: str, flags: pd.DataFrame | None = None
) -> PlainFigure:
    """Sessions per bucket; ``flags`` (:func:`services.analytics.anomalies.by_bucket`) adds a ◆ above
    each bucket holding an unusual day, its hover listing the flags. Partial buckets (the
    window's first and last week or month, a day still going on: ``complete`` False) are drawn
    lighter and hatched, their hover saying how partial."""
    if frame.empty or int(frame["sessions"].sum()) == 0:
        return empty_figure(theme=theme)
    fig = base_figure(theme)
    fig.add_bar(
        x=frame["bucket"].to_numpy(),
        y=frame["sessions"].to_numpy(dtype=np.int32),
        marker=partial_bar_style(frame, PALETTE[0]),
        customdata=partial_notes(frame),
        hovertemplate=f"{bucket_hover(granularity)}<br>%{{y:,}} sessions%{{customdata}}<extra></extra>",
        name="Sessions",
    )
    fig.update_layout(bargap=0.15, yaxis_title=None, xaxis_title=None, hovermode="x")
    fig.update_xaxes(**time_axis(granularity, frame["bucket"]))
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
) -> PlainFigure:
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


def annotation_figure(frame: pd.DataFrame, theme: str) -> PlainFigure:
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
