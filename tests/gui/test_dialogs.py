"""Dialogs and the class panel on their own: inline messages for user mistakes, no engine needed."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from app.class_panel import ClassEntry, ClassPanel
from app.controller import EngineSettings
from app.dialogs.export_dialog import ExportDialog
from app.dialogs.help_dialog import HelpDialog
from app.dialogs.settings_dialog import SettingsDialog
from app.shortcuts import MOUSE_HELP, SHORTCUTS


def test_settings_dialog_rejects_a_missing_checkpoint_inline(qtbot, tmp_path):
    dialog = SettingsDialog(EngineSettings())
    qtbot.addWidget(dialog)
    dialog.model_kind.setCurrentIndex(1)
    dialog.model_path.setText(str(tmp_path / "missing.pth"))
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog._accept()
    assert dialog.result() == 0 and dialog.error.isVisibleTo(dialog)
    assert "no such checkpoint" in dialog.error.text()
    checkpoint = tmp_path / "model.pth"
    checkpoint.write_bytes(b"x")
    dialog.model_path.setText(str(checkpoint))
    assert dialog.validate() is None
    assert dialog.settings() == EngineSettings(model=str(checkpoint), device="cpu", embeddings="default")


def test_export_dialog_offers_every_format_and_checks_the_folder(qtbot, tmp_path):
    from core.masks import FORMATS

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    dialog = ExportDialog(blocker / "out")
    qtbot.addWidget(dialog)
    assert list(dialog.format_boxes) == list(FORMATS)
    assert dialog.choice().formats == ["voc", "coco"]
    assert "not writable" in (dialog.validate() or "")
    dialog.out_dir.setText(str(tmp_path / "new" / "out"))
    for box in dialog.format_boxes.values():
        box.setChecked(False)
    assert dialog.validate() == "choose at least one format"
    dialog.format_boxes["voc"].setChecked(True)
    dialog.min_confidence.setValue(0.5)
    assert dialog.validate() is None
    assert dialog.choice().min_confidence == 0.5


def test_help_lists_every_shortcut(qtbot):
    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == len(SHORTCUTS) + len(MOUSE_HELP)
    texts = {dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert {s.text for s in SHORTCUTS} <= texts


def test_class_panel_suggestions_are_clickable(qtbot):
    panel = ClassPanel()
    qtbot.addWidget(panel)
    panel.set_entries([ClassEntry(0, "background", QColor(0, 0, 0), fixed=True),
                       ClassEntry(1, "cat", QColor(128, 0, 0), seen=False),
                       ClassEntry(255, "ignore", QColor(224, 224, 192), fixed=True)])
    qtbot.keyClicks(panel.add_field, "tvmonitr")
    with qtbot.waitSignal(panel.add_requested) as first:
        qtbot.keyClick(panel.add_field, Qt.Key.Key_Return)
    assert first.args == ["tvmonitr"]
    panel.show_error("unknown word 'tvmonitr'", ["tvmonitor", "monitor"])
    assert 'href="monitor"' in panel.message.text()
    with qtbot.waitSignal(panel.add_requested) as second:
        panel.message.linkActivated.emit("monitor")
    assert second.args == ["monitor"]
    # Every check is the controller's (one place): the panel hands on even a blank name.
    panel.add_field.setText("   ")
    with qtbot.waitSignal(panel.add_requested) as blank:
        qtbot.keyClick(panel.add_field, Qt.Key.Key_Return)
    assert blank.args == [""]
    # Background and ignore cannot be renamed, moved or deleted.
    panel.select_value(0)
    assert not panel.delete_button.isEnabled() and not panel.rename_button.isEnabled()
    panel.select_value(1)
    assert panel.delete_button.isEnabled()
