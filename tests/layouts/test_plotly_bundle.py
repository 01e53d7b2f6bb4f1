"""The page uses the vendored plotly.js *cartesian* bundle (assets/), not Dash's full plotly.min.js.

A trace type outside the bundle would not fail anywhere else: the chart would just stay empty in
the browser. So every figure the dashboard builds over demo data (every tab, both themes) and
every ``add_<trace>(`` / ``go.<Trace>(`` in the code behind dcc.Graph must be a trace type the
bundle registers. docs/development.md ("Dependencies") says how to update the bundle.
"""

from __future__ import annotations

import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
from plotly.basedatatypes import BaseTraceType

from callbacks.quality import render_quality
from services.analytics.filters import FilterState
from services.views import overview as views
from services.views.charts.cost import cost_figures
from services.views.charts.engagement import engagement_figures
from services.views.charts.overview import overview_figures
from services.views.cost import cost_view
from services.views.engagement import engagement_view
from services.views.quality import default_versions
from tests.conftest import DEMO_ANCHOR

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "assets" / "01-plotly-cartesian-4.1.1.min.js"
BUNDLE_TRACES = frozenset(
    {
        "bar",
        "box",
        "contour",
        "heatmap",
        "histogram",
        "histogram2d",
        "histogram2dcontour",
        "image",
        "pie",
        "scatter",
        "scatterternary",
        "violin",
    }
)
"""The trace modules of plotly.js-cartesian-dist-min (its README; listed in docs/development.md too)."""
USED_TRACES = frozenset({"bar", "scatter", "heatmap"})
"""What the dashboard's figures use today."""
FIGURE_CODE = ("services", "callbacks", "layouts")
NOT_IN_THE_PAGE = {
    "services/outputs/report.py"
}  # the HTML report inlines the full plotly.js itself

PLOTLY_TRACES = frozenset(
    cls._path_str
    for cls in (getattr(go, name) for name in dir(go))  # go imports its classes lazily
    if isinstance(cls, type) and issubclass(cls, BaseTraceType) and cls is not BaseTraceType
)
TRACE_IN_CODE = (
    r"\.add_(\w+)\(",  # fig.add_bar(
    r"add_trace\(\s*[\"'](\w+)[\"']",  # add_trace("bar", …) of the plain-dict figures
    r"[\"']type[\"']\s*:\s*[\"'](\w+)[\"']",  # {"type": "bar", …}
    r"\bgo\.([A-Z]\w*)\(",  # go.Bar(
)


def bundle_traces(path: Path = BUNDLE) -> set[str]:
    """Trace modules registered in a plotly.js bundle (``moduleType:"trace",name:"bar"``)."""
    return set(re.findall(r'moduleType:"trace",name:"(\w+)"', path.read_text(encoding="utf-8")))


def trace_types(figure) -> set[str]:
    """Trace types of a go.Figure or a plain figure dict (plotly's default type is scatter)."""
    data = figure.to_plotly_json() if hasattr(figure, "to_plotly_json") else figure
    return {trace.get("type") or "scatter" for trace in data.get("data") or ()}


def test_the_vendored_bundle_is_the_documented_one():
    assert BUNDLE.exists()
    head = BUNDLE.read_text(encoding="utf-8")[:200]
    assert "plotly.js (cartesian - minified) v4.1.1" in head
    assert bundle_traces() == BUNDLE_TRACES
    assert "window.Plotly = Plotly" in BUNDLE.read_text(encoding="utf-8")[-3000:]
    how_to_update = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    assert BUNDLE.name in how_to_update


def test_plotly_python_matches_the_bundle_version():
    from plotly.offline import get_plotlyjs_version

    assert get_plotlyjs_version() == "4.1.1", "update assets/01-plotly-cartesian-*.min.js too"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_figure_uses_a_trace_type_of_the_bundle(demo_dataset, theme):
    dark = theme == "dark"
    figures = []
    for state in (FilterState(range="all"), FilterState(range="90d")):
        overview = views.overview(demo_dataset, state, today=DEMO_ANCHOR)
        figures += overview_figures(overview, theme).values()
        engagement = engagement_view(demo_dataset, state, today=DEMO_ANCHOR)
        figures += engagement_figures(engagement, theme).values()
        figures += cost_figures(cost_view(demo_dataset, state, today=DEMO_ANCHOR), theme).values()
    experiment = demo_dataset.experiments[0]
    a, b = default_versions(demo_dataset, experiment)
    for args in (("period", None, None, None), ("versions", experiment, a, b)):
        outputs = render_quality({"range": "365d"}, dark, *args, dataset=demo_dataset)
        figures += [o for o in outputs if isinstance(o, go.Figure | dict) and "data" in o]
    used = set().union(*(trace_types(f) for f in figures))
    assert used == USED_TRACES  # the collection above reaches every kind of chart
    assert used <= BUNDLE_TRACES


def test_no_code_behind_the_page_adds_a_trace_outside_the_bundle():
    found: dict[str, set[str]] = {}
    for folder in FIGURE_CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name in NOT_IN_THE_PAGE:
                continue
            text = path.read_text(encoding="utf-8")
            named = {m.lower() for pattern in TRACE_IN_CODE for m in re.findall(pattern, text)}
            for trace in named & PLOTLY_TRACES:
                found.setdefault(trace, set()).add(name)
    assert set(found) <= BUNDLE_TRACES, {t: f for t, f in found.items() if t not in BUNDLE_TRACES}
    assert {"bar", "scatter", "heatmap"} <= set(found)
