"""Answers of the JSON API and the exports on a fixed demo world, for the behaviour pin.

``python -m tests.support.golden_support`` wrote ``tests/golden/answers.json`` before the
services/ reorganisation (issue #11); ``tests/test_golden.py`` computes the same answers with
the current code and compares them, so a move that changes a number fails.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask

from services import runtime
from services.analytics.filters import parse_query, pin_today
from services.outputs import exports
from services.settings import Settings
from services.store.parquet import Store
from services.sync import demo
from services.views.overview import overview, vocabulary
from services.web import api

ANCHOR = date(2026, 11, 22)
SESSIONS = 1500
NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "answers.json"
QUERIES = (
    "",
    "?range=7d",
    "?range=365d&tag=bot_performance_good",
    "?range=custom&start=2026-06-01&end=2026-09-30&platform=whatsapp",
    "?range=all&status=complete&tz=Asia/Kolkata",
)
VOLATILE = ("generation", "synced_at", "exported_at", "last sync", "next")


def _scrub(value):
    """Drop keys that name the store generation or a time of writing (not numbers)."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _scrub_csv(text: str) -> str:
    keep = [
        line
        for line in text.splitlines()
        if not any(line.lower().startswith(f"# {key}") for key in VOLATILE)
    ]
    return "\n".join(keep)


def answers(data_dir: Path) -> dict:
    current = runtime.configure(Settings(data_dir=data_dir))
    demo.ensure_demo_store(Store(current.store_dir), SESSIONS, anchor=ANCHOR)
    pin_today(ANCHOR)
    try:
        dataset = runtime.dataset()
        app = Flask("golden")
        app.register_blueprint(api.create_blueprint())
        client = app.test_client()
        out: dict = {"summary": {}, "sessions": {}, "exports": {}}
        for query in QUERIES:
            out["summary"][query] = _scrub(client.get("/api/v1/summary" + query).get_json())
            body = client.get("/api/v1/sessions" + (query or "?") + "&limit=5").get_json()
            out["sessions"][query] = _scrub(body)
        for query in QUERIES[:3]:
            state, _ = parse_query(query, vocabulary(dataset))
            view = overview(dataset, state)
            _, csv_text = exports.view_csv(view, dataset, state, now=NOW)
            out["exports"][f"overview{query}"] = _scrub_csv(csv_text)
            for chart in sorted(exports.CHART_EXPORTS):
                _, text = exports.any_chart_csv(dataset, state, chart, now=NOW)
                out["exports"][f"{chart}{query}"] = _scrub_csv(text)
        return out
    finally:
        pin_today(None)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = answers(Path(tmp))
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)", file=sys.stderr)
