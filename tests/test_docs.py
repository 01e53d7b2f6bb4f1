"""The documentation stays true to the code: every setting documented, every link resolves,
the README's quick start is what CI runs, and the README stays short."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "data" / "README.md", *DOCS]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def setting_names() -> set[str]:
    """Every environment variable services/settings.py reads (``env.get("NAME")``)."""
    source = (ROOT / "services" / "settings.py").read_text(encoding="utf-8")
    return set(re.findall(r"""env\.get\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))


def test_the_settings_are_found():
    assert {"PORT", "DATA_DIR", "SECRET_KEY", "PUBLIC_URL", "OCS_API_KEYS"} <= setting_names()


def test_every_setting_is_in_configuration_md_and_env_example():
    table = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    undocumented = sorted(n for n in setting_names() if f"| `{n}` |" not in table)
    assert undocumented == [], "add a row to the table in docs/configuration.md"
    missing = sorted(
        n for n in setting_names() if not re.search(rf"^(# )?{n}=", example, re.MULTILINE)
    )
    assert missing == [], "add a NAME= line (with a comment) to .env.example"


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = "".join(c for c in text if c in " -" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [a or b for a, b in LINK.findall(text)]


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` whose file, or heading anchor, does not exist."""
    broken = []
    for target in links(page):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in anchors(file)):
            broken.append(target)
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_link_checker_catches_a_broken_link(tmp_path):
    (tmp_path / "other.md").write_text("## Unusual days (UTC)\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n[ok](#title) [gone](missing.md) [bad](#nope) ![img](pic.png)\n"
        "[fine](other.md#unusual-days-utc) [wrong](other.md#unusual) <https://x.org>\n"
        "```\n[in code](nowhere.md)\n```\n"
    )
    assert broken_links(page) == ["missing.md", "#nope", "pic.png", "other.md#unusual"]


def test_every_docs_page_is_in_the_readme_map():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unmapped = [p.name for p in DOCS if f"](docs/{p.name})" not in readme]
    assert unmapped == []


def test_readme_is_short_and_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    quick_start = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", quick_start, re.DOTALL).group(1).splitlines()
    run, test = (line.split("#")[0].strip() for line in block[:2])
    assert run == "./run"
    assert test == "bash scripts/test.sh"
    assert (ROOT / "run").stat().st_mode & 0o111, "./run must be executable"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(test)}( |$)", ci, re.MULTILINE), "CI runs the README's command"


def test_secret_key_default_is_described_as_it_behaves():
    config = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert "random per process" not in config
    assert "DATA_DIR/cache/secret_key" in config
    security = (ROOT / "services" / "web" / "security.py").read_text(encoding="utf-8")
    assert '"cache" / "secret_key"' in security
