"""The real window over the real Session (default model features, GloVe words), driven like a user.

Each test has its own window and folder (see conftest): open a folder, type a class, navigate,
paint, undo/redo, export, and read the project back.
"""
from __future__ import annotations

import json

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from app.overlay import IGNORE
from app.project import PROJECT_FILENAME, STATUS_NOT_RUN, STATUS_REVIEWED, load_project

from .conftest import WAIT_MS, add_class, close_window, make_window, wait_idle


def _key(qtbot, window, key, modifier=Qt.KeyboardModifier.NoModifier):
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, key, modifier)


def _overlay_rgba(window) -> np.ndarray:
    from PySide6.QtGui import QImage

    image = window.canvas.overlay_image().convertToFormat(QImage.Format.Format_RGBA8888)
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    return buffer.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width()].copy()


def _paint(window, points, value=1, size=5):
    """A brush stroke through image pixels, as a mouse drag makes it."""
    window.class_panel.select_value(value)
    window.canvas.set_brush_size(size)
    return window.canvas.paint_stroke(points)


def test_open_folder_lists_images_in_natural_order(qtbot, window, sample_dir):
    assert window.open_paths([str(sample_dir)])
    names = [window.file_panel.list.item(i).text() for i in range(window.file_panel.list.count())]
    assert names == ["img1_cat.jpg", "img2_astronaut.jpg", "img10_coffee.jpg"]
    assert window.controller.current == 0
    assert window.canvas.image_shape == Image.open(sample_dir / "img1_cat.jpg").size[::-1]
    assert all(r.status == STATUS_NOT_RUN for r in window.controller.images)
    # Opening a folder alone writes nothing into it.
    assert not (sample_dir / PROJECT_FILENAME).exists()
    # The file list search box filters by name.
    window.file_panel.search.setText("astro")
    assert window.file_panel.visible_indices() == [1]
    window.file_panel.search.clear()
    assert window.file_panel.visible_indices() == [0, 1, 2]


def test_typing_a_class_labels_the_image_with_it(qtbot, window, sample_dir):
    assert window.open_paths([str(sample_dir)])
    controller = window.controller
    field = window.class_panel.add_field
    qtbot.keyClicks(field, "cat")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: controller.classes == ["cat"], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: controller.current_prediction() is not None and not controller.runner.busy,
                    timeout=WAIT_MS)
    assert field.text() == ""  # accepted: the field is cleared
    prediction = controller.current_prediction()
    assert prediction.labels.shape == window.canvas.image_shape
    assert set(np.unique(prediction.labels)) <= {0, 1}
    assert (prediction.labels == 1).any(), "the cat photo should have cat pixels"
    # The overlay shows exactly those pixels in the class colour, background transparent.
    rgba = _overlay_rgba(window)
    color = controller.color_of(1)
    cat = prediction.labels == 1
    assert np.all(rgba[cat][:, :3] == (color.red(), color.green(), color.blue()))
    assert np.all(rgba[cat][:, 3] == 255)
    assert np.all(rgba[~cat][:, 3] == 0)
    assert controller.images[0].status == "auto-labelled"
    # The class panel lists background, cat and the ignore/eraser row; the brush paints cat.
    assert [e.name for e in window.class_panel.entries] == ["background", "cat", "ignore"]
    assert window.class_panel.current_value() == 1
    # Hovering a cat pixel names the class and its confidence.
    y, x = map(int, np.argwhere(cat)[0])
    assert "cat" in controller.pixel_info(x, y) and "confidence" in controller.pixel_info(x, y)
    assert "cpu" in window.engine_label.text()
    # M toggles the overlay; the slider sets its opacity.
    _key(qtbot, window, Qt.Key.Key_M)
    assert not window.canvas.overlay_visible
    _key(qtbot, window, Qt.Key.Key_M)
    assert window.canvas.overlay_visible
    window.opacity.setValue(80)
    assert abs(window.canvas._overlay_item.opacity() - 0.8) < 1e-6


def test_unknown_word_shows_inline_message_and_adds_nothing(qtbot, labelled):
    window = labelled
    controller = window.controller
    panel = window.class_panel
    qtbot.keyClicks(panel.add_field, "xqzvbnmwrtk")
    qtbot.keyClick(panel.add_field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "unknown word" in panel.message.text(), timeout=WAIT_MS)
    assert panel.message.isVisible()
    assert panel.message.property("kind") == "error"
    assert controller.classes == ["cat"]
    assert [e.name for e in panel.entries] == ["background", "cat", "ignore"]
    assert panel.add_field.text() == "xqzvbnmwrtk"  # kept, so the user can fix the spelling
    wait_idle(qtbot, controller)


def test_d_and_a_navigate(qtbot, labelled):
    window = labelled
    controller = window.controller
    _key(qtbot, window, Qt.Key.Key_D)
    assert controller.current == 1
    assert window.file_panel.list.currentRow() == 1
    _key(qtbot, window, Qt.Key.Key_D)
    assert controller.current == 2
    _key(qtbot, window, Qt.Key.Key_D)  # stays on the last image
    assert controller.current == 2
    _key(qtbot, window, Qt.Key.Key_A)
    _key(qtbot, window, Qt.Key.Key_A)
    assert controller.current == 0
    wait_idle(qtbot, controller)
    assert controller.current_prediction() is not None


def test_brush_stroke_with_the_mouse_then_undo_redo(qtbot, labelled, sample_dir):
    window = labelled
    controller = window.controller
    canvas = window.canvas
    canvas.actual_size()
    canvas.set_brush_size(5)
    window.class_panel.select_value(1)
    start = canvas.mapFromScene(20.5, 30.5)
    end = canvas.mapFromScene(60.5, 30.5)
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 5):
        qtbot.mouseMove(viewport, QPoint(start.x() + (end.x() - start.x()) * step // 4, start.y()))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)

    record = controller.images[0]
    assert record.user is not None
    painted = record.user == 1
    # Hovering the stroke names the class in the status bar.
    qtbot.mouseMove(viewport, canvas.mapFromScene(40.5, 30.5))
    assert "cat" in window.hover_label.text() and "your label" in window.hover_label.text()
    assert painted[30, 20] and painted[30, 60] and painted[28, 40] and not painted[40, 40]
    assert set(np.unique(record.user)) == {1, IGNORE}
    assert record.status == STATUS_REVIEWED
    assert controller.history.count(record.path) == 1
    # Autosaved right after the stroke: the label PNG and the project file.
    project_file = sample_dir / PROJECT_FILENAME
    assert project_file.is_file()
    project = load_project(project_file)
    label_png = project.resolve(project.user_labels["img1_cat.jpg"])
    with Image.open(label_png) as png:
        assert png.mode == "P"
        saved = np.asarray(png)
    assert np.array_equal(saved, record.user)
    # The overlay shows the painted pixels in the class colour.
    rgba = _overlay_rgba(window)
    color = controller.color_of(1)
    assert tuple(rgba[30, 40][:3]) == (color.red(), color.green(), color.blue())

    _key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.all(record.user == IGNORE)
    with Image.open(label_png) as png:
        assert np.all(np.asarray(png) == IGNORE)
    _key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(record.user == 1, painted)
    with Image.open(label_png) as png:
        assert np.array_equal(np.asarray(png), record.user)

    # The stroke's pixels became real labels of "cat" in the session: the class is now seen.
    wait_idle(qtbot, controller)
    seen, pixels = controller.class_info["cat"]
    assert seen and pixels == int(painted.sum())
    assert np.array_equal(controller.session.labels(record.path), record.user)


def test_export_voc_and_coco(qtbot, labelled, tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    window = labelled
    controller = window.controller
    _paint(window, [(20, 30), (60, 30)])
    out = tmp_path / "export"
    with qtbot.waitSignal(controller.export_finished, timeout=WAIT_MS) as blocker:
        assert window.start_export(out, ["voc", "coco"], None, ask=False)
    summary = blocker.args[0]
    assert summary.added == 3
    assert (out / "class_names.txt").read_text().split() == ["background", "cat"]
    for record in controller.images:
        png = out / "SegmentationClass" / f"{record.path.stem}.png"
        with Image.open(png) as image:
            labels = np.asarray(image)
            assert image.size == Image.open(record.path).size
        assert set(np.unique(labels)) <= {0, 1, IGNORE}
    # The user's stroke wins over the prediction in the export.
    with Image.open(out / "SegmentationClass" / "img1_cat.png") as image:
        labels = np.asarray(image)
    user = controller.images[0].user
    assert np.all(labels[user == 1] == 1)

    coco = COCO(str(out / "annotations.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["cat"]
    cat_image = next(i for i in coco.loadImgs(coco.getImgIds()) if i["file_name"] == "img1_cat.jpg")
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[cat_image["id"]]))
    assert anns
    union = np.zeros((cat_image["height"], cat_image["width"]), dtype=bool)
    for ann in anns:
        union |= mask_utils.decode(coco.annToRLE(ann)).astype(bool)
    assert np.array_equal(union, labels == 1)

    # A second export into the same folder clashes: nothing written without overwrite.
    before = (out / "annotations.json").stat().st_mtime_ns
    assert not window.start_export(out, ["voc", "coco"], None, ask=False)
    assert "already exist" in window.message_label.text()
    assert (out / "annotations.json").stat().st_mtime_ns == before
    with qtbot.waitSignal(controller.export_finished, timeout=WAIT_MS):
        assert window.start_export(out, ["voc", "coco"], None, ask=False, overwrite=True)


def test_run_on_all_images_cancel_then_resume(qtbot, labelled):
    import threading

    from app.dialogs.batch_dialog import BatchDialog
    from app.workers import Job

    window = labelled
    controller = window.controller
    _paint(window, [(20, 30), (60, 30)])
    wait_idle(qtbot, controller)
    dialog = BatchDialog(controller, window)
    dialog.show()
    assert dialog.skip_reviewed.isChecked()
    # Hold the worker so that the cancel lands before the batch starts (deterministic).
    gate = threading.Event()
    controller.runner.submit(Job("hold", lambda ctx: gate.wait(60)))
    dialog.start()
    assert dialog.state == "running" and not dialog.start_button.isEnabled()
    dialog.cancel()
    gate.set()
    qtbot.waitUntil(lambda: dialog.state == "cancelled", timeout=WAIT_MS)
    assert dialog.start_button.text() == "Resume"
    assert controller.images[2].status == STATUS_NOT_RUN or controller.images[2].done_generation != \
        controller.generation

    dialog.start()
    qtbot.waitUntil(lambda: dialog.state == "done", timeout=WAIT_MS)
    # The reviewed (painted) image was skipped; the others are labelled by the current model.
    assert controller.images[0].status == STATUS_REVIEWED
    for record in controller.images[1:]:
        assert record.status == "auto-labelled"
        assert record.done_generation == controller.generation
    assert dialog.bar.value() == dialog.bar.maximum() == 2
    dialog.close()


def test_reorder_rename_delete_classes_remap_the_labels(qtbot, labelled, sample_dir, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window = labelled
    controller = window.controller
    panel = window.class_panel
    _paint(window, [(20, 30), (60, 30)])
    add_class(qtbot, window, "dog")
    qtbot.waitUntil(lambda: controller.classes == ["cat", "dog"], timeout=WAIT_MS)
    record = controller.images[0]
    painted = record.user == 1
    label_png = sample_dir / load_project(sample_dir).user_labels["img1_cat.jpg"]

    panel.select_value(1)
    panel.down_button.click()                        # cat moves below dog: cat = 2
    assert controller.classes == ["dog", "cat"]
    assert np.array_equal(record.user == 2, painted)
    with Image.open(label_png) as png:
        assert np.array_equal(np.asarray(png), record.user)

    monkeypatch.setattr("app.class_panel.QInputDialog.getText", lambda *a, **k: ("puppy", True))
    panel.select_value(1)
    panel.rename_button.click()
    qtbot.waitUntil(lambda: controller.classes == ["puppy", "cat"], timeout=WAIT_MS)

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    panel.select_value(1)
    panel.delete_button.click()                      # puppy goes: cat = 1 again
    assert controller.classes == ["cat"]
    assert np.array_equal(record.user == 1, painted)
    wait_idle(qtbot, controller)
    assert [e.name for e in panel.entries] == ["background", "cat", "ignore"]
    # Refits requested while one ran were coalesced; the session ends with the same labels.
    assert np.array_equal(controller.session.labels(record.path), record.user)
    assert controller.session.classes == ["background", "cat"]
    assert controller.class_info["cat"] == (True, int(painted.sum()))
    assert load_project(sample_dir).classes[0].name == "cat"


def test_project_file_round_trips(qtbot, labelled, sample_dir, tmp_path):
    window = labelled
    controller = window.controller
    _paint(window, [(20, 30), (60, 30)])
    controller.mark_reviewed(2)
    assert controller.save_project()
    data = json.loads((sample_dir / PROJECT_FILENAME).read_text())
    assert data["format"] == "zs3project"
    assert [c["name"] for c in data["classes"]] == ["cat"]
    assert data["status"]["img1_cat.jpg"] == STATUS_REVIEWED
    assert data["status"]["img10_coffee.jpg"] == STATUS_REVIEWED

    other = make_window(tmp_path / "other_settings.ini")
    try:
        assert other.open_paths([str(sample_dir / PROJECT_FILENAME)])
        restored = other.controller
        assert restored.classes == ["cat"]
        assert [r.path.name for r in restored.images] == [r.path.name for r in controller.images]
        assert [r.status for r in restored.images] == [r.status for r in controller.images]
        assert restored.colors["cat"] == controller.colors["cat"]
        assert np.array_equal(restored.images[0].user, controller.images[0].user)
        assert str(sample_dir / PROJECT_FILENAME) in other.recent_files()
        wait_idle(qtbot, restored)
        # The restored user labels went back into the new session.
        assert restored.class_info["cat"][0] is True
    finally:
        close_window(other)


def test_unreadable_image_is_an_inline_message(qtbot, window, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a JPEG")
    window.open_paths([str(broken)])
    assert "not a readable image" in window.message_label.text()
    assert window.message_label.property("kind") == "error"
    wait_idle(qtbot, window.controller)


def test_wrong_checkpoint_is_reported_inline(qtbot, window, sample_dir, tmp_path):
    from app.controller import EngineSettings

    assert window.open_paths([str(sample_dir)])
    bogus = tmp_path / "model.pth"
    bogus.write_bytes(b"not a checkpoint")
    controller = window.controller
    controller.apply_settings(EngineSettings(model=str(bogus), device="cpu"))
    wait_idle(qtbot, controller)
    assert "Could not load the model" in window.message_label.text()
    assert "not a zs3-annotator checkpoint" in window.message_label.text()
    assert window.message_label.property("kind") == "error"
    assert window.engine_label.text() == "no model"
    # Model actions now say what to do, inline, instead of failing silently.
    window.class_panel.add_field.setText("dog")
    qtbot.keyClick(window.class_panel.add_field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "no model is loaded" in window.class_panel.message.text(), timeout=WAIT_MS)
