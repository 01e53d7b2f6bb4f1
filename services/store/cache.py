"""Per-process holder of the current generation as an in-memory dataset."""

from __future__ import annotations

import logging
import os
import threading
import time

import pyarrow as pa

from services.store.dataset import Dataset
from services.store.parquet import StoreError

log = logging.getLogger(__name__)

STALE_NOTE = "the data shown may be stale"


class DatasetCache:
    """Per-process holder of the in-memory :class:`~services.store.dataset.Dataset`.

    ``get()`` compares the store's current generation with the loaded one (a tiny file read for
    Parquet, one small query for PostgreSQL) and reloads when it moved, so every gunicorn worker
    serves a new generation on its next request. While one thread reloads, other requests keep
    getting the previous dataset: the switch is one reference assignment. When reading fails,
    the previously loaded dataset keeps being served and the problem is reported as a notice.

    With ``watch_interval`` (the shared PostgreSQL store) a daemon thread per process also
    checks in the background — waking early on the store's ``NOTIFY`` when it supports
    ``wait_for_change`` — so a new generation is loaded within seconds even without requests.
    """

    def __init__(
        self, store, min_check_interval: float = 0.5, watch_interval: float = 0.0, mapped_dir=None
    ):
        self.store = store
        self.min_check_interval = min_check_interval
        self.watch_interval = watch_interval
        self.mapped_dir = mapped_dir
        """When set, one copy of the dataset is shared by every process on the machine
        (:mod:`services.store.mapped`)."""
        self._lock = threading.Lock()
        self._dataset = None
        self._checked_at = 0.0
        self._loaded_at: float | None = None
        self._watcher_pid: int | None = None
        self.notice: str | None = None
        self.store_ok = True

    def get(self):
        if self.watch_interval:
            self._ensure_watcher()
        now = time.monotonic()
        if self._dataset is not None and now - self._checked_at < self.min_check_interval:
            return self._dataset
        if not self._lock.acquire(blocking=self._dataset is None):
            return self._dataset  # another thread is checking or loading: serve what we have
        try:
            return self._refresh()
        finally:
            self._lock.release()

    def _refresh(self):
        self._checked_at = time.monotonic()
        try:
            generation = self.store.current_generation()
        except StoreError as exc:
            self.store_ok = False
            self.notice = self._unreadable(exc)
            return self._dataset
        self.store_ok = True
        if generation is None:
            self.notice = None
            return self._dataset
        if self._dataset is not None and self._dataset.generation == generation:
            self.notice = None
            return self._dataset
        try:
            dataset = self._load(generation)
            self._dataset = dataset
            self._loaded_at = time.time()
            self.notice = None
            log.info("loaded generation=%s sessions=%s", generation, dataset.n)
        except StoreError as exc:
            log.error("store read failed: %s", exc)
            self.notice = self._unreadable(exc)
        return self._dataset

    def _unreadable(self, exc: StoreError) -> str:
        if self._dataset is None:
            return f"The stored data could not be read ({exc})."
        loaded = time.strftime("%H:%M UTC", time.gmtime(self._loaded_at or time.time()))
        return (
            f"The stored data could not be read ({exc}); showing the previous data, loaded at {loaded} — "
            f"{STALE_NOTE}."
        )

    # -- background watcher (shared store) --------------------------------------------------------

    def _ensure_watcher(self) -> None:
        pid = os.getpid()
        if self._watcher_pid == pid:
            return
        self._watcher_pid = pid  # after a fork the parent's thread does not exist here
        threading.Thread(target=self._watch, name="store-watcher", daemon=True).start()

    def _watch(self) -> None:
        wait = getattr(self.store, "wait_for_change", None)
        while True:
            known = self._dataset.generation if self._dataset is not None else None
            if wait is not None:
                wait(known, self.watch_interval)
            else:
                time.sleep(self.watch_interval)
            try:
                with self._lock:
                    self._refresh()
            except Exception:  # never let the watcher die
                log.exception("store watcher failed")
                time.sleep(self.watch_interval)

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
