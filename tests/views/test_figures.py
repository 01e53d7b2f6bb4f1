"""services.views.charts.base.PlainFigure: plain-dict figures that plotly accepts as they are.

The builders return dicts (no ``go.Figure`` machinery, see docs/performance.md). These tests
check the small dict API and that every figure the dashboard builds over demo data is a valid
plotly figure: ``go.Figure(fig)`` re-validates every property, so a misspelt key fails here
instead of silently showing nothing in the browser.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from dash._utils import to_json

from callbacks.cost import render_cost
from callbacks.engagement import render_engagement
from callbacks.overview import render_overview
from callbacks.quality import render_quality
from services.analytics.filters import FilterState
from services.views.charts import base as figures
from services.views.charts.base import PlainFigure, base_figure


def test_magic_underscores_titles_and_deep_merge():
    fig = base_figure("light", height=200)
    fig.add_bar(x=[1, 2], y=[3, 4], marker_color="#123456", name="n")
    fig.update_layout(xaxis_title="day", yaxis={"automargin": True}, bargap=0.2)
    fig.update_layout(yaxis={"tickformat": ",d"}, plot_bgcolor="white")
    assert fig.data[0] == {
        "type": "bar",
        "x": [1, 2],
        "y": [3, 4],
        "marker": {"color": "#123456"},
        "name": "n",
    }
    layout = fig.layout
    assert layout["xaxis"]["title"] == {"text": "day"}  # plotly.js ≥ 3 wants {"text": …}
    assert layout["yaxis"]["automargin"] is True and layout["yaxis"]["tickformat"] == ",d"
    assert layout["yaxis"]["gridcolor"]  # the theme's key survives the merge
    assert layout["plot_bgcolor"] == "white" and layout["bargap"] == 0.2 and layout["height"] == 200


def test_axes_and_traces_updates_reach_every_axis_and_trace():
    fig = PlainFigure({"yaxis2": {"overlaying": "y"}})
    fig.add_scatter(x=[1], y=[1]).add_bar(x=[1], y=[2])
    fig.update_yaxes(rangemode="tozero")
    fig.update_traces(showlegend=False)
    assert fig.layout["yaxis"] == {"rangemode": "tozero"}
    assert fig.layout["yaxis2"] == {"overlaying": "y", "rangemode": "tozero"}
    assert all(trace["showlegend"] is False for trace in fig.data)


def test_pandas_values_become_numpy_and_template_is_shared():
    a, b = base_figure("light"), base_figure("dark")
    a.add_bar(x=pd.Series(["x", "y"]), y=pd.Series([1, 2]))
    assert isinstance(a.data[0]["x"], np.ndarray) and isinstance(a.data[0]["y"], np.ndarray)
    assert a.layout["template"] is b.layout["template"] is figures.TEMPLATE
    assert set(figures.TEMPLATE["data"]) <= set(figures.TRACE_TYPES)
    # Dash's encoder takes the dict with NumPy inside
    sent = json.loads(to_json(a))
    assert sent["data"][0]["y"] == [1, 2]


def test_a_figure_that_changes_its_template_leaves_every_other_figure_alone():
    before = json.dumps(figures.TEMPLATE, sort_keys=True, default=str)
    own = base_figure("light")
    own.update_layout(template={"layout": {"font": {"size": 99}}, "data": {"bar": [{}]}})
    assert own.layout["template"]["layout"]["font"]["size"] == 99
    assert own.layout["template"]["layout"]["colorway"] == figures.TEMPLATE["layout"]["colorway"]
    assert json.dumps(figures.TEMPLATE, sort_keys=True, default=str) == before
    later = base_figure("light")
    assert later.layout["template"] is figures.TEMPLATE
    assert later.layout["template"]["layout"]["font"].get("size") != 99
    # a template given to the constructor is a copy too; a template name replaces it
    given = PlainFigure({"template": {"layout": {"bargap": 0.5}}, "height": 100})
    assert (
        given.layout["template"]["layout"]["bargap"] == 0.5
        and "bargap" not in (figures.TEMPLATE["layout"])
    )
    assert given.update_layout(template="plotly_dark").layout["template"] == "plotly_dark"
    assert json.dumps(figures.TEMPLATE, sort_keys=True, default=str) == before


@pytest.mark.parametrize(
    "build",
    [
        lambda fig: fig.update_layout(bargapp=0.2),  # misspelt layout key
        lambda fig: fig.update_layout(xaxs_title="day"),  # misspelt magic-underscore head
        lambda fig: fig.add_bar(x=[1], y=[1], colour="red"),  # not a bar property
        lambda fig: fig.add_heatmap(z=[[1]], colorscal="Blues"),
        lambda fig: fig.add_bar(x=[1], y=[1]).update_traces(zsmooth="best"),  # heatmap-only
        lambda fig: fig.update_yaxes(tickformatt=",d"),
        lambda fig: fig.add_trace("pie", values=[1]),  # not in the vendored plotly.js bundle
        lambda fig: PlainFigure({"heigth": 100}),
    ],
)
def test_unknown_properties_fail_loudly(build):
    with pytest.raises(ValueError, match="PlainFigure"):
        build(base_figure("light"))


def test_only_data_and_layout_and_no_unknown_methods():
    fig = base_figure("light")
    with pytest.raises(KeyError, match="only 'data' and 'layout'"):
        fig["frames"] = []
    with pytest.raises(AttributeError, match="update_annotations"):
        fig.update_annotations(font_size=10)  # a go.Figure method it does not have
    with pytest.raises(AttributeError):
        fig.frames = []
    fig["layout"] = {"height": 10}  # its own keys stay writable
    assert fig.layout == {"height": 10}


def test_magic_underscore_keys_expand_for_any_known_property():
    fig = base_figure("light")
    fig.update_layout(hoverlabel_bgcolor="#000", yaxis2_title="b", legend_y=-0.3)
    fig.add_bar(x=[1], y=[1], marker_line_color="#111", error_x={"type": "data"})
    assert fig.layout["hoverlabel"]["bgcolor"] == "#000"  # was a literal "hoverlabel_bgcolor"
    assert fig.layout["hoverlabel"]["font"]  # the theme's key survives
    assert fig.layout["yaxis2"] == {"title": {"text": "b"}}
    assert fig.layout["legend"] == {"orientation": "h", "y": -0.3}
    assert fig.data[0]["marker"] == {"line": {"color": "#111"}}
    assert fig.data[0]["error_x"] == {"type": "data"}
    go.Figure(fig)  # plotly agrees


def _all_figures(dataset) -> list[dict]:
    state_sets = [FilterState(range="all"), FilterState(range="30d", tz="Asia/Kolkata")]
    out = []
    for state in state_sets:
        for dark in (False, True):
            data = state.to_dict()
            out += render_overview(data, dark, dataset)
            out += render_engagement(data, dark, dataset=dataset)
            out += render_cost(data, dark, dataset, budget_usd=50.0)
            out += render_quality(data, dark, "experiments", None, None, None, dataset=dataset)
    return [item for item in out if isinstance(item, PlainFigure)]


def test_every_dashboard_figure_is_a_valid_plotly_figure(demo_dataset):
    built = _all_figures(demo_dataset)
    assert len(built) > 40
    types = set()
    for fig in built:
        validated = go.Figure(fig)  # raises on any unknown property or bad value
        types |= {trace.type for trace in validated.data}
    assert types == set(figures.TRACE_TYPES)


@pytest.mark.parametrize("message", ["No data yet", figures.NO_SESSIONS])
def test_empty_figure_says_why(message):
    fig = figures.empty_figure(message, theme="dark")
    assert fig.layout["annotations"][0]["text"] == message
    assert fig.layout["xaxis"]["visible"] is False and fig.data == []


def test_graph_heights_follow_the_figures():
    from dash import Output, no_update

    from callbacks.graph_size import heights, with_heights

    outputs = [Output("a", "children"), Output("g1", "figure"), Output("g2", "figure")]
    assert [(o.component_id, o.component_property) for o in with_heights(outputs)[3:]] == [
        ("g1", "style"),
        ("g2", "style"),
    ]
    tall = base_figure("light", height=480)
    assert heights(outputs, ["x", tall, no_update]) == [{"height": "480px"}, no_update]


# ---- partial buckets and release markers (issue #17 items 4 and 7) ----------------------------


def _time_frame(values, complete, notes) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bucket": pd.date_range("2026-10-05", periods=len(values), freq="7D"),
            "sessions": values,
            "participants": values,
            "complete": complete,
            "note": notes,
        }
    )


def test_partial_buckets_are_lighter_bars_and_dashed_lines_with_a_hover_note():
    frame = _time_frame(
        [200, 500, 510, 157],
        [False, True, True, False],
        ["partial week: 2 of 7 days", "", "", "partial week: 3 of 7 days"],
    )
    bars = figures.sessions_over_time_figure(frame, "week", "light")
    marker = bars.data[0]["marker"]
    assert marker["opacity"].tolist() == [0.4, 1.0, 1.0, 0.4]
    assert marker["pattern"]["shape"].tolist() == ["/", "", "", "/"]
    assert "⚠ partial week: 3 of 7 days" in bars.data[0]["customdata"][3]
    go.Figure(bars)
    from services.views.charts.engagement import participants_over_time_figure

    lines = participants_over_time_figure(frame, "week", "dark")
    solid, dashed, hollow = lines.data
    assert np.isnan(solid["y"][3]) and solid["y"][2] == 510  # the solid line stops before
    assert dashed["line"]["dash"] == "dash" and dashed["y"][2:].tolist() == [510, 157]
    assert hollow["y"][3] == 157 and hollow["marker"]["symbol"] == "circle-open"
    assert "partial week: 3 of 7 days" in hollow["customdata"][3][-1]
    go.Figure(lines)


def test_release_markers_are_readable_in_both_themes_and_list_every_release():
    from services.views.charts.overview import RELEASE_COLORS, add_release_markers

    frame = _time_frame([10, 20], [True, True], ["", ""])
    markers = pd.DataFrame(
        {
            "day": [pd.Timestamp("2026-10-07")],
            "last_day": [pd.Timestamp("2026-10-09")],
            "releases": [2],
            "label": ["2 releases"],
            "detail": ["07 Oct: v4 · Bot A\n09 Oct: v2 · Bot B"],
        }
    )
    for theme in ("light", "dark"):
        fig = add_release_markers(
            figures.sessions_over_time_figure(frame, "week", theme), markers, theme
        )
        note = fig.layout["annotations"][-1]
        assert note["text"] == "2 releases"
        assert note["font"]["color"] == RELEASE_COLORS[theme]["text"]
        assert note["bgcolor"] == RELEASE_COLORS[theme]["box"]
        assert note["hovertext"] == "07 Oct: v4 · Bot A<br>09 Oct: v2 · Bot B"
        hover = fig.data[-1]
        assert hover["yaxis"] == "y2" and hover["customdata"] == [note["hovertext"]]
        go.Figure(fig)
    assert RELEASE_COLORS["light"]["text"] != RELEASE_COLORS["dark"]["text"]
