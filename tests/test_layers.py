"""Layer contract: the engine (core/) never imports Qt, directly or through what it imports.

The GUI may import core; core must run in CI, in scripts and in worker threads without Qt.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT_PACKAGES = ("PySide6", "PySide2", "PyQt5", "PyQt6", "qtpy", "shiboken6")


def core_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def test_core_sources_do_not_name_qt():
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            if any(name.split(".")[0] in QT_PACKAGES for name in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"core/ imports Qt: {offenders}"


def test_importing_every_core_module_loads_no_qt():
    """Catches Qt pulled in indirectly (e.g. a dependency that imports a Qt backend)."""
    modules = core_modules()
    assert "core.cli.main" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {QT_PACKAGES!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"importing core loaded Qt modules: {loaded}"
