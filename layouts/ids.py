"""Every Dash component id of the page, defined once.

Layouts give components these ids; callbacks name them in ``Input``/``Output``/``State``. A
constant's name is its id in upper snake case (``"cost-fig-model"`` → ``COST_FIG_MODEL``), so
either one finds the other. Pattern-matching ids are built by the functions at the end
(``chart_csv("time")`` → ``{"type": "chart-csv", "chart": "time"}``; pass ``dash.ALL`` in a
callback). ``tests/layouts/test_ids.py`` checks that every id a callback uses is on the page.

``services/`` never imports this module: it names charts by their CSV key (the keys of
``services.outputs.exports.CHART_EXPORTS``); :data:`CHART_GRAPHS` maps a key to its graph here.
"""

from __future__ import annotations

# ---- page-wide stores and timers (layouts/header.py) ----------------------------------------
URL = "url"
FILTER_STATE = "filter-state"
DATA_GENERATION = "data-generation"
REFRESH_NONCE = "refresh-nonce"
THEME = "theme"
STATUS_POLL = "status-poll"
DOWNLOAD_CSV = "download-csv"
BROWSER_TZ = "browser-tz"
SYNC_RESULT = "sync-result"
SYNC_CANCEL_ACK = "sync-cancel-ack"

# ---- alerts panel (layouts/alerts.py) ---------------------------------------------------------
ALERTS_OPEN = "alerts-open"
ALERTS_BODY = "alerts-body"
ALERTS_OFFCANVAS = "alerts-offcanvas"

# ---- header (layouts/header.py) ---------------------------------------------------------------
DATA_FRESHNESS = "data-freshness"
SYNC_PROGRESS = "sync-progress"
SYNC_MESSAGE = "sync-message"
SYNC_RESULT_MESSAGE = "sync-result-message"
REFRESH_BUTTON = "refresh-button"
CANCEL_BUTTON = "cancel-button"
SIGN_OUT = "sign-out"
THEME_SWITCH = "theme-switch"
DEMO_BANNER = "demo-banner"

# ---- page frame (layouts/page.py) ---------------------------------------------------------------
STORE_NOTICE = "store-notice"
URL_NOTICES = "url-notices"
TABS = "tabs"

TAB_OVERVIEW = "overview"
TAB_QUALITY = "quality"
TAB_ENGAGEMENT = "engagement"
TAB_COST = "cost"
TAB_SESSIONS = "sessions"
"""The ``tab_id`` of each tab: the value of ``TABS``'s ``active_tab`` (not component ids)."""

# ---- filter bar and exports (layouts/filters.py) ---------------------------------------------
F_RANGE = "f-range"
F_DATES = "f-dates"
F_EXPERIMENT = "f-experiment"
F_TEAM = "f-team"
F_TZ = "f-tz"
F_TAG = "f-tag"
F_TAG_MODE = "f-tag-mode"
F_PLATFORM = "f-platform"
F_STATUS = "f-status"
F_VERSION = "f-version"
F_VERSION_LATEST = "f-version-latest"
"""One click: the latest released version of each experiment in scope."""
F_VERSION_HELP = "f-version-help"
FILTER_SUMMARY = "filter-summary"
F_RESET = "f-reset"
COPY_LINK = "copy-link"
COPY_LINK_STATUS = "copy-link-status"
EXPORT_MENU = "export-menu"
EXPORT_VIEW_CSV = "export-view-csv"
EXPORT_VIEW_JSON = "export-view-json"
EXPORT_VIEW_XLSX = "export-view-xlsx"
VIEW_DOWNLOAD = "view-download"

# ---- saved views (layouts/saved_views.py) -----------------------------------------------------
SV_SELECT = "sv-select"
SV_NAME = "sv-name"
SV_SAVE = "sv-save"
SV_DELETE = "sv-delete"
SV_MESSAGE = "sv-message"

# ---- Overview tab (layouts/overview.py) -------------------------------------------------------
CHART_DOWNLOAD = "chart-download"
KPI_ROW = "kpi-row"
F_GRANULARITY = "f-granularity"
TIME_SUBTITLE = "time-subtitle"
FIG_TIME = "fig-time"
FIG_EXPERIMENT = "fig-experiment"
FIG_TEAM = "fig-team"
ANNOTATION_SUBTITLE = "annotation-subtitle"
FIG_ANNOTATIONS = "fig-annotations"
ANNOTATION_TABLE = "annotation-table"

# ---- Quality tab (layouts/quality.py) -----------------------------------------------------------
Q_MODE = "q-mode"
Q_EXPERIMENT = "q-experiment"
Q_VERSION_A = "q-version-a"
Q_VERSION_B = "q-version-b"
Q_WARNINGS = "q-warnings"
Q_VERSION_PICKERS = "q-version-pickers"
"""The experiment and version pickers (hidden when comparing periods)."""
Q_COMPARE_COUNTS = "q-compare-counts"
FIG_COMPARE = "fig-compare"
Q_COMPARE_TABLE = "q-compare-table"
Q_QUALITY_SUBTITLE = "q-quality-subtitle"
FIG_QUALITY_TIME = "fig-quality-time"
Q_COVERAGE_SUBTITLE = "q-coverage-subtitle"
FIG_COVERAGE_TIME = "fig-coverage-time"
FIG_COVERAGE_EXPERIMENT = "fig-coverage-experiment"
Q_COOCCURRENCE_SUBTITLE = "q-cooccurrence-subtitle"
FIG_COOCCURRENCE = "fig-cooccurrence"

# ---- Engagement tab (layouts/engagement.py) -------------------------------------------------
ENG_CARDS = "eng-cards"
ENG_NOTES = "eng-notes"
ENG_COVERAGE = "eng-coverage"
ENG_LEXICON_WORDS = "eng-lexicon-words"
ENG_FIG_MESSAGES = "eng-fig-messages"
ENG_FIG_WORDS = "eng-fig-words"
ENG_FIG_DURATION = "eng-fig-duration"
ENG_FIG_DROPOFF = "eng-fig-dropoff"
ENG_FIG_PARTICIPANTS = "eng-fig-participants"
ENG_FIG_PER_PARTICIPANT = "eng-fig-per-participant"
ENG_FIG_LEXICON = "eng-fig-lexicon"
ENG_FIG_RETENTION = "eng-fig-retention"
ENG_SUB_MESSAGES = "eng-sub-messages"
ENG_SUB_WORDS = "eng-sub-words"
ENG_SUB_DURATION = "eng-sub-duration"
ENG_SUB_DROPOFF = "eng-sub-dropoff"
ENG_SUB_PARTICIPANTS = "eng-sub-participants"
ENG_SUB_PER_PARTICIPANT = "eng-sub-per-participant"
ENG_SUB_LEXICON = "eng-sub-lexicon"
ENG_SUB_RETENTION = "eng-sub-retention"
ENG_ANOMALIES = "eng-anomalies"
ENG_NO_ANOMALIES = "eng-no-anomalies"
ENG_ANOMALY_TABLE = "eng-anomaly-table"

ENG_FIGURES = {
    "messages": (ENG_FIG_MESSAGES, ENG_SUB_MESSAGES),
    "words": (ENG_FIG_WORDS, ENG_SUB_WORDS),
    "duration": (ENG_FIG_DURATION, ENG_SUB_DURATION),
    "dropoff": (ENG_FIG_DROPOFF, ENG_SUB_DROPOFF),
    "participants": (ENG_FIG_PARTICIPANTS, ENG_SUB_PARTICIPANTS),
    "per_participant": (ENG_FIG_PER_PARTICIPANT, ENG_SUB_PER_PARTICIPANT),
    "retention": (ENG_FIG_RETENTION, ENG_SUB_RETENTION),
    "lexicon": (ENG_FIG_LEXICON, ENG_SUB_LEXICON),
}
"""Engagement figure key (``services.views.charts.engagement.ENGAGEMENT_FIGURES``) → (graph id,
subtitle id)."""

# ---- Cost tab (layouts/cost.py) -----------------------------------------------------------------
COST_BUDGET = "cost-budget"
COST_NO_BUDGET = "cost-no-budget"
COST_BUDGET_BAR = "cost-budget-bar"
COST_CARDS = "cost-cards"
COST_COVERAGE = "cost-coverage"
COST_SUB_TIME = "cost-sub-time"
COST_FIG_TIME = "cost-fig-time"
COST_FIG_MODEL = "cost-fig-model"
COST_FIG_EXPERIMENT = "cost-fig-experiment"
COST_MODEL_TABLE = "cost-model-table"

# ---- Sessions tab (layouts/sessions.py) ---------------------------------------------------------
SESSIONS_COUNT = "sessions-count"
DOWNLOAD_BUTTON = "download-button"
TABLE_STATE = "table-state"
SESSIONS_TABLE = "sessions-table"
SESSIONS_FIRST = "sessions-first"
SESSIONS_PREV = "sessions-prev"
SESSIONS_NEXT = "sessions-next"
SESSIONS_LAST = "sessions-last"
SESSIONS_RANGE = "sessions-range"

# ---- charts: CSV key → graph -------------------------------------------------------------------
CHART_GRAPHS = {
    "time": FIG_TIME,
    "experiment": FIG_EXPERIMENT,
    "team": FIG_TEAM,
    "annotations": FIG_ANNOTATIONS,
    "compare": FIG_COMPARE,
    "quality-time": FIG_QUALITY_TIME,
    "coverage-time": FIG_COVERAGE_TIME,
    "coverage-experiment": FIG_COVERAGE_EXPERIMENT,
    "cooccurrence": FIG_COOCCURRENCE,
    "messages": ENG_FIG_MESSAGES,
    "words": ENG_FIG_WORDS,
    "duration": ENG_FIG_DURATION,
    "dropoff": ENG_FIG_DROPOFF,
    "participants": ENG_FIG_PARTICIPANTS,
    "per-participant": ENG_FIG_PER_PARTICIPANT,
    "retention": ENG_FIG_RETENTION,
    "lexicon": ENG_FIG_LEXICON,
    "cost-time": COST_FIG_TIME,
    "cost-model": COST_FIG_MODEL,
    "cost-experiment": COST_FIG_EXPERIMENT,
}
"""Chart key (``services.outputs.exports.CHART_EXPORTS``, the ``chart`` of its CSV button) →
the ``dcc.Graph`` in the same card."""

# ---- pattern-matching ids ------------------------------------------------------------------------
CHART_CSV = "chart-csv"
OPEN_SESSIONS = "open-sessions"
SORT_HEADER = "sort-header"


def chart_csv(chart) -> dict:
    """A CSV button: ``chart`` is a key of :data:`CHART_GRAPHS` (a chart card), of
    ``services.outputs.exports.CARD_EXPORTS`` (headline cards), or ``ALL``."""
    return {"type": CHART_CSV, "chart": chart}


def open_sessions(graph) -> dict:
    """A chart card's "Sessions ↗" button; ``graph`` is the card's graph id (or ``ALL``)."""
    return {"type": OPEN_SESSIONS, "chart": graph}


def sort_header(column) -> dict:
    """A sortable column header of the sessions table (a column key, or ``ALL``)."""
    return {"type": SORT_HEADER, "column": column}


def kpi_value(key: str, prefix: str | None = None) -> str:
    """The value of a KPI card: ``kpi-<key>`` on the Overview, ``<prefix>-kpi-<key>`` on the
    Engagement (``eng``) and Cost (``cost``) tabs."""
    return f"{prefix}-kpi-{key}" if prefix else f"kpi-{key}"
