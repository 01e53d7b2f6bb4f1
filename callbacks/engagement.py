"""Engagement tab: computed only while the tab is open, so filter changes stay fast."""

from __future__ import annotations

from dash import Input, Output, callback, html, no_update

from callbacks.graph_size import heights, with_heights
from layouts.engagement import anomaly_list, engagement_cards
from services import runtime
from services.analytics.filters import FilterState
from services.views.charts import base as figures
from services.views.engagement import ENGAGEMENT_FIGURES, engagement_view

TAB = "engagement"
FIGURES = ENGAGEMENT_FIGURES
SUBTITLES = FIGURES
OUTPUTS = [
    Output("eng-cards", "children"),
    Output("eng-coverage", "children"),
    *[Output(f"eng-fig-{name.replace('_', '-')}", "figure") for name in FIGURES],
    *[Output(f"eng-sub-{name.replace('_', '-')}", "children") for name in SUBTITLES],
    Output("eng-anomalies", "children"),
]


def _subtitles(view) -> list[str]:
    sel = view.selection
    if sel.n == 0:
        return [""] * len(SUBTITLES)
    t = view.transcripts
    return [
        f"{t:,} sessions with a synced transcript; participant + bot messages",
        f"{view.words.n:,} sessions with ≥ 1 participant message; words ÷ participant messages",
        f"{view.duration.n:,} sessions; minutes from first to last message",
        "Turn = a participant message. Line: share of sessions reaching turn k; "
        "bars: share whose last turn was k",
        f"Distinct participants who wrote, per {sel.granularity} ({sel.state.tz}); each bucket counts "
        "a participant once",
        f"{view.per_participant.n:,} participants with a session in the window",
        f"Cohort = week (Mon, {sel.state.tz}) of a participant's first session ever under these "
        "filters, "
        "inside the window. Cell = share of the cohort with a session k weeks later; blank = "
        "after the window.",
        _lexicon_subtitle(view),
    ]


def _lexicon_subtitle(view) -> str:
    lex = view.lexicon
    text = (
        f"Share of the {lex.base:,} sessions with ≥ 1 participant message whose participant "
        f"wrote a listed word, per {view.selection.granularity}"
    )
    if lex.uncounted:
        text += f"; {lex.uncounted:,} sessions synced before word counts existed are left out"
    return text


def render_engagement(state_data: dict | None, dark: bool, dataset=None) -> list:
    theme = "dark" if dark else "light"
    dataset = dataset if dataset is not None else runtime.dataset()
    if dataset is None:
        empty = figures.empty_figure("No data yet", theme=theme)
        return [[], "", *[empty] * len(FIGURES), *[""] * len(SUBTITLES), html.Div()]
    view = engagement_view(dataset, FilterState.from_dict(state_data), theme)
    return [
        engagement_cards(view) if view.selection.n else [],
        view.coverage_note,
        *[view.figures[name] for name in FIGURES],
        *_subtitles(view),
        anomaly_list(view.flags, view.selection.state.tz),
    ]


@callback(
    with_heights(OUTPUTS),
    Input("tabs", "active_tab"),
    Input("filter-state", "data"),
    Input("theme-switch", "value"),
    Input("data-generation", "data"),
)
def update_engagement(active_tab, state_data, dark, _generation):
    if active_tab != TAB:
        return [no_update] * len(with_heights(OUTPUTS))
    values = render_engagement(state_data, bool(dark))
    return values + heights(OUTPUTS, values)
