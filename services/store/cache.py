"""Per-process holder of the current generation as an in-memory dataset."""

from __future__ import annotations

import logging
import threading
import time

import pyarrow as pa

from services.store.dataset import Dataset
from services.store.parquet import Store, StoreError

log = logging.getLogger(__name__)


class DatasetCache:
    """Per-process holder of the in-memory :class:`~services.store.dataset.Dataset`.

    ``get()`` compares the store's ``CURRENT`` with the loaded generation (one tiny file read)
    and reloads when it moved, so every gunicorn worker serves a new generation on its next
    request. When reading fails, the previously loaded dataset keeps being served and the
    problem is reported as a notice.
    """

    def __init__(self, store: Store, min_check_interval: float = 0.5, mapped_dir=None):
        self.store = store
        self.min_check_interval = min_check_interval
        self.mapped_dir = mapped_dir
        """When set, one copy of the dataset is shared by every process on the machine
        (:mod:`services.store.mapped`)."""
        self._lock = threading.Lock()
        self._dataset = None
        self._checked_at = 0.0
        self.notice: str | None = None

    def get(self):
        now = time.monotonic()
        if self._dataset is not None and now - self._checked_at < self.min_check_interval:
            return self._dataset
        with self._lock:
            self._checked_at = time.monotonic()
            try:
                generation = self.store.current_generation()
            except StoreError as exc:
                self.notice = (
                    f"The stored data could not be read ({exc}); showing what was loaded before."
                )
                return self._dataset
            if generation is None:
                self.notice = None
                return self._dataset
            if self._dataset is not None and self._dataset.generation == generation:
                return self._dataset
            try:
                self._dataset = self._load(generation)
                self.notice = None
                log.info("loaded generation=%s sessions=%s", generation, self._dataset.n)
            except StoreError as exc:
                log.error("store read failed: %s", exc)
                self.notice = f"The stored data could not be read ({exc})." + (
                    " Showing the previous data." if self._dataset is not None else ""
                )
            return self._dataset

    def _build(self, generation: int) -> Dataset:
        tables = self.store.read(generation)
        dataset = Dataset.from_tables(tables, generation)
        del tables  # the columns the dataset does not keep: give their memory back
        pa.default_memory_pool().release_unused()
        return dataset

    def _load(self, generation: int) -> Dataset:
        if self.mapped_dir is None:
            return self._build(generation)
        from services.store import mapped

        try:
            dataset = mapped.load_or_build(
                self.mapped_dir, generation, lambda: self._build(generation)
            )
        except OSError as exc:  # disk full, read-only DATA_DIR…: serve it from memory
            log.error("mapped dataset unavailable (%s); loading into this process", exc)
            return self._build(generation)
        pa.default_memory_pool().release_unused()
        return dataset
