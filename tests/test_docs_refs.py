"""Citations of the project's docs resolve.

Code cites the reference docs as ``docs/<file>.md §N`` (or a list: ``docs/<file>.md §2, §4 and
§7``). Every cited file must exist in the repository and every cited section must be one of its
numbered headings (``## 5. …``, ``### 5.9 …``). Code must not cite a doc without its ``docs/``
path (``ocs-api.md``, ``dash-notes``: those names once pointed outside the repository), nor a
bare ``§N`` that names no file. Inside a doc with numbered headings, a bare ``§N`` is a reference
to that doc's own section and must exist too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THIS_FILE = Path(__file__).resolve()

SKIP_DIRS = frozenset(
    {".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache", "data", "build"}
)
CODE_SUFFIXES = frozenset({".py", ".toml", ".yaml", ".yml", ".txt", ".cfg", ".ini", ".sh", ".json"})
CODE_NAMES = frozenset({"Procfile"})

SECTION = r"\d+(?:\.\d+)*"
CITATION = re.compile(
    rf"(?P<file>docs/[\w./-]+?\.md)(?P<sections>\s+§{SECTION}(?:\s*(?:,|and|or|/)\s*§{SECTION})*)"
)
SECTION_SIGN = re.compile(rf"§({SECTION})")
BARE_NAME = re.compile(r"(?<!docs/)\b(?:ocs-api|dash-notes)(?:\.md)?\b|(?<!docs/)\bpeers\.md\b")
HEADING = re.compile(rf"^#{{1,6}}\s+({SECTION})\.?\s")
FENCE = re.compile(r"^\s*(```|~~~)")


def doc_sections(path: Path) -> tuple[set[str], list[str]]:
    """The numbered headings of a markdown file, and any number used by two headings."""
    sections: set[str] = set()
    duplicates: list[str] = []
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match:
            number = match.group(1)
            if number in sections:
                duplicates.append(number)
            sections.add(number)
    return sections, duplicates


def text_files(root: Path) -> list[Path]:
    """Source and documentation files of the repository (not virtualenvs, data or .git)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            path = Path(folder) / name
            if path.resolve() == THIS_FILE:
                continue  # its docstring names the forbidden forms on purpose
            if path.suffix in CODE_SUFFIXES or path.suffix == ".md" or name in CODE_NAMES:
                found.append(path)
    return found


def citation_problems(root: Path) -> list[str]:
    """Every unresolvable or malformed doc citation under ``root``, as ``file:line: problem``."""
    problems: list[str] = []
    sections_of: dict[str, set[str] | None] = {}

    def sections(doc: str) -> set[str] | None:
        if doc not in sections_of:
            path = root / doc
            sections_of[doc] = doc_sections(path)[0] if path.is_file() else None
        return sections_of[doc]

    for path in text_files(root):
        relative = path.relative_to(root).as_posix()
        is_markdown = path.suffix == ".md"
        own_sections = doc_sections(path) if is_markdown else (set(), [])
        if is_markdown:
            for number in own_sections[1]:
                problems.append(f"{relative}: two headings numbered {number}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            where = f"{relative}:{lineno}"
            covered: list[tuple[int, int]] = []
            for match in CITATION.finditer(line):
                covered.append(match.span())
                doc = match.group("file")
                known = sections(doc)
                if known is None:
                    problems.append(f"{where}: cites {doc}, which does not exist")
                    continue
                for number in SECTION_SIGN.findall(match.group("sections")):
                    if number not in known:
                        problems.append(f"{where}: {doc} has no section §{number}")
            loose = [
                m
                for m in SECTION_SIGN.finditer(line)
                if not any(start <= m.start() < end for start, end in covered)
            ]
            if is_markdown:
                if own_sections[0]:
                    for m in loose:
                        if m.group(1) not in own_sections[0]:
                            problems.append(f"{where}: no section §{m.group(1)} in this file")
                continue
            for m in loose:
                problems.append(f"{where}: §{m.group(1)} names no file (write docs/<file>.md §N)")
            for m in BARE_NAME.finditer(line):
                problems.append(f"{where}: cites {m.group(0)!r} without its docs/ path")
    return problems


def test_every_doc_citation_resolves():
    assert citation_problems(ROOT) == []


def test_the_reference_docs_are_cited_from_code():
    """The check above is not vacuous: code does cite both reference docs by section."""
    cited: dict[str, int] = {}
    for path in text_files(ROOT):
        if path.suffix != ".py":
            continue
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            cited[match.group("file")] = cited.get(match.group("file"), 0) + 1
    assert cited.get("docs/ocs-api.md", 0) >= 5
    assert cited.get("docs/dash-notes.md", 0) >= 2


def test_citation_checker_reports_each_kind_of_wrong_citation(tmp_path):
    sign = "\u00a7"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api.md").write_text(
        "# Title\n\n## 1. Intro\n\n### 1.2 Detail\n\nSee "
        f"{sign}1.2 and {sign}7.\n\n```\n## 9. not a heading inside a fence\n```\n",
        encoding="utf-8",
    )
    (tmp_path / "pkg").mkdir()
    lines = [
        f'"""Fine: docs/api.md {sign}1.2 and docs/api.md {sign}1, {sign}1.2."""',
        f"# wrong section: docs/api.md {sign}3",
        f"# wrong in a list: docs/api.md {sign}1, {sign}4 and {sign}1.2",
        f"# fenced heading is not a section: docs/api.md {sign}9",
        f"# missing file: docs/nope.md {sign}1",
        f"# bare section: see {sign}1.2",
        "# bare names: " + "ocs" + "-api.md, " + "dash" + "-notes " + f"{sign}2.4",
    ]
    (tmp_path / "pkg" / "mod.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "ignored.py").write_text(f"# docs/nope.md {sign}1\n", encoding="utf-8")

    problems = citation_problems(tmp_path)

    assert problems == [
        f"docs/api.md:7: no section {sign}7 in this file",
        f"pkg/mod.py:2: docs/api.md has no section {sign}3",
        f"pkg/mod.py:3: docs/api.md has no section {sign}4",
        f"pkg/mod.py:4: docs/api.md has no section {sign}9",
        "pkg/mod.py:5: cites docs/nope.md, which does not exist",
        f"pkg/mod.py:6: {sign}1.2 names no file (write docs/<file>.md {sign}N)",
        f"pkg/mod.py:7: {sign}2.4 names no file (write docs/<file>.md {sign}N)",
        "pkg/mod.py:7: cites 'ocs" + "-api.md' without its docs/ path",
        "pkg/mod.py:7: cites 'dash" + "-notes' without its docs/ path",
    ]


def test_duplicate_section_numbers_are_reported(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("## 1. One\n\n## 1. Again\n", encoding="utf-8")
    assert citation_problems(tmp_path) == ["docs/a.md: two headings numbered 1"]
