"""The defects a day of annotation found (issue 12), each driven on the real window."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

from app.overlay import IGNORE
from app.project import PROJECT_FILENAME, STATUS_AUTO, STATUS_REVIEWED, STATUS_UNREADABLE, load_project

from .conftest import SAMPLES, WAIT_MS, add_class, close_window, copy_samples, make_window, wait_idle


def _answer(monkeypatch, button) -> list:
    """Answer every QMessageBox.question with ``button``; the questions asked are returned."""
    asked: list = []

    def question(_parent, title, text, *args, **kwargs):
        asked.append((title, text))
        return button

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def _rename_to(monkeypatch, name: str) -> None:
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (name, True))


def _paint(window, points, value=1, size=7):
    window.class_panel.select_value(value)
    window.canvas.set_brush_size(size)
    return window.canvas.paint_stroke(points)


def _press(qtbot, window, key, modifier=Qt.KeyboardModifier.NoModifier, widget=None):
    window.activateWindow()
    target = widget or window.canvas
    target.setFocus()
    qtbot.keyClick(target, key, modifier)


# 1 -------------------------------------------------------------------------------------------------
def test_renaming_to_a_reserved_name_is_refused(qtbot, labelled, sample_dir, monkeypatch):
    window, controller = labelled, labelled.controller
    for name in ("background", "Background", "IGNORE"):
        _rename_to(monkeypatch, name)
        window.class_panel.select_value(1)
        window.class_panel.rename_button.click()
        assert "reserved" in window.class_panel.message.text()
        assert window.class_panel.message.property("kind") == "error"
    wait_idle(qtbot, controller)
    assert controller.classes == ["cat"]
    assert [c.name for c in load_project(sample_dir).classes] == ["cat"]
    assert controller.session.classes == ["background", "cat"]


# 2 -------------------------------------------------------------------------------------------------
def test_delete_asks_first_and_ctrl_z_brings_the_class_and_its_pixels_back(qtbot, labelled, sample_dir,
                                                                              monkeypatch):
    window, controller = labelled, labelled.controller
    _paint(window, [(20, 30), (60, 30)])
    record = controller.images[0]
    painted = record.user == 1
    asked = _answer(monkeypatch, QMessageBox.StandardButton.No)
    window.class_panel.select_value(1)
    window.class_panel.delete_button.click()
    assert controller.classes == ["cat"] and len(asked) == 1
    assert f"{int(painted.sum()):,} pixels" in asked[0][1]
    _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    window.class_panel.delete_button.click()
    assert controller.classes == [] and np.all(record.user == IGNORE)
    assert "Ctrl+Z" not in window.actions["undo"].text()
    assert "Delete class 'cat'" in window.actions["undo"].toolTip()
    _press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert controller.classes == ["cat"]
    assert np.array_equal(record.user == 1, painted)
    label_png = load_project(sample_dir).resolve(load_project(sample_dir).user_labels["img1_cat.jpg"])
    with Image.open(label_png) as png:
        assert np.array_equal(np.asarray(png), record.user)
    # The stroke's own undo survived the delete and its undo.
    _press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.all(record.user == IGNORE)
    wait_idle(qtbot, controller)


def test_rename_to_an_existing_name_offers_a_merge(qtbot, labelled, monkeypatch):
    window, controller = labelled, labelled.controller
    add_class(qtbot, window, "dog")
    _paint(window, [(20, 30), (60, 30)], value=2)
    record = controller.images[0]
    dog = record.user == 2
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    _rename_to(monkeypatch, "Cat")
    window.class_panel.select_value(2)
    window.class_panel.rename_button.click()
    assert asked and "Merge 'dog' into 'cat'" in asked[0][1]
    assert controller.classes == ["cat"]
    assert np.array_equal(record.user == 1, dog)
    assert controller.undo() == "Merge 'dog' into 'cat'"
    assert controller.classes == ["cat", "dog"] and np.array_equal(record.user == 2, dog)
    wait_idle(qtbot, controller)


# 3 -------------------------------------------------------------------------------------------------
def test_run_on_all_passes_over_an_unreadable_file(qtbot, window, tmp_path):
    folder = copy_samples(tmp_path / "imgs", (("cat_chelsea.jpg", "a_cat.jpg"), ("cat_chelsea.jpg", "c_cat.jpg")),
                          max_side=128)
    data = (SAMPLES / "cat_chelsea.jpg").read_bytes()
    (folder / "b_truncated.jpg").write_bytes(data[: len(data) // 3])
    controller = window.controller
    assert window.open_paths([str(folder)])
    add_class(qtbot, window, "cat")
    wait_idle(qtbot, controller)
    with qtbot.waitSignal(controller.batch_finished, timeout=WAIT_MS) as finished:
        controller.run_all()
    assert finished.args == ["done"]
    names = {r.path.name: r.status for r in controller.images}
    assert names["c_cat.jpg"] == STATUS_AUTO and names["a_cat.jpg"] == STATUS_AUTO
    assert names["b_truncated.jpg"] == STATUS_UNREADABLE
    assert "b_truncated.jpg" in window.message_label.text()
    # Unreadable has its own mark in the list, not the grey dot of "not run".
    assert window.file_panel.status(1) == STATUS_UNREADABLE
    assert "unreadable" in window.file_panel.summary.text()


# 4 -------------------------------------------------------------------------------------------------
def test_typed_classes_and_batch_statuses_are_saved_without_a_stroke(qtbot, window, sample_dir, tmp_path):
    controller = window.controller
    assert window.open_paths([str(sample_dir)])
    assert not (sample_dir / PROJECT_FILENAME).exists()
    add_class(qtbot, window, "cat")
    assert [c.name for c in load_project(sample_dir).classes] == ["cat"]
    wait_idle(qtbot, controller)
    with qtbot.waitSignal(controller.batch_finished, timeout=WAIT_MS):
        controller.run_all()
    saved = json.loads((sample_dir / PROJECT_FILENAME).read_text())
    assert set(saved["status"].values()) == {STATUS_AUTO}
    other = make_window(tmp_path / "other.ini")
    try:
        assert other.open_paths([str(sample_dir)])
        assert other.controller.classes == ["cat"]
        assert [r.status for r in other.controller.images] == [STATUS_AUTO] * 3
    finally:
        close_window(other)


# 5 -------------------------------------------------------------------------------------------------
def test_undo_follows_the_image_shown_and_restores_its_status(qtbot, labelled):
    window, controller = labelled, labelled.controller
    first = controller.images[0]
    assert first.status == STATUS_AUTO
    _paint(window, [(20, 30), (60, 30)])
    assert first.status == STATUS_REVIEWED
    painted = first.user.copy()
    _press(qtbot, window, Qt.Key.Key_D)
    assert controller.current == 1
    assert not window.actions["undo"].isEnabled()
    _press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(first.user, painted)           # image A's stroke is untouched from B
    _press(qtbot, window, Qt.Key.Key_A)
    assert window.actions["undo"].isEnabled()
    _press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.all(first.user == IGNORE)
    assert first.status == STATUS_AUTO and not first.edited   # its only stroke undone: not reviewed
    assert window.message_label.text() == "Undid: Paint cat on img1_cat.jpg"
    wait_idle(qtbot, controller)


# 6 -------------------------------------------------------------------------------------------------
def test_undo_names_the_edit_in_its_tooltip_and_the_toolbar_stays_on_screen(qtbot, labelled):
    window = labelled
    _paint(window, [(20, 30), (60, 30)])
    undo = window.actions["undo"]
    assert undo.text() == "&Undo"
    assert "Paint cat on img1_cat.jpg" in undo.toolTip()
    toolbar = window.findChild(type(window.addToolBar("probe")), "toolsBar")
    assert toolbar.sizeHint().width() <= window.width()
    wait_idle(qtbot, window.controller)


def test_a_long_class_name_elides_and_keeps_every_badge_visible(qtbot):
    from PySide6.QtGui import QColor

    from app.class_panel import ClassEntry, ClassPanel, ClassRow

    panel = ClassPanel()
    qtbot.addWidget(panel)
    panel.resize(260, 400)
    panel.show()
    long_name = "a very long class name that a careful annotator typed " * 2
    panel.set_entries([ClassEntry(0, "background", QColor(0, 0, 0), fixed=True),
                       ClassEntry(1, long_name.strip(), QColor(128, 0, 0), seen=True, pixels=123456),
                       ClassEntry(2, "cat", QColor(0, 128, 0), seen=False),
                       ClassEntry(255, "ignore", QColor(224, 224, 192), fixed=True)])
    panel.set_shares({1: 0.25, 2: 0.5})
    qtbot.wait(20)
    assert panel.list.horizontalScrollBar().maximum() == 0 or not panel.list.horizontalScrollBar().isVisible()
    viewport = panel.list.viewport().rect()
    for row in range(panel.list.count()):
        widget = panel.list.itemWidget(panel.list.item(row))
        assert isinstance(widget, ClassRow)
        badge = widget.badge.geometry().translated(widget.pos())
        assert badge.right() <= viewport.right() + 1, widget.name_label.text()
    row1 = panel.list.itemWidget(panel.list.item(1))
    assert row1.name_label.is_elided() and row1.name_label.toolTip() == long_name.strip()


# 7 -------------------------------------------------------------------------------------------------
def test_a_new_class_gets_a_colour_no_other_class_has(qtbot, window, sample_dir, monkeypatch):
    controller = window.controller
    assert window.open_paths([str(sample_dir)])
    for name in ("person", "dog", "car", "tree"):
        add_class(qtbot, window, name)
    _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    window.class_panel.select_value(1)
    window.class_panel.delete_button.click()
    add_class(qtbot, window, "bicycle")
    colours = [controller.color_of(v).name() for v in range(1, 5)]
    assert controller.classes == ["dog", "car", "tree", "bicycle"]
    assert len(set(colours)) == 4, colours
    wait_idle(qtbot, controller)


# 9 -------------------------------------------------------------------------------------------------
def test_keyboard_enter_returns_to_the_canvas_esc_leaves_the_field(qtbot, labelled):
    window, controller = labelled, labelled.controller
    field = window.class_panel.add_field
    add_class(qtbot, window, "dog")
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.canvas, timeout=WAIT_MS)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_D)
    assert field.text() == "" and controller.current == 1
    field.setFocus()
    qtbot.keyClicks(field, "half typed")
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert field.text() == "" and QApplication.focusWidget() is window.canvas
    wait_idle(qtbot, controller)


def test_f2_renames_and_delete_deletes_the_selected_class(qtbot, labelled, monkeypatch):
    window, controller = labelled, labelled.controller
    asked_names: list = []
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (asked_names.append(a) or "kitty", True))
    window.class_panel.select_value(1)
    _press(qtbot, window, Qt.Key.Key_F2)
    assert asked_names
    qtbot.waitUntil(lambda: controller.classes == ["kitty"], timeout=WAIT_MS)
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    window.class_panel.select_value(1)
    _press(qtbot, window, Qt.Key.Key_Delete, widget=window.class_panel.list)
    assert asked and controller.classes == []
    # Del on the canvas does not delete a class.
    controller.undo()
    asked.clear()
    _press(qtbot, window, Qt.Key.Key_Delete)
    assert not asked and controller.classes == ["kitty"]
    wait_idle(qtbot, controller)


def test_a_and_d_follow_the_file_filter(qtbot, labelled):
    window, controller = labelled, labelled.controller
    window.file_panel.search.setText("coffee")
    _press(qtbot, window, Qt.Key.Key_D)
    assert controller.images[controller.current].path.name == "img10_coffee.jpg"
    _press(qtbot, window, Qt.Key.Key_A)  # nothing listed before it
    assert controller.images[controller.current].path.name == "img10_coffee.jpg"
    wait_idle(qtbot, controller)


# 10 ------------------------------------------------------------------------------------------------
def test_hover_text_is_cleared_when_the_image_changes(qtbot, labelled):
    window = labelled
    window._on_hover(10, 10)
    assert window.hover_label.text()
    _press(qtbot, window, Qt.Key.Key_D)
    assert window.hover_label.text() == ""
    wait_idle(qtbot, window.controller)


def test_blank_names_say_why_and_a_good_rename_replaces_an_old_error(qtbot, labelled, monkeypatch):
    window = labelled
    panel = window.class_panel
    panel.add_field.setText("   ")
    qtbot.keyClick(panel.add_field, Qt.Key.Key_Return)
    assert "empty" in panel.message.text() and panel.message.property("kind") == "error"
    _rename_to(monkeypatch, "ignore")
    panel.select_value(1)
    panel.rename_button.click()
    assert "reserved" in panel.message.text()
    _rename_to(monkeypatch, "kitten")
    panel.rename_button.click()
    qtbot.waitUntil(lambda: window.controller.classes == ["kitten"], timeout=WAIT_MS)
    assert "reserved" not in panel.message.text() and "Renamed" in panel.message.text()
    wait_idle(qtbot, window.controller)


def test_self_training_says_when_it_starts_and_what_it_did(qtbot, labelled):
    window, controller = labelled, labelled.controller
    controller.request_self_train()
    assert "Self-training" in window.message_label.text()
    wait_idle(qtbot, controller)
    assert "Self-training done" in window.message_label.text()


def test_settings_speak_of_the_gpu_not_of_a_command_line_flag(qtbot, monkeypatch):
    from app.controller import EngineSettings
    from app.dialogs.settings_dialog import SettingsDialog
    from core.errors import UserError

    def no_cuda(_name):
        raise UserError("--device cuda was asked for but CUDA is not available")

    monkeypatch.setattr("core.device.resolve_device", no_cuda)
    dialog = SettingsDialog(EngineSettings(device="cuda"))
    qtbot.addWidget(dialog)
    problem = dialog.validate()
    assert "--device" not in problem and "CPU" in problem


def test_yolo_export_writes_the_images_its_data_yaml_names(qtbot, labelled, tmp_path):
    window, controller = labelled, labelled.controller
    out = tmp_path / "yolo"
    with qtbot.waitSignal(controller.export_finished, timeout=WAIT_MS):
        assert window.start_export(out, ["yolo"], None, ask=False)
    lines = (out / "data.yaml").read_text().splitlines()
    folder = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("train:"))
    assert sorted(p.name for p in (out / folder).iterdir()) == sorted(r.path.name for r in controller.images)


def test_a_reserved_name_in_an_old_project_file_is_renamed_not_dropped(qtbot, window, sample_dir):
    from app.project import ProjectClass, ProjectData, save_project, write_label_png

    labels = np.full(Image.open(sample_dir / "img1_cat.jpg").size[::-1], IGNORE, np.uint8)
    labels[:5] = 1
    labels[5:10] = 2
    write_label_png(sample_dir / "zs3_labels" / "img1_cat.png", labels)
    save_project(ProjectData(folder=sample_dir, images=["img1_cat.jpg"],
                             classes=[ProjectClass("Background"), ProjectClass("cat")],
                             user_labels={"img1_cat.jpg": "zs3_labels/img1_cat.png"}))
    controller = window.controller
    messages: list[str] = []
    controller.message.connect(lambda text, _kind: messages.append(text))
    assert window.open_paths([str(sample_dir / PROJECT_FILENAME)])
    assert controller.classes == ["Background (2)", "cat"]
    assert any("'Background'" in m and "reserved" in m for m in messages)
    assert np.array_equal(controller.images[0].user, labels)   # value 2 is still "cat"
    wait_idle(qtbot, controller)
