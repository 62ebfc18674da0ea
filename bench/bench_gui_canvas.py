"""The GUI on a 24-Mpx photo (6000×4000), offscreen: switch time (first frame, a reduced preview),
time until the full-resolution photo is shown, paint updates per second, undo time, peak memory,
and GrabCut (box → object) time. Prints one JSON object.

No model is loaded: this measures the window's own work (loading the photo, drawing it, painting,
undo with its label PNG), which is what stalled the window on large photos (issue 12).
Run: ``QT_QPA_PLATFORM=offscreen python bench/bench_gui_canvas.py``
"""
from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WIDTH, HEIGHT = 6000, 4000
STROKE_STEPS = 60


def _photo(path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (HEIGHT // 50, WIDTH // 50, 3), dtype=np.uint8)
    Image.fromarray(small).resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR).save(path, quality=90)


def main() -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.controller import Controller, EngineSettings
    from app.main_window import MainWindow
    from core.object_cut import grabcut_box

    app = QApplication.instance() or QApplication([])
    folder = Path(tempfile.mkdtemp(prefix="zs3-bench-gui-"))
    _photo(folder / "a_large.jpg")
    _photo(folder / "b_large.jpg")
    controller = Controller(EngineSettings(model="default", device="cpu"))
    controller.start_engine = lambda: None        # the window's work only
    window = MainWindow(controller, QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1500, 920)
    window.show()
    controller.open_paths([folder])
    controller.class_list.add("thing")
    window._refresh_classes()
    while controller.loader.busy:                 # the first photo settled in full resolution
        app.processEvents()
        time.sleep(0.002)
    app.processEvents()

    t0 = time.perf_counter()
    controller.set_current(1)
    window.canvas.viewport().grab()               # the first frame of the new image (a reduced preview)
    switch_s = time.perf_counter() - t0
    while controller.current_rgb is None or window.canvas.photo_is_preview:
        app.processEvents()                       # the full-resolution decode in the loader thread
        time.sleep(0.002)
    window.canvas.viewport().grab()
    full_res_s = time.perf_counter() - t0

    canvas = window.canvas
    window.class_panel.select_value(1)
    canvas.set_brush_size(40)
    t0 = time.perf_counter()
    canvas.begin_stroke(1000, 2000)
    for step in range(STROKE_STEPS):
        canvas.extend_stroke(1000 + step * 50, 2000 + (step % 7) * 10)
        app.processEvents()                        # the repaint of what the segment touched
    paint_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    canvas.end_stroke()
    stroke_end_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    controller.undo()
    app.processEvents()
    undo_s = time.perf_counter() - t0

    rgb = controller.current_rgb
    t0 = time.perf_counter()
    mask = grabcut_box(rgb, (2000, 1000, 4000, 3000))
    grabcut_s = time.perf_counter() - t0

    result = {
        "image": f"{WIDTH}x{HEIGHT}",
        "switch_s": round(switch_s, 3),
        "full_resolution_shown_s": round(full_res_s, 3),
        "paint_updates_per_s": round(STROKE_STEPS / paint_s, 1),
        "stroke_end_s": round(stroke_end_s, 3),
        "undo_s": round(undo_s, 3),
        "grabcut_box_2000x2000_s": round(grabcut_s, 3),
        "grabcut_fraction": round(float(mask.mean()), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result, indent=2))
    controller.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
