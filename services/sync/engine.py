"""Sync OCS sessions, transcripts and experiments of every configured team into the store.

One API key = one team. The user-facing description (guarantees, the staleness bound, exit
codes, resume) is docs/sync.md; this is how it is done. Per team:

1. **Head listing**: sessions newest first (``ordering=-created_at``, ``page_size=1500``). A
   first sync (or ``--full``) lists everything. An incremental sync lists until it has seen
   every new session and then at most :data:`HEAD_PAGES` pages in all, stopping earlier at the
   newest stored session minus ``SYNC_OVERLAP_DAYS``. The list call authenticates the key and
   names the team, so there is no separate probe (``/api/v2/me/`` only for a team without
   sessions). Inside the listed range the listing is authoritative: tag and status changes
   land, sessions no longer listed are removed.
2. **Rotating re-check** (incremental only), capped at ``SYNC_RECHECK_REQUESTS`` requests per
   team and sync: a walk over the *older* list pages continues where the previous sync stopped
   (following OCS's own ``next`` links, kept in the team's state), and transcripts of open
   sessions are re-fetched oldest-checked first. Each sync re-checks the share
   ``elapsed / SYNC_RECHECK_DAYS`` of them, plus anything not checked for
   ``SYNC_RECHECK_DAYS`` (overdue first), plus open sessions active within ``SYNC_RECENT_DAYS``.
   Overdue items left over by the cap are counted (``behind``) and reported.
3. **Transcripts** (``/api/sessions/{id}/``) for new sessions, sessions whose ``updated_at`` or
   ``status`` moved, and the re-check slice, with bounded concurrency, through
   :func:`services.sync.records.summarise_transcript`.
4. **Experiments** list re-read when a session names an experiment the store does not know,
   once a day, and on full syncs.

**Nothing lost.** Every page and transcript is appended to the team's journal
(:mod:`services.sync.checkpoint`, beside the store: files, or PostgreSQL with ``DATABASE_URL``)
as it arrives; an interrupted run (error, cancel, kill -9, dyno restart) is resumed by the next
one without fetching them again. The resumed run first re-lists the newest sessions until it
reaches ones the journal has (:meth:`_TeamRun.relist_head`), so sessions created during the
interruption land in that run, not one sync later. A team
that fails (rejected key, unreachable, broken answers) keeps its previous data while the other
teams' new data lands; the CLI then exits :data:`EXIT_PARTIAL`. The next store generation is
written with :meth:`services.store.parquet.Store.write` only when complete, and only when
something changed: a sync that finds nothing new writes no generation, it records "no changes"
and the check time in the shared status (:mod:`services.sync.status`).

CLI: ``python -m services.sync [--full] [--verbose]`` prints one summary line; exit codes are
:data:`EXIT_OK`, :data:`EXIT_FAILED`, :data:`EXIT_CONFIG`, :data:`EXIT_ALREADY_RUNNING`,
:data:`EXIT_CANCELLED`, :data:`EXIT_PARTIAL`.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.settings import Settings, SettingsError, load_settings
from services.store.backend import StoreBackend, open_store
from services.store.parquet import StoreError
from services.store.schema import NS_PER_DAY
from services.sync import status as sync_status
from services.sync.checkpoint import Checkpoints, open_checkpoints, team_id
from services.sync.client import ClientPolicy, NotFound, OCSClient, OCSError
from services.sync.previous import Previous, next_generation, tune_allocation
from services.sync.records import (
    UNREPORTED,
    MalformedRecord,
    parse_experiment,
    parse_session,
    summarise_transcript,
)
from services.sync.status import SyncAlreadyRunning

log = logging.getLogger(__name__)

SYNC_FORMAT = 1
HEAD_PAGES = 2
"""An incremental sync re-lists at most this many pages from the top once it has seen every new
session (a no-change sync: at most 2 list requests per team); older pages rotate."""
EXPERIMENTS_EVERY_NS = NS_PER_DAY
"""The experiments list is re-read at least this often (and when an unknown one appears)."""
RESUME_MAX_AGE_NS = 3 * NS_PER_DAY
"""An unfinished run's journal older than this is discarded instead of resumed."""
OPEN_STATUSES = frozenset({"setup", "pending", "active", UNREPORTED})
"""Sessions that may still receive messages. OCS treats pending-review, complete and unknown as
over (docs/ocs-api.md §8); 2025 servers send no status at all, so "unreported" counts as open."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_ALREADY_RUNNING = 3
EXIT_CANCELLED = 4
EXIT_PARTIAL = 5
"""Some teams synced and landed, at least one failed (its previous data is kept)."""


class SyncError(RuntimeError):
    """The sync cannot run (e.g. no API key configured); ``str(err)`` is for the user."""


class SyncCancelled(RuntimeError):
    """The sync was cancelled (``request_cancel`` or ``should_cancel()``); old data kept."""


class TeamFailed(OCSError):
    """One team could not be synced; ``label`` names it (slug or key fingerprint)."""

    def __init__(self, label: str, slug: str | None, cause: OCSError):
        self.label, self.slug, self.cause = label, slug, cause
        super().__init__(str(cause))


@dataclass
class SyncSummary:
    """What one sync did; :meth:`line` is the one-line summary shown in the UI and the CLI."""

    teams: list[str] = field(default_factory=list)
    full: bool = True
    sessions_new: int = 0
    sessions_updated: int = 0
    sessions_deleted: int = 0
    sessions_total: int = 0
    transcripts_fetched: int = 0
    transcripts_resumed: int = 0
    requests: int = 0
    requests_by_team: dict[str, int] = field(default_factory=dict)
    seconds_by_team: dict[str, float] = field(default_factory=dict)
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    recheck_pages: int = 0
    recheck_transcripts: int = 0
    recheck_behind: int = 0
    skipped_malformed: int = 0
    skipped_by_team: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    changed: bool = True
    duration_s: float = 0.0
    generation: int | None = None

    @property
    def partial(self) -> bool:
        return bool(self.failed)

    def line(self) -> str:
        kind = "full" if self.full else "incremental"
        state = "partial" if self.failed else "ok"
        teams = f"{len(self.teams)} team{'s' * (len(self.teams) != 1)} ({', '.join(self.teams)})"
        if self.changed:
            what = (
                f"sessions {self.sessions_new:,} new, {self.sessions_updated:,} updated, "
                f"{self.sessions_deleted:,} removed, {self.sessions_total:,} total · "
                f"transcripts fetched {self.transcripts_fetched:,}"
            )
            stored = f"generation {self.generation}"
        else:
            what = f"no changes · {self.sessions_total:,} sessions"
            stored = f"generation {self.generation} kept"
        resumed = f" ({self.transcripts_resumed:,} resumed)" if self.transcripts_resumed else ""
        behind = f", {self.recheck_behind:,} overdue" if self.recheck_behind else ""
        failed = "".join(f" · FAILED {label}: {why}" for label, why in self.failed.items())
        return (
            f"sync {state} ({kind}): {teams} · {what}{resumed} · re-checked "
            f"{self.recheck_pages:,} pages, {self.recheck_transcripts:,} transcripts{behind} · "
            f"requests {self.requests:,} (retries {self.retries:,}, 429s {self.rate_limited:,}) · "
            f"skipped malformed {self.skipped_malformed:,} · {self.duration_s:.1f} s · "
            f"{stored}{failed}"
        )


# -- progress -------------------------------------------------------------------------------------


class _Reporter:
    """Writes progress into the shared status (throttled) and calls the optional callback."""

    def __init__(self, settings: Settings, lock, callback, interval: float = 0.3):
        self.settings = settings
        self.lock = lock
        self.callback = callback
        self.interval = interval
        self.fields: dict = {}
        self._last = 0.0
        self._cancel_checked = 0.0
        self._cancelled = False

    def message(self) -> str:
        f = self.fields
        parts = [f"team {f.get('team_index', 0)}/{f.get('team_count', 0)}"]
        total = f.get("sessions_total")
        done = f.get("sessions_done", 0)
        parts.append(
            f"sessions {done:,} / {total:,}" if total is not None else f"sessions {done:,}"
        )
        if f.get("transcripts_total"):
            parts.append(
                f"transcripts {f.get('transcripts_done', 0):,} / {f['transcripts_total']:,}"
            )
        if f.get("resumed"):
            parts.append(
                f"resuming: {f['resumed']:,} of {f.get('transcripts_total') or 0:,} "
                "transcripts already fetched"
            )
        if f.get("phase") == "saving":
            parts.append("saving")
        return " · ".join(parts)

    def update(self, force: bool = False, **fields) -> None:
        self.fields.update(fields)
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        status = sync_status.write_status(
            self.settings, **self.fields, message=self.message(), state="running"
        )
        self.lock.heartbeat()
        self._notify(status)

    def _notify(self, status: dict) -> None:
        if self.callback is None:
            return
        try:
            self.callback(dict(status, running=status.get("state") == "running"))
        except Exception:  # a broken progress sink must not break the sync
            log.exception("progress callback failed")

    def cancel_requested(self, should_cancel) -> bool:
        if self._cancelled:
            return True
        if should_cancel is not None and should_cancel():
            self._cancelled = True
        now = time.monotonic()
        if not self._cancelled and now - self._cancel_checked >= 0.1:
            self._cancel_checked = now
            self._cancelled = self.lock.cancel_requested()
        return self._cancelled

    def finish(self, state: str, **fields) -> None:
        status = sync_status.write_status(
            self.settings, state=state, finished_at=time.time(), running=False, **fields
        )
        self._notify(status)


# -- previous generation --------------------------------------------------------------------------


_NONE = np.zeros(0, dtype=np.int64)


def _load_previous(store: StoreBackend, settings: Settings) -> Previous | None:
    """The current generation if an incremental sync may build on it, else None."""
    try:
        meta = store.read_meta()
        if not meta:
            return None
        if meta.get("source") != "ocs":
            log.info("previous generation is %s data; doing a full sync", meta.get("source"))
            return None
        if (
            meta.get("sync_format") != SYNC_FORMAT
            or meta.get("base_url") != settings.ocs_api_base_url
        ):
            log.info("previous generation came from another server or format; doing a full sync")
            return None
        old_history = int(meta.get("sync_history_days") or 0)
        new_history = settings.sync_history_days
        if old_history and (new_history == 0 or new_history > old_history):
            log.info("SYNC_HISTORY_DAYS reaches further back than before; doing a full sync")
            return None
        tables = store.read(meta.get("generation"))
    except StoreError as exc:
        log.warning("previous generation unreadable (%s); doing a full sync", exc)
        return None
    return Previous.from_tables(tables)


# -- the sync -------------------------------------------------------------------------------------


@dataclass
class _TeamResult:
    """One team's outcome: ``rows`` (with their transcripts, costs and fetch times) are the
    sessions built anew; ``kept`` are positions in the previous generation copied as they are,
    ``kept_fetched`` their transcript fetch times (ns, 0 = unknown)."""

    team: dict
    tid: str
    rows: dict[str, dict]
    kept: np.ndarray
    kept_fetched: np.ndarray
    transcripts: dict[str, dict]
    costs: dict[str, list[dict]]
    fetched_at: dict[str, int]
    experiments: list[dict]
    versions: list[dict]
    state: dict
    new: int = 0
    updated: int = 0
    deleted: int = 0
    fetched: int = 0
    resumed: int = 0
    skipped: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    recheck_pages: int = 0
    recheck_transcripts: int = 0
    behind: int = 0
    changed: bool = True


class _Sync:
    def __init__(
        self, settings, previous, reporter, should_cancel, policy, sleep, now_ns, checkpoints, full
    ):
        self.settings = settings
        self.previous: Previous | None = previous
        self.open = previous.status_in(OPEN_STATUSES) if previous is not None else np.zeros(0, bool)
        self.reporter = reporter
        self.should_cancel = should_cancel
        self.policy = policy
        self.sleep = sleep
        self.now_ns = now_ns
        self.checkpoints: Checkpoints = checkpoints
        self.full = full
        self.history_cut = (
            now_ns - settings.sync_history_days * NS_PER_DAY if settings.sync_history_days else None
        )
        days = settings.sync_recent_days
        self.recent_cut = now_ns - days * NS_PER_DAY if days else None
        self.recheck_ns = settings.sync_recheck_days * NS_PER_DAY

    def check_cancel(self) -> None:
        if self.reporter.cancel_requested(self.should_cancel):
            raise SyncCancelled("sync cancelled; the previous data is still shown")

    def wants_transcript(self, row: dict) -> bool:
        policy = self.settings.sync_transcripts
        if policy == "none":
            return False
        if policy == "recent":
            if self.recent_cut is None:
                return False
            return max(row["created_at"], row["updated_at"]) >= self.recent_cut
        return True

    def sync_team(self, key: str, index: int, count: int) -> _TeamResult:
        settings = self.settings
        tid = team_id(settings.ocs_api_base_url, key)
        client = OCSClient(key, settings.ocs_api_base_url, policy=self.policy, sleep=self.sleep)
        run = _TeamRun(self, client, tid, index, count)
        try:
            return run.run()
        except OCSError as exc:
            slug = run.team["slug"] if run.team else None
            raise TeamFailed(client.label, slug, exc) from exc
        finally:
            client.close()

    def experiments(self, slug, records, embedded, refs) -> tuple[list, list, int]:
        """Experiments from the list endpoint, plus referenced ones it does not list.

        ``refs``: experiment id → (created_at, experiment_name) of its newest session.
        """
        skipped = 0
        experiments: dict[str, dict] = {}
        versions: dict[str, list[dict]] = {}
        for record in records:
            try:
                row, version_rows = parse_experiment(record, slug)
            except MalformedRecord as exc:
                skipped += 1
                log.warning("skipping malformed experiment record (team %s): %s", slug, exc)
                continue
            experiments[row["experiment_id"]] = row
            versions[row["experiment_id"]] = version_rows
        prev = self.previous
        for exp_id, (_created, name) in sorted(refs.items(), key=lambda kv: -kv[1][0]):
            if exp_id in experiments:
                continue
            # archived chatbots, or servers without /api/experiments/ (2025 sessions embed
            # the experiment with its versions)
            try:
                if embedded.get(exp_id) is not None:
                    row, version_rows = parse_experiment(embedded[exp_id], slug)
                elif prev and exp_id in prev.experiments:
                    row, version_rows = prev.experiments[exp_id], prev.versions.get(exp_id, [])
                else:
                    raise MalformedRecord("not seen")
            except MalformedRecord:
                row = {
                    "experiment_id": exp_id,
                    "team_slug": slug,
                    "name": name,
                    "description": "",
                    "working_version": None,
                }
                version_rows = []
            experiments[exp_id] = row
            versions[exp_id] = version_rows
        return list(experiments.values()), [v for vs in versions.values() for v in vs], skipped


@dataclass
class _Slice:
    """Part of a list page's results, for :meth:`_TeamRun._parse_page`."""

    results: list


def _share(count: int, elapsed_ns: int, period_ns: int) -> int:
    """How many of ``count`` items one sync re-checks after ``elapsed_ns`` (rotation share)."""
    if count <= 0:
        return 0
    return min(count, max(1, math.ceil(count * min(1.0, elapsed_ns / period_ns))))


def _first_checked(
    prev: Previous | None,
    positions: np.ndarray,
    checked: np.ndarray,
    extra: list[tuple[int, str]],
    limit: int,
) -> list[str]:
    """The first ``limit`` session ids by (last checked, id): previous ``positions`` with their
    ``checked`` times, plus ``extra`` (checked, id) pairs."""
    if limit <= 0 or not (len(positions) or extra):
        return []
    ids = [pa.array([sid for _, sid in extra], pa.string())]
    if len(positions):
        ids.insert(0, prev.id_array(positions))
    table = pa.table(
        {
            "checked": pa.array(
                np.concatenate([checked, np.array([c for c, _ in extra], dtype=np.int64)]),
                pa.int64(),
            ),
            "sid": pa.concat_arrays(ids),
        }
    )
    order = pc.sort_indices(table, sort_keys=[("checked", "ascending"), ("sid", "ascending")])
    return table.column("sid").take(order[:limit]).to_pylist()


class _TeamRun:
    """One team's part of a sync: resume, head listing, re-check, transcripts, experiments."""

    def __init__(self, sync: _Sync, client: OCSClient, tid: str, index: int, count: int):
        self.sync = sync
        self.client = client
        self.tid = tid
        self.index, self.count = index, count
        self.settings = sync.settings
        self.rep = sync.reporter
        self.now = sync.now_ns
        self.state = sync.checkpoints.load_state(tid)
        self.team: dict | None = self.state.get("team") or None
        client.team = self.team
        self.full = sync.full
        self.skipped = 0
        self.listed: dict[str, dict] = {}
        self.embedded: dict[str, dict] = {}
        self.transcripts: dict[str, dict] = {}
        self.costs: dict[str, list[dict]] = {}
        self.fetched_at: dict[str, int] = {}
        self.journal_tx: set[str] = set()
        self.gone: set[str] = set()
        self.bad: set[str] = set()
        self.head_pages = 0
        self.head_next: str | None = None
        self.head_oldest: int | None = None
        self.head_done = False
        self.head_complete = False
        self.experiment_records: list | None = None
        self.experiments_read_ns = self.state.get("experiments_read_ns")
        self.swept: dict[str, dict] = {}
        self.swept_gone: set[int] = set()  # previous positions
        self.sweep_next = self.state.get("sweep_next")
        self.sweep_upper: int | None = self.state.get("sweep_upper")
        self.recheck_pages = 0
        self._old: np.ndarray | None = None
        self._newest: int | None = None
        self.kept: np.ndarray = _NONE
        self.fresh_old: dict[str, tuple[int, dict]] = {}

    # journal -------------------------------------------------------------------------------

    def _header(self) -> dict:
        return {
            "base_url": self.settings.ocs_api_base_url,
            "sync_format": SYNC_FORMAT,
            "full": self.full,
            "history_days": self.settings.sync_history_days,
            "started_ns": self.now,
        }

    def _resume(self) -> None:
        checkpoints = self.sync.checkpoints
        found = checkpoints.read_journal(self.tid)
        usable = False
        if found is not None:
            header, events = found
            usable = (
                header.get("base_url") == self.settings.ocs_api_base_url
                and header.get("sync_format") == SYNC_FORMAT
                and header.get("history_days") == self.settings.sync_history_days
                and self.now - int(header.get("started_ns") or 0) < RESUME_MAX_AGE_NS
                and (header.get("full") or not self.sync.full)
            )
        if not usable:
            checkpoints.start_journal(self.tid, self._header())
            return
        self.full = bool(header.get("full"))
        for event in events:
            kind = event.get("kind")
            if kind == "team":
                self.team = self.client.team = event["team"]
            elif kind == "page":
                self._take_page(event["rows"], event.get("embedded") or {}, event["next"])
                self.skipped += int(event.get("skipped") or 0)
            elif kind == "head_done":
                self.head_done, self.head_complete = True, bool(event.get("complete"))
            elif kind == "relist":
                self._take_relist(event["rows"], event.get("embedded") or {}, event["removed"])
                self.skipped += int(event.get("skipped") or 0)
            elif kind == "tx":
                sid = event["sid"]
                self.transcripts[sid] = event["summary"]
                self.costs[sid] = event["costs"]
                self.fetched_at[sid] = int(event["at"])
                self.journal_tx.add(sid)
            elif kind == "gone":
                self.gone.add(event["sid"])
            elif kind == "bad":
                self.bad.add(event["sid"])
                self.skipped += 1
            elif kind == "experiments":
                self.experiment_records = event["records"]
                self.experiments_read_ns = int(event["at"])
        if self.head_pages and self.head_next is None:
            self.head_done = self.head_complete = True
        log.info(
            "resuming %s: %s list pages and %s transcripts already fetched",
            self.client.label,
            self.head_pages,
            len(self.journal_tx),
        )

    def _journal(self, **event) -> None:
        self.sync.checkpoints.append(self.tid, event)

    # previous data -------------------------------------------------------------------------

    @property
    def slug(self) -> str | None:
        return self.team["slug"] if self.team else None

    @property
    def old(self) -> np.ndarray:
        """Positions of this team's sessions in the previous generation (none on full syncs)."""
        if self._old is None:
            prev = self.sync.previous
            if self.full or prev is None or self.slug is None:
                return _NONE
            self._old = prev.team_positions.get(self.slug, _NONE)
        return self._old

    def _state_valid(self) -> bool:
        prev = self.sync.previous
        return prev is not None and self.state.get("generation") == prev.generation

    def _checked_delta(self) -> dict:
        """Check times newer than the generation's own (re-checks of syncs that wrote none)."""
        return (self.state.get("checked") or {}) if self._state_valid() else {}

    def checked_at(self, sid: str, position: int) -> int:
        """When this session's transcript was last fetched (0 = unknown)."""
        value = self._checked_delta().get(sid)
        if value is not None:
            return int(value)
        prev = self.sync.previous
        return int(prev.fetched[position]) if prev is not None and position >= 0 else 0

    def checked_of(self, positions: np.ndarray) -> np.ndarray:
        """:meth:`checked_at` of many previous positions at once."""
        prev = self.sync.previous
        checked = prev.fetched[positions].copy()
        delta = self._checked_delta()
        if delta and len(positions):
            where = prev.positions(list(delta))
            values = np.array([int(v) for v in delta.values()], dtype=np.int64)
            found = where >= 0
            override = dict(zip(where[found].tolist(), values[found].tolist(), strict=True))
            hit = np.isin(positions, where[found])
            checked[hit] = [override[p] for p in positions[hit].tolist()]
        return checked

    # listing --------------------------------------------------------------------------------

    def _parse_page(self, page) -> tuple[list[dict], dict, int, bool]:
        rows, embedded, skipped, past_history = [], {}, 0, False
        for item in page.results:
            try:
                row = parse_session(item)
            except MalformedRecord as exc:
                skipped += 1
                log.warning("skipping malformed session record (%s): %s", self.client.label, exc)
                continue
            if self.team is None:  # the list call names the team: no probe needed
                self.team = self.client.team = {"slug": row["team_slug"], "name": row["team_name"]}
                self._journal(kind="team", team=self.team)
            cut = self.sync.history_cut
            if cut is not None and row["created_at"] < cut:
                past_history = True
                continue
            rows.append(row)
            if isinstance(item, dict) and row["experiment_id"] not in embedded:
                embedded[row["experiment_id"]] = item.get("experiment")
        return rows, embedded, skipped, past_history

    def _take_page(self, rows: list[dict], embedded: dict, next_url: str | None) -> None:
        for row in rows:
            self.listed[row["session_id"]] = row
            if self.head_oldest is None or row["created_at"] < self.head_oldest:
                self.head_oldest = row["created_at"]
        for exp_id, record in embedded.items():
            self.embedded.setdefault(exp_id, record)
        self.head_next = next_url
        self.head_pages += 1

    def _head_enough(self) -> bool:
        """Incremental: every new session seen and the overlap window or page cap reached."""
        old = self.old
        if not len(old) or self.head_oldest is None:
            return False
        if self._newest is None:
            self._newest = int(self.sync.previous.created[old].max())
        newest = self._newest
        if self.head_oldest > newest:
            return False  # still among new sessions
        window = newest - self.settings.sync_overlap_days * NS_PER_DAY
        return self.head_oldest < window or self.head_pages >= HEAD_PAGES

    def _take_relist(self, rows: list[dict], embedded: dict, removed: list[str]) -> None:
        """Apply a re-listed head (see :meth:`relist_head`) to what the journal holds."""
        for row in rows:
            sid = row["session_id"]
            before = self.listed.get(sid)
            if (
                before is not None
                and sid in self.journal_tx
                and (before["updated_at"], before["status"]) != (row["updated_at"], row["status"])
            ):
                self.journal_tx.discard(sid)  # changed since its transcript was fetched
            self.listed[sid] = row
        for exp_id, record in embedded.items():
            self.embedded.setdefault(exp_id, record)
        for sid in removed:  # deleted in OCS since the interrupted run listed it
            self.listed.pop(sid, None)
            self.journal_tx.discard(sid)
            self.gone.add(sid)

    def relist_head(self) -> None:
        """A resumed run: list the newest sessions again until it reaches sessions it has.

        The journal's pages were listed before the interruption; sessions created since then are
        newer than all of them, so they are only on the head pages (usually the first). Those
        pages are re-listed until one holds a session the journal already has (or one at least
        as old as the newest of them); the journal's ``next`` link then continues as before.
        Inside the re-listed range the listing is authoritative: changed tags and status land
        (a changed session's transcript is fetched again), sessions no longer listed are gone.
        """
        if not self.head_pages:
            return  # nothing listed yet: the head listing starts at the top anyway
        self.rep.update(force=True, phase="sessions", sessions_done=len(self.listed))
        known = set(self.listed)
        newest = max((row["created_at"] for row in self.listed.values()), default=None)
        rows: list[dict] = []
        embedded: dict = {}
        skipped = new_skipped = pages = 0
        complete = False
        for page in self.client.iter_pages("/sessions/", {"ordering": "-created_at"}):
            self.sync.check_cancel()
            pages += 1
            if page.count is not None:
                self.rep.update(sessions_total=page.count)
            # malformed records are counted once: those above the first known session are new
            cut = next(
                (
                    i
                    for i, item in enumerate(page.results)
                    if isinstance(item, dict) and item.get("id") in known
                ),
                len(page.results),
            )
            fresh = self._parse_page(_Slice(page.results[:cut]))
            seen = self._parse_page(_Slice(page.results[cut:]))
            new_skipped += fresh[2]
            skipped += fresh[2] + seen[2]
            page_rows = fresh[0] + seen[0]
            rows.extend(page_rows)
            embedded = {**fresh[1], **seen[1], **embedded}
            if page.next is None or not page.results:
                complete = True
                break
            if fresh[3] or seen[3] or cut < len(page.results):
                break
            if newest is not None and any(row["created_at"] <= newest for row in page_rows):
                break
        removed: list[str] = []
        if not skipped:  # a record that could not be read may be any session: remove none
            listed = {row["session_id"] for row in rows}
            oldest = min((row["created_at"] for row in rows), default=None)
            removed = sorted(
                sid
                for sid, row in self.listed.items()
                if sid not in listed
                and (complete or (oldest is not None and row["created_at"] > oldest))
            )
        self._take_relist(rows, embedded, removed)
        self.skipped += new_skipped
        self._journal(
            kind="relist", rows=rows, embedded=embedded, removed=removed, skipped=new_skipped
        )
        if complete and not self.head_done:  # the re-list reached the end: nothing left to list
            self.head_done = self.head_complete = True
            self._journal(kind="head_done", complete=True)
        log.info(
            "resumed %s: re-listed %s head page(s), %s new sessions, %s removed",
            self.client.label,
            pages,
            sum(1 for row in rows if row["session_id"] not in known),
            len(removed),
        )
        self.rep.update(force=True, sessions_done=len(self.listed))

    def list_head(self) -> None:
        if self.head_done:
            return
        rep = self.rep
        rep.update(force=True, phase="sessions", sessions_done=len(self.listed))
        start = self.head_next if self.head_pages else None
        complete = False
        for page in self.client.iter_pages("/sessions/", {"ordering": "-created_at"}, start):
            self.sync.check_cancel()
            if page.count is not None:
                rep.update(sessions_total=page.count)
            rows, embedded, skipped, past_history = self._parse_page(page)
            self.skipped += skipped
            self._take_page(rows, embedded, page.next)
            self._journal(
                kind="page", rows=rows, embedded=embedded, next=page.next, skipped=skipped
            )
            rep.update(sessions_done=len(self.listed))
            if page.next is None or not page.results or past_history:
                complete = True
                break
            if self._head_enough():
                break
        self.head_done, self.head_complete = True, complete
        self._journal(kind="head_done", complete=complete)
        rep.update(force=True, sessions_done=len(self.listed))

    def sweep(self, budget: int, elapsed: int) -> int:
        """Re-list a rotating share of the older pages; returns the requests used."""
        prev = self.sync.previous
        old = self.old
        if self.head_complete or not len(old) or self.head_oldest is None or budget <= 0:
            return 0
        created = prev.created[old]
        older = int((created <= self.head_oldest).sum())
        pages = math.ceil(older / self.client.policy.page_size)
        want = min(budget, _share(pages, elapsed, self.sync.recheck_ns))
        start = self.sweep_next or self.head_next
        if not want or not start:
            return 0
        used = 0
        # the walk is contiguous: sessions between the previous page's oldest (or the head's,
        # or where the last sync's walk stopped) and this page's oldest are all on this page
        upper = self.sweep_upper if self.sweep_next else self.head_oldest
        self.rep.update(force=True, phase="re-checking")
        for page in self.client.iter_pages("/sessions/", None, start):
            self.sync.check_cancel()
            used += 1
            rows, embedded, skipped, _past = self._parse_page(page)
            self.skipped += skipped
            for exp_id, record in embedded.items():
                self.embedded.setdefault(exp_id, record)
            listed = {row["session_id"]: row for row in rows}
            self._take_swept(listed)
            if rows and not skipped:  # sessions strictly inside the range are all listed
                newest = max(row["created_at"] for row in rows)
                oldest = min(row["created_at"] for row in rows)
                top = newest if upper is None else max(newest, upper)
                inside = old[(created > oldest) & (created < top)]
                self.swept_gone.update(
                    position
                    for sid, position in zip(prev.ids(inside), inside.tolist(), strict=True)
                    if sid not in listed
                )
                upper = oldest
            else:  # a record that could not be read may be any session: no range to trust
                upper = None
            self.sweep_next = page.next  # None: the walk is done, the next one starts over
            self.sweep_upper = upper if page.next else None
            if used >= want or page.next is None:
                break
        self.recheck_pages = used
        return used

    def _previous_rows(self, ids: list[str]) -> dict[str, tuple[int, dict]]:
        """For those of ``ids`` this team's previous sessions hold: (position, base row)."""
        prev = self.sync.previous
        where = prev.positions(ids)
        mine = np.isin(where, self.old)
        found = where[mine]
        chosen = [sid for sid, m in zip(ids, mine.tolist(), strict=True) if m]
        pairs = zip(found.tolist(), prev.base_rows(found), strict=True)
        return dict(zip(chosen, pairs, strict=True))

    def _take_swept(self, listed: dict[str, dict]) -> None:
        """Keep the re-listed sessions that differ from (or are missing in) the previous
        generation; an unchanged one stays a kept position instead of a Python row."""
        before = self._previous_rows(list(listed))
        self.swept.update(
            (sid, row) for sid, row in listed.items() if before.get(sid, (-1, None))[1] != row
        )

    # merge and transcripts ------------------------------------------------------------------

    def merged_rows(self) -> dict[str, dict]:
        """The sessions listed in this sync (swept pages, then the head), by id.

        Sets :attr:`kept`: the positions of this team's previous sessions that stay as they
        are (not listed again, not gone from a listed range, inside the history), and
        :attr:`fresh_old`: for listed sessions the previous generation has, (position, row).
        """
        prev = self.sync.previous
        old = self.old
        rows: dict[str, dict] = dict(self.swept)
        rows.update(self.listed)
        if not len(old):
            self.kept, self.fresh_old = _NONE, {}
            return rows
        self.fresh_old = self._previous_rows(list(rows))
        listed_old = np.array([p for p, _ in self.fresh_old.values()], dtype=np.int64)
        if self.head_complete:
            self.kept = _NONE
            return rows
        created = prev.created[old]
        keep = ~np.isin(old, listed_old)
        cut = self.sync.history_cut
        if cut is not None:
            keep &= created >= cut
        if self.head_oldest is not None:
            keep &= created <= self.head_oldest  # inside the listed range but not listed: deleted
        if self.swept_gone:
            keep &= ~np.isin(old, np.fromiter(self.swept_gone, dtype=np.int64))
        self.kept = old[keep]
        return rows

    def _wanted(self, positions: np.ndarray) -> np.ndarray:
        """:meth:`_Sync.wants_transcript` of previous positions, as a mask."""
        policy = self.settings.sync_transcripts
        if policy == "none":
            return np.zeros(len(positions), dtype=bool)
        if policy == "recent":
            prev, cut = self.sync.previous, self.sync.recent_cut
            if cut is None:
                return np.zeros(len(positions), dtype=bool)
            return np.maximum(prev.created[positions], prev.updated[positions]) >= cut
        return np.ones(len(positions), dtype=bool)

    def plan_transcripts(self, rows: dict, budget: int, elapsed: int) -> tuple[list, list, int]:
        """(changed sessions to fetch, re-check slice, overdue left behind by the cap).

        Listed sessions are planned one by one; kept sessions (unchanged by definition) as
        arrays: those without a transcript are fetched, open ones join the re-check rotation.
        """
        prev = self.sync.previous
        skip = self.journal_tx | self.gone | self.bad
        must: list[tuple[int, str]] = []
        classes: dict[str, list[tuple[int, str]]] = {"overdue": [], "recent": [], "older": []}
        due = self.now - self.sync.recheck_ns
        recent_cut = self.sync.recent_cut
        for sid, row in rows.items():
            if sid in skip or not self.sync.wants_transcript(row):
                continue
            position, old = self.fresh_old.get(sid, (-1, None))
            if (
                old is None
                or not prev.has_transcript[position]
                or row["updated_at"] != old["updated_at"]
                or row["status"] != old["status"]
            ):
                must.append((row["created_at"], sid))
                continue
            if row["status"] not in OPEN_STATUSES:
                continue
            checked = self.checked_at(sid, position)
            activity = max(row["created_at"], row["updated_at"], int(prev.last_message[position]))
            if checked < due:
                classes["overdue"].append((checked, sid))
            elif recent_cut is not None and activity >= recent_cut:
                classes["recent"].append((checked, sid))
            else:
                classes["older"].append((checked, sid))
        kept = self.kept
        arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        empty = (_NONE, _NONE)
        if len(kept):
            if skip:
                kept = kept[~np.isin(kept, prev.positions(list(skip)))]
            kept = kept[self._wanted(kept)]
            has = prev.has_transcript[kept]
            missing = kept[~has]
            must.extend(zip(prev.created[missing].tolist(), prev.ids(missing), strict=True))
            open_ = kept[has & self.sync.open[kept]]
            checked = self.checked_of(open_)
            activity = np.maximum.reduce(
                [prev.created[open_], prev.updated[open_], prev.last_message[open_]]
            )
            overdue = checked < due
            recent = ~overdue & (activity >= recent_cut if recent_cut is not None else False)
            older = ~overdue & ~recent
            for name, mask in (("overdue", overdue), ("recent", recent), ("older", older)):
                arrays[name] = (open_[mask], checked[mask])
        counts = {name: len(classes[name]) + len(arrays.get(name, empty)[0]) for name in classes}
        share = _share(counts["older"] + counts["overdue"], elapsed, self.sync.recheck_ns)
        share = max(0, share - counts["overdue"])
        room = max(0, budget)
        slice_: list[str] = []
        for name, limit in (("overdue", room), ("recent", room), ("older", share)):
            positions, checked = arrays.get(name, empty)
            take = min(limit, room - len(slice_))
            slice_ += _first_checked(prev, positions, checked, classes[name], take)
        behind = max(0, counts["overdue"] - room)
        must.sort(key=lambda item: (-item[0], item[1]))
        return [sid for _, sid in must], slice_, behind

    def _take_refetched_kept(self, rows: dict, refetched: set[str]) -> None:
        """Kept sessions whose transcript is fetched now (or was, before a resume) are built
        anew: their previous row joins ``rows`` and :attr:`fresh_old`, and leaves :attr:`kept`."""
        prev, kept = self.sync.previous, self.kept
        if not refetched or not len(kept):
            return
        moved = kept[np.isin(kept, prev.positions(list(refetched)))]
        if not len(moved):
            return
        self.kept = kept[~np.isin(kept, moved)]
        for sid, position, row in zip(
            prev.ids(moved), moved.tolist(), prev.base_rows(moved), strict=True
        ):
            rows[sid] = row
            self.fresh_old[sid] = (position, dict(row))

    def fetch_transcripts(self, ids: list[str]) -> None:
        """Fetch session details with bounded concurrency, journalling each one."""
        rep = self.rep
        done_before = len(self.journal_tx)
        total = len(ids) + done_before
        rep.update(
            force=True,
            phase="transcripts",
            transcripts_done=done_before,
            transcripts_total=total,
            resumed=done_before,
        )
        if not ids:
            return
        client = self.client
        workers = max(1, min(self.settings.sync_concurrency, len(ids)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocs-transcript")
        try:
            futures = {pool.submit(client.session_detail, sid): sid for sid in ids}
            for done, future in enumerate(as_completed(futures), done_before + 1):
                sid = futures[future]
                try:
                    detail = future.result()
                except NotFound:
                    self.gone.add(sid)  # deleted between listing and fetching
                    self._journal(kind="gone", sid=sid)
                    continue
                try:
                    summary, cost_rows = summarise_transcript(detail)
                except MalformedRecord as exc:
                    self.bad.add(sid)
                    self.skipped += 1
                    self._journal(kind="bad", sid=sid)
                    log.warning(
                        "skipping malformed transcript of a session (%s): %s", client.label, exc
                    )
                else:
                    self.transcripts[sid] = summary
                    self.costs[sid] = cost_rows
                    self.fetched_at[sid] = self.now
                    self._journal(kind="tx", sid=sid, summary=summary, costs=cost_rows, at=self.now)
                rep.update(transcripts_done=done)
                self.sync.check_cancel()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        rep.update(force=True, transcripts_done=total)

    # experiments ----------------------------------------------------------------------------

    def experiments(self, rows: dict) -> tuple[list, list, bool]:
        """(experiment rows, version rows, whether the list was read now)."""
        prev = self.sync.previous
        slug = self.slug
        known = prev.experiments if prev is not None else {}
        refs = prev.newest_experiment_names(self.kept) if prev is not None else {}
        for row in rows.values():
            exp_id, created = row["experiment_id"], row["created_at"]
            if exp_id not in refs or created > refs[exp_id][0]:
                refs[exp_id] = (created, row["experiment_name"])
        read_ns = self.experiments_read_ns if self._state_valid() else None
        fresh = read_ns is not None and self.now - int(read_ns) < EXPERIMENTS_EVERY_NS
        unknown = any(exp_id not in known for exp_id in refs)
        read = False
        if self.experiment_records is None and (self.full or prev is None or not fresh or unknown):
            self.experiment_records = self.client.experiments()
            self.experiments_read_ns = self.now
            self._journal(kind="experiments", records=self.experiment_records, at=self.now)
            read = True
        if self.experiment_records is not None:
            experiments, versions, skipped = self.sync.experiments(
                slug, self.experiment_records, self.embedded, refs
            )
            self.skipped += skipped
            return experiments, versions, read
        experiments = [row for row in known.values() if row["team_slug"] == slug]
        ids = {row["experiment_id"] for row in experiments}
        versions = [v for exp_id in ids for v in prev.versions.get(exp_id, [])]
        return experiments, versions, read

    # the run --------------------------------------------------------------------------------

    def run(self) -> _TeamResult:
        rep = self.rep
        client = self.client
        rep.update(
            force=True,
            phase="sessions",
            team_index=self.index,
            team_count=self.count,
            sessions_done=0,
            sessions_total=None,
            transcripts_done=0,
            transcripts_total=0,
            resumed=0,
        )
        self.sync.check_cancel()
        self._resume()
        self.relist_head()
        self.list_head()
        if self.team is None:  # a team without sessions: ask who the key belongs to
            self.team = client.probe()
            if self.team is None:
                self.team = {"slug": f"unknown-{client.fingerprint[-4:]}", "name": "Unknown team"}
            client.team = self.team
            self._journal(kind="team", team=self.team)
        slug = self.slug
        last = self.state.get("last_sync_ns") if self._state_valid() else None
        elapsed = self.sync.recheck_ns if last is None else max(0, self.now - int(last))
        budget = self.settings.sync_recheck_requests
        budget -= self.sweep(budget, elapsed)
        rows = self.merged_rows()

        prev = self.sync.previous
        must, slice_, behind = self.plan_transcripts(rows, budget, elapsed)
        fetching = set(must) | set(slice_)
        refetched = fetching | self.journal_tx
        if prev is not None:
            self._take_refetched_kept(rows, refetched)
            # listed sessions whose transcript is kept from the previous generation
            reuse = [
                (sid, position)
                for sid, (position, _old) in self.fresh_old.items()
                if sid not in refetched and prev.has_transcript[position]
            ]
            if reuse:
                positions = np.array([p for _, p in reuse], dtype=np.int64)
                old_costs = prev.costs_of(sid for sid, _ in reuse)
                for (sid, position), tx in zip(reuse, prev.transcripts(positions), strict=True):
                    self.transcripts[sid] = tx
                    self.costs[sid] = old_costs.get(sid, [])
                    checked = self.checked_at(sid, position)
                    if checked:
                        self.fetched_at[sid] = checked
        self.fetch_transcripts(must + slice_)
        for sid in self.gone:
            rows.pop(sid, None)
        if self.gone and len(self.kept):  # gone in an interrupted run, not fetched again now
            self.kept = self.kept[~np.isin(self.kept, prev.positions(list(self.gone)))]
        experiments, versions, _read = self.experiments(rows)

        kept = self.kept
        result = _TeamResult(
            team=self.team,
            tid=self.tid,
            rows=rows,
            kept=kept,
            kept_fetched=self.checked_of(kept) if len(kept) else _NONE,
            transcripts={sid: tx for sid, tx in self.transcripts.items() if sid in rows},
            costs={sid: c for sid, c in self.costs.items() if sid in rows},
            fetched_at={sid: t for sid, t in self.fetched_at.items() if sid in rows},
            experiments=experiments,
            versions=versions,
            state={},
            fetched=len(fetching - self.gone),
            resumed=len(self.journal_tx),
            skipped=self.skipped,
            requests=client.requests_made,
            retries=client.retries_made,
            rate_limited=client.rate_limited,
            waited_s=client.waited_s,
            recheck_pages=self.recheck_pages,
            recheck_transcripts=len(slice_),
            behind=behind,
        )
        compare = [
            (sid, position)
            for sid, (position, _old) in self.fresh_old.items()
            if sid in rows and sid in refetched
        ]
        old_tx = (
            dict(
                zip(
                    [sid for sid, _ in compare],
                    prev.transcripts(np.array([p for _, p in compare], dtype=np.int64)),
                    strict=True,
                )
            )
            if compare
            else {}
        )
        old_costs = prev.costs_of(old_tx) if compare else {}
        for sid, row in rows.items():
            found = self.fresh_old.get(sid)
            if found is None:
                result.new += 1
            elif found[1] != row or (
                sid in old_tx
                and (
                    old_tx[sid] != result.transcripts.get(sid)
                    or (old_costs.get(sid) or []) != (result.costs.get(sid) or [])
                )
            ):
                result.updated += 1
        in_rows = sum(1 for sid in self.fresh_old if sid in rows)
        result.deleted = len(self.old) - len(kept) - in_rows
        result.changed = (
            prev is None
            or self.full
            or bool(result.new or result.updated or result.deleted)
            or _experiments_differ(prev, slug, experiments, versions)
        )
        checked = dict(self._checked_delta())
        checked.update((sid, t) for sid, t in result.fetched_at.items() if sid in refetched)
        result.state = {
            "team": self.team,
            "checked": checked,
            "sweep_next": self.sweep_next,
            "sweep_upper": self.sweep_upper,
            "last_sync_ns": self.now,
            "experiments_read_ns": self.experiments_read_ns,
        }
        log.info(
            "team %s: %s listed, %s changed among re-listed pages, %s transcripts fetched (%s resumed), %s requests, "
            "%s retries, %s skipped",
            slug,
            len(self.listed),
            len(self.swept),
            result.fetched,
            result.resumed,
            client.requests_made,
            client.retries_made,
            self.skipped,
        )
        return result


def _experiments_differ(prev: Previous, slug: str, experiments: list, versions: list) -> bool:
    def key(rows, name):
        return sorted((tuple(sorted(r.items())) for r in rows), key=repr), name

    old = [row for row in prev.experiments.values() if row["team_slug"] == slug]
    ids = {row["experiment_id"] for row in old}
    old_versions = [v for exp_id in ids for v in prev.versions.get(exp_id, [])]
    return key(old, "e") != key(experiments, "e") or key(old_versions, "v") != key(versions, "v")


def run_sync(
    settings: Settings,
    *,
    full: bool = False,
    progress: Callable[[dict], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    policy: ClientPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    checkpoints: Checkpoints | None = None,
    after_success: Callable[[Settings], None] | None = None,
) -> SyncSummary:
    """Run one sync of every configured team under the cross-process lock.

    Returns the summary also when some teams failed (``summary.failed``, state "partial").
    ``after_success(settings)`` runs once the sync landed (ok or partial) and the lock is
    released (the entry points pass the alerts' hook, see services/sync/__main__.py); it must not
    raise.
    Raises :class:`~services.sync.status.SyncAlreadyRunning` when another sync holds the lock,
    :class:`SyncCancelled` on cancel, :class:`SyncError` when no key is configured and an
    :class:`~services.sync.client.OCSError` when every team failed. In every failure case the
    previous store generation stays current and the shared status records the outcome.
    ``policy``/``sleep`` tune the HTTP client (tests make waits instant); ``clock`` is the wall
    clock in seconds (tests move it forward to check the re-check bound); ``checkpoints``
    defaults to :func:`~services.sync.checkpoint.open_checkpoints` (PostgreSQL tables with
    ``DATABASE_URL``, else files in ``settings.sync_dir``).
    """
    if not settings.ocs_api_keys:
        raise SyncError("no OCS API key configured (set OCS_API_KEY or OCS_API_KEYS)")
    checkpoints = checkpoints or open_checkpoints(settings)
    tune_allocation()
    with sync_status.sync_lock(settings) as lock:
        started = time.time()
        reporter = _Reporter(settings, lock, progress)
        sync_status.write_status(
            settings,
            state="running",
            phase="starting",
            message="starting…",
            started_at=started,
            finished_at=None,
            last_error=None,
            summary=None,
            team_index=0,
            team_count=len(settings.ocs_api_keys),
            sessions_done=0,
            sessions_total=None,
            transcripts_done=0,
            transcripts_total=0,
            resumed=0,
            failed_teams=[],
        )
        reporter.fields.update(team_count=len(settings.ocs_api_keys))
        try:
            summary = _run(
                settings, full, reporter, should_cancel, policy, sleep, clock, checkpoints, started
            )
        except SyncCancelled as exc:
            reporter.finish("cancelled", last_error=None, message=str(exc), phase="")
            raise
        except TeamFailed as exc:
            reporter.finish("error", last_error=str(exc), message=str(exc))
            raise exc.cause from exc
        except OCSError as exc:
            reporter.finish("error", last_error=str(exc), message=str(exc))
            raise
        except BaseException as exc:
            text = _describe(exc)
            reporter.finish("error", last_error=text, message=text)
            raise
        finally:
            checkpoints.close()
        failures = [{"team": label, "error": why} for label, why in summary.failed.items()]
        reporter.finish(
            "partial" if summary.partial else "ok",
            last_ok_at=time.time(),
            last_checked_at=time.time(),
            changed=summary.changed,
            summary=summary.line(),
            message=summary.line(),
            phase="",
            failed_teams=failures,
            last_error=(
                "; ".join(f"{f['team']}: {f['error']}" for f in failures) if failures else None
            ),
        )
    if after_success is not None:
        after_success(settings)
    return summary


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return "sync interrupted"
    return f"sync failed: {type(exc).__name__}: {exc}"


def _run(
    settings, full, reporter, should_cancel, policy, sleep, clock, checkpoints, started
) -> SyncSummary:
    store = open_store(settings)
    previous = None if full else _load_previous(store, settings)
    now_ns = int(clock() * 1e9)
    sync = _Sync(
        settings, previous, reporter, should_cancel, policy, sleep, now_ns, checkpoints, full
    )
    keys = settings.ocs_api_keys
    results: list[_TeamResult] = []
    failures: list[TeamFailed] = []
    seen_teams: set[str] = set()
    seconds: dict[str, float] = {}
    for index, key in enumerate(keys, 1):
        team_started = time.monotonic()
        try:
            result = sync.sync_team(key, index, len(keys))
            seconds[result.team["slug"]] = time.monotonic() - team_started
        except TeamFailed as exc:
            log.warning("team sync failed (%s): %s", exc.label, exc)
            failures.append(exc)
            continue
        if result.team["slug"] in seen_teams:
            log.warning("two API keys belong to team %s; keeping the first", result.team["slug"])
            checkpoints.clear_journal(result.tid)
            continue
        seen_teams.add(result.team["slug"])
        results.append(result)
    sync.check_cancel()
    if failures and not results:
        if len(failures) == 1:
            raise failures[0]
        text = "; ".join(f"{f.label}: {f}" for f in failures)
        cause = type(failures[0].cause)(text)  # same kind as the first failure, all reasons
        raise TeamFailed(", ".join(f.label for f in failures), None, cause)
    reporter.update(force=True, phase="saving")
    # a failed team keeps its previous data, also on --full
    keep = previous
    if keep is None and full and failures:
        keep = _load_previous(store, settings)

    rows = [row for r in results for row in r.rows.values()]
    transcripts = {sid: tx for r in results for sid, tx in r.transcripts.items()}
    costs = {sid: c for r in results for sid, c in r.costs.items()}
    fetched_at = {sid: t for r in results for sid, t in r.fetched_at.items()}
    experiments = [e for r in results for e in r.experiments]
    versions = [v for r in results for v in r.versions]
    # previous sessions copied as they are: (positions, fetch times), all in ``base``
    base = previous if previous is not None else keep
    kept = [(r.kept, r.kept_fetched) for r in results if len(r.kept)]
    kept_teams = []
    for failure in failures:  # keep the failed team's previous data
        slug = failure.slug
        if keep is None or slug is None or slug in seen_teams or slug not in keep.team_positions:
            continue
        seen_teams.add(slug)
        positions = keep.team_positions[slug]
        kept.append((positions, keep.fetched[positions]))
        team_experiments = [e for e in keep.experiments.values() if e["team_slug"] == slug]
        experiments.extend(team_experiments)
        for row in team_experiments:
            versions.extend(keep.versions.get(row["experiment_id"], []))
        kept_teams.append(next(t for t in keep.meta.get("teams", []) if t["slug"] == slug))
    kept_count = sum(len(positions) for positions, _ in kept)
    removed_teams = (
        {slug for slug in previous.team_positions if slug not in seen_teams} if previous else set()
    )
    summary = SyncSummary(
        teams=[r.team["slug"] for r in results],
        full=previous is None,
        sessions_new=sum(r.new for r in results),
        sessions_updated=sum(r.updated for r in results),
        sessions_deleted=sum(r.deleted for r in results),
        sessions_total=len(rows) + kept_count,
        transcripts_fetched=sum(r.fetched for r in results),
        transcripts_resumed=sum(r.resumed for r in results),
        requests=sum(r.requests for r in results),
        requests_by_team={r.team["slug"]: r.requests for r in results},
        seconds_by_team={r.team["slug"]: seconds[r.team["slug"]] for r in results},
        retries=sum(r.retries for r in results),
        rate_limited=sum(r.rate_limited for r in results),
        waited_s=sum(r.waited_s for r in results),
        recheck_pages=sum(r.recheck_pages for r in results),
        recheck_transcripts=sum(r.recheck_transcripts for r in results),
        recheck_behind=sum(r.behind for r in results),
        skipped_malformed=sum(r.skipped for r in results),
        skipped_by_team={r.team["slug"]: r.skipped for r in results},
        failed={f.label: str(f) for f in failures},
    )
    if previous is not None:  # teams no longer configured disappear
        summary.sessions_deleted += sum(
            len(previous.team_positions[slug]) for slug in removed_teams
        )
    summary.changed = (
        previous is None
        or any(r.changed for r in results)
        or bool(removed_teams)
        or previous.meta.get("sync_transcripts") != settings.sync_transcripts
    )
    if summary.changed:
        meta = {
            "source": "ocs",
            "sync_format": SYNC_FORMAT,
            "base_url": settings.ocs_api_base_url,
            "teams": [r.team for r in results] + kept_teams,
            "synced_at": time.time(),
            "sync_started_at": started,
            "sync_full": summary.full,
            "sync_history_days": settings.sync_history_days,
            "sync_transcripts": settings.sync_transcripts,
            "requests": summary.requests_by_team,
            "skipped_malformed": summary.skipped_by_team,
            "transcripts_fetched": summary.transcripts_fetched,
            "failed_teams": summary.failed,
            "previous_generation": previous.generation if previous else None,
        }
        tables = next_generation(
            base, kept, rows, transcripts, costs, fetched_at, experiments, versions, meta
        )
        del rows, transcripts, costs
        summary.generation = store.write(tables)
    else:
        summary.generation = previous.generation
    for result in results:  # only now: the team's data is in the store
        state = dict(result.state, generation=summary.generation)
        if summary.changed:  # the generation holds every check time
            state["checked"] = {}
        checkpoints.save_state(result.tid, state)
        checkpoints.clear_journal(result.tid)
    summary.duration_s = time.time() - started
    log.info("%s", summary.line())
    return summary


# -- CLI ------------------------------------------------------------------------------------------


def _on_sigterm(signum, frame) -> None:
    raise SystemExit(EXIT_FAILED)


def main(
    argv: list[str] | None = None, after_success: Callable[[Settings], None] | None = None
) -> int:
    """``python -m services.sync [--full]``: one sync, one line of output, a clear exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m services.sync",
        description="Sync OCS sessions, transcripts and experiments into the dashboard's store.",
        epilog=(
            "exit codes: 0 ok, 1 failed (previous data kept), 2 configuration problem, "
            "3 already running, 4 cancelled, 5 partial (some teams failed; the others landed)"
        ),
    )
    parser.add_argument("--full", action="store_true", help="ignore stored data and re-read all")
    parser.add_argument("--verbose", "-v", action="store_true", help="log progress to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"sync not started: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not settings.ocs_api_keys:
        print(
            "sync not started: no OCS API key configured (set OCS_API_KEY or OCS_API_KEYS); "
            "the dashboard is showing demo data",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    signal.signal(signal.SIGTERM, _on_sigterm)
    if settings.database_url:
        from services.store.migrate import migrate

        try:
            migrate(settings.database_url)  # a no-op when the tables are up to date
        except StoreError as exc:
            print(f"sync not started: DATABASE_URL: {exc}", file=sys.stderr)
            return EXIT_FAILED
    try:
        summary = run_sync(settings, full=args.full, after_success=after_success)
    except SyncAlreadyRunning as exc:
        print(f"sync not started: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    except SyncCancelled as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CANCELLED
    except OCSError as exc:
        print(f"sync failed: {exc} (previous data kept)", file=sys.stderr)
        return EXIT_FAILED
    except (KeyboardInterrupt, SystemExit):
        print("sync interrupted (previous data kept)", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        log.debug("sync failed", exc_info=True)
        print(f"{_describe(exc)} (previous data kept)", file=sys.stderr)
        return EXIT_FAILED
    print(summary.line())
    return EXIT_PARTIAL if summary.partial else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
