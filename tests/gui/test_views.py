"""Views over the mask: outlines, confidence heat map, show-only-one-class, zoom level, "not found",
and a large photo drawn at screen resolution."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.canvas import Canvas
from app.overlay import IGNORE, build_lut

from .conftest import WAIT_MS, add_class, wait_idle


def _rgba(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return data.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width()].copy()


def _press(qtbot, window, key, modifier=Qt.KeyboardModifier.NoModifier):
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, key, modifier)


def test_outline_mode_keeps_only_the_borders(qtbot):
    from PySide6.QtGui import QColor

    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.set_image(np.zeros((20, 20, 3), np.uint8))
    labels = np.zeros((20, 20), np.uint8)
    labels[5:15, 5:15] = 1
    canvas.set_labels(labels, build_lut({0: QColor(0, 0, 0), 1: QColor(255, 0, 0)}, set()))
    assert _rgba(canvas.overlay_image())[10, 10, 3] == 255
    canvas.set_outline(True)
    rgba = _rgba(canvas.overlay_image())
    assert rgba[10, 10, 3] == 0                       # inside: see the photo
    assert tuple(rgba[5, 10]) == (255, 0, 0, 255)     # the border keeps the class colour
    assert rgba[0, 0, 3] == 0


def test_heat_map_shows_confidence_and_greys_what_export_would_drop(qtbot, labelled):
    window, controller = labelled, labelled.controller
    window.settings.setValue("export/min_confidence", 0.9)
    window.class_panel.select_value(1)
    window.canvas.paint_stroke([(5, 5), (30, 5)])
    _press(qtbot, window, Qt.Key.Key_H)
    assert window.view_mode == "confidence" and "0.90" in window.message_label.text()
    rgba = _rgba(window.canvas.overlay_image())
    confidence = controller.current_prediction().confidence
    assert tuple(rgba[5, 10, :3]) == (128, 0, 0) or rgba[5, 10, 0] > 100   # painted: sure (red end)
    low = np.argwhere((confidence < 0.85) & (controller.current_record.user == IGNORE))
    if len(low):
        y, x = map(int, low[0])
        assert tuple(rgba[y, x, :3]) == (128, 128, 128)
    _press(qtbot, window, Qt.Key.Key_L)
    assert window.view_mode == "labels"
    rgba = _rgba(window.canvas.overlay_image())
    color = controller.color_of(1)
    assert tuple(rgba[5, 10, :3]) == (color.red(), color.green(), color.blue())
    wait_idle(qtbot, controller)


def test_show_only_this_class_and_the_zoom_level(qtbot, labelled):
    window, controller = labelled, labelled.controller
    add_class(qtbot, window, "dog")
    window.class_panel.select_value(2)
    window.class_panel.only_button.click()
    assert controller.hidden == {"cat"}
    window.class_panel.only_button.click()
    assert controller.hidden == set()
    _press(qtbot, window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.zoom_label.text() == "100 %"
    window.canvas.zoom_by(2.0)
    assert window.zoom_label.text() == "200 %"
    wait_idle(qtbot, controller)


def test_a_class_found_in_no_labelled_image_is_flagged(qtbot, labelled):
    from app.controller import PredictionResult

    window, controller = labelled, labelled.controller
    add_class(qtbot, window, "dog")
    wait_idle(qtbot, controller)
    record = controller.current_record
    shape = window.canvas.image_shape
    controller._store_prediction(PredictionResult(record.path, np.ones(shape, np.uint8),
                                                  np.ones(shape, np.float32), controller.generation))
    window._refresh_classes()
    rows = [window.class_panel.list.itemWidget(window.class_panel.list.item(i)) for i in range(4)]
    assert "not found" not in rows[2].badge.text()      # dog: absent from the one photo run so far
    from core.images import displayed_size

    for other in controller.images:                     # ... and from every other photo of the folder
        if other is not record:
            size = displayed_size(other.path)
            controller._store_prediction(PredictionResult(other.path, np.ones(size, np.uint8),
                                                          np.ones(size, np.float32), controller.generation))
    window._refresh_classes()
    rows = [window.class_panel.list.itemWidget(window.class_panel.list.item(i)) for i in range(4)]
    assert "not found" in rows[2].badge.text()          # dog: nowhere
    assert "not found" not in rows[1].badge.text()      # cat: everywhere


def test_a_large_photo_is_drawn_at_screen_resolution(qtbot, monkeypatch):
    """A 24-Mpx photo: showing it and painting on it convert only about a screenful of pixels
    (at most 4×: the pyramid level is the next power of two at or above the screen's scale)."""
    import app.canvas_items as items

    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 600)
    canvas.show()
    rgb = np.zeros((4000, 6000, 3), np.uint8)
    rgb[:, 3000:] = (200, 30, 30)
    canvas.set_image(rgb)
    assert canvas._image_item.rgb is rgb                 # no copy of the photo
    converted: list[int] = []
    original = items._qimage
    monkeypatch.setattr(items, "_qimage", lambda a: converted.append(a.shape[0] * a.shape[1]) or original(a))
    screen = canvas.viewport().width() * canvas.viewport().height()
    grabbed = canvas.viewport().grab().toImage()
    assert converted and max(converted) <= 4 * screen
    pixels = _rgba(grabbed)
    center = canvas.mapFromScene(4500, 2000)
    assert tuple(pixels[center.y(), center.x(), :3]) == (200, 30, 30)
    labels = np.full((4000, 6000), IGNORE, np.uint8)
    canvas.set_labels(labels, np.zeros((256, 4), np.uint8))
    converted.clear()
    canvas.begin_stroke(3000, 2000)
    for x in range(3000, 3400, 40):
        canvas.extend_stroke(x, 2000)
        canvas.viewport().grab()  # a full frame: what a repaint of the whole view converts
    assert converted and max(converted) <= 4 * screen
    mask = canvas.end_stroke()
    assert mask.shape == (4000, 6000) and mask[2000, 3000:3361].all()
