"""Behaviour pin: the JSON API and exports answer as they did before the services/ move.

``tests/golden/answers.json`` was written by the code before issue #11 moved services/ into
packages (``python -m tests.support.golden_support``). A refactor that changes a number, a
label or a CSV line fails here; a deliberate change rewrites the file with that command and
says so in its commit.
"""

from __future__ import annotations

import json

from services import runtime
from tests.support.golden_support import GOLDEN, answers

_RUNTIME = ("_settings", "_store", "_cache", "_auth_note", "_user_provider")


def test_api_and_exports_answer_as_before(tmp_path):
    expected = json.loads(GOLDEN.read_text())
    saved = {name: getattr(runtime, name) for name in _RUNTIME}
    try:
        actual = json.loads(json.dumps(answers(tmp_path), sort_keys=True))
    finally:
        for name, value in saved.items():
            setattr(runtime, name, value)
    for section in ("summary", "sessions", "exports"):
        assert actual[section].keys() == expected[section].keys(), section
        for key in expected[section]:
            assert actual[section][key] == expected[section][key], (section, key)
