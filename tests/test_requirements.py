"""Every imported package is listed, and the locked files match what they lock.

* runtime code (app, wsgi, services, callbacks, layouts) may import only what
  ``requirements.in`` lists; tests, bench and scripts may also use ``requirements-dev.in``;
* every package of a ``.in`` file is pinned (``==`` with hashes) in its ``.txt`` file, at the
  version the ``.in`` asks for. ``bash scripts/lock.sh`` fixes the second after editing a ``.in``.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_DIRS = ("services", "callbacks", "layouts")
RUNTIME_FILES = ("app.py", "wsgi.py", "gunicorn.conf.py")
DEV_DIRS = ("tests", "bench", "scripts")
LOCAL = {"app", "wsgi", "services", "callbacks", "layouts", "bench", "tests", "scripts"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path: Path) -> dict[str, str | None]:
    """Package name → pinned version (or None) of a requirements file, following ``-r``."""
    found: dict[str, str | None] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip().rstrip("\\").strip()
        if not line or line.startswith("--hash"):
            continue
        if line.startswith("-r "):
            found.update(requirement_names(path.parent / line[3:].strip()))
            continue
        if line.startswith("-"):
            continue
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:==\s*([^\s;]+))?", line)
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def imported_modules(paths: list[Path], root: Path = ROOT) -> dict[str, set[str]]:
    """Top-level module → the files importing it (absolute imports of third-party code)."""
    modules: dict[str, set[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in LOCAL:
                    modules.setdefault(top, set()).add(str(path.relative_to(root)))
    return modules


def python_files(dirs: tuple[str, ...], files: tuple[str, ...] = ()) -> list[Path]:
    found = [ROOT / f for f in files if (ROOT / f).exists()]
    for folder in dirs:
        found += sorted((ROOT / folder).rglob("*.py"))
    return found


def unlisted(modules: dict[str, set[str]], listed: set[str]) -> list[str]:
    """Modules that no listed distribution provides, with an example importer."""
    providers = packages_distributions()
    missing = []
    for module, files in sorted(modules.items()):
        dists = {canonical(d) for d in providers.get(module, [module])}
        if not dists & listed:
            missing.append(f"{module} (imported by {sorted(files)[0]})")
    return missing


def test_runtime_imports_are_in_requirements_in():
    listed = set(requirement_names(ROOT / "requirements.in"))
    modules = imported_modules(python_files(RUNTIME_DIRS, RUNTIME_FILES))
    assert {"dash", "flask", "werkzeug", "itsdangerous"} <= set(modules)
    assert unlisted(modules, listed) == [], "add them to requirements.in, then bash scripts/lock.sh"


def test_test_and_bench_imports_are_in_requirements_dev_in():
    listed = set(requirement_names(ROOT / "requirements-dev.in"))
    modules = imported_modules(python_files(DEV_DIRS))
    assert "pytest" in modules
    assert unlisted(modules, listed) == [], "add them to requirements-dev.in, then lock"


def test_an_unlisted_import_is_caught(tmp_path):
    module = tmp_path / "x.py"
    module.write_text(
        "import flask\nimport not_a_listed_package.sub\nfrom . import sibling\n"
        "import os\nfrom services import settings\n"
    )
    modules = imported_modules([module], root=tmp_path)
    assert set(modules) == {"flask", "not_a_listed_package"}
    assert unlisted(modules, {"flask"}) == ["not_a_listed_package (imported by x.py)"]
    assert unlisted(modules, {"werkzeug"})[0].startswith("flask ")


def test_every_in_file_package_is_locked_with_hashes():
    for source, lock in (
        ("requirements.in", "requirements.txt"),
        ("requirements-dev.in", "requirements-dev.txt"),
    ):
        wanted = requirement_names(ROOT / source)
        text = (ROOT / lock).read_text(encoding="utf-8")
        pinned = requirement_names(ROOT / lock)
        for name, version in wanted.items():
            assert pinned.get(name), f"{name} is not pinned in {lock}: run bash scripts/lock.sh"
            if version:
                assert pinned[name] == version, f"{lock} has {name}=={pinned[name]}, not {version}"
        assert all(pinned.values()), f"every package in {lock} is pinned with =="
        assert text.count("==") == len(pinned)
        assert all(
            re.search(rf"^{re.escape(name)}==\S+ \\\n\s+--hash=sha256:", text, re.M | re.I)
            for name in pinned
        ), f"{lock} lacks hashes: run bash scripts/lock.sh"
        assert not re.search(r"^(-r|-c) ", text, re.M), f"{lock} must be self-contained"


def test_the_runtime_lock_is_inside_the_dev_lock():
    runtime = requirement_names(ROOT / "requirements.txt")
    dev = requirement_names(ROOT / "requirements-dev.txt")
    assert {name: dev.get(name) for name in runtime} == runtime
