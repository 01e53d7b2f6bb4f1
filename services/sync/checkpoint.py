"""Per-team sync bookkeeping kept beside the store: resume journals and re-check state.

Two kinds of record per team (a team is identified by its key and OCS base URL, hashed, so the
key itself is never written anywhere):

* **Journal** of the run in progress: a header (``base_url``, ``sync_format``, ``full``,
  ``started_at``) and events appended as the sync makes progress: each session list page
  (its rows and its ``next`` link), each transcript fetched, the experiments read. When a run
  is interrupted (error, cancel, ``kill -9``, a dyno restart) the next run replays the journal
  and continues where it stopped: pages and transcripts in it are not fetched again. The journal
  is cleared once the team's data is in the store.
* **State** that outlives runs: the team's identity, the rotating re-check positions (where
  the walk over older list pages continues), when each session's transcript was last checked
  and when the experiments list was last read (see :mod:`services.sync.engine`).

:class:`Checkpoints` is the interface; :class:`FileCheckpoints` keeps both in ``DATA_DIR/sync``
(JSON lines appended and flushed per event, so a killed process loses at most the line being
written, which replay ignores). A database-backed implementation (the hosted deployment's
Postgres store) implements the same six methods.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path

log = logging.getLogger(__name__)


def team_id(base_url: str, api_key: str) -> str:
    """A stable, non-secret identifier for one key on one OCS server."""
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()[:20]


class Checkpoints(ABC):
    """Where the sync keeps per-team journals (resume) and re-check state."""

    @abstractmethod
    def read_journal(self, team: str) -> tuple[dict, list[dict]] | None:
        """``(header, events)`` of the team's unfinished run, or None."""

    @abstractmethod
    def start_journal(self, team: str, header: dict) -> None:
        """Begin a new journal for ``team`` (replacing any old one)."""

    @abstractmethod
    def append(self, team: str, event: dict) -> None:
        """Add one event to the team's journal (durable when this returns)."""

    @abstractmethod
    def clear_journal(self, team: str) -> None:
        """The team's data is stored: its journal is no longer needed."""

    @abstractmethod
    def load_state(self, team: str) -> dict:
        """The team's re-check state ({} when none)."""

    @abstractmethod
    def save_state(self, team: str, state: dict) -> None:
        """Replace the team's re-check state."""


class FileCheckpoints(Checkpoints):
    """Journals as JSON lines and states as JSON files under ``root`` (``DATA_DIR/sync``)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._handles: dict[str, object] = {}

    def _journal(self, team: str) -> Path:
        return self.root / f"journal-{team}.jsonl"

    def _state(self, team: str) -> Path:
        return self.root / f"state-{team}.json"

    def read_journal(self, team: str) -> tuple[dict, list[dict]] | None:
        try:
            lines = self._journal(team).read_text().splitlines()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("sync journal unreadable (%s); starting over", exc)
            return None
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                break  # a line cut short by a killed process: everything before it counts
            if isinstance(event, dict):
                events.append(event)
        if not events or events[0].get("kind") != "header":
            return None
        return events[0], events[1:]

    def start_journal(self, team: str, header: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._close(team)
            handle = open(self._journal(team), "w", encoding="utf-8")  # noqa: SIM115 - kept open
            self._handles[team] = handle
            handle.write(json.dumps({"kind": "header", **header}) + "\n")
            handle.flush()

    def append(self, team: str, event: dict) -> None:
        line = json.dumps(event, separators=(",", ":")) + "\n"
        with self._lock:
            handle = self._handles.get(team)
            if handle is None:
                self.root.mkdir(parents=True, exist_ok=True)
                handle = open(self._journal(team), "a", encoding="utf-8")  # noqa: SIM115
                self._handles[team] = handle
            handle.write(line)
            handle.flush()  # in the OS page cache: survives kill -9 of this process

    def _close(self, team: str) -> None:
        handle = self._handles.pop(team, None)
        if handle is not None:
            handle.close()

    def close(self) -> None:
        with self._lock:
            for team in list(self._handles):
                self._close(team)

    def clear_journal(self, team: str) -> None:
        with self._lock:
            self._close(team)
            self._journal(team).unlink(missing_ok=True)

    def load_state(self, team: str) -> dict:
        try:
            state = json.loads(self._state(team).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("sync state unreadable (%s); re-checking from scratch", exc)
            return {}
        return state if isinstance(state, dict) else {}

    def save_state(self, team: str, state: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._state(team)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(state, separators=(",", ":")))
        os.replace(tmp, path)
