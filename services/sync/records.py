"""Normalise OCS API records (docs/ocs-api.md §6) into flat rows.

This is the only code that knows the wire shapes. The demo generator and the real sync both feed
their JSON through these functions, so demo numbers and real numbers mean the same thing.

Both shapes are accepted:

* 2026: sessions carry ``status``, ``platform``, ``state``; ``experiment`` is a stub with
  ``description``; detail has ``usage``.
* 2025: no ``status``/``platform``/``state``; ``experiment`` has ``versions``; no ``usage``.

A record that cannot be understood raises :class:`MalformedRecord`; callers skip and count it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.store.schema import (
    VERSION_TAG,
)
from services.sync import lexicon

THUMBS_UP = "👍"
THUMBS_DOWN = "👎"
UNREPORTED = "unreported"
"""Status/platform value for records from servers that do not send the field (2025 shape)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_MIN, _NS_MAX = -(2**63) + 1, 2**63 - 1  # the store's timestamp[ns] range (1677–2262)


class MalformedRecord(ValueError):
    """A record is missing required fields or has values of the wrong type."""


def parse_timestamp(value: Any) -> int:
    """ISO-8601 timestamp (``Z`` or offset, with or without microseconds) → UTC epoch nanoseconds."""
    if not isinstance(value, str) or not value:
        raise MalformedRecord(f"timestamp expected, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MalformedRecord(f"bad timestamp {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    nanos = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if not _NS_MIN <= nanos <= _NS_MAX:
        raise MalformedRecord(f"timestamp out of range {value!r}")
    return nanos


def _text(record: dict, key: str, default: str = "") -> str:
    value = record.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str | int):
        raise MalformedRecord(f"{key} must be a string")
    return str(value)


def _obj(record: dict, key: str) -> dict:
    value = record.get(key)
    if not isinstance(value, dict):
        raise MalformedRecord(f"{key} must be an object")
    return value


def _tags(value: Any, key: str = "tags") -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise MalformedRecord(f"{key} must be a list of strings")
    seen: dict[str, None] = {}
    for tag in value:
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


def parse_session(record: Any) -> dict:
    """A session list item (or detail) → one flat session row.

    Keys: session_id, url, team_slug, team_name, experiment_id, experiment_name,
    participant_identifier, participant_remote_id, created_at, updated_at (epoch ns),
    status, platform, tags (list).
    """
    if not isinstance(record, dict):
        raise MalformedRecord("session record must be an object")
    session_id = _text(record, "id")
    if not session_id:
        raise MalformedRecord("session without id")
    team = _obj(record, "team")
    experiment = _obj(record, "experiment")
    participant = record.get("participant") or {}
    if not isinstance(participant, dict):
        raise MalformedRecord("participant must be an object")
    experiment_id = _text(experiment, "id")
    if not experiment_id:
        raise MalformedRecord("experiment without id")
    created_at = parse_timestamp(record.get("created_at"))
    updated_raw = record.get("updated_at")
    updated_at = parse_timestamp(updated_raw) if updated_raw else created_at
    return {
        "session_id": session_id,
        "url": _text(record, "url"),
        "team_slug": _text(team, "slug") or _text(team, "name") or "unknown-team",
        "team_name": _text(team, "name") or _text(team, "slug") or "Unknown team",
        "experiment_id": experiment_id,
        "experiment_name": _text(experiment, "name") or experiment_id,
        "participant_identifier": _text(participant, "identifier"),
        "participant_remote_id": _text(participant, "remote_id"),
        "created_at": created_at,
        "updated_at": updated_at,
        "status": _text(record, "status") or UNREPORTED,
        "platform": _text(record, "platform") or UNREPORTED,
        "tags": _tags(record.get("tags")),
    }


def _decimal(value: Any) -> float:
    try:
        number = float(Decimal(str(value)))
    except (InvalidOperation, ValueError) as exc:
        raise MalformedRecord(f"bad decimal {value!r}") from exc
    if not math.isfinite(number):
        raise MalformedRecord(f"bad decimal {value!r}")
    return number


def _count(value: Any, key: str) -> int:
    if value is None or value == "":
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MalformedRecord(f"{key} must be a whole number") from exc
    if not _NS_MIN <= number <= _NS_MAX:
        raise MalformedRecord(f"{key} out of range")
    return number


def summarise_transcript(detail: Any) -> tuple[dict, list[dict]]:
    """Session detail (with ``messages``) → (transcript columns, cost rows by model).

    * System messages (e.g. ``compression_marker`` summaries) are not turns and are excluded.
    * ``user_words`` counts whitespace-separated words of participant messages, ``ai_words``
      those of the bot's (assistant) messages.
    * ``versions`` lists the version tags of AI messages in order of first appearance.
    * 👍/👎 are counted on AI messages.
    * ``cost_usd`` is ``usage.total_cost``; None when the server sends no ``usage`` (2025).
    * ``appreciation_hits`` / ``dissatisfaction_hits``: participant messages with a word of the
      :mod:`services.sync.lexicon` lists (the text is matched here and not kept).
    """
    if not isinstance(detail, dict):
        raise MalformedRecord("session detail must be an object")
    messages = detail.get("messages")
    if not isinstance(messages, list):
        raise MalformedRecord("session detail without messages")
    human = ai = words = bot_words = up = down = appreciation = dissatisfaction = 0
    first = last = None
    versions: dict[str, None] = {}
    for message in messages:
        if not isinstance(message, dict):
            raise MalformedRecord("message must be an object")
        role = message.get("role")
        if role == "user":
            human += 1
            content = message.get("content") or ""
            if isinstance(content, str):
                words += len(content.split())
                liked, disliked = lexicon.classify(content)
                appreciation += liked
                dissatisfaction += disliked
        elif role == "assistant":
            ai += 1
            content = message.get("content") or ""
            if isinstance(content, str):
                bot_words += len(content.split())
            tags = message.get("tags") or ()
            if not isinstance(tags, list | tuple):
                raise MalformedRecord("message tags must be a list")
            for tag in tags:
                if tag == THUMBS_UP:
                    up += 1
                elif tag == THUMBS_DOWN:
                    down += 1
                elif isinstance(tag, str) and VERSION_TAG.match(tag):
                    versions.setdefault(tag, None)
        else:
            continue
        moment = parse_timestamp(message.get("created_at"))
        if first is None or moment < first:
            first = moment
        if last is None or moment > last:
            last = moment
    cost = None
    cost_rows: list[dict] = []
    usage = detail.get("usage")
    if isinstance(usage, dict):
        cost = _decimal(usage.get("total_cost", "0"))
        by_model = usage.get("by_model") or ()
        if not isinstance(by_model, list | tuple):
            raise MalformedRecord("usage.by_model must be a list")
        for row in by_model:
            if not isinstance(row, dict):
                raise MalformedRecord("usage.by_model rows must be objects")
            cost_rows.append(
                {
                    "model": _text(row, "model_name") or "unknown",
                    "cost_usd": _decimal(row.get("cost", "0")),
                    "tokens": _count(row.get("tokens"), "tokens"),
                }
            )
    summary = {
        "human_messages": human,
        "ai_messages": ai,
        "first_message_at": first,
        "last_message_at": last,
        "user_words": words,
        "ai_words": bot_words,
        "versions": list(versions),
        "thumbs_up": up,
        "thumbs_down": down,
        "cost_usd": cost,
        "appreciation_hits": appreciation,
        "dissatisfaction_hits": dissatisfaction,
    }
    return summary, cost_rows


def _int32(value: Any) -> bool:
    """An int that fits the store's int32 version columns."""
    return isinstance(value, int) and -(2**31) <= value < 2**31


def parse_experiment(record: Any, team_slug: str) -> tuple[dict, list[dict]]:
    """An experiment/chatbot record (docs/ocs-api.md §6.3) → (experiment row, version rows)."""
    if not isinstance(record, dict):
        raise MalformedRecord("experiment record must be an object")
    experiment_id = _text(record, "id")
    if not experiment_id:
        raise MalformedRecord("experiment without id")
    versions = record.get("versions") or []
    if not isinstance(versions, list):
        raise MalformedRecord("experiment versions must be a list")
    version_rows = []
    for version in versions:
        if not isinstance(version, dict) or not _int32(version.get("version_number")):
            raise MalformedRecord("experiment version needs a version_number")
        version_rows.append(
            {
                "experiment_id": experiment_id,
                "version_number": int(version["version_number"]),
                "is_default": bool(version.get("is_default_version")),
                "description": _text(version, "version_description"),
            }
        )
    number = record.get("version_number")
    row = {
        "experiment_id": experiment_id,
        "team_slug": team_slug,
        "name": _text(record, "name") or experiment_id,
        "description": _text(record, "description"),
        "working_version": int(number) if _int32(number) else None,
    }
    return row, version_rows
