"""The Engagement tab: conversation depth, drop-off, ratings, participants, retention, flags."""

from __future__ import annotations

import math

import dash_bootstrap_components as dbc
from dash import html

from layouts import ids
from layouts.overview import chart_card, csv_button, info_icon
from services.analytics.anomalies import METRIC_LABELS
from services.analytics.engagement import LEXICON_NOTE
from services.sync import lexicon
from services.views.charts.engagement import ENGAGEMENT_FIGURES


def _row(*cols, lg=6) -> dbc.Row:
    return dbc.Row([dbc.Col(c, xs=12, lg=lg) for c in cols], className="g-3 mb-3")


def engagement_tab() -> html.Div:
    return html.Div(
        [
            html.Div(
                csv_button("engagement-cards"),
                className="d-flex justify-content-end mb-1",
                title="The headline numbers below as CSV",
            ),
            dbc.Row(id=ids.ENG_CARDS, className="g-3 mb-2"),
            html.Div(
                [html.Span(id=ids.ENG_COVERAGE), " ", html.Span(LEXICON_NOTE)],
                className="table-note mb-1",
                id=ids.ENG_NOTES,
            ),
            lexicon_words(),
            _row(
                chart_card("Messages per session", "messages", subtitle_id=ids.ENG_SUB_MESSAGES),
                chart_card("Words per participant message", "words", subtitle_id=ids.ENG_SUB_WORDS),
            ),
            _row(
                chart_card("Session length", "duration", subtitle_id=ids.ENG_SUB_DURATION),
                chart_card("Where conversations end", "dropoff", subtitle_id=ids.ENG_SUB_DROPOFF),
            ),
            _row(
                chart_card(
                    "Active participants over time",
                    "participants",
                    subtitle_id=ids.ENG_SUB_PARTICIPANTS,
                ),
                chart_card(
                    "Sessions per participant",
                    "per-participant",
                    subtitle_id=ids.ENG_SUB_PER_PARTICIPANT,
                ),
            ),
            _row(
                chart_card(
                    "Appreciation and dissatisfaction over time",
                    "lexicon",
                    subtitle_id=ids.ENG_SUB_LEXICON,
                ),
                lg=12,
            ),
            _row(
                chart_card(
                    "Retention — weekly cohorts of new participants",
                    "retention",
                    subtitle_id=ids.ENG_SUB_RETENTION,
                ),
                lg=12,
            ),
            _row(
                dbc.Card(
                    [
                        dbc.CardHeader(
                            html.Div(
                                [
                                    html.H2("Unusual days", className="card-title-sm"),
                                    html.Div(
                                        "Days whose sessions or good rate left the band expected "
                                        "from the previous 4 weeks (same weekday for sessions). "
                                        "Today is not judged.",
                                        className="card-subtitle-sm",
                                    ),
                                ]
                            ),
                            className="chart-header",
                        ),
                        dbc.CardBody(id=ids.ENG_ANOMALIES, className="p-2"),
                    ],
                    className="chart-card h-100",
                ),
                lg=12,
            ),
        ]
    )


def lexicon_words() -> html.Details:
    """The collapsible "Which words count?": both word lists of :mod:`services.sync.lexicon`."""

    def column(title: str, terms) -> html.Div:
        return html.Div(
            [
                html.Div(title, className="fw-semibold"),
                html.Ul([html.Li(label) for label in lexicon.labels(terms)], className="mb-1"),
            ],
            className="col-12 col-md-6",
        )

    return html.Details(
        [
            html.Summary("Which words count?"),
            html.Div(
                [
                    column("Appreciation", lexicon.APPRECIATION),
                    column("Dissatisfaction", lexicon.DISSATISFACTION),
                ],
                className="row mt-2",
            ),
            html.P(
                "Whole words, any letter case, in participant messages only; … stands for any "
                "ending (“frustrat…” matches frustrated, frustrating, frustration). "
                + lexicon.NEGATION_RULE
                + " A message counts once per side; a session counts when one of its "
                "messages does.",
                className="mb-0",
            ),
        ],
        className="table-note mb-3",
        id=ids.ENG_LEXICON_WORDS,
    )


def fmt(value: float, spec: str, suffix: str = "") -> str:
    """``value`` formatted by ``spec`` (+ ``suffix``), or "–" for a missing number."""
    return "–" if value is None or math.isnan(value) else f"{value:{spec}}{suffix}"


def kpi_card(
    key: str, label: str, value: str, detail: str, help_text: str, prefix: str = "eng"
) -> dbc.Col:
    """One headline card (the Engagement and Cost tabs); its value has the id
    ``<prefix>-kpi-<key>``."""
    return dbc.Col(
        dbc.Card(
            dbc.CardBody(
                [
                    html.Div(
                        [
                            html.Span(label, className="kpi-label"),
                            info_icon(label, help_text),
                        ],
                        className="kpi-head",
                    ),
                    html.Div(value, className="kpi-value", id=ids.kpi_value(key, prefix)),
                    html.Div(detail, className="kpi-delta delta-none"),
                ]
            ),
            className="kpi-card h-100",
        ),
        xs=6,
        md=4,
        xl=3,
    )


EMPTY_DETAIL = "n = 0 · no sessions match these filters"
"""The detail line of every headline card when the selection is empty (the value shows "–")."""


def engagement_cards(view) -> list:
    """Headline numbers of the Engagement tab (medians, 👍 rate, retention at week 1). With no
    session selected every card stays, showing "–" and n = 0, instead of disappearing."""
    cards = _engagement_cards(view)
    return [empty_card(card) for card in cards] if view.scope.n == 0 else cards


def empty_card(card: dbc.Col) -> dbc.Col:
    """``card`` (a :func:`kpi_card`) with its detail line saying n = 0."""
    body = card.children.children.children
    for part in body:
        if "kpi-delta" in (getattr(part, "className", None) or ""):
            part.children = EMPTY_DETAIL
    return card


def _engagement_cards(view) -> list:
    r = view.ratings
    lex = view.lexicon
    lexicon_detail = (
        f"of {lex.base:,} sessions"
        if lex.base
        else ("no word counts yet (next full sync)" if lex.uncounted else "no sessions")
    )
    rating_detail = (
        f"95% CI {r.ci_low:.0%}–{r.ci_high:.0%} · {r.up + r.down:,} ratings"
        if r.up + r.down
        else "no thumbs up/down yet"
    )
    return [
        kpi_card(
            "messages",
            "Messages / session",
            fmt(view.messages.median, ".0f"),
            f"median · mean {fmt(view.messages.mean, '.1f')}",
            "Participant + bot messages per session with a synced transcript (system summaries "
            "not counted).",
        ),
        kpi_card(
            "words",
            "Words / message",
            fmt(view.words.median, ".1f"),
            f"participant, median per session · bot {fmt(view.bot_words.median, '.1f')}",
            "Words per message, per session: participant words ÷ participant messages "
            "(sessions with at least one participant message; the big number), and bot words "
            "÷ bot messages (sessions with at least one bot message). Medians over sessions.",
        ),
        kpi_card(
            "duration",
            "Session length",
            fmt(view.duration.median, ".1f", " min"),
            f"median · mean {fmt(view.duration.mean, '.1f', ' min')}",
            "Minutes from a session's first to its last message.",
        ),
        kpi_card(
            "thumbs",
            "Thumbs-up rate",
            fmt(r.rate, ".0%"),
            rating_detail,
            "thumbs up ÷ (thumbs up + thumbs down) over rated bot messages, 95% Wilson interval.",
        ),
        kpi_card(
            "rated",
            "Rated sessions",
            fmt(r.rated_share, ".1%"),
            f"{r.rated_sessions:,} with a thumbs up/down",
            "Share of sessions with a synced transcript that have at least one thumbs up or down "
            "(only the web chat offers ratings).",
        ),
        kpi_card(
            "appreciation",
            "Appreciation",
            fmt(lex.appreciation_share, ".1%"),
            f"{lex.appreciation:,} {lexicon_detail}{message_detail(lex, 'appreciation')}",
            "Share of sessions (with a synced transcript and ≥ 1 participant message) in which "
            "the participant wrote a word of thanks or praise — see “Which words count?”. "
            "Below: the share of those sessions' participant messages holding such a word.",
        ),
        kpi_card(
            "dissatisfaction",
            "Dissatisfaction",
            fmt(lex.dissatisfaction_share, ".1%"),
            f"{lex.dissatisfaction:,} {lexicon_detail}{message_detail(lex, 'dissatisfaction')}",
            "Share of sessions (with a synced transcript and ≥ 1 participant message) in which "
            "the participant wrote a word of complaint or negated praise (“not helpful”) — "
            "see “Which words count?”. Below: the share of those sessions' participant "
            "messages holding such a word.",
        ),
        kpi_card(
            "week1",
            "Back in week 1",
            fmt(view.week1.share, ".0%"),
            f"of {view.week1.participants:,} new participants",
            "Share of new participants (first session ever under these filters, inside the "
            "window) with another session in the week after their first week; cohorts whose "
            "week 1 is after the window are left out.",
        ),
    ]


def message_detail(lex, side: str) -> str:
    """ " · 2.1% of 4,567 participant messages" (nothing without participant messages)."""
    if not lex.participant_messages:
        return ""
    share = getattr(lex, f"{side}_message_share")
    return f" · {fmt(share, '.1%')} of {lex.participant_messages:,} participant messages"


def coverage_note(view) -> str:
    """How many of the selected sessions the transcript numbers use."""
    n, transcripts = view.scope.n, view.transcripts
    if n == 0:
        return ""
    if transcripts == n:
        return f"Transcript numbers use all {n:,} sessions."
    return (
        f"Transcript numbers use the {transcripts:,} of {n:,} sessions whose transcript "
        f"is synced ({transcripts / n:.0%})."
    )


def engagement_subtitles(view) -> list[str]:
    """The chart subtitles of the Engagement tab, in :data:`ENGAGEMENT_FIGURES` order."""
    scope = view.scope
    if scope.n == 0:
        return [""] * len(ENGAGEMENT_FIGURES)
    lex = view.lexicon
    lexicon_text = (
        f"Share of the {lex.base:,} sessions with ≥ 1 participant message whose participant "
        f"wrote a listed word, per {scope.granularity}"
    )
    if lex.uncounted:
        lexicon_text += (
            f"; {lex.uncounted:,} sessions synced before word counts existed are left out"
        )
    return [
        f"{view.transcripts:,} sessions with a synced transcript; participant + bot messages",
        f"{view.words.n:,} sessions with ≥ 1 participant message; words ÷ participant messages",
        f"{view.duration.n:,} sessions; minutes from first to last message",
        "Turn = a participant message. Line: share of sessions reaching turn k; "
        "bars: share whose last turn was k",
        f"Distinct participants who wrote, per {scope.granularity} ({scope.tz}); each bucket "
        "counts a participant once",
        f"{view.per_participant.n:,} participants with a session in the window",
        f"Cohort = week (Mon, {scope.tz}) of a participant's first session ever under these "
        "filters, inside the window. Cell = share of the cohort with a session k weeks later; "
        "blank = after the window.",
        lexicon_text,
    ]


def anomaly_list(flags, tz: str = "UTC") -> html.Div:
    """The flagged days (calendar days in ``tz``), newest first, or a line saying there are none."""
    if flags is None or flags.empty:
        return html.Div(
            "No unusual days in this window.", className="empty-state", id=ids.ENG_NO_ANOMALIES
        )
    rows = []
    for row in flags.iloc[::-1].itertuples():
        arrow = "↑" if row.direction == "up" else "↓"
        if row.metric == "good_rate":
            value = f"{row.value:.0%} (n={row.n:,})"
            expected = f"{row.expected:.0%} ({row.low:.0%}–{row.high:.0%})"
        else:
            value = f"{row.value:,.0f}"
            expected = f"{row.expected:,.0f} ({row.low:,.0f}–{row.high:,.0f})"
        rows.append(
            html.Tr(
                [
                    html.Td(f"{row.day:%a %d %b %Y}"),
                    html.Td(METRIC_LABELS.get(row.metric, row.metric)),
                    html.Td(
                        f"{value} {arrow}",
                        className="delta-up" if row.direction == "up" else "delta-down",
                    ),
                    html.Td(expected),
                ]
            )
        )
    return dbc.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th(f"Day ({tz})"),
                        html.Th("Metric"),
                        html.Th("Value"),
                        html.Th("Expected (band)"),
                    ]
                )
            ),
            html.Tbody(rows),
        ],
        size="sm",
        hover=True,
        className="mb-1 annotation-table",
        id=ids.ENG_ANOMALY_TABLE,
    )
