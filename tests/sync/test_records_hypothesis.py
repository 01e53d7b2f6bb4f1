"""Robustness of the OCS record normalisation: any JSON-ish input parses or raises MalformedRecord.

A sync skips and counts malformed session, transcript and experiment records; any other
exception would abort the whole sync, so it must never escape from services.sync.records.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.sync.records import (
    MalformedRecord,
    parse_experiment,
    parse_session,
    parse_timestamp,
    summarise_transcript,
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
timestamps = (
    st.sampled_from(
        [
            "2026-08-14T09:12:33.412000Z",
            "2026-08-14T09:12:33Z",
            "2026-08-14",
            "2026-08-14T09:12:33+05:30",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "nope",
            "",
            "2026-13-01T00:00:00Z",
        ]
    )
    | json_scalars
)


def maybe(strategy):
    """A field that is often well-formed but just as often a wrong-typed scalar or container."""
    return st.one_of(strategy, json_scalars, json_values)


session_like = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.text(min_size=1, max_size=20)),
        "url": maybe(st.text(max_size=10)),
        "team": maybe(
            st.fixed_dictionaries(
                {},
                optional={"slug": maybe(st.text(max_size=8)), "name": maybe(st.text(max_size=8))},
            )
        ),
        "experiment": maybe(
            st.fixed_dictionaries(
                {}, optional={"id": maybe(st.uuids().map(str)), "name": maybe(st.text(max_size=8))}
            )
        ),
        "participant": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "identifier": maybe(st.text(max_size=8)),
                    "remote_id": maybe(st.text(max_size=8)),
                },
            )
        ),
        "created_at": timestamps,
        "updated_at": timestamps,
        "status": maybe(st.sampled_from(["active", "complete", "setup"])),
        "platform": maybe(st.sampled_from(["web", "whatsapp"])),
        "tags": maybe(st.lists(st.text(max_size=6), max_size=3)),
    },
)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "role": maybe(st.sampled_from(["user", "assistant", "system"])),
        "content": maybe(st.text(max_size=20)),
        "created_at": timestamps,
        "tags": maybe(
            st.lists(st.sampled_from(["v1", "v2-unreleased", "👍", "👎", "x"]), max_size=3)
        ),
        "metadata": json_values,
    },
)
usage_like = st.fixed_dictionaries(
    {},
    optional={
        "total_cost": maybe(st.sampled_from(["0.00231400", "1", "abc", "NaN", "-Infinity"])),
        "by_model": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "model_name": maybe(st.text(max_size=6)),
                        "cost": maybe(st.sampled_from(["0.1", "x", "NaN", "Infinity", "1e400"])),
                        "tokens": maybe(st.integers(min_value=0, max_value=10**6))
                        | st.sampled_from([1e400, "12", "x", 2.5]),
                    },
                ),
                max_size=3,
            )
        ),
    },
)
detail_like = st.fixed_dictionaries(
    {}, optional={"messages": maybe(st.lists(message_like, max_size=5)), "usage": maybe(usage_like)}
)
experiment_like = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.uuids().map(str)),
        "name": maybe(st.text(max_size=8)),
        "version_number": maybe(st.integers(0, 20)),
        "versions": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "version_number": maybe(st.integers(1, 20)),
                        "is_default_version": json_values,
                        "version_description": maybe(st.text(max_size=8)),
                    },
                ),
                max_size=3,
            )
        ),
    },
)

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.one_of(session_like, json_values))
@example({"id": "a", "team": {}, "experiment": {"id": "b"}, "created_at": "0001-01-01T00:00:00Z"})
@example({"id": "a", "team": {}, "experiment": {"id": "b"}, "created_at": "9999-12-31T23:59:59Z"})
def test_parse_session_parses_or_raises_malformed(record):
    try:
        row = parse_session(record)
    except MalformedRecord:
        return
    assert row["session_id"]
    assert isinstance(row["created_at"], int)
    # must fit the store's timestamp[ns] columns
    assert -(2**63) < row["created_at"] < 2**63 and -(2**63) < row["updated_at"] < 2**63
    assert all(isinstance(tag, str) for tag in row["tags"])


@FAST
@given(st.one_of(detail_like, json_values))
@example({"messages": [], "usage": {"by_model": [{"tokens": "x"}]}})
@example({"messages": [], "usage": {"by_model": [{"tokens": 1e400}]}})
@example({"messages": [], "usage": {"total_cost": "NaN"}})
@example({"messages": [], "usage": {"by_model": 5}})
@example({"messages": [{"role": "assistant", "tags": True, "created_at": "2026-01-01T00:00:00Z"}]})
def test_summarise_transcript_parses_or_raises_malformed(detail):
    try:
        summary, cost_rows = summarise_transcript(detail)
    except MalformedRecord:
        return
    assert summary["human_messages"] >= 0 and summary["ai_messages"] >= 0
    assert all(isinstance(row["tokens"], int) for row in cost_rows)
    assert summary["cost_usd"] is None or math.isfinite(summary["cost_usd"])
    assert all(math.isfinite(row["cost_usd"]) for row in cost_rows)


@FAST
@given(st.one_of(experiment_like, json_values))
@example({"id": "a", "version_number": 2**40, "versions": [{"version_number": 2**40}]})
def test_parse_experiment_parses_or_raises_malformed(record):
    try:
        row, versions = parse_experiment(record, "team")
    except MalformedRecord:
        return
    # must fit the store's int32 version columns
    assert row["working_version"] is None or -(2**31) <= row["working_version"] < 2**31
    assert all(-(2**31) <= v["version_number"] < 2**31 for v in versions)


@FAST
@given(json_values)
def test_parse_timestamp_parses_or_raises_malformed(value):
    try:
        nanos = parse_timestamp(value)
    except MalformedRecord:
        return
    assert isinstance(nanos, int)
