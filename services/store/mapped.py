"""One copy of a generation's dataset per machine: written once, memory-mapped by every worker.

Every gunicorn worker used to build its own :class:`~services.store.dataset.Dataset` from the
store (~700 MB at 1M sessions, per worker). Here the first process to need a generation builds
it once and writes its columns beside the store::

    <mapped_dir>/g<generation>-v<FORMAT>/
        fields.json            scalars, labels and lookup dicts
        <name>.npy             every NumPy column (session ids as fixed-width unicode)
        cost_rows.<name>.npy   the cost-row index (CostRows)
        sessions.arrow         the row table ``rows()`` serves (Arrow IPC file, uncompressed)
        <table>.arrow          experiments, versions and cost rows (Arrow IPC files)

then every process (that one included) opens the files read-only with ``np.load(mmap_mode="r")``
and ``pyarrow.memory_map``. The page cache holds one copy; each worker's PSS counts a shared
page once in total, and a restarted worker maps the files in milliseconds instead of rebuilding.

A folder appears atomically (written under a temporary name, then renamed) and a file lock
makes concurrent workers wait for the one that builds. Older generations' folders are removed
after a newer one is written; a process that still maps an old folder keeps its pages (POSIX
keeps unlinked files alive while mapped).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from services.store.dataset import CostRows, Dataset

log = logging.getLogger(__name__)

FORMAT = 2  # 2: Dataset.ai_words
"""Bumped whenever the files' layout or the Dataset fields change (old folders are ignored)."""
FRAMES = ("experiments_table", "versions_table", "costs_table")
SHARED_FRAMES = ("costs_table",)
"""Frames opened as Arrow-backed pandas columns on the map (zero copy); the others are small
and copied into ordinary pandas columns."""


def folder_for(root: Path, generation: int) -> Path:
    return Path(root) / f"g{generation}-v{FORMAT}"


@contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_arrow(table: pa.Table, path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_arrow(path: Path) -> pa.Table:
    """The table in ``path``, its buffers pointing into a read-only map of the file."""
    return ipc.open_file(pa.memory_map(str(path), "r")).read_all()


def _npy(path: Path) -> np.ndarray:
    # a plain ndarray view of the map (np.memmap subclasses leak into results otherwise)
    return np.asarray(np.load(path, mmap_mode="r"))


def write(dataset: Dataset, folder: Path) -> None:
    """Write ``dataset`` as a mapped folder (atomically; a folder already there wins)."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        fields: dict = {}
        arrays: list[str] = []
        for item in dataclasses.fields(Dataset):
            name = item.name
            value = getattr(dataset, name)
            if name == "_derived":
                continue
            if name == "_sessions":
                _write_arrow(value, tmp / "sessions.arrow")
            elif name == "cost_rows":
                if value is not None:
                    for array in CostRows.ARRAYS:
                        np.save(tmp / f"cost_rows.{array}.npy", getattr(value, array))
                    fields["cost_rows.models"] = value.models
            elif name in FRAMES:
                _write_arrow(
                    pa.Table.from_pandas(value, preserve_index=False), tmp / f"{name}.arrow"
                )
            elif isinstance(value, np.ndarray):
                if value.dtype == object:  # session ids: fixed-width unicode, mappable
                    value = value.astype(str) if len(value) else value.astype("U1")
                np.save(tmp / f"{name}.npy", value)
                arrays.append(name)
            else:
                fields[name] = value  # None, numbers, labels, lookup dicts
        fields["_arrays"] = arrays
        (tmp / "fields.json").write_text(json.dumps(fields))
        try:
            tmp.rename(folder)
        except OSError:  # another process wrote it first
            if not (folder / "fields.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load(folder: Path) -> Dataset:
    """The dataset in a mapped folder; its columns are read-only maps of the files."""
    folder = Path(folder)
    fields = json.loads((folder / "fields.json").read_text())
    kwargs = {name: _npy(folder / f"{name}.npy") for name in fields.pop("_arrays")}
    models = fields.pop("cost_rows.models", None)
    if models is not None:
        arrays = {a: _npy(folder / f"cost_rows.{a}.npy") for a in CostRows.ARRAYS}
        kwargs["cost_rows"] = CostRows(models=models, **arrays)
    kwargs["_sessions"] = _read_arrow(folder / "sessions.arrow")
    for name in FRAMES:
        table = _read_arrow(folder / f"{name}.arrow")
        kwargs[name] = (
            table.to_pandas(types_mapper=pd.ArrowDtype)
            if name in SHARED_FRAMES
            else table.to_pandas()
        )
    return Dataset(**fields, **kwargs)


def load_or_build(root: Path, generation: int, build: Callable[[], Dataset]) -> Dataset:
    """The mapped dataset of ``generation`` under ``root``, building and writing it first when
    no process on this machine has (``build`` reads the store; called at most once per
    generation per machine while the folder stays)."""
    root = Path(root)
    folder = folder_for(root, generation)
    if not (folder / "fields.json").exists():
        with _lock(root / ".lock"):
            if not (folder / "fields.json").exists():
                dataset = build()
                write(dataset, folder)
                del dataset
                log.info("wrote mapped generation=%s to %s", generation, folder)
                remove_older(root, generation)
    return load(folder)


def remove_older(root: Path, generation: int) -> None:
    """Delete mapped folders of generations before ``generation`` (and stale temporary ones)."""
    for path in Path(root).iterdir():
        name = path.name
        if name.startswith(".") and ".tmp-" in name:
            pid = name.split(".tmp-", 1)[1].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)
            continue
        if not (name.startswith("g") and "-v" in name):
            continue
        number = name[1:].split("-v", 1)[0]
        if number.isdigit() and (int(number) < generation or not name.endswith(f"-v{FORMAT}")):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
