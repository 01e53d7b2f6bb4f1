"""The demo world: deterministic, plausible, and normalised through services.sync.records."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from services.analytics import metrics
from services.analytics.filters import FilterState
from services.analytics.query import select
from services.store.parquet import Store
from services.store.schema import parse_version_tag
from services.sync import demo, records
from tests.conftest import DEMO_ANCHOR


def as_json(world: demo.DemoWorld) -> str:
    return json.dumps(dataclasses.asdict(world), default=str, sort_keys=True, ensure_ascii=False)


def test_same_seed_anchor_and_size_give_identical_json():
    a = demo.generate(300, seed=11, anchor=date(2026, 3, 1))
    b = demo.generate(300, seed=11, anchor=date(2026, 3, 1))
    assert as_json(a) == as_json(b)


@pytest.mark.parametrize(
    "other",
    [
        {"n_sessions": 300, "seed": 12, "anchor": date(2026, 3, 1)},
        {"n_sessions": 300, "seed": 11, "anchor": date(2026, 3, 2)},
        {"n_sessions": 301, "seed": 11, "anchor": date(2026, 3, 1)},
    ],
)
def test_different_inputs_give_different_worlds(other):
    base = as_json(demo.generate(300, seed=11, anchor=date(2026, 3, 1)))
    assert as_json(demo.generate(**other)) != base


def test_world_shape(demo_world):
    assert demo_world.anchor == DEMO_ANCHOR
    assert len(demo_world.sessions) == 2000
    assert len({s["id"] for s in demo_world.sessions}) == 2000
    start = datetime.combine(DEMO_ANCHOR - timedelta(days=364), datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(DEMO_ANCHOR, datetime.min.time(), tzinfo=UTC) + timedelta(hours=20)
    created = [records.parse_timestamp(s["created_at"]) for s in demo_world.sessions]
    assert created == sorted(created, reverse=True)  # newest first, as the API lists
    assert min(created) >= start.timestamp() * 1e9
    assert max(created) <= end.timestamp() * 1e9
    for session in demo_world.sessions[:50]:
        assert set(session) >= {"url", "id", "team", "experiment", "participant", "messages"}
        assert session["created_at"].endswith("Z")


def test_plausible_teams_experiments_versions(demo_world, demo_dataset):
    assert len(demo_world.experiments) == 3
    assert len(demo_dataset.teams) == 3
    records_ = [r for rs in demo_world.experiments.values() for r in rs]
    assert len(records_) >= 5
    for record in records_:
        assert record["versions"], record["name"]
        assert record["version_number"] == len(record["versions"]) + 1
    assert len(demo_dataset.experiments) >= 5
    versions = demo_dataset.versions_table
    assert versions.groupby("experiment_id").size().min() >= 1
    assert set(demo_dataset.experiments) <= set(demo_dataset.experiments_table.experiment_id)


def test_plausible_annotations(demo_dataset):
    selection = select(demo_dataset, FilterState(range="all"))
    share = metrics.annotated_count(selection) / selection.n
    assert 0.05 <= share <= 0.30
    breakdown = metrics.annotation_breakdown(selection).set_index("category")
    bot = breakdown.loc["bot_performance"]
    assert bot.good > bot.bad > 0
    assert {"bot_performance", "coaching", "safe", "accurate"} <= set(breakdown.index)
    assert breakdown.loc["coaching"].undetermined > 0


def test_plausible_platforms_statuses_ratings_versions_costs(demo_dataset):
    ds = demo_dataset
    platforms = dict(zip(ds.platforms, np.bincount(ds.platform_codes), strict=True))
    statuses = dict(zip(ds.statuses, np.bincount(ds.status_codes), strict=True))
    assert platforms["evaluations"] > 0
    assert statuses["setup"] > 0
    assert max(platforms.values()) < ds.n  # more than one platform in use
    assert np.nansum(ds.thumbs_up) > 0
    assert np.nansum(ds.thumbs_down) > 0
    assert np.nansum(ds.thumbs_up) > np.nansum(ds.thumbs_down)
    assert all(parse_version_tag(v) for v in ds.version_names)
    assert any(v.endswith("-unreleased") for v in ds.version_names)
    assert (ds.version_matrix.any(axis=0)).mean() > 0.9
    assert np.nansum(ds.cost_usd) > 0
    assert (ds.costs_table.cost_usd > 0).all()
    assert set(ds.costs_table.model) == {"gpt-4o", "gpt-4o-mini"}


def test_system_summary_messages_present(demo_world):
    summaries = [
        m
        for s in demo_world.sessions
        for m in s["messages"]
        if m["role"] == "system" and m["metadata"].get("compression_marker") == "summarize"
    ]
    assert summaries


def test_message_counts_exclude_system_messages(demo_world, demo_dataset):
    by_id = {sid: i for i, sid in enumerate(demo_dataset.session_id)}
    with_system = 0
    for session in demo_world.sessions:
        roles = [m["role"] for m in session["messages"]]
        pos = by_id[session["id"]]
        assert demo_dataset.human_messages[pos] == roles.count("user")
        assert demo_dataset.ai_messages[pos] == roles.count("assistant")
        with_system += "system" in roles
    assert with_system > 0
    total = sum(len(s["messages"]) for s in demo_world.sessions)
    selection = select(
        demo_dataset,
        FilterState(
            range="all",
            platforms=tuple(demo_dataset.platforms),
            statuses=tuple(demo_dataset.statuses),
        ),
    )
    assert selection.n == demo_dataset.n
    assert metrics.message_count(selection) == total - sum(
        m["role"] == "system" for s in demo_world.sessions for m in s["messages"]
    )


def test_world_tables_uses_records_normalisation(monkeypatch):
    world = demo.generate(40, seed=3, anchor=date(2026, 5, 1))
    calls = {"session": 0, "transcript": 0, "experiment": 0}

    def spy(name, real):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(demo, "parse_session", spy("session", records.parse_session))
    monkeypatch.setattr(
        demo, "summarise_transcript", spy("transcript", records.summarise_transcript)
    )
    monkeypatch.setattr(demo, "parse_experiment", spy("experiment", records.parse_experiment))
    tables = demo.world_tables(world)
    assert calls == {"session": 40, "transcript": 40, "experiment": len(demo.CHATBOTS)}
    assert tables.sessions.num_rows == 40
    assert tables.meta["source"] == "demo"
    assert tables.meta["demo_anchor"] == "2026-05-01"
    # parse_session's normalisation: list items carry no messages/usage
    assert "messages" not in demo.list_item(world.sessions[0])
    assert "usage" not in demo.list_item(world.sessions[0])


def test_ensure_demo_store_writes_once_per_anchor_and_size(tmp_path):
    store = Store(tmp_path / "store")
    anchor = date(2026, 5, 1)
    first = demo.ensure_demo_store(store, 50, anchor=anchor)
    assert demo.ensure_demo_store(store, 50, anchor=anchor) == first
    assert store.current_generation() == first
    meta = store.read_meta()
    assert (meta["source"], meta["demo_sessions"], meta["demo_seed"]) == ("demo", 50, 7)
    assert demo.ensure_demo_store(store, 60, anchor=anchor) > first
    assert demo.ensure_demo_store(store, 60, anchor=anchor + timedelta(days=1)) > first + 1
    assert store.read().sessions.num_rows == 60


def test_demo_store_of_an_older_generator_is_written_again(tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    anchor = date(2026, 11, 22)
    monkeypatch.setattr(demo, "DEMO_FORMAT", 1)
    old = demo.ensure_demo_store(store, 50, anchor=anchor)
    monkeypatch.setattr(demo, "DEMO_FORMAT", 2)
    assert demo.ensure_demo_store(store, 50, anchor=anchor) > old
    assert store.read_meta()["demo_format"] == 2
