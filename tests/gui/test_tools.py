"""The editing tools: pure mask functions, then each tool driven on the real window.

Every tool's result must be an ordinary edit: undoable, saved, and handed to the session as
labels of the selected class (so it trains like a brush stroke).
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt

from app.overlay import IGNORE
from app.tools import click_box, flood_region, hole_mask
from core.object_cut import grabcut_box

from .conftest import WAIT_MS, wait_idle


def _disc_image(size: int = 160, radius: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size // 2) ** 2 + (xx - size // 2) ** 2 <= radius ** 2
    rgb = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    rgb[disc] = rng.integers(190, 255, (int(disc.sum()), 3), dtype=np.uint8)
    return rgb, disc


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / float((a | b).sum())


def test_flood_region_and_holes():
    labels = np.full((7, 7), 0, np.uint8)
    labels[1:6, 1:6] = 1
    labels[3, 3] = 0                                   # a hole inside class 1
    labels[0, 6] = 2
    region = flood_region(labels, 2, 2)
    assert region.sum() == 24 and not region[3, 3]
    assert flood_region(labels, 0, 0)[0, 0] and not flood_region(labels, 0, 0)[3, 3]
    holes = hole_mask(labels, 1)
    assert holes.sum() == 1 and holes[3, 3]
    assert not hole_mask(labels, 2).any()


def test_grabcut_box_finds_the_object_inside_the_box():
    rgb, disc = _disc_image()
    mask = grabcut_box(rgb, (30, 30, 131, 131))
    assert _iou(mask, disc) > 0.85
    assert not mask[:30].any() and not mask[:, 131:].any()  # never outside the box
    # A large photo is cut at a bounded size and scaled back: same answer, full-size mask.
    big = np.repeat(np.repeat(rgb, 8, axis=0), 8, axis=1)
    big_mask = grabcut_box(big, (240, 240, 1048, 1048))
    assert big_mask.shape == big.shape[:2]
    assert _iou(big_mask, np.repeat(np.repeat(disc, 8, axis=0), 8, axis=1)) > 0.85


def test_click_box_grows_the_region_under_the_click_or_takes_a_square():
    region = np.zeros((100, 100), bool)
    region[40:60, 40:60] = True
    x0, y0, x1, y1 = click_box(region.shape, 50, 50, region)
    assert x0 < 40 and y0 < 40 and x1 > 60 and y1 > 60
    assert click_box((100, 100), 50, 50, None) == (38, 38, 63, 63)


# -- on the real window ------------------------------------------------------------------------------
def _shown(labelled):
    controller = labelled.controller
    return controller, controller.current_record


def test_polygon_tool_with_the_mouse_is_one_undoable_edit_that_trains(qtbot, labelled):
    window = labelled
    controller, record = _shown(window)
    canvas = window.canvas
    canvas.actual_size()
    window.activateWindow()
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_P)
    assert canvas.tool == "polygon"
    window.class_panel.select_value(1)
    viewport = canvas.viewport()
    clicks = [canvas.mapFromScene(x + 0.5, y + 0.5) for x, y in ((20, 20), (80, 20), (80, 60), (20, 60))]
    for pos in clicks:
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=pos)
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    (x0, y0), (x1, y1) = canvas.image_pos(clicks[0]), canvas.image_pos(clicks[2])
    assert x1 - x0 == 60 and y1 - y0 == 40                     # the corners the mouse hit
    assert record.user is not None
    assert np.all(record.user[y0:y1 + 1, x0:x1 + 1] == 1) and (record.user == 1).sum() == 41 * 61
    assert "Polygon cat" in window.actions["undo"].toolTip()
    wait_idle(qtbot, controller)
    assert np.array_equal(controller.session.labels(record.path), record.user)
    assert controller.class_info["cat"][1] == 41 * 61
    controller.undo()
    assert np.all(record.user == IGNORE)
    wait_idle(qtbot, controller)


def test_box_tool_drag_paints_the_object_found_in_the_box(qtbot, labelled):
    window = labelled
    controller, record = _shown(window)
    canvas = window.canvas
    window.set_tool("box")
    canvas.actual_size()
    window.class_panel.select_value(1)
    h, w = canvas.image_shape
    box = (w // 5, h // 5, 4 * w // 5, 4 * h // 5)
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=canvas.mapFromScene(box[0] + 0.5, box[1] + 0.5))
    qtbot.mouseMove(viewport, canvas.mapFromScene(box[2] / 2 + 0.5, box[3] / 2 + 0.5))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=canvas.mapFromScene(box[2] - 0.5, box[3] - 0.5))
    qtbot.waitUntil(lambda: record.user is not None and (record.user == 1).any(), timeout=WAIT_MS)
    painted = record.user == 1
    outside = painted.copy()
    outside[box[1]:box[3], box[0]:box[2]] = False
    assert not outside.any()
    assert 0.05 < painted[box[1]:box[3], box[0]:box[2]].mean() < 0.98   # an object, not the whole box
    assert controller.history.count(record.path) == 1
    wait_idle(qtbot, controller)


def test_click_object_fill_and_pick_on_the_prediction(qtbot, labelled):
    window = labelled
    controller, record = _shown(window)
    canvas = window.canvas
    prediction = controller.current_prediction().labels
    y, x = map(int, np.argwhere(prediction == 1)[len(np.argwhere(prediction == 1)) // 2])

    # Pick: with the eraser selected, a click on a cat pixel selects "cat" again.
    window.class_panel.select_value(IGNORE)
    window.set_tool("pick")
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=canvas.mapFromScene(x + 0.5, y + 0.5))
    assert window.class_panel.current_value() == 1 and controller.brush_value == 1

    # Flood fill: the predicted background region under a click becomes the selected class.
    by, bx = map(int, np.argwhere(prediction == 0)[0])
    window.set_tool("fill")
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=canvas.mapFromScene(bx + 0.5, by + 0.5))
    assert np.array_equal(record.user == 1, flood_region(prediction, bx, by))
    assert "Fill cat" in window.actions["undo"].toolTip()
    controller.undo()

    # Click → object: GrabCut around the cat region; the click's pixel is part of the result.
    window.set_tool("object")
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=canvas.mapFromScene(x + 0.5, y + 0.5))
    qtbot.waitUntil(lambda: record.user is not None and (record.user == 1).any(), timeout=WAIT_MS)
    assert (record.user == 1).sum() > 50
    wait_idle(qtbot, controller)


def test_fill_holes_closes_what_the_class_encloses(qtbot, labelled):
    window = labelled
    controller, record = _shown(window)
    ring = np.zeros(window.canvas.image_shape, bool)
    ring[10:50, 10:50] = True
    ring[20:40, 20:40] = False
    inside = np.zeros_like(ring)
    inside[20:40, 20:40] = True
    window.class_panel.select_value(0)  # the hole painted background, whatever the model predicts there
    assert controller.apply_stroke(inside)
    window.class_panel.select_value(1)
    assert controller.apply_stroke(ring)
    window.activateWindow()
    window.canvas.setFocus()
    assert np.all(controller.composed_labels()[20:40, 20:40] == 0)
    qtbot.keyClick(window.canvas, Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)
    assert np.all(controller.composed_labels()[10:50, 10:50] == 1)
    assert np.all(record.user[20:40, 20:40] == 1)      # the filled pixels are the user's now
    assert controller.history.count(record.path) == 3
    wait_idle(qtbot, controller)


def test_polygon_escape_cancels_without_an_edit(qtbot, labelled):
    window = labelled
    controller, record = _shown(window)
    canvas = window.canvas
    window.set_tool("polygon")
    for x, y in ((10, 10), (60, 10), (60, 50)):
        canvas.add_polygon_point(x, y)
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert not canvas.drawing_shape
    qtbot.mouseDClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert controller.history.count(record.path) == 0
    wait_idle(qtbot, controller)
