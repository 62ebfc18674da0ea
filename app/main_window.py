"""The main window: composes the panels and wires them to the controller; holds no model logic.

Layout: files on the left, the canvas in the middle, classes on the right, a tool bar above and a
status bar below (message, pixel under the cursor, progress + cancel, device/model, timings).
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSlider,
    QSpinBox,
    QStyle,
    QToolButton,
    QWidget,
)

from app.canvas import Canvas
from app.class_panel import ClassEntry, ClassPanel
from app.controller import Controller, EngineSettings
from app.dialogs.batch_dialog import BatchDialog
from app.dialogs.export_dialog import ExportDialog, summary_text
from app.dialogs.help_dialog import HelpDialog
from app.dialogs.settings_dialog import SettingsDialog
from app.file_panel import FilePanel
from app.overlay import IGNORE
from app.shortcuts import SHORTCUTS
from app.window_editing import TOOL_ACTIONS, VIEW_MODES, EditingMixin

log = logging.getLogger(__name__)

MAX_RECENT = 10
JOB_TITLES = {"engine": "Loading model", "refit": "Retraining", "predict": "Labelling", "batch": "Labelling all",
              "export": "Exporting", "check-class": "Checking class name",
              "self-train": "Self-training", "object": "Finding the object"}


class MainWindow(EditingMixin, QMainWindow):
    def __init__(self, controller: Controller | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("zs3-annotator")
        self.settings = settings or QSettings("zs3-annotator", "zs3-gui")
        self.controller = controller or Controller(EngineSettings(
            model=str(self.settings.value("engine/model", "default")),
            device=str(self.settings.value("engine/device", "auto"))))
        self.canvas = Canvas(self)
        self.setCentralWidget(self.canvas)
        self.file_panel = FilePanel()
        self.class_panel = ClassPanel()
        self._dock(self.file_panel, "Images", Qt.DockWidgetArea.LeftDockWidgetArea, "filesDock")
        self._dock(self.class_panel, "Classes", Qt.DockWidgetArea.RightDockWidgetArea, "classesDock")
        self.actions: dict[str, QAction] = {}
        self._build_status_bar()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._connect()
        self.setAcceptDrops(True)
        self._restore()
        self._refresh_classes()
        self._update_engine_label(self.controller.device_text or "model not loaded")

    # -- construction ---------------------------------------------------------------------------
    def _dock(self, widget: QWidget, title: str, area, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        widget.setMinimumWidth(230)
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.message_label = QLabel("Open an image or a folder (Ctrl+O / Ctrl+Shift+O), or drop files here.")
        self.message_label.setObjectName("statusMessage")
        self.hover_label = QLabel()
        self.hover_label.setMinimumWidth(260)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(160)
        self.progress.setVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Cancel the running job (Esc)")
        self.cancel_button.setVisible(False)
        self.engine_label = QLabel()
        self.engine_label.setObjectName("statusEngine")
        self.timings_label = QLabel()
        self.timings_label.setObjectName("statusTimings")
        self.zoom_label = QLabel()
        self.zoom_label.setObjectName("statusZoom")
        self.zoom_label.setToolTip("Zoom (wheel; F fits, Ctrl+1 = 100 %)")
        bar.addWidget(self.message_label, 1)
        bar.addWidget(self.hover_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.zoom_label)
        bar.addPermanentWidget(self.timings_label)
        bar.addPermanentWidget(self.engine_label)

    def _action(self, name: str, text: str, slot, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        spec = next((s for s in SHORTCUTS if s.action == name), None)
        if spec is not None:
            action.setShortcut(QKeySequence(spec.keys))
            action.setToolTip(f"{spec.text} ({spec.keys})")
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.addAction(action)
        self.actions[name] = action
        return action

    def _build_actions(self) -> None:
        c = self.controller
        self._action("open_images", "Open &Images…", self.open_images_dialog)
        self._action("open_folder", "Open &Folder…", self.open_folder_dialog)
        self._action("open_project", "Open &Project…", self.open_project_dialog)
        self._action("save_project", "&Save Project", self.save_project)
        self._action("export", "&Export…", self.export_dialog)
        self._action("quit", "&Quit", self.close)
        self._action("next_image", "Next Image", lambda: c.next_image(+1, self.file_panel.visible_indices()))
        self._action("prev_image", "Previous Image", lambda: c.next_image(-1, self.file_panel.visible_indices()))
        self._action("mark_reviewed", "Mark Reviewed", lambda: c.mark_reviewed())
        # Fixed texts: what would be undone (and on which image) goes in the tooltip, so a long
        # file name never widens the toolbar.
        self._action("undo", "&Undo", lambda: self._say_done("Undid", c.undo()))
        self._action("redo", "&Redo", lambda: self._say_done("Redid", c.redo())).setShortcuts(
            [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self._action("rename_class", "Rename Class…", lambda: self.class_panel.rename_current())
        delete = self._action("delete_class", "Delete Class…", lambda: self.class_panel.delete_current())
        # Del acts in the class list only: on the canvas or in a text field it must not delete a class.
        self.removeAction(delete)
        delete.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.class_panel.list.addAction(delete)
        self._action("toggle_overlay", "Show Mask Overlay", self._toggle_overlay, checkable=True).setChecked(True)
        self._action("opacity_up", "More Opaque Overlay", lambda: self.opacity.setValue(min(100, self.opacity.value() + 10)))
        self._action("brush_bigger", "Bigger Brush", lambda: self.canvas.set_brush_size(self.canvas.brush_size + 3))
        self._action("brush_smaller", "Smaller Brush", lambda: self.canvas.set_brush_size(self.canvas.brush_size - 3))
        self._action("eraser", "Eraser", self._toggle_eraser, checkable=True)
        self._action("fit_window", "Fit to Window", self.canvas.fit_to_window)
        self._action("actual_size", "Actual Pixels (100 %)", self.canvas.actual_size)
        self._action("zoom_in", "Zoom In", lambda: self.canvas.zoom_by(1.25))
        self._action("zoom_out", "Zoom Out", lambda: self.canvas.zoom_by(0.8))
        self._action("add_class", "Add Class…", self._focus_add_class)
        self._action("refit", "Retrain Now", c.request_refit)
        self._action("self_train", "Self-Train on Unseen Classes", c.request_self_train)
        self._action("run_all", "Run on All Images…", self.run_all_dialog)
        self._action("cancel", "Cancel Job", c.cancel_jobs)
        self._action("settings", "Settings…", self.settings_dialog)
        self._action("help", "Keyboard Shortcuts", self.help_dialog)
        self.view_mode = "labels"
        self._build_tool_actions()
        for digit in range(10):
            action = QAction(self)
            action.setShortcut(QKeySequence(str(digit)))
            action.triggered.connect(lambda _checked=False, d=digit: self.class_panel.select_value(d))
            self.addAction(action)

    def _build_menus(self) -> None:
        a = self.actions
        file_menu = self.menuBar().addMenu("&File")
        for name in ("open_images", "open_folder", "open_project"):
            file_menu.addAction(a[name])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addSeparator()
        for name in ("save_project", "export"):
            file_menu.addAction(a[name])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        edit = self.menuBar().addMenu("&Edit")
        for name in ("undo", "redo", "mark_reviewed", "eraser", "brush_bigger", "brush_smaller", "add_class",
                     "rename_class", "delete_class"):
            edit.addAction(a[name])
        tools_menu = self.menuBar().addMenu("&Tools")
        for tool, _text in TOOL_ACTIONS:
            tools_menu.addAction(a[f"tool_{tool}"])
        tools_menu.addAction(a["fill_holes"])
        view = self.menuBar().addMenu("&View")
        for name in ("next_image", "prev_image", "fit_window", "actual_size", "zoom_in", "zoom_out",
                     "toggle_overlay", "opacity_up", "view_labels", "view_outline", "view_confidence"):
            view.addAction(a[name])
        model = self.menuBar().addMenu("&Model")
        for name in ("refit", "self_train", "run_all", "cancel", "settings"):
            model.addAction(a[name])
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(a["help"])
        self._rebuild_recent()

    def _build_toolbar(self) -> None:
        tools = self.addToolBar("Tools")
        tools.setObjectName("toolsBar")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tools.setIconSize(QSize(16, 16))
        a = self.actions
        icons = {"open_folder": QStyle.StandardPixmap.SP_DirOpenIcon, "prev_image": QStyle.StandardPixmap.SP_ArrowLeft,
                 "next_image": QStyle.StandardPixmap.SP_ArrowRight, "undo": QStyle.StandardPixmap.SP_ArrowBack,
                 "redo": QStyle.StandardPixmap.SP_ArrowForward, "run_all": QStyle.StandardPixmap.SP_MediaPlay,
                 "export": QStyle.StandardPixmap.SP_DialogSaveButton,
                 "mark_reviewed": QStyle.StandardPixmap.SP_DialogApplyButton}
        for name, pixmap in icons.items():
            a[name].setIcon(self.style().standardIcon(pixmap))
        for name, text in (("open_folder", "Open Folder"), ("prev_image", "Prev"), ("next_image", "Next")):
            a[name].setIconText(text)
            tools.addAction(a[name])
        tools.addSeparator()
        tools.addAction(a["undo"])
        tools.addAction(a["redo"])
        tools.addSeparator()
        tools.addWidget(QLabel(" Brush "))
        self.brush_size = QSpinBox()
        self.brush_size.setRange(1, 500)
        self.brush_size.setValue(self.canvas.brush_size)
        self.brush_size.setSuffix(" px")
        self.brush_size.setToolTip("Brush size ([ and ], or Ctrl+wheel)")
        tools.addWidget(self.brush_size)
        tools.addAction(a["eraser"])
        tools.addSeparator()
        tools.addWidget(QLabel(" Overlay "))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity.setFixedWidth(100)
        self.opacity.setToolTip("Overlay opacity (M toggles the overlay)")
        tools.addWidget(self.opacity)
        a["toggle_overlay"].setIconText("Mask")
        tools.addAction(a["toggle_overlay"])
        a["fit_window"].setIconText("Fit")
        tools.addAction(a["fit_window"])
        tools.addSeparator()
        a["mark_reviewed"].setIconText("Reviewed")
        tools.addAction(a["mark_reviewed"])
        a["run_all"].setIconText("Run on All")
        tools.addAction(a["run_all"])
        a["export"].setIconText("Export")
        tools.addAction(a["export"])
        # The tools stand on the left of the canvas, so the top bar stays short.
        side = self.addToolBar("Editing tools")
        side.setObjectName("editBar")
        side.setMovable(False)
        side.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, side)
        for tool, _text in TOOL_ACTIONS:
            side.addAction(a[f"tool_{tool}"])
        side.addAction(a["fill_holes"])
        side.addSeparator()
        for mode in VIEW_MODES:
            side.addAction(a[f"view_{mode}"])

    def _link(self, signal, slot) -> None:
        """Connect a controller signal; remembered so closing the window cuts every link."""
        signal.connect(slot)
        self._links.append((signal, slot))

    def _unlink(self) -> None:
        for signal, slot in self._links:
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
        self._links.clear()

    def _connect(self) -> None:
        c, canvas = self.controller, self.canvas
        self._links: list = []
        self._link(c.images_changed, self._on_images_changed)
        self._link(c.status_changed, self.file_panel.set_status)
        self._link(c.current_changed, self._on_current_changed)
        self._link(c.photo_ready, self._on_photo_ready)
        self._link(c.overlay_changed, self._refresh_overlay)
        self._link(c.classes_changed, self._refresh_classes)
        self._link(c.class_added, self._on_class_added)
        self._link(c.class_rejected, self.class_panel.show_error)
        self._link(c.message, self.show_message)
        self._link(c.engine_changed, self._update_engine_label)
        self._link(c.timings_changed, self.timings_label.setText)
        self._link(c.export_finished, self._on_export_finished)
        self._link(c.prediction_ready, self._on_prediction_ready)
        self._link(c.suggestions_ready, self._on_suggestions_ready)
        self._link(c.export_failed, self._on_export_failed)
        self._link(c.batch_finished, lambda _outcome: self._refresh_classes())
        self._link(c.runner.busy_changed, self._on_busy)
        self._link(c.runner.progress, self._on_progress)
        self._link(c.runner.job_started, self._on_job_started)
        self._link(c.history_changed, self._on_history_changed)
        self._link(c.class_edited, self.class_panel.show_info)
        self.cancel_button.clicked.connect(c.cancel_jobs)
        self.file_panel.current_changed.connect(self._on_file_picked)
        self.class_panel.add_requested.connect(c.add_class)
        self.class_panel.rename_requested.connect(self._on_rename_requested)
        self.class_panel.delete_requested.connect(self._on_delete_requested)
        self.class_panel.leave_requested.connect(self.canvas.setFocus)
        self.class_panel.show_only_requested.connect(c.show_only)
        self._link(c.brush_picked, lambda value: self.class_panel.select_value(value))
        self.class_panel.move_requested.connect(c.move_class)
        self.class_panel.visibility_changed.connect(c.set_visible)
        self.class_panel.color_changed.connect(c.set_color)
        self.class_panel.current_changed.connect(lambda _v: self._sync_brush())
        canvas.stroke_finished.connect(self._on_stroke)
        canvas.polygon_finished.connect(lambda mask: self._on_stroke(mask, "Polygon"))
        canvas.box_finished.connect(self._on_box)
        canvas.point_clicked.connect(self._on_point)
        canvas.hovered.connect(self._on_hover)
        canvas.files_dropped.connect(self.open_paths)
        canvas.brush_size_changed.connect(self.brush_size.setValue)
        canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.brush_size.valueChanged.connect(canvas.set_brush_size)
        self.opacity.valueChanged.connect(lambda v: canvas.set_overlay_opacity(v / 100.0))
        canvas.set_overlay_opacity(self.opacity.value() / 100.0)

    # -- opening ----------------------------------------------------------------------------------
    def open_paths(self, paths: list[str]) -> bool:
        ok = self.controller.open_paths([Path(p) for p in paths])
        if ok:
            self._add_recent(str(Path(paths[0]).resolve()) if len(paths) == 1 else str(Path(paths[0]).resolve().parent))
        return ok

    def open_images_dialog(self) -> None:
        from core.images import IMAGE_SUFFIXES

        pattern = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(self, "Open images", self._last_dir(), f"Images ({pattern})")
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self._last_dir())
        if folder:
            self.open_paths([folder])

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", self._last_dir(), "zs3 project (zs3project.json)")
        if path:
            self.open_paths([path])

    def _last_dir(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: str) -> None:
        recent = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_paths([p]))
        self.recent_menu.setEnabled(bool(recent))

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_paths(paths)

    # -- reactions ----------------------------------------------------------------------------------
    def _on_images_changed(self) -> None:
        records = self.controller.images
        self.file_panel.set_files([r.path for r in records], [r.status for r in records])
        project = self.controller.project
        self.setWindowTitle(f"zs3-annotator — {project.folder}" if project else "zs3-annotator")

    def _on_file_picked(self, index: int) -> None:
        if not self.controller.set_current(index):  # unreadable: the list stays on the image shown
            self.file_panel.set_current(self.controller.current)

    def _on_current_changed(self, index: int) -> None:
        self.hover_label.clear()  # the position under the cursor belonged to the previous image
        self._on_history_changed()
        self._refresh_classes()   # the badges say what was found on the image shown
        self.file_panel.set_current(index)
        # No copy: the canvas draws at screen size; a large JPEG comes reduced first (photo_ready).
        self.canvas.set_image(self.controller.display_rgb, self.controller.current_shape)
        record = self.controller.current_record
        if record is not None:
            self.show_message(f"{record.path.name}  ({index + 1}/{len(self.controller.images)}, {record.status})")

    def _on_photo_ready(self, _index: int) -> None:
        """Full resolution replaces the quick preview; zoom, pan and a stroke in progress stay."""
        self.canvas.replace_photo(self.controller.display_rgb)

    def _on_prediction_ready(self, prediction) -> None:
        c = self.controller
        self._refresh_classes()  # the "not found" warnings follow what the model labels
        note = c.take_note(prediction.generation)
        self.show_message(note or f"{prediction.path.name} labelled ({c.current + 1}/{len(c.images)}): "
                          "paint to correct, D for the next image")

    def _on_suggestions_ready(self) -> None:
        """Names to try for classes found nowhere: in the rows' tooltips and, clickable, under the field."""
        self._refresh_classes()
        reports, names = self.controller.class_reports(), self.controller.classes
        nowhere = [(names[v - 1], r.suggestions) for v, r in reports.items() if r.nowhere and r.suggestions]
        if nowhere:
            offered = list(dict.fromkeys(s for _name, found in nowhere for s in found if s not in names))
            self.class_panel.show_suggestions(
                f"Found in no image: {', '.join(n for n, _s in nowhere)}. Names that reach ImageNet classes "
                "(click to add):", offered)

    def _on_class_added(self, _name: str) -> None:
        self.class_panel.accept_pending()
        self.canvas.setFocus()  # back to work: D, A and the digits act on the images again

    def _on_export_failed(self, text: str) -> None:
        self.show_message(f"Export failed: {text}", "error")

    def _on_job_started(self, name: str) -> None:
        self._on_progress(0.0, JOB_TITLES.get(name, name) + "…")

    def _say_done(self, verb: str, text: str | None) -> None:
        """Undo and redo say what they did (the button itself keeps its short text)."""
        self.show_message(f"{verb}: {text}" if text else f"Nothing to {verb[:-1].lower()} on this image")

    def _on_history_changed(self) -> None:
        """Undo/Redo act on the image shown: enable them and name the edit in their tooltips."""
        record = self.controller.current_record
        key = None if record is None else record.path
        for name, edit, keys in (("undo", self.controller.history.next_undo(key), "Ctrl+Z"),
                                 ("redo", self.controller.history.next_redo(key), "Ctrl+Shift+Z")):
            action = self.actions[name]
            action.setEnabled(edit is not None)
            verb = name.capitalize()
            action.setToolTip(f"{verb} {edit.text} ({keys})" if edit else f"Nothing to {name} on this image ({keys})")
            action.setStatusTip(action.toolTip())

    def _refresh_classes(self) -> None:
        c = self.controller
        entries = [ClassEntry(0, "background", c.color_of(0), True, None, 0, fixed=True)]
        reports = c.class_reports()  # what the model found here and so far (app.findings)
        for value, name in enumerate(c.classes, start=1):
            seen, pixels = c.class_info.get(name, (None, 0))
            report = reports.get(value)
            state, style = report.badge() if report else ("", "")
            entries.append(ClassEntry(value, name, c.color_of(value), name not in c.hidden, seen, pixels,
                                      state=state, state_style=style, state_tip=report.tooltip() if report else ""))
        c.request_suggestions([c.classes[v - 1] for v, r in reports.items() if r.nowhere and not r.painted])
        entries.append(ClassEntry(IGNORE, "ignore", c.color_of(IGNORE), True, None, 0, fixed=True))
        self.class_panel.set_entries(entries)
        self.class_panel.set_shares(c.current_shares())
        if c.brush_value in [e.value for e in entries] and not self.actions["eraser"].isChecked():
            self.class_panel.select_value(c.brush_value, emit=False)
        self._sync_brush()

    def _sync_brush(self) -> None:
        value = self.class_panel.current_value()
        eraser = value == IGNORE
        self.actions["eraser"].blockSignals(True)
        self.actions["eraser"].setChecked(eraser)
        self.actions["eraser"].blockSignals(False)
        self.controller.brush_value = value
        self.canvas.set_brush_color(self.controller.color_of(value))

    def _toggle_eraser(self, on: bool) -> None:
        if on:
            self._value_before_eraser = self.class_panel.current_value()
            self.class_panel.select_value(IGNORE)
        else:
            self.class_panel.select_value(getattr(self, "_value_before_eraser", 1))

    def _toggle_overlay(self, on: bool) -> None:
        self.canvas.set_overlay_visible(on)

    def _focus_add_class(self) -> None:
        self.class_panel.add_field.setFocus()
        self.class_panel.add_field.selectAll()

    def _on_hover(self, x: int, y: int) -> None:
        self.hover_label.setText(self.controller.pixel_info(x, y) if x >= 0 else "")

    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.progress.setValue(0)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        if message:
            self.progress.setFormat(message[:40])
            self.progress.setToolTip(message)

    def show_message(self, text: str, kind: str = "info") -> None:
        self.message_label.setProperty("kind", kind)
        self.message_label.style().unpolish(self.message_label)
        self.message_label.style().polish(self.message_label)
        self.message_label.setText(text)
        self.message_label.setToolTip(text)

    def _update_engine_label(self, text: str) -> None:
        self.engine_label.setText(text)

    # -- dialogs ---------------------------------------------------------------------------------------
    def save_project(self) -> None:
        if self.controller.save_project():
            self.show_message(f"Saved {self.controller.project.path}")

    def export_dialog(self) -> None:
        project = self.controller.project
        default = self.settings.value("export/dir", str(project.folder / "export") if project else "")
        dialog = ExportDialog(Path(default) if default else None, min_confidence=self.export_threshold(), parent=self)
        while dialog.exec():
            choice = dialog.choice()
            if self.start_export(choice.out_dir, choice.formats, choice.min_confidence, ask=True):
                self.settings.setValue("export/dir", str(choice.out_dir))
                self.settings.setValue("export/min_confidence", choice.min_confidence or 0.0)
                return

    def start_export(self, out_dir: Path, formats: list[str], min_confidence: float | None, ask: bool = True,
                     overwrite: bool = False) -> bool:
        from core.errors import UserError

        try:
            clashes = self.controller.export_clashes(out_dir, formats)
        except UserError as exc:
            self.show_message(str(exc), "error")
            return False
        if clashes and not overwrite:
            if not ask:
                self.show_message(f"{len(clashes)} file(s) already exist in {out_dir}", "error")
                return False
            answer = QMessageBox.question(
                self, "Overwrite?",
                f"{len(clashes)} file(s) in {out_dir} would be replaced, e.g. {clashes[0].name}. Overwrite them?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
            overwrite = True
        self.show_message(f"Exporting to {out_dir}…")
        return self.controller.export(out_dir, formats, min_confidence, overwrite) is not None

    def _on_export_finished(self, summary) -> None:
        text = summary_text(summary)
        self.show_message(text)
        if self.isVisible() and not getattr(self, "quiet_dialogs", False):
            QMessageBox.information(self, "Export finished", text)

    def run_all_dialog(self) -> None:
        dialog = BatchDialog(self.controller, self)
        dialog.show()
        self.batch_dialog = dialog

    def settings_dialog(self) -> None:
        dialog = SettingsDialog(self.controller.settings, self)
        if dialog.exec():
            settings = dialog.settings()
            self.settings.setValue("engine/model", settings.model)
            self.settings.setValue("engine/device", settings.device)
            self.controller.apply_settings(settings)

    def help_dialog(self) -> None:
        HelpDialog(self).exec()

    # -- persistence ----------------------------------------------------------------------------------
    def _restore(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 900)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.opacity.setValue(int(self.settings.value("view/opacity", 55)))
        self.canvas.set_brush_size(int(self.settings.value("view/brush", 15)))

    def closeEvent(self, event) -> None:  # noqa: N802
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("view/opacity", self.opacity.value())
        self.settings.setValue("view/brush", self.canvas.brush_size)
        self.settings.sync()
        self._unlink()
        self.controller.shutdown()
        super().closeEvent(event)
