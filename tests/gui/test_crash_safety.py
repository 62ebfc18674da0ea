"""Crash safety: a GUI process killed mid-session (SIGKILL, no clean-up) loses at most the last stroke.

The window runs in a child process, paints strokes through the same controller path as the mouse
(every stroke autosaves the label PNG and the project atomically), reports each stroke, and is killed
while the session goes on; the parent then reopens what is on disk.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np

from .conftest import ROOT, copy_samples

CHILD = r"""
import sys
import numpy as np
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

app = QApplication([])
from app.controller import Controller, EngineSettings
from app.main_window import MainWindow

controller = Controller(EngineSettings(model="default", device="cpu"))
window = MainWindow(controller, QSettings(sys.argv[2], QSettings.Format.IniFormat))
window.quiet_dialogs = True
window.show()
assert window.open_paths([sys.argv[1]])
controller.set_classes_now(["cat"])
done = []


def paint():  # on the event loop, as the mouse would: once the image is shown and the name accepted
    if len(done) == 3 or controller.current_rgb is None or "cat" not in controller.classes:
        return
    h, w = controller.current_rgb.shape[:2]
    stroke = np.zeros((h, w), bool)
    i = len(done)
    stroke[10 + 20 * i: 20 + 20 * i, 10:60] = True
    controller.brush_value = 1
    assert controller.apply_stroke(stroke)
    done.append(i)
    print(f"STROKE {len(done)}", flush=True)


timer = QTimer()
timer.timeout.connect(paint)
timer.start(100)
app.exec()  # the session goes on: the parent kills the process here
"""


def test_killed_gui_keeps_every_stroke_and_the_project_reopens(tmp_path):
    from app.project import load_project, read_label_png

    folder = copy_samples(tmp_path / "images", copies=(("cat_chelsea.jpg", "cat.jpg"),))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(folder), str(tmp_path / "gui.ini")], cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        strokes = 0
        while strokes < 3 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            if line.startswith("STROKE"):
                strokes = int(line.split()[1])
        assert strokes == 3, child.stderr.read() if child.poll() is not None else "child too slow"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    project = load_project(folder)  # reopens: the project file is whole
    assert [c.name for c in project.classes] == ["cat"]
    labels = read_label_png(project.resolve(project.user_labels["cat.jpg"]))
    for i in range(3):  # every stroke before the kill is on disk
        assert np.all(labels[10 + 20 * i: 20 + 20 * i, 10:60] == 1)
    assert not list(folder.rglob("*.tmp"))  # no half-written file left behind
