"""``take_rows`` equals Arrow's own take on any chunking (services/store/dataset.py)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from services.store.dataset import take_rows


def batched(values: list[int], sizes: list[int]) -> pa.Table:
    """A table of several record batches, each with its own dictionary for ``label``."""
    batches, at = [], 0
    for size in sizes:
        part = values[at : at + size]
        at += size
        if not part:
            continue
        labels = pa.array([f"l{v % 5}" for v in part]).dictionary_encode()
        batches.append(
            pa.record_batch(
                {
                    "n": pa.array(part, pa.int64()),
                    "label": labels,
                    "tags": pa.array([[str(v)] * (v % 3) for v in part], pa.list_(pa.string())),
                }
            )
        )
    return pa.Table.from_batches(batches)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 1000), min_size=1, max_size=120),
    st.lists(st.integers(1, 40), min_size=1, max_size=8),
    st.data(),
)
def test_take_rows_equals_arrow_take(values, sizes, data):
    table = batched(values, [*sizes, len(values)])
    positions = np.array(
        data.draw(st.lists(st.integers(0, table.num_rows - 1), max_size=60)), dtype=np.int64
    )
    got = take_rows(table, positions)
    want = table.combine_chunks().take(pa.array(positions, pa.int64()))
    assert got.column("n").to_pylist() == want.column("n").to_pylist()
    assert got.column("label").cast(pa.string()).to_pylist() == [
        f"l{v % 5}" for v in want.column("n").to_pylist()
    ]
    assert got.column("tags").to_pylist() == want.column("tags").to_pylist()
