"""Structure rules of the GUI that keep it responsive and testable."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


@pytest.mark.parametrize("module", ["workers", "photo_loader"])
def test_workers_never_import_widgets(module):
    """Workers talk to the window through signals only: no QtWidgets (or QtGui) in app/workers.py
    or in the photo loader's thread code."""
    names = _imported_modules(ROOT / "app" / f"{module}.py")
    assert any(n.startswith(("PySide6.QtCore", "app.workers")) for n in names)
    offenders = [n for n in names if "QtWidgets" in n or "QtGui" in n]
    assert offenders == []


@pytest.mark.parametrize("module", ["workers", "photo_loader"])
def test_workers_module_loads_without_qtwidgets(module):
    script = f"import sys, app.{module}; print('PySide6.QtWidgets' in sys.modules or 'PySide6.QtGui' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_help_works_without_a_display():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--help"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--screenshot" in out.stdout and "--classes" in out.stdout
    assert "PySide6" not in out.stderr


def test_the_window_starts_without_loading_torch():
    """torch (≈ 0.5 GB, seconds to import) loads with the engine in the worker, not before the window."""
    script = "import sys, app.main_window; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
