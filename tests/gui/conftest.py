"""GUI test fixtures: a real main window over a real Session, on small copies of the samples.

One window per module (the engine loads its weights and word vectors once); tests in a module
run in file order and build on each other like a user's session does.
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


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    for source, name in SAMPLE_COPIES:
        with Image.open(SAMPLES / source) as image:
            image = image.convert("RGB")
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            image.save(folder / name, quality=92)
    return folder


@pytest.fixture(scope="module")
def qsettings_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("settings") / "zs3-gui.ini"


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


@pytest.fixture(scope="module")
def window(qapp, qsettings_path):
    win = make_window(qsettings_path)
    yield win
    win.close()
    win.deleteLater()


def wait_idle(qtbot, controller, timeout: int = WAIT_MS) -> None:
    """Wait until the worker has nothing left to do (model jobs are slow on a shared 2-core CPU)."""
    qtbot.waitUntil(lambda: not controller.runner.busy, timeout=timeout)


@pytest.fixture
def fresh_window(qapp, tmp_path):
    """A window of its own (own settings file) for tests that must not share state with others."""
    win = make_window(tmp_path / "own_settings.ini")
    yield win
    win.controller.shutdown()
    win.close()
    win.deleteLater()
