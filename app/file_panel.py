"""The file list: every opened image with its status, a search box, and the current image.

Status colours: grey = not run yet, blue = auto-labelled by the model, green = reviewed by the
user (edited with the brush or marked as reviewed), a red cross = the file cannot be read.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from app.project import STATUS_AUTO, STATUS_NOT_RUN, STATUS_REVIEWED, STATUS_UNREADABLE

STATUS_COLORS = {
    STATUS_NOT_RUN: QColor(140, 140, 140),
    STATUS_AUTO: QColor(66, 133, 244),
    STATUS_REVIEWED: QColor(52, 168, 83),
    STATUS_UNREADABLE: QColor(217, 48, 37),
}


def status_icon(status: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(STATUS_COLORS.get(status, QColor(140, 140, 140)))
    if status == STATUS_UNREADABLE:  # a shape, not only a colour: unreadable is not "not run"
        pen = painter.pen()
        pen.setColor(STATUS_COLORS[status])
        pen.setWidth(3)
        painter.setPen(pen)
        painter.drawLine(2, 2, 10, 10)
        painter.drawLine(10, 2, 2, 10)
    else:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(1, 1, 10, 10)
    painter.end()
    return QIcon(pixmap)


class FilePanel(QWidget):
    """Emits ``current_changed(index)`` when the user picks an image (index into the full list)."""

    current_changed = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._paths: list[Path] = []
        self._status: list[str] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search files…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_filter)
        layout.addWidget(self.search)
        self.list = QListWidget()
        self.list.setObjectName("fileList")
        self.list.setUniformItemSizes(True)
        self.list.currentRowChanged.connect(self._on_row)
        layout.addWidget(self.list, 1)
        self.summary = QLabel()
        self.summary.setObjectName("fileSummary")
        layout.addWidget(self.summary)

    def set_files(self, paths: list[Path], statuses: list[str]) -> None:
        self._paths = list(paths)
        self._status = list(statuses)
        self.list.blockSignals(True)
        self.list.clear()
        for index, (path, status) in enumerate(zip(self._paths, self._status)):
            item = QListWidgetItem(status_icon(status), path.name)
            item.setToolTip(f"{path}\n{status}")
            item.setData(Qt.ItemDataRole.UserRole, index)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._apply_filter(self.search.text())
        self._update_summary()

    def set_status(self, index: int, status: str) -> None:
        if 0 <= index < len(self._status):
            self._status[index] = status
            item = self.list.item(index)
            item.setIcon(status_icon(status))
            item.setToolTip(f"{self._paths[index]}\n{status}")
            self._update_summary()

    def status(self, index: int) -> str:
        return self._status[index]

    def set_current(self, index: int) -> None:
        if 0 <= index < self.list.count() and self.list.currentRow() != index:
            self.list.blockSignals(True)
            self.list.setCurrentRow(index)
            self.list.blockSignals(False)
            self.list.scrollToItem(self.list.item(index))

    def visible_indices(self) -> list[int]:
        return [i for i in range(self.list.count()) if not self.list.item(i).isHidden()]

    def _on_row(self, row: int) -> None:
        if row >= 0:
            self.current_changed.emit(row)

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for index in range(self.list.count()):
            item = self.list.item(index)
            item.setHidden(bool(needle) and needle not in item.text().lower())

    def _update_summary(self) -> None:
        total = len(self._status)
        done = sum(s == STATUS_REVIEWED for s in self._status)
        auto = sum(s == STATUS_AUTO for s in self._status)
        bad = sum(s == STATUS_UNREADABLE for s in self._status)
        text = f"{total} images · {auto} auto-labelled · {done} reviewed" + (f" · {bad} unreadable" if bad else "")
        self.summary.setText(text if total else "No images")
