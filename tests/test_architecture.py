"""The code's shape, checked: imports point one way, no private names cross modules.

* ``lint-imports`` checks the import-linter contracts in ``pyproject.toml``: the layers of
  ``services/`` (settings → store → sync | analytics → views → runtime → outputs | auth → web),
  ``services/`` never importing Dash or the page, ``layouts/`` never importing ``callbacks/``.
  A second run on a copy of the code with an upward import added shows the check can fail.
* An AST walk finds every ``from x import _y`` and ``x._y`` (``x`` a module) outside tests/.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("services", "callbacks", "layouts")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_contracts_are_kept():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout, result.stdout


def test_import_contracts_catch_an_upward_import(tmp_path):
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "services" / "store" / "upward.py").write_text(
        "from services.views import overview  # the store reaching up to a view model\n"
    )
    (tmp_path / "services" / "analytics" / "sideways.py").write_text(
        "from services.sync import records  # siblings stay independent\n"
    )
    (tmp_path / "services" / "views" / "dashy.py").write_text("import dash\n")
    (tmp_path / "layouts" / "wired.py").write_text("import callbacks.cost\n")
    result = _lint_imports(tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, out
    assert "Contracts: 0 kept, 3 broken." in out, out
    assert "services.store.upward -> services.views.overview" in out, out
    assert "services.analytics.sideways -> services.sync.records" in out, out
    assert "services.views.dashy -> dash" in out, out
    assert "layouts.wired -> callbacks.cost" in out, out


# ---- private names --------------------------------------------------------------------------

SOURCES = [
    path
    for folder in (*PACKAGES, "bench", "scripts")
    for path in sorted((ROOT / folder).rglob("*.py"))
] + [ROOT / name for name in ("app.py", "wsgi.py", "gunicorn.conf.py")]

KNOWN_PRIVATE_IMPORTS: set[tuple[str, str]] = set()
"""Known offenders still to fix, as ``(file, "module._name")`` (empty since the view-model work
made those helpers public). An entry that no longer occurs fails the test below, so the list
only ever shrinks."""


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = _dotted(node.value)
        return None if owner is None else f"{owner}.{node.attr}"
    return None


def private_imports(path: Path, root: Path = ROOT) -> set[tuple[str, str]]:
    """``(file, "module._name")`` for each private name ``path`` takes from another module:
    ``from m import _n``, ``import m._n`` and ``alias._n`` where ``alias`` names a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    rel = path.relative_to(root).as_posix()
    found: set[tuple[str, str]] = set()
    modules: dict[str, str] = {}  # local name → module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                if _private(alias.name) or any(_private(p) for p in base.split(".")):
                    found.add((rel, f"{base}.{alias.name}"))
                elif _is_module(f"{base}.{alias.name}"):
                    modules[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(_private(p) for p in alias.name.split(".")):
                    found.add((rel, alias.name))
                modules[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = _dotted(node.value)
            if owner is None or owner.partition(".")[0] not in modules:
                continue
            head, _, rest = owner.partition(".")
            module = ".".join(filter(None, [modules[head], rest]))
            if module != here and (not rest or _is_module(module)):
                found.add((rel, f"{module}.{node.attr}"))
    return found


def test_no_private_name_crosses_a_module():
    found = set().union(*(private_imports(path) for path in SOURCES))
    new = sorted(found - KNOWN_PRIVATE_IMPORTS)
    assert not new, "private names imported across modules (make them public):\n" + "\n".join(
        f"{file}: {name}" for file, name in new
    )
    gone = sorted(KNOWN_PRIVATE_IMPORTS - found)
    assert not gone, "fixed, so remove from KNOWN_PRIVATE_IMPORTS:\n" + "\n".join(
        f"{file}: {name}" for file, name in gone
    )


def test_the_private_import_check_sees_each_form(tmp_path):
    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    (source.parent / "__init__.py").write_text("")
    source.write_text(
        "import os.path\n"
        "from services.analytics import metrics\n"
        "from services.analytics.filters import _day_ns, today_in\n"
        "from . import _sibling\n"
        "import services.views.overview as ov\n"
        "x = metrics._bucket_labels, ov._LRU, os.path._get_sep, metrics.ratio, today_in\n"
        "y = _day_ns.__name__, self_ref._own\n"
    )
    assert private_imports(source, tmp_path) == {
        ("pkg/mod.py", "services.analytics.filters._day_ns"),
        ("pkg/mod.py", "pkg._sibling"),
        ("pkg/mod.py", "services.analytics.metrics._bucket_labels"),
        ("pkg/mod.py", "services.views.overview._LRU"),
        ("pkg/mod.py", "os.path._get_sep"),
    }
