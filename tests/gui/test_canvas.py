"""Canvas, overlay and worker behaviour that the window relies on (no engine needed)."""
from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QWheelEvent

from app.canvas import Canvas
from app.overlay import build_lut, labels_to_qimage, rgb_to_qimage, voc_colormap
from app.workers import Job, JobRunner
from core.errors import UserError


def _qimage_rgb(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return data.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 3].reshape(
        image.height(), image.width(), 3).copy()


def test_high_zoom_is_pixel_exact(qtbot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 400)
    canvas.show()
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[::2, ::2] = (255, 255, 255)        # a checkerboard: smoothing would blur it into grey
    rgb[1::2, 1::2] = (255, 255, 255)
    canvas.set_image(rgb_to_qimage(rgb))
    canvas.set_zoom(32.0)
    canvas.centerOn(2, 2)
    qtbot.wait(10)
    grabbed = _qimage_rgb(canvas.viewport().grab().toImage())
    center = canvas.mapFromScene(QPointF(1.5, 1.5))   # middle of image pixel (1, 1): white
    block = grabbed[center.y() - 8:center.y() + 8, center.x() - 8:center.x() + 8]
    assert np.all(block == 255)
    center = canvas.mapFromScene(QPointF(2.5, 1.5))   # pixel (2, 1): black
    block = grabbed[center.y() - 8:center.y() + 8, center.x() - 8:center.x() + 8]
    assert np.all(block == 0)
    assert canvas.image_pos(center) == (2, 1)


def test_wheel_zooms_around_the_cursor(qtbot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(300, 300)
    canvas.show()
    canvas.set_image(rgb_to_qimage(np.zeros((200, 200, 3), np.uint8)))
    canvas.set_zoom(2.0)
    cursor = QPoint(200, 120)
    before = canvas.mapToScene(cursor)
    event = QWheelEvent(QPointF(cursor), QPointF(canvas.viewport().mapToGlobal(cursor)), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    canvas.wheelEvent(event)
    assert abs(canvas.scale_factor - 2.5) < 1e-6
    after = canvas.mapToScene(cursor)
    assert abs(after.x() - before.x()) < 1.0 and abs(after.y() - before.y()) < 1.0


def test_brush_stroke_mask_matches_brush_size(qtbot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.set_image(rgb_to_qimage(np.zeros((50, 80, 3), np.uint8)))
    canvas.set_brush_size(7)
    with qtbot.waitSignal(canvas.stroke_finished) as blocker:
        canvas.paint_stroke([(10, 25), (60, 25)])
    mask = blocker.args[0]
    assert mask.shape == (50, 80) and mask.dtype == bool
    assert mask[25, 10:61].all() and mask[22:29, 35].all()
    assert not mask[20, 35] and not mask[30, 35] and not mask[25, 70]


def test_overlay_colours_hidden_and_ignore():
    labels = np.array([[0, 1, 2, 255]], np.uint8)
    cmap = voc_colormap(256)
    assert tuple(cmap[1]) == (128, 0, 0) and tuple(cmap[15]) == (192, 128, 128)
    lut = build_lut({0: QColor(0, 0, 0), 1: QColor(200, 10, 10), 2: QColor(10, 200, 10)}, hidden={2})
    image = labels_to_qimage(labels, lut).convertToFormat(QImage.Format.Format_RGBA8888)
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())[:16].reshape(4, 4)
    assert data[0, 3] == 0                       # background transparent
    assert tuple(data[1]) == (200, 10, 10, 255)  # class colour, opaque (opacity is the item's)
    assert data[2, 3] == 0 and data[3, 3] == 0   # hidden class and 255 transparent


def test_jobs_run_in_order_and_report_errors_and_cancel(qtbot):
    runner = JobRunner()
    order, outcomes = [], []
    gate = threading.Event()
    main_thread = threading.get_ident()

    def first(ctx):
        gate.wait(30)
        order.append(("first", threading.get_ident() != main_thread))
        return 1

    def bad(ctx):
        order.append(("bad", True))
        raise UserError("unknown word 'qq'")

    jobs = [Job("a", first), Job("b", bad), Job("c", lambda ctx: order.append(("never", True)))]
    jobs[0].signals.succeeded.connect(lambda v: outcomes.append(("ok", v)))
    jobs[1].signals.failed.connect(lambda exc: outcomes.append(("failed", str(exc))))
    jobs[2].signals.cancelled.connect(lambda: outcomes.append(("cancelled", None)))
    for job in jobs:
        runner.submit(job)
    assert runner.busy
    jobs[2].cancel()
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=30_000)
    assert order == [("first", True), ("bad", True)]
    assert outcomes == [("ok", 1), ("failed", "unknown word 'qq'"), ("cancelled", None)]


def test_middle_drag_pans_and_drop_opens(qtbot, tmp_path):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent

    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(200, 200)
    canvas.show()
    canvas.set_image(rgb_to_qimage(np.zeros((400, 400, 3), np.uint8)))
    canvas.set_zoom(2.0)
    viewport = canvas.viewport()
    h0, v0 = canvas.horizontalScrollBar().value(), canvas.verticalScrollBar().value()
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(100, 100))
    qtbot.mouseMove(viewport, QPoint(60, 70))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(60, 70))
    assert canvas.horizontalScrollBar().value() == h0 + 40
    assert canvas.verticalScrollBar().value() == v0 + 30

    # Space + left drag pans too, and paints nothing.
    strokes = []
    canvas.stroke_finished.connect(strokes.append)
    h1, v1 = canvas.horizontalScrollBar().value(), canvas.verticalScrollBar().value()
    canvas.setFocus()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(viewport, QPoint(120, 110))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=QPoint(120, 110))
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert (canvas.horizontalScrollBar().value(), canvas.verticalScrollBar().value()) == (h1 - 20, v1 - 10)
    assert strokes == []

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(canvas.files_dropped) as blocker:
        canvas.dropEvent(event)
    assert blocker.args == [[str(tmp_path)]]
