"""Each graph's height travels with its figure, as the ``dcc.Graph``'s style.

The figures say their height in ``layout.height`` and are responsive in width
(``config.responsive``). dcc.Graph treats such a figure as responsive and drops
``layout.height``; the plot then fills its wrapper at ``height: 100%`` of a parent without a
height, so a chart drawn while its tab was hidden collapsed to 0 px and overlapped the next
card. Giving the Graph element the figure's height in px (what the Dash docs advise for
responsive graphs) keeps every chart at its height, whenever it is drawn.

Callbacks that return figures declare ``with_heights(OUTPUTS)`` as outputs and return
``values + heights(OUTPUTS, values)``.
"""

from __future__ import annotations

from dash import Output, no_update

DEFAULT_HEIGHT = 320


def height_outputs(outputs: list[Output]) -> list[Output]:
    """One ``style`` output per ``figure`` output, in the same order."""
    return [Output(o.component_id, "style") for o in outputs if o.component_property == "figure"]


def with_heights(outputs: list[Output]) -> list[Output]:
    return [*outputs, *height_outputs(outputs)]


def graph_style(figure) -> dict:
    layout = figure.get("layout", {}) if isinstance(figure, dict) else {}
    return {"height": f"{int(layout.get('height') or DEFAULT_HEIGHT)}px"}


def heights(outputs: list[Output], values: list) -> list:
    """The styles for ``height_outputs(outputs)`` from the values returned for ``outputs``."""
    return [
        no_update if value is no_update else graph_style(value)
        for o, value in zip(outputs, values, strict=True)
        if o.component_property == "figure"
    ]
