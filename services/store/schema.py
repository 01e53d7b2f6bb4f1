"""What the store holds: column names, Arrow schemas and version labels, defined once.

Everything that writes or reads the store (the sync, the demo world, the dataset) names columns
through this module.
"""

from __future__ import annotations

import re

import pyarrow as pa

NS_PER_DAY = 86_400 * 10**9
"""Nanoseconds in a day: timestamps are stored as UTC epoch nanoseconds."""

VERSION_TAG = re.compile(r"^v(\d+)(-unreleased)?$")


def parse_version_tag(tag: str) -> tuple[int, bool] | None:
    """``"v14"`` → ``(14, False)``; ``"v15-unreleased"`` → ``(15, True)``; anything else → None."""
    match = VERSION_TAG.match(tag)
    if not match:
        return None
    return int(match.group(1)), match.group(2) is not None


def version_sort_key(label: str) -> tuple[int, int]:
    """Order version labels numerically, an unreleased draft after its number's release."""
    parsed = parse_version_tag(label)
    if parsed is None:
        return (10**9, 0)
    return parsed[0], int(parsed[1])


TRANSCRIPT_COLUMNS = (
    "human_messages",
    "ai_messages",
    "first_message_at",
    "last_message_at",
    "user_words",
    "ai_words",
    "versions",
    "thumbs_up",
    "thumbs_down",
    "cost_usd",
    "appreciation_hits",
    "dissatisfaction_hits",
)


SESSION_SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("url", pa.string()),
        ("team_slug", pa.string()),
        ("team_name", pa.string()),
        ("experiment_id", pa.string()),
        ("experiment_name", pa.string()),
        ("participant_identifier", pa.string()),
        ("participant_remote_id", pa.string()),
        ("created_at", pa.timestamp("ns", tz="UTC")),
        ("updated_at", pa.timestamp("ns", tz="UTC")),
        ("status", pa.string()),
        ("platform", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("has_transcript", pa.bool_()),
        ("human_messages", pa.int32()),
        ("ai_messages", pa.int32()),
        ("first_message_at", pa.timestamp("ns", tz="UTC")),
        ("last_message_at", pa.timestamp("ns", tz="UTC")),
        ("user_words", pa.int32()),
        # words of the bot's messages; null in stores written before they were counted
        ("ai_words", pa.int32()),
        ("versions", pa.list_(pa.string())),
        ("thumbs_up", pa.int32()),
        ("thumbs_down", pa.int32()),
        ("cost_usd", pa.float64()),
        # participant messages matching services.sync.lexicon; null in stores written before them
        ("appreciation_hits", pa.int32()),
        ("dissatisfaction_hits", pa.int32()),
    ]
)
EXPERIMENT_SCHEMA = pa.schema(
    [
        ("experiment_id", pa.string()),
        ("team_slug", pa.string()),
        ("name", pa.string()),
        ("description", pa.string()),
        ("working_version", pa.int32()),
    ]
)
VERSION_SCHEMA = pa.schema(
    [
        ("experiment_id", pa.string()),
        ("version_number", pa.int32()),
        ("is_default", pa.bool_()),
        ("description", pa.string()),
    ]
)
COST_SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("model", pa.string()),
        ("cost_usd", pa.float64()),
        ("tokens", pa.int64()),
    ]
)
SYNC_STATE_SCHEMA = pa.schema(
    [("session_id", pa.string()), ("transcript_fetched_at", pa.timestamp("ns", tz="UTC"))]
)
"""``sync_state``: when each stored session's transcript was last fetched (null: never)."""
STORE_FILES = {
    "sessions": SESSION_SCHEMA,
    "experiments": EXPERIMENT_SCHEMA,
    "experiment_versions": VERSION_SCHEMA,
    "session_costs": COST_SCHEMA,
}
SESSION_BASE_COLUMNS = (
    "session_id",
    "url",
    "team_slug",
    "team_name",
    "experiment_id",
    "experiment_name",
    "participant_identifier",
    "participant_remote_id",
    "created_at",
    "updated_at",
    "status",
    "platform",
    "tags",
)
"""The session list fields every stored session has (from the OCS list endpoint)."""
