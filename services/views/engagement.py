"""The Engagement tab's view model: every number it shows and exports.

Cached like :func:`services.views.overview.overview` (no theme in the key, numbers only); the
figures are :func:`services.views.charts.engagement.engagement_figures`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from services.analytics import engagement, metrics
from services.analytics.filters import FilterState
from services.analytics.query import select, sharing_selections
from services.store.dataset import Dataset
from services.views.cache import VIEWS
from services.views.scope import (
    Scope,
    anomaly_flags,
    describe,
    scope_of,
    view_key,
    viewer_today,
)


@dataclass(frozen=True)
class EngagementView:
    key: tuple
    scope: Scope
    transcripts: int
    """Selected sessions whose transcript is synced (the base of transcript numbers)."""
    messages: engagement.Distribution
    words: engagement.Distribution
    bot_words: engagement.Distribution
    """Words per bot message (:func:`services.analytics.engagement.words_per_bot_message`)."""
    duration: engagement.Distribution
    dropoff: pd.DataFrame
    ratings: engagement.Ratings
    lexicon: engagement.Lexicon
    lexicon_over_time: pd.DataFrame
    participants: pd.DataFrame
    per_participant: engagement.Distribution
    cohorts: pd.DataFrame
    week1: engagement.Week1
    """The "Back in week 1" card (:func:`services.analytics.engagement.week1_retention`)."""
    flags: pd.DataFrame
    description: str


@sharing_selections
def engagement_view(
    dataset: Dataset, state: FilterState, today: date | None = None
) -> EngagementView:
    today = viewer_today(state, today)
    key = view_key("engagement", dataset, state, today)
    return VIEWS.get_or_compute(key, lambda: _compute(key, dataset, state, today))


def _compute(key: tuple, dataset: Dataset, state: FilterState, today: date) -> EngagementView:
    sel = select(dataset, state, today=today)
    cohorts = engagement.retention_cohorts(sel)
    spans = metrics.bucket_spans(sel)
    return EngagementView(
        key=key,
        scope=scope_of(sel),
        transcripts=engagement.transcript_sessions(sel),
        messages=engagement.messages_per_session(sel),
        words=engagement.words_per_user_message(sel),
        bot_words=engagement.words_per_bot_message(sel),
        duration=engagement.session_duration(sel),
        dropoff=engagement.turn_dropoff(sel),
        ratings=engagement.ratings(sel),
        lexicon=engagement.lexicon(sel),
        lexicon_over_time=metrics.with_spans(engagement.lexicon_over_time(sel), spans),
        participants=metrics.with_spans(engagement.active_participants_over_time(sel), spans),
        per_participant=engagement.sessions_per_participant(sel),
        cohorts=cohorts,
        week1=engagement.week1_retention(cohorts),
        flags=anomaly_flags(sel, today),
        description=describe(state, dataset, sel.n),
    )


HEADLINE_COLUMNS = ["metric", "value", "base", "base_unit"]


def headline(view: EngagementView) -> pd.DataFrame:
    """The Engagement tab's cards as numbers, one row each: ``metric``, ``value`` and the
    ``base`` it is computed over (``base_unit`` says what the base counts)."""
    r, lex = view.ratings, view.lexicon
    rows = [
        ("messages_per_session_median", view.messages.median, view.messages.n, "sessions"),
        ("messages_per_session_mean", view.messages.mean, view.messages.n, "sessions"),
        ("words_per_participant_message_median", view.words.median, view.words.n, "sessions"),
        ("words_per_bot_message_median", view.bot_words.median, view.bot_words.n, "sessions"),
        ("session_minutes_median", view.duration.median, view.duration.n, "sessions"),
        ("session_minutes_mean", view.duration.mean, view.duration.n, "sessions"),
        ("thumbs_up_rate", r.rate, r.up + r.down, "ratings"),
        ("thumbs_up_rate_ci_low", r.ci_low, r.up + r.down, "ratings"),
        ("thumbs_up_rate_ci_high", r.ci_high, r.up + r.down, "ratings"),
        ("rated_sessions_share", r.rated_share, r.transcript_sessions, "sessions"),
        ("appreciation_share", lex.appreciation_share, lex.base, "sessions"),
        ("dissatisfaction_share", lex.dissatisfaction_share, lex.base, "sessions"),
        (
            "appreciation_message_share",
            lex.appreciation_message_share,
            lex.participant_messages,
            "participant messages",
        ),
        (
            "dissatisfaction_message_share",
            lex.dissatisfaction_message_share,
            lex.participant_messages,
            "participant messages",
        ),
        ("week1_retention", view.week1.share, view.week1.participants, "new participants"),
    ]
    return pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
