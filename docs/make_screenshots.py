"""Screenshots for docs/user-guide.md: the real window on the sample photos, driven like a user.

Runs offscreen (or under ``xvfb-run -a`` for a real X server); works on copies of the samples
so that the autosaved project never lands in resources/.
Run: ``QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py [OUT_DIR]`` (default docs/img).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PHOTOS = ("cat_chelsea.jpg", "astronaut.jpg", "voc_dining_room.jpg")
WAIT_S = 600


def wait_idle(app, controller) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        app.processEvents()
        if not controller.runner.busy:
            app.processEvents()
            return
        time.sleep(0.05)
    raise TimeoutError("the worker did not finish")


def shoot(app, window, path: Path) -> None:
    from app.main import save_screenshot

    for _ in range(5):
        app.processEvents()
    if not save_screenshot(window, path):
        raise OSError(f"could not save {path}")
    print(path)


def main() -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.controller import Controller, EngineSettings
    from app.main_window import MainWindow
    from app.style import apply_theme

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    work = Path(tempfile.mkdtemp(prefix="zs3-guide-"))
    for name in PHOTOS:
        shutil.copy(ROOT / "resources" / "samples" / name, work / name)
    controller = Controller(EngineSettings(model="default", device="cpu"))
    window = MainWindow(controller, QSettings(str(work / "s.ini"), QSettings.Format.IniFormat))
    window.quiet_dialogs = True
    window.resize(1500, 920)
    window.show()
    window.open_paths([str(work)])
    controller.set_classes_now(["cat", "person"])
    wait_idle(app, controller)
    shoot(app, window, out / "overview.png")

    canvas = window.canvas
    controller.set_current(next(i for i, r in enumerate(controller.images) if r.path.name == "cat_chelsea.jpg"))
    wait_idle(app, controller)
    height, width = canvas.image_shape
    window.class_panel.select_value(1)
    window.set_tool("polygon")
    for fx, fy in ((0.36, 0.08), (0.62, 0.10), (0.72, 0.45), (0.62, 0.75), (0.40, 0.70), (0.30, 0.40)):
        canvas.add_polygon_point(int(fx * width), int(fy * height))
    shoot(app, window, out / "polygon.png")
    canvas.finish_polygon()
    controller.undo()

    window.set_tool("box")
    controller.object_from_box(int(0.20 * width), int(0.02 * height), int(0.95 * width), int(0.99 * height))
    wait_idle(app, controller)
    shoot(app, window, out / "box_object.png")

    window.set_view("outline")
    shoot(app, window, out / "outline.png")
    window.settings.setValue("export/min_confidence", 0.6)
    window.set_view("confidence")
    shoot(app, window, out / "heatmap.png")
    window.set_view("labels")
    window.set_tool("brush")
    controller.shutdown()
    window.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
