"""Class-list edits on the controller: add, rename, merge, delete (undoable), move, colour, visibility.

Every edit goes through :class:`app.class_list.ClassList`, so the reserved names and duplicate
checks hold everywhere (add, rename, the command line). Edits that change what label values mean
rewrite every user mask with the list's LUT and save the project at once; delete and merge are
undoable from any image (they sit on the shared stack of :class:`app.history.EditHistory`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QColor

from app.class_list import RESERVED_NAMES, clean_name
from app.history import SHARED, Edit
from app.jobs import one_line
from app.workers import Job, JobContext


class ClassEditsMixin:
    # -- adding -----------------------------------------------------------------------------------
    def add_class(self, name: str) -> None:
        """Check the name here (reserved, duplicate) and with the engine (worker); add it if it embeds."""
        check = self.class_list.check(name)
        if check.problem:
            self.class_rejected.emit(check.problem, [])
            return
        self._check_name(check.name, lambda: self._add_checked(check.name))

    def _check_name(self, name: str, on_ok) -> None:
        def work(ctx: JobContext):
            self._require_session().check_class_name(name)
            return name

        job = Job("check-class", work, cancellable=False)
        job.signals.succeeded.connect(lambda _n: on_ok())
        job.signals.failed.connect(self._on_name_rejected)
        self.runner.submit(job)

    def _on_name_rejected(self, exc: BaseException) -> None:
        self.class_rejected.emit(one_line(exc), list(getattr(exc, "suggestions", []) or []))

    def _add_checked(self, name: str) -> None:
        check = self.class_list.check(name)  # the list may have changed while the engine looked
        if check.problem:
            self.class_rejected.emit(check.problem, [])
            return
        self.brush_value = self.class_list.add(name)
        self.classes_changed.emit()
        self.class_added.emit(name)
        self._save_project()
        self.request_refit()

    def set_classes_now(self, names: list[str]) -> None:
        """Set the class list from the command line (each name checked like a typed one). A
        reserved name is passed over: lists copied from a dataset often start with "background"."""
        cleaned: list[str] = []
        for name in names:
            name = clean_name(name)
            taken = {n.casefold() for n in cleaned} | set(RESERVED_NAMES)
            if name and name.casefold() not in taken:
                cleaned.append(name)
        for name in cleaned:
            self.add_class(name)

    # -- renaming and merging ------------------------------------------------------------------------
    def rename_class(self, value: int, new_name: str) -> None:
        """Rename after the same checks as adding; a name already in the list is refused here (the
        window offers :meth:`merge_classes` for it instead)."""
        if self.class_list.item(value) is None:
            return
        check = self.class_list.check(new_name, renaming=value)
        if check.problem:
            self.class_rejected.emit(check.problem, [])
            return
        if check.name == self.class_list.item(value).name:
            return
        item_id = self.class_list.item(value).id

        def apply():
            current = next((v for v, i in enumerate(self.class_list.items, start=1) if i.id == item_id), None)
            if current is None or self.class_list.check(check.name, renaming=current).problem:
                return
            old = self.class_list.item(current).name
            self.class_list.rename(current, check.name)
            self.class_info.pop(old, None)
            # The session maps labels by name: send them again under the new one.
            self._queue_labels({r.path: r.user.copy() for r in self.images if r.user is not None})
            self.classes_changed.emit()
            self.class_edited.emit(f"Renamed '{old}' to '{check.name}'")
            self._save_project()
            self.request_refit()

        self._check_name(check.name, apply)

    def merge_classes(self, source: int, target: int) -> None:
        """Fold class ``source`` into ``target`` (its pixels take the target's class); undoable."""
        src, dst = self.class_list.item(source), self.class_list.item(target)
        if src is None or dst is None or source == target:
            return
        self._push_class_change(f"Merge '{src.name}' into '{dst.name}'", src.id, merge_into=dst.id)

    def delete_class(self, value: int) -> None:
        """Remove a class; its painted pixels become unlabelled. Undoable (they come back)."""
        item = self.class_list.item(value)
        if item is not None:
            self._push_class_change(f"Delete class '{item.name}'", item.id)

    def labelled_pixels(self, value: int) -> int:
        """Pixels the user painted with class ``value`` on every image (the delete question names it)."""
        total = 0
        for record in self.images:
            self._ensure_user_loaded(record)
            if record.user is not None:
                total += int(np.count_nonzero(record.user == value))
        return total

    def _push_class_change(self, text: str, item_id: int, merge_into: int | None = None) -> None:
        state: dict = {}

        def redo():
            value = self._value_of_id(item_id)
            target = None if merge_into is None else self._value_of_id(merge_into)
            if value is None or (merge_into is not None and target is None):
                return
            state["value"] = value
            state["where"] = {}
            for record in self.images:
                self._ensure_user_loaded(record)
                if record.user is not None:
                    where = np.flatnonzero(record.user == value)
                    if where.size:
                        state["where"][record.path] = where
            if merge_into is None:
                state["item"], lut = self.class_list.delete(value)
            else:
                state["item"], lut = self.class_list.merge(value, target)
            self.class_info.pop(state["item"].name, None)
            self._apply_class_lut(lut)
            self.class_edited.emit(text)

        def undo():
            if "item" not in state:
                return
            value = min(state["value"], len(self.class_list) + 1)
            lut = self.class_list.insert(value, state["item"])
            self._apply_class_lut(lut, restore={p: (w, value) for p, w in state["where"].items()})
            self.class_edited.emit(f"Undid: {text}")

        edit = Edit(text, undo, redo, key=SHARED)
        edit.redo()
        edit.nbytes = sum(w.nbytes for w in state.get("where", {}).values())  # known once it ran
        self.history.push(edit, apply=False)

    def _value_of_id(self, item_id: int) -> int | None:
        return next((v for v, i in enumerate(self.class_list.items, start=1) if i.id == item_id), None)

    def move_class(self, value: int, delta: int) -> None:
        lut = self.class_list.move(value, delta)
        if lut is not None:
            self.brush_value = value + delta
            self._apply_class_lut(lut)

    def _apply_class_lut(self, lut: np.ndarray, restore: dict[Path, tuple[np.ndarray, int]] | None = None) -> None:
        """Class values changed: rewrite every user mask (and put back ``restore`` pixels), save,
        forget predictions, refit. The edit history needs no rewrite: it reads masks by class id."""
        updates = {}
        for record in self.images:
            self._ensure_user_loaded(record)
            if record.user is None:
                continue
            record.user = lut[record.user]
            if restore and record.path in restore:
                where, value = restore[record.path]
                record.user.flat[where] = value
            self._save_user_labels(record)
            updates[record.path] = record.user.copy()
        if not 0 <= self.brush_value <= len(self.class_list) and self.brush_value != 255:
            self.brush_value = len(self.class_list)
        self._queue_labels(updates)
        self._predictions.clear()
        self.generation += 1
        self.classes_changed.emit()
        self.overlay_changed.emit()
        self._save_project()
        self.request_refit()

    # -- looks ----------------------------------------------------------------------------------------
    def set_visible(self, value: int, visible: bool) -> None:
        item = self.class_list.item(value)
        if item is not None:
            item.visible = bool(visible)
            self.overlay_changed.emit()
            self._save_project()

    def show_only(self, value: int | None) -> None:
        """Show only class ``value`` in the overlay (None: show every class again)."""
        for v, item in enumerate(self.class_list.items, start=1):
            item.visible = value is None or v == value
        self.classes_changed.emit()
        self.overlay_changed.emit()
        self._save_project()

    def set_color(self, value: int, color: QColor) -> None:
        item = self.class_list.item(value)
        if item is not None:
            item.color = QColor(color)
            self.classes_changed.emit()
            self.overlay_changed.emit()
            self._save_project()

    def color_of(self, value: int) -> QColor:
        return self.class_list.color_of(value)

    def _update_class_info(self, status) -> None:
        for item in status:
            name = getattr(item, "name", None)
            if name:
                self.class_info[name] = (bool(getattr(item, "seen", False)), int(getattr(item, "labelled_pixels", 0)))
