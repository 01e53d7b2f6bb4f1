"""Saved views: named filter states stored server-side, shared by everyone on the dashboard.

A saved view is a name and the canonical URL query string of a :class:`FilterState`
(``FilterState.to_query()``), kept in ``DATA_DIR/saved_views.json``. Writes go through a
temporary file and :func:`os.replace`, under a file lock, so concurrent saves from several
gunicorn workers never corrupt the file. Loading a view goes through the same URL parser as a
pasted link, so a view that mentions an experiment that no longer exists gives a notice.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from services.store.locking import file_lock

MAX_VIEWS = 200
MAX_NAME = 80


class SavedViewError(ValueError):
    """A save or delete that cannot be done; ``str(err)`` is meant for the user."""


def _path(data_dir: Path) -> Path:
    return Path(data_dir) / "saved_views.json"


def list_views(data_dir: Path) -> list[dict]:
    """All saved views, sorted by name: ``[{name, query, saved_at}]``. A bad file reads as empty."""
    try:
        raw = json.loads(_path(data_dir).read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(raw, dict) or not isinstance(raw.get("views"), list):
        return []
    views = [
        v
        for v in raw["views"]
        if isinstance(v, dict)
        and isinstance(v.get("name"), str)
        and isinstance(v.get("query"), str)
    ]
    return sorted(views, key=lambda v: v["name"].lower())


def _write(data_dir: Path, views: list[dict]) -> None:
    path = _path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"views": views}, indent=1, ensure_ascii=False))
    os.replace(tmp, path)


def clean_name(name: str | None) -> str:
    text = " ".join((name or "").split())
    if not text:
        raise SavedViewError("Give the view a name.")
    if len(text) > MAX_NAME:
        raise SavedViewError(f"Names are at most {MAX_NAME} characters.")
    return text


def save_view(data_dir: Path, name: str | None, query: str) -> dict:
    """Save (or overwrite) the view ``name`` with ``query``; returns the stored record."""
    name = clean_name(name)
    if not query.startswith("?") and query:
        query = "?" + query
    with file_lock(Path(data_dir) / "saved_views.lock"):
        views = [v for v in list_views(data_dir) if v["name"] != name]
        if len(views) >= MAX_VIEWS:
            raise SavedViewError(f"At most {MAX_VIEWS} saved views; delete one first.")
        record = {"name": name, "query": query, "saved_at": time.time()}
        views.append(record)
        _write(data_dir, views)
    return record


def delete_view(data_dir: Path, name: str | None) -> bool:
    """Delete the view ``name``; False when there was none."""
    if not name:
        return False
    with file_lock(Path(data_dir) / "saved_views.lock"):
        views = list_views(data_dir)
        kept = [v for v in views if v["name"] != name]
        if len(kept) == len(views):
            return False
        _write(data_dir, kept)
    return True


def find_view(data_dir: Path, name: str | None) -> dict | None:
    return next((v for v in list_views(data_dir) if v["name"] == name), None)
