"""The main window's editing side: tool and view actions, canvas tool results, class-edit questions.

A mixin of :class:`app.main_window.MainWindow` (which composes the panels and menus): what the
tools and views do on screen, and the two class edits that ask first (delete, merge on rename).
"""
from __future__ import annotations

from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QMessageBox

from app.overlay import IGNORE, confidence_levels, heat_lut

# Tool actions: (canvas tool, text). Their keys and help are in app.shortcuts.
TOOL_ACTIONS = (("brush", "Brush"), ("polygon", "Polygon"), ("box", "Box → Object"),
                ("object", "Click → Object"), ("fill", "Flood Fill"), ("pick", "Pick Class"))
VIEW_MODES = ("labels", "outline", "confidence")


class EditingMixin:
    def _build_tool_actions(self) -> None:
        """One checkable action per canvas tool (exclusive), fill holes, and the overlay views."""
        group = QActionGroup(self)
        group.setExclusive(True)
        for tool, text in TOOL_ACTIONS:
            action = self._action(f"tool_{tool}", text, lambda _on=False, t=tool: self.set_tool(t), checkable=True)
            group.addAction(action)
        self.actions["tool_brush"].setChecked(True)
        self._action("fill_holes", "Fill Holes of the Class", lambda: self.controller.fill_holes())
        views = QActionGroup(self)
        for mode, text in (("labels", "Filled Masks"), ("outline", "Mask Outlines"),
                           ("confidence", "Confidence Heat Map")):
            action = self._action(f"view_{mode}", text, lambda _on=False, m=mode: self.set_view(m), checkable=True)
            views.addAction(action)
        self.actions["view_labels"].setChecked(True)

    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        self.actions[f"tool_{tool}"].setChecked(True)
        hints = {"polygon": "Polygon: click the corners, double-click or Enter closes it, Esc cancels",
                 "box": "Box → object: drag a box around one object",
                 "object": "Click → object: click an object; its mask takes the selected class",
                 "fill": "Flood fill: click a region; it takes the selected class",
                 "pick": "Pick: click the canvas to select the class shown there",
                 "brush": "Brush: drag to paint the selected class"}
        self.show_message(hints[tool])

    def set_view(self, mode: str) -> None:
        self.view_mode = mode
        self.actions[f"view_{mode}"].setChecked(True)
        self._refresh_overlay()
        if mode == "confidence":
            threshold = self.export_threshold()
            self.show_message("Confidence: blue unsure … red sure" + (
                f"; grey = below the export threshold {threshold:.2f} (exported as ignore)" if threshold
                else "; no export threshold set"))

    def export_threshold(self) -> float:
        return float(self.settings.value("export/min_confidence", 0.0) or 0.0)

    def _refresh_overlay(self) -> None:
        c = self.controller
        self.canvas.set_outline(self.view_mode == "outline")
        if self.view_mode == "confidence":
            prediction, record = c.current_prediction(), c.current_record
            levels = None if prediction is None else confidence_levels(prediction.confidence, record.user)
            self.canvas.set_labels(levels, heat_lut(self.export_threshold()))
        else:
            self.canvas.set_labels(c.composed_labels(blank=False), c.lut())
        self.class_panel.set_shares(c.current_shares())

    def _can_paint(self) -> bool:
        if not self.controller.classes and self.controller.brush_value not in (0, IGNORE):
            self.show_message("Add a class first (type its name in the Classes panel)", "error")
            return False
        return True

    def _on_stroke(self, mask, action: str = "Paint") -> None:
        if self._can_paint():
            self.controller.apply_stroke(mask, action=action)

    def _on_box(self, x0: int, y0: int, x1: int, y1: int) -> None:
        if self._can_paint():
            self.controller.object_from_box(x0, y0, x1, y1)

    def _on_point(self, tool: str, x: int, y: int) -> None:
        c = self.controller
        if tool == "pick":
            if c.pick_at(x, y) is not None:
                self.show_message(f"Brush: {c.class_values().get(c.brush_value, 'eraser')} (picked from the image)")
        elif tool == "fill" and self._can_paint():
            c.fill_at(x, y)
        elif tool == "object" and self._can_paint():
            c.object_at(x, y)

    def _on_rename_requested(self, value: int, name: str) -> None:
        """A name that is already in the list offers to merge the two classes instead."""
        c = self.controller
        check = c.class_list.check(name, renaming=value)
        if check.existing is None:
            c.rename_class(value, name)
            return
        source, target = c.class_list.item(value).name, c.class_list.item(check.existing).name
        answer = QMessageBox.question(
            self, "Merge classes?",
            f"'{target}' is already in the class list. Merge '{source}' into '{target}'? "
            f"Every pixel labelled '{source}' becomes '{target}' (Ctrl+Z undoes it).")
        if answer == QMessageBox.StandardButton.Yes:
            c.merge_classes(value, check.existing)
        else:
            self.class_panel.show_error(check.problem)

    def _on_delete_requested(self, value: int) -> None:
        c = self.controller
        item = c.class_list.item(value)
        if item is None:
            return
        pixels = c.labelled_pixels(value)
        detail = (f"The {pixels:,} pixels you labelled '{item.name}' become unlabelled." if pixels
                  else f"No pixel is labelled '{item.name}' yet.")
        answer = QMessageBox.question(self, "Delete class?",
                                      f"Delete the class '{item.name}'? {detail} Ctrl+Z undoes it.")
        if answer == QMessageBox.StandardButton.Yes:
            c.delete_class(value)
