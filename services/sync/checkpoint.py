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

:class:`Checkpoints` is the interface; :func:`open_checkpoints` picks the implementation the way
:func:`services.store.backend.open_store` picks the store:

* :class:`FileCheckpoints` keeps both in ``DATA_DIR/sync`` (JSON lines appended and flushed per
  event, so a killed process loses at most the line being written, which replay ignores);
* :class:`PostgresCheckpoints` (with ``DATABASE_URL``) keeps them in the tables ``sync_journal``
  and ``sync_state`` beside the store (``migrations/0002_sync_checkpoints.sql``), one committed
  insert per event, so a restarted dyno with an empty disk resumes where the killed one stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager, suppress
from pathlib import Path

from services.store.parquet import StoreError
from services.store.postgres import connection_url, describe_error

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

    def close(self) -> None:  # noqa: B027 - optional: most implementations hold nothing open
        """Release open files or connections (reopened on the next use)."""


def open_checkpoints(settings) -> Checkpoints:
    """Checkpoints beside the store: in PostgreSQL with ``DATABASE_URL``, else in files."""
    if settings.database_url:
        return PostgresCheckpoints(settings.database_url)
    return FileCheckpoints(settings.sync_dir)


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


class PostgresCheckpoints(Checkpoints):
    """Journals and states in PostgreSQL (``DATABASE_URL``), beside the store's tables.

    ``sync_journal(team, seq, event jsonb)``: one row per event, ``seq`` keeps their order; every
    insert is committed before :meth:`append` returns, so a process killed at any moment leaves a
    journal that ends with the last event it completed. ``sync_state(team, state jsonb,
    updated_at)``: one row per team. One connection per process (reopened after a fork or an
    error); a database error raises :class:`~services.store.parquet.StoreError` with one line
    that never names the URL or password.
    """

    def __init__(self, url: str):
        self.url = connection_url(url)
        self._lock = threading.Lock()
        self._conn = None
        self._conn_pid: int | None = None

    @contextmanager
    def _connection(self):
        import psycopg

        with self._lock:
            try:
                if self._conn is None or self._conn.closed or self._conn_pid != os.getpid():
                    self._conn = psycopg.connect(self.url, autocommit=True)
                    self._conn_pid = os.getpid()
                yield self._conn
            except psycopg.errors.UndefinedTable as exc:
                raise StoreError(
                    "the database has no sync checkpoint tables yet: run "
                    "`python -m services.store migrate`"
                ) from exc
            except psycopg.Error as exc:
                if self._conn is not None:
                    with suppress(Exception):
                        self._conn.close()
                self._conn = None
                raise StoreError(
                    f"sync checkpoints: the database is unreachable ({describe_error(exc)})"
                ) from exc

    @staticmethod
    def _json(value: dict) -> str:
        return json.dumps(value, separators=(",", ":"))

    def read_journal(self, team: str) -> tuple[dict, list[dict]] | None:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT event FROM sync_journal WHERE team = %s ORDER BY seq", (team,)
            ).fetchall()
        events = [row[0] for row in rows if isinstance(row[0], dict)]
        if not events or events[0].get("kind") != "header":
            return None
        return events[0], events[1:]

    def start_journal(self, team: str, header: dict) -> None:
        with self._connection() as conn, conn.transaction():
            conn.execute("DELETE FROM sync_journal WHERE team = %s", (team,))
            conn.execute(
                "INSERT INTO sync_journal (team, event) VALUES (%s, %s::jsonb)",
                (team, self._json({"kind": "header", **header})),
            )

    def append(self, team: str, event: dict) -> None:
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO sync_journal (team, event) VALUES (%s, %s::jsonb)",
                (team, self._json(event)),
            )

    def clear_journal(self, team: str) -> None:
        with self._connection() as conn:
            conn.execute("DELETE FROM sync_journal WHERE team = %s", (team,))

    def load_state(self, team: str) -> dict:
        with self._connection() as conn:
            row = conn.execute("SELECT state FROM sync_state WHERE team = %s", (team,)).fetchone()
        state = row[0] if row else None
        return state if isinstance(state, dict) else {}

    def save_state(self, team: str, state: dict) -> None:
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO sync_state (team, state, updated_at) VALUES (%s, %s::jsonb, now()) "
                "ON CONFLICT (team) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
                (team, self._json(state)),
            )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with suppress(Exception):
                    self._conn.close()
                self._conn = None
