"""GUI test fixtures: a real main window over a real Session, on small copies of the samples.

Every fixture is function-scoped: each test gets its own folder, settings file and window, so a
test passes alone, in any order, and never depends on what an earlier test painted. The engine's
weights and word vectors are cached by the process, so a fresh window costs about a second.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "samples"
# Natural sort puts img2 before img10; the cat comes first so the first label map shows a cat.
SAMPLE_COPIES = (("cat_chelsea.jpg", "img1_cat.jpg"), ("astronaut.jpg", "img2_astronaut.jpg"),
                 ("coffee_cup.jpg", "img10_coffee.jpg"))
MAX_SIDE = 224
WAIT_MS = 180_000


def copy_samples(folder: Path, copies=SAMPLE_COPIES, max_side: int = MAX_SIDE) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for source, name in copies:
        with Image.open(SAMPLES / source) as image:
            image = image.convert("RGB")
            image.thumbnail((max_side, max_side))
            image.save(folder / name, quality=92)
    return folder


@pytest.fixture
def sample_dir(tmp_path) -> Path:
    return copy_samples(tmp_path / "images")


@pytest.fixture
def qsettings_path(tmp_path) -> Path:
    return tmp_path / "settings" / "zs3-gui.ini"


def make_window(qsettings_path: Path, device: str = "cpu"):
    from PySide6.QtCore import QSettings

    from app.controller import Controller, EngineSettings
    from app.main_window import MainWindow

    settings = QSettings(str(qsettings_path), QSettings.Format.IniFormat)
    controller = Controller(EngineSettings(model="default", device=device))
    window = MainWindow(controller, settings)
    window.quiet_dialogs = True
    window.resize(1200, 800)
    window.show()
    return window


def close_window(window) -> None:
    window.controller.shutdown()
    window.close()
    window.deleteLater()


@pytest.fixture
def window(qapp, qsettings_path):
    win = make_window(qsettings_path)
    yield win
    close_window(win)


@pytest.fixture
def fresh_window(window):
    """Kept for the tests that name it: every window is fresh now."""
    return window


def wait_idle(qtbot, controller, timeout: int = WAIT_MS) -> None:
    """Wait until the worker has nothing left to do (model jobs are slow on a shared 2-core CPU)."""
    qtbot.waitUntil(lambda: not controller.runner.busy, timeout=timeout)


def add_class(qtbot, window, name: str) -> None:
    """Type a class name and Enter, as a user does; wait until the engine accepted it."""
    from PySide6.QtCore import Qt

    field = window.class_panel.add_field
    field.setFocus()
    field.clear()
    qtbot.keyClicks(field, name)
    qtbot.keyClick(field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: name in window.controller.classes, timeout=WAIT_MS)


@pytest.fixture
def labelled(qtbot, window, sample_dir):
    """The window on the three samples with the class "cat", the first image labelled by the model."""
    assert window.open_paths([str(sample_dir)])
    add_class(qtbot, window, "cat")
    controller = window.controller
    qtbot.waitUntil(lambda: controller.current_prediction() is not None and not controller.runner.busy,
                    timeout=WAIT_MS)
    return window
