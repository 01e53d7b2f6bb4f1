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

import pyarrow as pa

from services.settings import Settings, SettingsError, load_settings
from services.store.backend import StoreBackend, open_store
from services.store.parquet import StoreError
from services.store.schema import NS_PER_DAY, SESSION_BASE_COLUMNS, TRANSCRIPT_COLUMNS
from services.store.tables import Tables, build_tables
from services.sync import status as sync_status
from services.sync.checkpoint import Checkpoints, open_checkpoints, team_id
from services.sync.client import ClientPolicy, NotFound, OCSClient, OCSError
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
SYNC_STATE_SCHEMA = pa.schema(
    [("session_id", pa.string()), ("transcript_fetched_at", pa.timestamp("ns", tz="UTC"))]
)

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


def _rows(table: pa.Table) -> list[dict]:
    """Arrow rows as dicts, timestamps as epoch nanoseconds (like services.sync.records emits)."""
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        columns[name] = column
    return pa.table(columns).to_pylist()


@dataclass
class _Previous:
    generation: int
    meta: dict
    rows: dict[str, dict[str, dict]]  # team slug → session id → base row
    transcripts: dict[str, dict]
    costs: dict[str, list[dict]]
    fetched_at: dict[str, int]
    experiments: dict[str, dict]
    versions: dict[str, list[dict]]


def _load_previous(store: StoreBackend, settings: Settings) -> _Previous | None:
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
    rows: dict[str, dict[str, dict]] = {}
    transcripts: dict[str, dict] = {}
    for row in _rows(tables.sessions):
        sid = row["session_id"]
        rows.setdefault(row["team_slug"], {})[sid] = {k: row[k] for k in SESSION_BASE_COLUMNS}
        if row["has_transcript"]:
            transcripts[sid] = {k: row[k] for k in TRANSCRIPT_COLUMNS}
    costs: dict[str, list[dict]] = {}
    for row in tables.session_costs.to_pylist():
        sid = row.pop("session_id")
        costs.setdefault(sid, []).append(row)
    fetched_at = {}
    if tables.sync_state is not None:
        for row in _rows(tables.sync_state):
            if row["transcript_fetched_at"] is not None:
                fetched_at[row["session_id"]] = row["transcript_fetched_at"]
    versions: dict[str, list[dict]] = {}
    for row in tables.experiment_versions.to_pylist():
        versions.setdefault(row["experiment_id"], []).append(row)
    experiments = {row["experiment_id"]: row for row in tables.experiments.to_pylist()}
    return _Previous(
        int(meta.get("generation") or 0),
        meta,
        rows,
        transcripts,
        costs,
        fetched_at,
        experiments,
        versions,
    )


# -- the sync -------------------------------------------------------------------------------------


@dataclass
class _TeamResult:
    team: dict
    tid: str
    rows: dict[str, dict]
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
        self.previous: _Previous | None = previous
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

    def experiments(self, slug, records, embedded, rows) -> tuple[list, list, int]:
        """Experiments from the list endpoint, plus referenced ones it does not list."""
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
        for session in sorted(rows.values(), key=lambda r: r["created_at"], reverse=True):
            exp_id = session["experiment_id"]
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
                    "name": session["experiment_name"],
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
        self.swept_gone: set[str] = set()
        self.sweep_next = self.state.get("sweep_next")
        self.recheck_pages = 0
        self._old_rows: dict[str, dict] | None = None

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
    def old_rows(self) -> dict[str, dict]:
        """This team's rows in the previous generation (empty on full syncs)."""
        if self._old_rows is None:
            prev = self.sync.previous
            if self.full or prev is None or self.slug is None:
                return {}
            self._old_rows = prev.rows.get(self.slug, {})
        return self._old_rows

    def _state_valid(self) -> bool:
        prev = self.sync.previous
        return prev is not None and self.state.get("generation") == prev.generation

    def checked_at(self, sid: str) -> int:
        """When this session's transcript was last fetched (0 = unknown)."""
        if self._state_valid():
            value = (self.state.get("checked") or {}).get(sid)
            if value is not None:
                return int(value)
        prev = self.sync.previous
        return int(prev.fetched_at.get(sid) or 0) if prev else 0

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
        old = self.old_rows
        if not old or self.head_oldest is None:
            return False
        newest = max(row["created_at"] for row in old.values())
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
        old = self.old_rows
        if self.head_complete or not old or self.head_oldest is None or budget <= 0:
            return 0
        older = sum(1 for row in old.values() if row["created_at"] <= self.head_oldest)
        pages = math.ceil(older / self.client.policy.page_size)
        want = min(budget, _share(pages, elapsed, self.sync.recheck_ns))
        start = self.sweep_next or self.head_next
        if not want or not start:
            return 0
        used = 0
        self.rep.update(force=True, phase="re-checking")
        for page in self.client.iter_pages("/sessions/", None, start):
            self.sync.check_cancel()
            used += 1
            rows, embedded, skipped, _past = self._parse_page(page)
            self.skipped += skipped
            for exp_id, record in embedded.items():
                self.embedded.setdefault(exp_id, record)
            listed = {row["session_id"]: row for row in rows}
            self.swept.update(listed)
            if rows and not skipped:  # sessions strictly inside the page's range are all listed
                newest = max(row["created_at"] for row in rows)
                oldest = min(row["created_at"] for row in rows)
                self.swept_gone.update(
                    sid
                    for sid, row in old.items()
                    if oldest < row["created_at"] < newest and sid not in listed
                )
            self.sweep_next = page.next  # None: the walk is done, the next one starts over
            if used >= want or page.next is None:
                break
        self.recheck_pages = used
        return used

    # merge and transcripts ------------------------------------------------------------------

    def merged_rows(self) -> dict[str, dict]:
        rows: dict[str, dict] = {}
        cut = self.sync.history_cut
        if not self.head_complete:
            for sid, old in self.old_rows.items():
                if cut is not None and old["created_at"] < cut:
                    continue
                if self.head_oldest is not None and old["created_at"] > self.head_oldest:
                    continue  # inside the listed range but not listed: deleted in OCS
                if sid in self.swept_gone:
                    continue
                rows[sid] = old
        rows.update(self.swept)
        rows.update(self.listed)
        return rows

    def plan_transcripts(self, rows: dict, budget: int, elapsed: int) -> tuple[list, list, int]:
        """(changed sessions to fetch, re-check slice, overdue left behind by the cap)."""
        prev = self.sync.previous
        old_rows = self.old_rows
        must, overdue, recent, older = [], [], [], []
        due = self.now - self.sync.recheck_ns
        recent_cut = self.sync.recent_cut
        for sid, row in rows.items():
            if sid in self.journal_tx or sid in self.gone or sid in self.bad:
                continue
            if not self.sync.wants_transcript(row):
                continue
            old = old_rows.get(sid)
            old_tx = prev.transcripts.get(sid) if prev and old is not None else None
            if (
                old is None
                or old_tx is None
                or row["updated_at"] != old["updated_at"]
                or row["status"] != old["status"]
            ):
                must.append(sid)
                continue
            if row["status"] not in OPEN_STATUSES:
                continue
            checked = self.checked_at(sid)
            activity = max(row["created_at"], row["updated_at"], old_tx.get("last_message_at") or 0)
            if checked < due:
                overdue.append((checked, sid))
            elif recent_cut is not None and activity >= recent_cut:
                recent.append((checked, sid))
            else:
                older.append((checked, sid))
        overdue.sort()
        recent.sort()
        older.sort()
        share = _share(len(older) + len(overdue), elapsed, self.sync.recheck_ns)
        share = max(0, share - len(overdue))
        slice_ = [sid for _, sid in overdue + recent + older[:share]][: max(0, budget)]
        behind = max(0, len(overdue) - max(0, budget))
        must.sort(key=lambda s: rows[s]["created_at"], reverse=True)
        return must, slice_, behind

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
        read_ns = self.experiments_read_ns if self._state_valid() else None
        fresh = read_ns is not None and self.now - int(read_ns) < EXPERIMENTS_EVERY_NS
        unknown = any(row["experiment_id"] not in known for row in rows.values())
        read = False
        if self.experiment_records is None and (self.full or prev is None or not fresh or unknown):
            self.experiment_records = self.client.experiments()
            self.experiments_read_ns = self.now
            self._journal(kind="experiments", records=self.experiment_records, at=self.now)
            read = True
        if self.experiment_records is not None:
            experiments, versions, skipped = self.sync.experiments(
                slug, self.experiment_records, self.embedded, rows
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
        # transcripts kept from the previous generation (not re-fetched this time)
        fetching = set(must) | set(slice_)
        for sid in rows:
            if sid in self.journal_tx or sid in fetching or prev is None:
                continue
            if sid in self.old_rows and sid in prev.transcripts:
                self.transcripts[sid] = prev.transcripts[sid]
                self.costs[sid] = prev.costs.get(sid, [])
                checked = self.checked_at(sid)
                if checked:
                    self.fetched_at[sid] = checked
        self.fetch_transcripts(must + slice_)
        for sid in self.gone:
            rows.pop(sid, None)
        experiments, versions, _read = self.experiments(rows)

        old_rows = self.old_rows
        refetched = fetching | self.journal_tx
        result = _TeamResult(
            team=self.team,
            tid=self.tid,
            rows=rows,
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
        for sid, row in rows.items():
            old = old_rows.get(sid)
            if old is None:
                result.new += 1
            elif old != row or (
                sid in refetched
                and (
                    prev.transcripts.get(sid) != result.transcripts.get(sid)
                    or (prev.costs.get(sid) or []) != (result.costs.get(sid) or [])
                )
            ):
                result.updated += 1
        result.deleted = sum(1 for sid in old_rows if sid not in rows)
        result.changed = (
            prev is None
            or self.full
            or bool(result.new or result.updated or result.deleted)
            or _experiments_differ(prev, slug, experiments, versions)
        )
        result.state = {
            "team": self.team,
            "checked": dict(result.fetched_at),
            "sweep_next": self.sweep_next,
            "last_sync_ns": self.now,
            "experiments_read_ns": self.experiments_read_ns,
        }
        log.info(
            "team %s: %s listed, %s re-listed, %s transcripts fetched (%s resumed), %s requests, "
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


def _experiments_differ(prev: _Previous, slug: str, experiments: list, versions: list) -> bool:
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
    # a failed team keeps its previous data, also on --full
    keep = previous if previous is not None or not full else _load_previous(store, settings)
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

    rows = [row for r in results for row in r.rows.values()]
    transcripts = {sid: tx for r in results for sid, tx in r.transcripts.items()}
    costs = {sid: c for r in results for sid, c in r.costs.items()}
    fetched_at = {sid: t for r in results for sid, t in r.fetched_at.items()}
    experiments = [e for r in results for e in r.experiments]
    versions = [v for r in results for v in r.versions]
    kept_teams = []
    for failure in failures:  # keep the failed team's previous data
        slug = failure.slug
        if keep is None or slug is None or slug in seen_teams or slug not in keep.rows:
            continue
        seen_teams.add(slug)
        team_rows = keep.rows[slug]
        rows.extend(team_rows.values())
        for sid in team_rows:
            if sid in keep.transcripts:
                transcripts[sid] = keep.transcripts[sid]
                costs[sid] = keep.costs.get(sid, [])
            if sid in keep.fetched_at:
                fetched_at[sid] = keep.fetched_at[sid]
        team_experiments = [e for e in keep.experiments.values() if e["team_slug"] == slug]
        experiments.extend(team_experiments)
        for row in team_experiments:
            versions.extend(keep.versions.get(row["experiment_id"], []))
        kept_teams.append(next(t for t in keep.meta.get("teams", []) if t["slug"] == slug))
    rows.sort(key=lambda r: (r["created_at"], r["session_id"]), reverse=True)
    removed_teams = (
        {slug for slug in previous.rows if slug not in seen_teams} if previous else set()
    )
    summary = SyncSummary(
        teams=[r.team["slug"] for r in results],
        full=previous is None,
        sessions_new=sum(r.new for r in results),
        sessions_updated=sum(r.updated for r in results),
        sessions_deleted=sum(r.deleted for r in results),
        sessions_total=len(rows),
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
        summary.sessions_deleted += sum(len(previous.rows[slug]) for slug in removed_teams)
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
        tables: Tables = build_tables(rows, transcripts, costs, experiments, versions, meta)
        ids = [row["session_id"] for row in rows]
        tables.sync_state = pa.table(
            {"session_id": ids, "transcript_fetched_at": [fetched_at.get(sid) for sid in ids]},
            schema=SYNC_STATE_SCHEMA,
        )
        summary.generation = store.write(tables)
    else:
        summary.generation = previous.generation
    for result in results:  # only now: the team's data is in the store
        checkpoints.save_state(result.tid, dict(result.state, generation=summary.generation))
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
