"""A large JPEG is shown reduced at once and in full resolution when the loader thread has it;
strokes, boxes and label files are in full-resolution pixels in both phases (issue 12)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

import app.photo_loader as photo_loader
from app.project import read_label_png
from core.images import load_image

from .conftest import WAIT_MS, add_class

H, W = 480, 640
RED = (220, 30, 30)


def _photo(path, left=(40, 40, 40), right=RED) -> None:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:, : W // 2] = left
    rgb[:, W // 2:] = right
    Image.fromarray(rgb).save(path, quality=95)


@pytest.fixture
def gate(monkeypatch):
    """Holds the loader thread's full-resolution decode until the test sets the event."""
    release = threading.Event()
    real = photo_loader.load_image

    def held(path, *args, **kwargs):
        assert release.wait(WAIT_MS / 1000)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(photo_loader, "load_image", held)
    yield release
    release.set()  # never leave the loader thread blocked


def _open(qtbot, window, folder):
    window.controller.preview_min_side = 100  # a 640×480 JPEG previews at 1/4, as a 24-Mpx one does
    assert window.open_paths([str(folder)])
    add_class(qtbot, window, "thing")
    window.class_panel.select_value(1)


def _canvas_rgb(canvas, x, y):
    from PySide6.QtGui import QImage

    image = canvas.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    point = canvas.mapFromScene(x + 0.5, y + 0.5)
    color = image.pixelColor(point.x(), point.y())
    return color.red(), color.green(), color.blue()


def test_a_stroke_on_the_preview_lands_on_full_resolution_pixels_and_survives_the_swap(qtbot, window, tmp_path, gate):
    folder = tmp_path / "images"
    folder.mkdir()
    _photo(folder / "big.jpg")
    _open(qtbot, window, folder)
    controller, canvas = window.controller, window.canvas
    assert canvas.photo_is_preview and controller.current_rgb is None
    assert canvas.image_shape == (H, W) == controller.current_shape
    assert _canvas_rgb(canvas, 500, 240)[0] > 180 and _canvas_rgb(canvas, 100, 240)[0] < 80  # placed right

    canvas.set_brush_size(5)
    assert canvas.paint_stroke([(100, 100), (200, 100)]) is not None      # a whole stroke on the preview
    canvas.begin_stroke(100, 300)                                         # and one still being drawn
    canvas.extend_stroke(200, 300)
    gate.set()
    qtbot.waitUntil(lambda: not canvas.photo_is_preview, timeout=WAIT_MS)
    canvas.extend_stroke(300, 300)
    canvas.end_stroke()

    full = load_image(folder / "big.jpg")
    assert np.array_equal(controller.current_rgb, full)
    assert canvas._image_item.rgb is controller.current_rgb
    user = controller.current_record.user
    assert user.shape == (H, W)
    assert (user[100, 100:201] == 1).all() and (user[300, 100:301] == 1).all()
    assert user[200, 150] == 255 and user[100, 300] == 255
    saved = read_label_png(controller.project.label_path_for(folder / "big.jpg"))
    assert np.array_equal(saved, user)
    assert controller.history.count(controller.current_record.path) == 2


def test_a_box_dragged_on_the_preview_waits_for_the_full_photo(qtbot, window, tmp_path, gate):
    folder = tmp_path / "images"
    folder.mkdir()
    rgb = np.full((H, W, 3), 40, np.uint8)
    rgb[180:300, 420:540] = RED                                           # the object in the box
    Image.fromarray(rgb).save(folder / "big.jpg", quality=95)
    _open(qtbot, window, folder)
    controller = window.controller
    messages = []
    controller.message.connect(lambda text, kind: kind == "error" and messages.append(text))
    assert window.canvas.drag_box(360, 120, 600, 360) is not None        # GrabCut needs the pixels
    assert controller.current_record.user is None                        # nothing painted yet
    gate.set()
    qtbot.waitUntil(lambda: controller.current_record.user is not None or bool(messages), timeout=WAIT_MS)
    user = controller.current_record.user
    assert user is not None, messages
    assert user[240, 480] == 1 and user[140, 380] == 255 and user[240, 100] == 255


def test_a_full_photo_that_arrives_after_the_user_moved_on_is_not_shown(qtbot, window, tmp_path, gate):
    folder = tmp_path / "images"
    folder.mkdir()
    _photo(folder / "a.jpg", right=RED)
    _photo(folder / "b.jpg", right=(30, 30, 220))
    _open(qtbot, window, folder)
    controller, canvas = window.controller, window.canvas
    assert controller.set_current(1)
    assert canvas.photo_is_preview
    gate.set()
    qtbot.waitUntil(lambda: not canvas.photo_is_preview, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not controller.loader.busy, timeout=WAIT_MS)
    assert controller.current == 1
    assert np.array_equal(canvas._image_item.rgb, load_image(folder / "b.jpg"))
    assert _canvas_rgb(canvas, 500, 240)[2] > 180
