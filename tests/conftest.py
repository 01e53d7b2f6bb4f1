"""Shared fixtures: hand-built datasets from compact session dicts and a small demo dataset."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.store.dataset import Dataset
from services.store.tables import build_tables
from services.sync import demo
from services.sync.records import parse_session, parse_timestamp, summarise_transcript

TESTS = Path(__file__).resolve().parent
MARKED_FOLDERS = {"browser": "browser", "deploy": "deploy"}
"""Folder of tests/ → the marker (registered in pyproject.toml) every test in it gets, so
``-m "not browser and not deploy"`` leaves them out without a ``pytestmark`` in each file."""


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(item.path).resolve()
        if not path.is_relative_to(TESTS):
            continue
        folder = path.relative_to(TESTS).parts[0]
        if folder in MARKED_FOLDERS:
            item.add_marker(MARKED_FOLDERS[folder])


DEMO_ANCHOR = date(2026, 11, 22)
DEMO_SESSIONS = 2000


def session_record(
    sid: str,
    created: str = "2026-11-10T12:00:00Z",
    team: str = "team-a",
    exp: str = "exp-1",
    pid: str = "p1",
    status: str = "active",
    platform: str = "web",
    tags: list[str] | tuple[str, ...] = (),
    exp_name: str | None = None,
) -> dict:
    """An OCS session list item (docs/ocs-api.md §6.1) with the given essentials."""
    return {
        "url": f"https://ocs.invalid/api/sessions/{sid}/",
        "id": sid,
        "team": {"name": team.replace("-", " ").title(), "slug": team},
        "experiment": {
            "id": exp,
            "name": exp_name or f"Bot {exp}",
            "description": None,
            "url": f"https://ocs.invalid/api/experiments/{exp}/",
            "version_number": 3,
        },
        "participant": {"identifier": pid, "remote_id": ""},
        "created_at": created,
        "updated_at": created,
        "status": status,
        "platform": platform,
        "tags": list(tags),
        "state": {},
    }


def _summary(spec: dict) -> dict | None:
    """Transcript columns for a compact spec, or None when the transcript is unknown."""
    if "messages" in spec:
        summary, _ = summarise_transcript(
            {"messages": spec["messages"], "usage": spec.get("usage")}
        )
        return summary
    if spec.get("human") is None and spec.get("ai") is None:
        return None
    created = parse_timestamp(spec.get("created", "2026-11-10T12:00:00Z"))
    return {
        "human_messages": spec.get("human", 0),
        "ai_messages": spec.get("ai", 0),
        "first_message_at": created,
        "last_message_at": created + spec.get("duration_s", 60) * 10**9,
        "user_words": spec.get("words", 0),
        "ai_words": spec.get("bot_words", 0),
        "versions": list(spec.get("versions", ())),
        "thumbs_up": spec.get("up", 0),
        "thumbs_down": spec.get("down", 0),
        "cost_usd": spec.get("cost"),
        "appreciation_hits": spec.get("liked", 0),
        "dissatisfaction_hits": spec.get("disliked", 0),
    }


_RECORD_KEYS = ("created", "team", "exp", "pid", "status", "platform", "tags", "exp_name")


def build_dataset(specs: list[dict], generation: int = 1) -> Dataset:
    """Dataset from compact session dicts.

    Each dict needs ``id``; optional ``created`` (ISO), ``team``, ``exp``, ``pid``, ``status``,
    ``platform``, ``tags``; transcript either as ``messages`` (OCS detail messages, fed through
    :func:`summarise_transcript`) or as ``human``/``ai``/``versions``/``up``/``down``/``cost``/
    ``liked``/``disliked`` (lexicon hits, default 0; None: not counted) — omit both ``human``
    and ``ai`` for "transcript not synced".
    """
    rows, transcripts = [], {}
    for spec in specs:
        record = session_record(spec["id"], **{k: spec[k] for k in _RECORD_KEYS if k in spec})
        row = parse_session(record)
        rows.append(row)
        summary = _summary(spec)
        if summary is not None:
            transcripts[row["session_id"]] = summary
    return Dataset.from_tables(build_tables(rows, transcripts), generation)


@pytest.fixture
def make_dataset():
    """Factory fixture: ``make_dataset([{"id": "s1", ...}, ...])`` → Dataset."""
    return build_dataset


@pytest.fixture(scope="session")
def demo_world():
    return demo.generate(DEMO_SESSIONS, seed=7, anchor=DEMO_ANCHOR)


@pytest.fixture(scope="session")
def demo_tables(demo_world):
    return demo.world_tables(demo_world)


@pytest.fixture(scope="session")
def demo_dataset(demo_tables) -> Dataset:
    """2,000 demo sessions ending on 2026-11-22 (treat as read-only)."""
    return Dataset.from_tables(demo_tables, 1)


# ---- browser tests: one Chromium per test module, a fresh context per test ------------------

IGNORED_CONSOLE = ("favicon",)
"""Console errors a browser test ignores (Chromium asks for /favicon.ico on its own)."""


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser_support import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    """A 1280×900 page that accepts downloads and collects console errors in
    ``page.console_errors``; generous timeouts for a loaded 2-core machine."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_navigation_timeout(120_000)
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.console_errors = []
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not any(s in m.text for s in IGNORED_CONSOLE)
            and page.console_errors.append(m.text)
        ),
    )
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    yield page
    context.close()
