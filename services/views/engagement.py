"""View models of the Engagement and Cost tabs (cached like :func:`services.views.overview.overview`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from services.analytics import anomalies, cost, engagement
from services.analytics.filters import FilterState, today_in
from services.analytics.metrics import ratio
from services.analytics.query import Selection, select
from services.store.dataset import Dataset
from services.views.charts import engagement as fe
from services.views.charts.base import empty_figure
from services.views.overview import _LRU

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
"""The Engagement tab's charts (keys of ``EngagementView.figures``), in page order."""
_engagement_cache = _LRU(32)
NO_LEXICON = "No word counts yet: they fill in with the next full sync"
_cost_cache = _LRU(32)


@dataclass
class EngagementView:
    selection: Selection
    transcripts: int
    messages: engagement.Distribution
    words: engagement.Distribution
    duration: engagement.Distribution
    dropoff: pd.DataFrame
    ratings: engagement.Ratings
    lexicon: engagement.Lexicon
    lexicon_over_time: pd.DataFrame
    participants: pd.DataFrame
    per_participant: engagement.Distribution
    cohorts: pd.DataFrame
    flags: pd.DataFrame
    figures: dict
    coverage_note: str


def _coverage_note(sel: Selection, transcripts: int) -> str:
    if sel.n == 0:
        return ""
    if transcripts == sel.n:
        return f"Transcript numbers use all {sel.n:,} sessions."
    return (
        f"Transcript numbers use the {transcripts:,} of {sel.n:,} sessions whose transcript "
        f"is synced ({ratio(transcripts, sel.n):.0%})."
    )


def engagement_view(
    dataset: Dataset, state: FilterState, theme: str = "light", today: date | None = None
) -> EngagementView:
    today = today or today_in(state.tz)
    key = (dataset.generation, id(dataset), state, theme, today)
    cached = _engagement_cache.get(key)
    if cached is not None:
        return cached
    sel = select(dataset, state, today=today)
    transcripts = engagement.transcript_sessions(sel)
    view = EngagementView(
        selection=sel,
        transcripts=transcripts,
        messages=engagement.messages_per_session(sel),
        words=engagement.words_per_user_message(sel),
        duration=engagement.session_duration(sel),
        dropoff=engagement.turn_dropoff(sel),
        ratings=engagement.ratings(sel),
        lexicon=engagement.lexicon(sel),
        lexicon_over_time=engagement.lexicon_over_time(sel),
        participants=engagement.active_participants_over_time(sel),
        per_participant=engagement.sessions_per_participant(sel),
        cohorts=engagement.retention_cohorts(sel),
        flags=anomalies.anomalies(sel, today),
        figures={},
        coverage_note=_coverage_note(sel, transcripts),
    )
    if sel.n == 0:
        empty = empty_figure(theme=theme, height=280)
        view.figures = dict.fromkeys(ENGAGEMENT_FIGURES, empty)
    else:
        view.figures = {
            "messages": fe.histogram_figure(view.messages.histogram, theme, x_title="messages"),
            "words": fe.histogram_figure(
                view.words.histogram, theme, x_title="words", color="#14a38b"
            ),
            "duration": fe.histogram_figure(
                view.duration.histogram, theme, x_title="first → last message", color="#9b59b6"
            ),
            "dropoff": fe.dropoff_figure(view.dropoff, theme),
            "participants": fe.participants_over_time_figure(
                view.participants, sel.granularity, theme
            ),
            "per_participant": fe.histogram_figure(
                view.per_participant.histogram,
                theme,
                unit="participants",
                x_title="sessions",
                color="#14a38b",
            ),
            "retention": fe.retention_figure(view.cohorts, theme),
            "lexicon": fe.lexicon_figure(
                view.lexicon_over_time,
                sel.granularity,
                theme,
                empty=NO_LEXICON if view.lexicon.uncounted else fe.NO_TRANSCRIPTS,
            ),
        }
    _engagement_cache.put(key, view)
    return view


@dataclass
class CostView:
    selection: Selection
    summary: cost.CostSummary
    by_model: pd.DataFrame
    by_experiment: pd.DataFrame
    over_time: pd.DataFrame
    budget: cost.Budget | None
    figures: dict
    coverage_note: str


def cost_view(
    dataset: Dataset,
    state: FilterState,
    theme: str = "light",
    budget_usd: float = 0.0,
    today: date | None = None,
) -> CostView:
    today = today or today_in(state.tz)  # also the budget's month: the viewer's month
    key = (dataset.generation, id(dataset), state, theme, budget_usd, today)
    cached = _cost_cache.get(key)
    if cached is not None:
        return cached
    sel = select(dataset, state, today=today)
    summary = cost.cost_summary(sel)
    by_model = cost.cost_by_model(sel)
    by_experiment = cost.cost_by_experiment(sel)
    over_time = cost.cost_over_time(sel)
    if sel.n == 0:
        empty = empty_figure(theme=theme)
        figs = {"time": empty, "model": empty, "experiment": empty}
    elif summary.known == 0:
        empty = empty_figure(fe.NO_TRANSCRIPTS, theme=theme)
        figs = {"time": empty, "model": empty, "experiment": empty}
    else:
        figs = {
            "time": fe.cost_over_time_figure(over_time, sel.granularity, theme),
            "model": fe.cost_bars_figure(by_model, theme, "model", height=260),
            "experiment": fe.cost_bars_figure(by_experiment, theme, "label"),
        }
    view = CostView(
        selection=sel,
        summary=summary,
        by_model=by_model,
        by_experiment=by_experiment,
        over_time=over_time,
        budget=cost.monthly_budget(dataset, budget_usd, today, tz=state.tz),
        figures=figs,
        coverage_note=cost.coverage_note(summary),
    )
    _cost_cache.put(key, view)
    return view
