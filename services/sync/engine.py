"""Sync OCS sessions, transcripts and experiments of every configured team into the store.

One API key = one team; all teams land in the same store generation. Per team:

1. probe the key (``/api/v2/me/``, falling back to ``/api/experiments/``),
2. experiments (chatbots) with published versions, descriptions and the default flag,
3. sessions newest first (``ordering=-created_at``, ``page_size=1500``),
4. transcripts (``/api/sessions/{id}/``) for the sessions that need one, with bounded
   concurrency, through :func:`services.sync.records.summarise_transcript`.

**Incremental.** When the current generation came from the same OCS base URL (``meta.source ==
"ocs"``), each already-known team is re-listed only down to its newest stored ``created_at``
minus ``SYNC_OVERLAP_DAYS``: inside that window the listing is authoritative (late tag/status
changes land, deleted sessions disappear); older sessions are carried over. A session's
transcript is (re)fetched when the policy wants one and

* it has none yet (new session, or a policy change), or
* its list item moved (``updated_at`` or ``status`` changed: e.g. the session just ended), or
* it is not ended (``setup``/``pending``/``active``, or unreported on 2025 servers) and was
  active within ``SYNC_RECENT_DAYS`` (last message, ``updated_at`` or creation), or
* it is not ended and its transcript is older than ``SYNC_RECENT_DAYS`` (a dormant WhatsApp
  session can wake up; it is re-checked once per window rather than on every sync).

New messages never move ``updated_at`` in OCS, so these rules are what make an incremental sync
equal a full resync for anything inside the windows. ``--full`` ignores the previous generation.
``SYNC_TRANSCRIPTS=recent`` restricts fetching to sessions created/updated within
``SYNC_RECENT_DAYS``; ``none`` fetches no transcripts. Transcripts fetched earlier are kept.

**Nothing lost.** The next generation is built in memory and written with
:meth:`services.store.parquet.Store.write` only when complete. An error, a cancel or a killed process
leaves the previous generation served; the outcome is recorded in the shared status
(:mod:`services.sync.status`).

CLI: ``python -m services.sync [--full] [--verbose]`` prints one summary line; exit codes are
:data:`EXIT_OK`, :data:`EXIT_FAILED`, :data:`EXIT_CONFIG`, :data:`EXIT_ALREADY_RUNNING`,
:data:`EXIT_CANCELLED`.
"""

from __future__ import annotations

import argparse
import logging
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
from services.store.schema import TRANSCRIPT_COLUMNS
from services.store.tables import Tables, build_tables
from services.sync import status as sync_status
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
NS_PER_DAY = 86_400 * 1_000_000_000
OPEN_STATUSES = frozenset({"setup", "pending", "active", UNREPORTED})
"""Sessions that may still receive messages. OCS treats pending-review, complete and unknown as
over (docs/ocs-api.md §8); 2025 servers send no status at all, so "unreported" counts as open."""
SYNC_STATE_SCHEMA = pa.schema(
    [("session_id", pa.string()), ("transcript_fetched_at", pa.timestamp("ns", tz="UTC"))]
)
_BASE_FIELDS = (
    "session_id",
    "url",
    "team_slug",
    "team_name",
    "experiment_id",
    "experiment_name",
    "participant_identifier",
    "participant_remote_id",
    "created_at",
    "updated_at",
    "status",
    "platform",
    "tags",
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_ALREADY_RUNNING = 3
EXIT_CANCELLED = 4


class SyncError(RuntimeError):
    """The sync cannot run (e.g. no API key configured); ``str(err)`` is for the user."""


class SyncCancelled(RuntimeError):
    """The sync was cancelled (``request_cancel`` or ``should_cancel()``); old data kept."""


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
    requests: int = 0
    requests_by_team: dict[str, int] = field(default_factory=dict)
    skipped_malformed: int = 0
    skipped_by_team: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    generation: int | None = None

    def line(self) -> str:
        kind = "full" if self.full else "incremental"
        return (
            f"sync ok ({kind}): {len(self.teams)} team{'s' * (len(self.teams) != 1)} "
            f"({', '.join(self.teams)}) · sessions {self.sessions_new:,} new, "
            f"{self.sessions_updated:,} updated, {self.sessions_deleted:,} removed, "
            f"{self.sessions_total:,} total · transcripts fetched {self.transcripts_fetched:,} · "
            f"requests {self.requests:,} · skipped malformed {self.skipped_malformed:,} · "
            f"{self.duration_s:.1f} s · generation {self.generation}"
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
        rows.setdefault(row["team_slug"], {})[sid] = {k: row[k] for k in _BASE_FIELDS}
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
    rows: dict[str, dict]
    transcripts: dict[str, dict]
    costs: dict[str, list[dict]]
    fetched_at: dict[str, int]
    experiments: list[dict]
    versions: list[dict]
    new: int = 0
    updated: int = 0
    deleted: int = 0
    fetched: int = 0
    skipped: int = 0
    requests: int = 0


class _Sync:
    def __init__(self, settings, previous, reporter, should_cancel, policy, sleep, now_ns):
        self.settings = settings
        self.previous = previous
        self.reporter = reporter
        self.should_cancel = should_cancel
        self.policy = policy
        self.sleep = sleep
        self.now_ns = now_ns
        self.history_cut = (
            now_ns - settings.sync_history_days * NS_PER_DAY if settings.sync_history_days else None
        )
        days = settings.sync_recent_days
        self.recent_cut = now_ns - days * NS_PER_DAY if days else None

    def check_cancel(self) -> None:
        if self.reporter.cancel_requested(self.should_cancel):
            raise SyncCancelled("sync cancelled; the previous data is still shown")

    # window --------------------------------------------------------------------------------

    def window_start(self, slug: str) -> int | None:
        """Oldest ``created_at`` to re-list for a team (None = everything)."""
        start = self.history_cut
        prev = self.previous.rows.get(slug) if self.previous else None
        if prev:
            newest = max(row["created_at"] for row in prev.values())
            overlap = newest - self.settings.sync_overlap_days * NS_PER_DAY
            start = overlap if start is None else max(start, overlap)
        return start

    # transcript rule -------------------------------------------------------------------------

    def wants_transcript(self, row: dict) -> bool:
        policy = self.settings.sync_transcripts
        if policy == "none":
            return False
        if policy == "recent":
            if self.recent_cut is None:
                return False
            return max(row["created_at"], row["updated_at"]) >= self.recent_cut
        return True

    def needs_fetch(
        self, row: dict, old: dict | None, old_tx: dict | None, fetched: int | None
    ) -> bool:
        if not self.wants_transcript(row):
            return False
        if old is None or old_tx is None:
            return True
        if row["updated_at"] != old["updated_at"] or row["status"] != old["status"]:
            return True
        if row["status"] not in OPEN_STATUSES or self.recent_cut is None:
            return False
        activity = max(row["created_at"], row["updated_at"], old_tx.get("last_message_at") or 0)
        if activity >= self.recent_cut:
            return True
        return fetched is None or fetched < self.recent_cut

    # per team ------------------------------------------------------------------------------

    def sync_team(self, key: str, index: int, count: int) -> _TeamResult:
        settings = self.settings
        client = OCSClient(key, settings.ocs_api_base_url, policy=self.policy, sleep=self.sleep)
        try:
            return self._sync_team(client, index, count)
        finally:
            client.close()

    def _sync_team(self, client: OCSClient, index: int, count: int) -> _TeamResult:
        rep = self.reporter
        rep.update(
            force=True,
            phase="experiments",
            team_index=index,
            team_count=count,
            sessions_done=0,
            sessions_total=None,
            transcripts_done=0,
            transcripts_total=0,
        )
        self.check_cancel()
        team = client.probe()
        experiment_records = client.experiments()
        self.check_cancel()

        rep.update(force=True, phase="sessions")
        skipped = 0
        listed: dict[str, dict] = {}
        embedded: dict[str, dict] = {}
        window: list[int | None] = []  # resolved once the team is known

        def on_page(page) -> None:
            self.check_cancel()
            if page.count is not None:
                rep.update(sessions_total=page.count)

        for item in client.sessions(on_page=on_page):
            try:
                row = parse_session(item)
            except MalformedRecord as exc:
                skipped += 1
                log.warning("skipping malformed session record (%s): %s", client.label, exc)
                continue
            if team is None:  # 2025 servers: the team comes from the first session
                team = {"slug": row["team_slug"], "name": row["team_name"]}
                client.team = team
            if not window:
                window.append(self.window_start(team["slug"]))
            if window[0] is not None and row["created_at"] < window[0]:
                break  # newest first: everything after this is older
            listed[row["session_id"]] = row
            embedded.setdefault(row["experiment_id"], item.get("experiment"))
            rep.update(sessions_done=len(listed))
        rep.update(force=True, sessions_done=len(listed))

        if team is None:
            team = {"slug": f"unknown-{client.fingerprint[-4:]}", "name": "Unknown team"}
            client.team = team
        slug = team["slug"]
        start = window[0] if window else self.window_start(slug)
        prev = self.previous
        old_rows = prev.rows.get(slug, {}) if prev else {}

        # merge: the listing is authoritative inside the window, the store below it
        rows = dict(listed)
        for sid, old in old_rows.items():
            if sid in rows or (start is not None and old["created_at"] >= start):
                continue
            if self.history_cut is not None and old["created_at"] < self.history_cut:
                continue
            rows[sid] = old

        transcripts: dict[str, dict] = {}
        costs: dict[str, list[dict]] = {}
        fetched_at: dict[str, int] = {}
        to_fetch = []
        for sid, row in rows.items():
            old_tx = prev.transcripts.get(sid) if prev else None
            fetched = prev.fetched_at.get(sid) if prev else None
            if self.needs_fetch(row, old_rows.get(sid), old_tx, fetched):
                to_fetch.append(sid)
            elif old_tx is not None:
                transcripts[sid] = old_tx
                costs[sid] = prev.costs.get(sid, [])
                if fetched is not None:
                    fetched_at[sid] = fetched
        to_fetch.sort(key=lambda s: rows[s]["created_at"], reverse=True)

        gone, bad = self.fetch_transcripts(client, to_fetch, transcripts, costs, fetched_at)
        skipped += bad
        for sid in gone:
            rows.pop(sid, None)

        experiments, versions, exp_skipped = self.experiments(
            slug, experiment_records, embedded, rows
        )
        skipped += exp_skipped

        result = _TeamResult(
            team=team,
            rows=rows,
            transcripts=transcripts,
            costs=costs,
            fetched_at=fetched_at,
            experiments=experiments,
            versions=versions,
            fetched=len(to_fetch) - len(gone),
            skipped=skipped,
            requests=client.requests_made,
        )
        refetched = set(to_fetch)
        for sid, row in rows.items():
            old = old_rows.get(sid)
            if old is None:
                result.new += 1
            elif old != row or (
                sid in refetched and prev.transcripts.get(sid) != transcripts.get(sid)
            ):
                result.updated += 1
        result.deleted = sum(1 for sid in old_rows if sid not in rows)
        log.info(
            "team %s: %s sessions listed, %s transcripts fetched, %s requests, %s skipped",
            slug,
            len(listed),
            result.fetched,
            client.requests_made,
            skipped,
        )
        return result

    def fetch_transcripts(self, client, ids, transcripts, costs, fetched_at) -> tuple[set, int]:
        """Fetch session details with bounded concurrency; returns (deleted ids, malformed)."""
        rep = self.reporter
        rep.update(force=True, phase="transcripts", transcripts_done=0, transcripts_total=len(ids))
        gone: set[str] = set()
        bad = 0
        if not ids:
            return gone, bad
        workers = max(1, min(self.settings.sync_concurrency, len(ids)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocs-transcript")
        try:
            futures = {pool.submit(client.session_detail, sid): sid for sid in ids}
            for done, future in enumerate(as_completed(futures), 1):
                sid = futures[future]
                try:
                    detail = future.result()
                except NotFound:
                    gone.add(sid)  # deleted between listing and fetching
                    continue
                try:
                    summary, cost_rows = summarise_transcript(detail)
                except MalformedRecord as exc:
                    bad += 1
                    log.warning(
                        "skipping malformed transcript of a session (%s): %s", client.label, exc
                    )
                else:
                    transcripts[sid] = summary
                    costs[sid] = cost_rows
                    fetched_at[sid] = time.time_ns()
                rep.update(transcripts_done=done)
                self.check_cancel()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        rep.update(force=True, transcripts_done=len(ids))
        return gone, bad

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


def run_sync(
    settings: Settings,
    *,
    full: bool = False,
    progress: Callable[[dict], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    policy: ClientPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncSummary:
    """Run one sync of every configured team under the cross-process lock.

    Raises :class:`~services.sync.status.SyncAlreadyRunning` when another sync holds the lock,
    :class:`SyncCancelled` on cancel, :class:`SyncError` when no key is configured and
    :class:`~services.sync.client.OCSError` subclasses for API failures. In every failure case the
    previous store generation stays current and the shared status records the outcome.
    ``policy``/``sleep`` tune the HTTP client (tests make waits instant).
    """
    if not settings.ocs_api_keys:
        raise SyncError("no OCS API key configured (set OCS_API_KEY or OCS_API_KEYS)")
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
        )
        reporter.fields.update(team_count=len(settings.ocs_api_keys))
        try:
            summary = _run(settings, full, reporter, should_cancel, policy, sleep, started)
        except SyncCancelled as exc:
            reporter.finish("cancelled", last_error=None, message=str(exc), phase="")
            raise
        except OCSError as exc:
            reporter.finish("error", last_error=str(exc), message=str(exc))
            raise
        except BaseException as exc:
            text = _describe(exc)
            reporter.finish("error", last_error=text, message=text)
            raise
        reporter.finish(
            "ok",
            last_ok_at=time.time(),
            summary=summary.line(),
            message=summary.line(),
            phase="",
            last_error=None,
        )
        return summary


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return "sync interrupted"
    return f"sync failed: {type(exc).__name__}: {exc}"


def _run(settings, full, reporter, should_cancel, policy, sleep, started) -> SyncSummary:
    store = open_store(settings)
    previous = None if full else _load_previous(store, settings)
    sync = _Sync(settings, previous, reporter, should_cancel, policy, sleep, time.time_ns())
    keys = settings.ocs_api_keys
    results: list[_TeamResult] = []
    seen_teams: set[str] = set()
    for index, key in enumerate(keys, 1):
        result = sync.sync_team(key, index, len(keys))
        if result.team["slug"] in seen_teams:
            log.warning("two API keys belong to team %s; keeping the first", result.team["slug"])
            continue
        seen_teams.add(result.team["slug"])
        results.append(result)
    sync.check_cancel()
    reporter.update(force=True, phase="saving")

    rows = [row for r in results for row in r.rows.values()]
    rows.sort(key=lambda r: (r["created_at"], r["session_id"]), reverse=True)
    transcripts = {sid: tx for r in results for sid, tx in r.transcripts.items()}
    costs = {sid: c for r in results for sid, c in r.costs.items()}
    fetched_at = {sid: t for r in results for sid, t in r.fetched_at.items()}
    experiments = [e for r in results for e in r.experiments]
    versions = [v for r in results for v in r.versions]
    summary = SyncSummary(
        teams=[r.team["slug"] for r in results],
        full=previous is None,
        sessions_new=sum(r.new for r in results),
        sessions_updated=sum(r.updated for r in results),
        sessions_deleted=sum(r.deleted for r in results),
        sessions_total=len(rows),
        transcripts_fetched=sum(r.fetched for r in results),
        requests=sum(r.requests for r in results),
        requests_by_team={r.team["slug"]: r.requests for r in results},
        skipped_malformed=sum(r.skipped for r in results),
        skipped_by_team={r.team["slug"]: r.skipped for r in results},
    )
    if previous is not None:  # teams no longer configured disappear
        summary.sessions_deleted += sum(
            len(team_rows) for slug, team_rows in previous.rows.items() if slug not in seen_teams
        )
    meta = {
        "source": "ocs",
        "sync_format": SYNC_FORMAT,
        "base_url": settings.ocs_api_base_url,
        "teams": [r.team for r in results],
        "synced_at": time.time(),
        "sync_started_at": started,
        "sync_full": summary.full,
        "sync_history_days": settings.sync_history_days,
        "sync_transcripts": settings.sync_transcripts,
        "requests": summary.requests_by_team,
        "skipped_malformed": summary.skipped_by_team,
        "transcripts_fetched": summary.transcripts_fetched,
        "previous_generation": previous.generation if previous else None,
    }
    tables: Tables = build_tables(rows, transcripts, costs, experiments, versions, meta)
    ids = [row["session_id"] for row in rows]
    tables.sync_state = pa.table(
        {"session_id": ids, "transcript_fetched_at": [fetched_at.get(sid) for sid in ids]},
        schema=SYNC_STATE_SCHEMA,
    )
    summary.generation = store.write(tables)
    summary.duration_s = time.time() - started
    log.info("%s", summary.line())
    return summary


# -- CLI ------------------------------------------------------------------------------------------


def _on_sigterm(signum, frame) -> None:
    raise SystemExit(EXIT_FAILED)


def main(argv: list[str] | None = None) -> int:
    """``python -m services.sync [--full]``: one sync, one line of output, a clear exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m services.sync",
        description="Sync OCS sessions, transcripts and experiments into the dashboard's store.",
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
        summary = run_sync(settings, full=args.full)
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
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
