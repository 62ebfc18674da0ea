"""The class panel: type a class name + Enter to add it; colours, seen/unseen, counts, order.

The panel only asks (signals); the controller checks the name with the engine in the worker
thread and answers with ``accept_pending`` or ``show_error``. Nothing is added until the name
embeds; an unknown word shows the engine's one-line message with clickable suggestions.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QColorDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

IGNORE = 255


@dataclass
class ClassEntry:
    value: int              # label value: 0 background, 1..n classes, 255 ignore / eraser
    name: str
    color: QColor
    visible: bool = True
    seen: bool | None = None
    pixels: int = 0
    fixed: bool = False     # background and ignore cannot be renamed, moved or deleted
    state: str = ""         # what the model found (app.findings): badge text, "" = seen/unseen badge
    state_style: str = ""   # "warn" (found nowhere), "found", "low" or "none" (not on this image)
    state_tip: str = ""


def swatch_icon(color: QColor, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(color)
    return QIcon(pixmap)


class ElidedLabel(QLabel):
    """A label that shortens its text with "…" instead of growing: a long class name never
    pushes the share and the badge out of the row (the full name is in the tooltip)."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(24, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(min(super().sizeHint().width(), 160), super().sizeHint().height())

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.width())
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.width()


class ClassRow(QWidget):
    """One row: show/hide box, colour swatch, name, seen/unseen badge, labelled pixel count."""

    visibility_toggled = Signal(bool)
    swatch_clicked = Signal()

    def __init__(self, entry: ClassEntry, parent=None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 1, 6, 1)
        layout.setSpacing(6)
        self.visible_box = QCheckBox()
        self.visible_box.setChecked(entry.visible)
        self.visible_box.setToolTip("Show or hide this class in the overlay")
        self.visible_box.toggled.connect(self.visibility_toggled)
        self.swatch = QToolButton()
        self.swatch.setIcon(swatch_icon(entry.color, 14))
        self.swatch.setIconSize(QSize(14, 14))
        self.swatch.setAutoRaise(True)
        self.swatch.setToolTip("Change colour")
        self.swatch.clicked.connect(self.swatch_clicked)
        self.name_label = ElidedLabel(entry.name if entry.value != IGNORE else "ignore / eraser")
        self.name_label.setObjectName("className")
        self.name_label.setToolTip(entry.name)
        self.badge = QLabel()
        self.badge.setObjectName("classBadge")
        if entry.value == IGNORE:
            self.badge.setText("255")
            self.badge.setToolTip("Paint to erase your labels (unlabelled pixels are ignored)")
        elif entry.seen is not None:
            self.badge.setText("seen" if entry.seen else "unseen")
            self.badge.setToolTip("seen: has labelled pixels (real features); unseen: generated "
                                  "from the word embedding (zero-shot)")
            self.badge.setProperty("seen", "yes" if entry.seen else "no")
        if entry.state:
            self.badge.setText(entry.state)
            self.badge.setProperty("seen", entry.state_style)
            seen = "" if entry.seen is None else f"\n{'Seen' if entry.seen else 'Unseen'}: " + (
                "has labelled pixels." if entry.seen else "learnt from its name (zero-shot).")
            self.badge.setToolTip(entry.state_tip + seen)
        self.count = QLabel()
        self.set_stats(None, entry.pixels)
        self.count.setObjectName("classCount")
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.visible_box)
        layout.addWidget(self.swatch)
        layout.addWidget(self.name_label, 1)
        layout.addWidget(self.count)
        layout.addWidget(self.badge)

    def set_stats(self, share: float | None, pixels: int) -> None:
        """Share of the image on screen (prediction + edits) and the user's labelled pixels overall."""
        parts = []
        if share is not None and share > 0:
            parts.append(f"{share * 100:.0f} %" if share >= 0.01 else "<1 %")
        if pixels:
            parts.append(f"{pixels:,} px labelled")
        self.count.setText(" · ".join(parts))
        self.count.setToolTip("share of this image · pixels you labelled (all images)")


class ClassPanel(QWidget):
    add_requested = Signal(str)
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)
    move_requested = Signal(int, int)
    leave_requested = Signal()                # Esc in the name field: back to the canvas
    show_only_requested = Signal(object)      # a class value, or None for every class
    visibility_changed = Signal(int, bool)
    color_changed = Signal(int, QColor)
    current_changed = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._entries: list[ClassEntry] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)

        self.add_field = QLineEdit()
        self.add_field.setPlaceholderText("Add a class: type a name, press Enter")
        self.add_field.setClearButtonEnabled(True)
        self.add_field.setToolTip("Any word or short phrase the word vectors know, e.g. 'cat', "
                                  "'traffic cone', or 'quokka: small wallaby'")
        self.add_field.returnPressed.connect(self._on_return)
        self.add_field.installEventFilter(self)
        self.add_field.textEdited.connect(lambda _text: self.clear_message())
        layout.addWidget(self.add_field)

        self.message = QLabel()
        self.message.setObjectName("classMessage")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.message.setOpenExternalLinks(False)
        self.message.linkActivated.connect(self._on_suggestion)
        self.message.setVisible(False)
        layout.addWidget(self.message)

        self.list = QListWidget()
        self.list.setObjectName("classList")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # Rows take the list's width (names elide): a horizontal scrollbar would hide every badge.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.currentRowChanged.connect(self._on_row_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self.rename_current())
        layout.addWidget(self.list, 1)

        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        self.up_button = self._tool("▲", "Move up (order = label index)", lambda: self._move(-1))
        self.down_button = self._tool("▼", "Move down", lambda: self._move(+1))
        self.rename_button = self._tool("Rename", "Rename the selected class (F2)", self.rename_current)
        self.color_button = self._tool("Colour", "Change the colour of the selected class", self.pick_color)
        self.delete_button = self._tool("Delete", "Delete the selected class (Del; asks first, Ctrl+Z undoes)",
                                        self.delete_current)
        self.only_button = self._tool("Only", "Show only the selected class in the overlay", self._toggle_only)
        self.only_button.setCheckable(True)
        for button in (self.up_button, self.down_button, self.rename_button, self.color_button, self.delete_button,
                       self.only_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self._update_buttons()

    def _tool(self, text: str, tip: str, slot) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- contents ------------------------------------------------------------------------------
    @property
    def entries(self) -> list[ClassEntry]:
        return list(self._entries)

    def class_names(self) -> list[str]:
        return [e.name for e in self._entries if e.value != IGNORE]

    def set_entries(self, entries: list[ClassEntry]) -> None:
        current = self.current_value()
        self._entries = list(entries)
        self.list.blockSignals(True)
        self.list.clear()
        for entry in self._entries:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, entry.value)
            item.setToolTip(entry.name)
            row = ClassRow(entry)
            row.setMinimumWidth(0)
            row.visibility_toggled.connect(lambda on, v=entry.value: self.visibility_changed.emit(v, on))
            row.swatch_clicked.connect(lambda v=entry.value: self._pick_color_for(v))
            item.setSizeHint(QSize(0, row.sizeHint().height()))  # the width follows the list
            self.list.addItem(item)
            self.list.setItemWidget(item, row)
        self.list.blockSignals(False)
        values = [e.value for e in self._entries]
        self.select_value(current if current in values else (1 if 1 in values else 0), emit=current not in values)
        self._update_buttons()

    def set_shares(self, shares: dict[int, float]) -> None:
        """Update the per-class share of the current image in place (rows are not rebuilt)."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            value = int(item.data(Qt.ItemDataRole.UserRole))
            widget = self.list.itemWidget(item)
            entry = self.entry(value)
            if isinstance(widget, ClassRow) and entry is not None and value != IGNORE:
                widget.set_stats(shares.get(value), entry.pixels)

    def entry(self, value: int) -> ClassEntry | None:
        return next((e for e in self._entries if e.value == value), None)

    def current_value(self) -> int:
        item = self.list.currentItem()
        return int(item.data(Qt.ItemDataRole.UserRole)) if item is not None else 0

    def select_value(self, value: int, emit: bool = True) -> None:
        for row in range(self.list.count()):
            if int(self.list.item(row).data(Qt.ItemDataRole.UserRole)) == value:
                if not emit:
                    self.list.blockSignals(True)
                self.list.setCurrentRow(row)
                self.list.blockSignals(False)
                if emit:
                    self.current_changed.emit(value)
                break
        self._update_buttons()

    def select_row(self, row: int) -> None:
        if 0 <= row < self.list.count():
            self.list.setCurrentRow(row)

    # -- messages ----------------------------------------------------------------------------------
    def show_pending(self, name: str) -> None:
        self._show(f"Checking <b>{html.escape(name)}</b> with the word vectors…", "info")

    def show_error(self, message: str, suggestions: list[str] | None = None) -> None:
        text = html.escape(message)
        if suggestions:
            links = " ".join(f'<a href="{html.escape(s)}">{html.escape(s)}</a>' for s in suggestions)
            text += f"<br>Use instead: {links}"
        self._show(text, "error")

    def show_info(self, message: str) -> None:
        self._show(html.escape(message), "info")

    def show_suggestions(self, message: str, suggestions: list[str]) -> None:
        """An informative message with clickable names (a click adds that class)."""
        links = " ".join(f'<a href="{html.escape(s)}">{html.escape(s)}</a>' for s in suggestions)
        self._show(f"{html.escape(message)} {links}", "info")

    def clear_message(self) -> None:
        self.message.clear()
        self.message.setVisible(False)

    def accept_pending(self) -> None:
        """The controller added the typed class: clear the field and the message."""
        self.add_field.clear()
        self.clear_message()

    def _show(self, rich_text: str, kind: str) -> None:
        self.message.setProperty("kind", kind)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setText(rich_text)
        self.message.setVisible(True)

    # -- actions ---------------------------------------------------------------------------------
    def _on_return(self) -> None:
        """Every check (empty, reserved, duplicate, unknown word) is the controller's: one place."""
        name = " ".join(self.add_field.text().split())
        if name:
            self.show_pending(name)
        self.add_requested.emit(name)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        """Esc in the name field leaves it (the window's Esc would otherwise cancel a job)."""
        if watched is self.add_field and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) \
                and event.key() == Qt.Key.Key_Escape:
            event.accept()
            if event.type() == QEvent.Type.KeyPress:
                self.add_field.clear()
                self.clear_message()
                self.leave_requested.emit()
            return True
        return super().eventFilter(watched, event)

    def _toggle_only(self, on: bool) -> None:
        self.show_only_requested.emit(self.current_value() if on else None)

    def _on_suggestion(self, word: str) -> None:
        self.add_field.setText(word)
        self._on_return()

    def _on_row_changed(self, _row: int) -> None:
        self._update_buttons()
        self.current_changed.emit(self.current_value())

    def _move(self, delta: int) -> None:
        entry = self.entry(self.current_value())
        if entry is not None and not entry.fixed:
            self.move_requested.emit(entry.value, delta)

    def rename_current(self) -> None:
        entry = self.entry(self.current_value())
        if entry is None or entry.fixed:
            return
        name, ok = QInputDialog.getText(self, "Rename class", f"New name for '{entry.name}':", text=entry.name)
        name = " ".join(name.split())
        if ok and name and name != entry.name:
            self.rename_requested.emit(entry.value, name)

    def delete_current(self) -> None:
        entry = self.entry(self.current_value())
        if entry is not None and not entry.fixed:
            self.delete_requested.emit(entry.value)

    def pick_color(self) -> None:
        self._pick_color_for(self.current_value())

    def _pick_color_for(self, value: int) -> None:
        entry = self.entry(value)
        if entry is None or value == IGNORE:
            return
        color = QColorDialog.getColor(entry.color, self, f"Colour of '{entry.name}'")
        if color.isValid():
            self.color_changed.emit(value, color)

    def _update_buttons(self) -> None:
        entry = self.entry(self.current_value())
        editable = entry is not None and not entry.fixed
        movable_values = [e.value for e in self._entries if not e.fixed]
        for button in (self.rename_button, self.delete_button):
            button.setEnabled(editable)
        self.up_button.setEnabled(editable and entry.value != (movable_values[0] if movable_values else None))
        self.down_button.setEnabled(editable and entry.value != (movable_values[-1] if movable_values else None))
        self.color_button.setEnabled(entry is not None and entry.value != IGNORE)
