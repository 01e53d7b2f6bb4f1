"""The memory-mapped dataset (services.store.mapped) answers exactly as the in-memory one."""

from __future__ import annotations

import dataclasses
import multiprocessing
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from bench.naive import fast_cost, fast_engagement, fast_numbers, fast_quality, fast_sessions
from services.analytics import cost
from services.analytics.filters import FilterState
from services.store import mapped
from services.store.cache import DatasetCache
from services.store.dataset import CostRows, Dataset
from services.store.parquet import Store
from tests.store.test_store import small_tables

TODAY = date(2026, 11, 22)


def assert_same_dataset(memory: Dataset, mapped_ds: Dataset) -> None:
    for item in dataclasses.fields(Dataset):
        name = item.name
        a, b = getattr(memory, name), getattr(mapped_ds, name)
        if name == "_derived":
            continue
        if isinstance(a, np.ndarray):
            assert a.shape == b.shape, name
            if a.dtype == object:
                assert [str(x) for x in a] == b.tolist(), name
            else:
                assert a.dtype == b.dtype, name
                assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
            assert not b.flags.writeable, name  # a read-only map
        elif isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(
                a.astype(object), b.astype(object), check_dtype=False, obj=name
            )
        elif isinstance(a, pa.Table):
            assert a.equals(b), name
        elif isinstance(a, CostRows):
            assert a.models == b.models
            for array in CostRows.ARRAYS:
                assert np.array_equal(getattr(a, array), getattr(b, array), equal_nan=True), array
        else:
            assert a == b, name


def test_mapped_load_equals_in_memory_load(demo_dataset, tmp_path):
    loaded = mapped.load_or_build(tmp_path, 1, lambda: demo_dataset)
    assert_same_dataset(demo_dataset, loaded)
    assert loaded.rows(np.arange(0, loaded.n, 7)).equals(
        demo_dataset.rows(np.arange(0, loaded.n, 7))
    )


@pytest.mark.parametrize(
    "state",
    [
        FilterState(),
        FilterState(range="all"),
        FilterState(range="30d", tags=("safe", "accurate"), tag_mode="all"),
        FilterState(range="custom", start=date(2026, 9, 1), end=date(2026, 10, 15)),
    ],
)
def test_every_tab_answers_the_same_from_the_map(demo_dataset, tmp_path, state):
    loaded = mapped.load_or_build(tmp_path, 1, lambda: demo_dataset)
    for fn in (fast_numbers, fast_quality, fast_engagement, fast_cost, fast_sessions):
        a, b = fn(demo_dataset, state, TODAY), fn(loaded, state, TODAY)
        assert repr(a) == repr(b), fn.__name__


def test_cost_rows_equal_the_index_built_from_the_costs_table(demo_dataset):
    built = cost._build_index(dataclasses.replace(demo_dataset, cost_rows=None))
    rows = demo_dataset.cost_rows
    assert len(rows.position) > 0
    assert rows.models == built.models
    for array in CostRows.ARRAYS:
        assert np.array_equal(getattr(rows, array), getattr(built, array), equal_nan=True)


def test_second_load_maps_without_building(demo_dataset, tmp_path):
    mapped.load_or_build(tmp_path, 1, lambda: demo_dataset)

    def fail():
        raise AssertionError("built twice")

    assert mapped.load_or_build(tmp_path, 1, fail).n == demo_dataset.n


def test_a_newer_generation_removes_older_folders(tmp_path):
    store = Store(tmp_path / "store")
    for n in (2, 3):
        store.write(small_tables(n))
    maps = tmp_path / "mapped"
    for generation in (1, 2):
        mapped.load_or_build(
            maps, generation, lambda g=generation: Dataset.from_tables(store.read(g), g)
        )
    assert sorted(p.name for p in maps.iterdir() if not p.name.startswith(".")) == [
        mapped.folder_for(maps, 2).name
    ]


def _load_in_child(args) -> int:
    root, store_root = args
    store = Store(store_root)
    dataset = mapped.load_or_build(root, 1, lambda: Dataset.from_tables(store.read(1), 1))
    return dataset.n


def test_concurrent_processes_build_once(tmp_path):
    store = Store(tmp_path / "store")
    store.write(small_tables(5))
    maps = tmp_path / "mapped"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        counts = pool.map(_load_in_child, [(maps, store.root)] * 3)
    assert counts == [5, 5, 5]
    folders = [p.name for p in maps.iterdir() if p.name != ".lock"]
    assert folders == [mapped.folder_for(maps, 1).name]  # no temporary folder left


def test_dataset_cache_with_mapped_dir_reloads_and_shares(tmp_path):
    store = Store(tmp_path / "store")
    cache = DatasetCache(store, min_check_interval=0, mapped_dir=tmp_path / "mapped")
    store.write(small_tables(2))
    first = cache.get()
    assert (first.generation, first.n) == (1, 2)
    assert not first.created_ns.flags.writeable
    other = DatasetCache(store, min_check_interval=0, mapped_dir=tmp_path / "mapped").get()
    assert_same_dataset(first, other)
    store.write(small_tables(3))
    assert (cache.get().generation, cache.get().n) == (2, 3)


def test_unusable_mapped_dir_falls_back_to_memory(tmp_path):
    store = Store(tmp_path / "store")
    store.write(small_tables(2))
    maps = tmp_path / "mapped"
    maps.write_text("a file where the folder should be")
    dataset = DatasetCache(store, min_check_interval=0, mapped_dir=maps).get()
    assert dataset.n == 2
    assert dataset.created_ns.flags.writeable  # built in this process
