"""services.views.charts.base.Figure: plain-dict figures that plotly accepts as they are.

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
from services.views.charts.base import Figure, base_figure


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
    fig = Figure({"yaxis2": {"overlaying": "y"}})
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
    return [item for item in out if isinstance(item, Figure)]


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
