"""Export: formats (from ``core.masks.FORMATS``), output folder, confidence threshold.

The dialog only gathers choices and checks them (inline message for an unwritable folder or no
format). The main window asks before overwriting (``find_clashes``) and runs the export in the
worker; :func:`summary_text` words the result.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

FORMAT_LABELS = {
    "voc": "VOC (palette PNG per image + class_names.txt)",
    "coco": "COCO (annotations.json, RLE masks)",
    "labelme": "labelme (JSON polygons per image)",
    "yolo": "YOLO segmentation (polygons .txt)",
    "binary": "Binary PNG per class",
}


@dataclass
class ExportChoice:
    out_dir: Path
    formats: list[str]
    min_confidence: float | None


def available_formats() -> tuple[str, ...]:
    from core.masks import FORMATS

    return tuple(FORMATS)


class ExportDialog(QDialog):
    def __init__(self, default_dir: Path | None = None, formats: list[str] | None = None,
                 min_confidence: float = 0.0, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export label maps")
        self.setMinimumWidth(560)
        chosen = set(formats or ["voc", "coco"])
        self.format_boxes: dict[str, QCheckBox] = {}
        box_column = QWidget()
        column = QVBoxLayout(box_column)
        column.setContentsMargins(0, 0, 0, 0)
        for name in available_formats():
            box = QCheckBox(FORMAT_LABELS.get(name, name))
            box.setChecked(name in chosen)
            self.format_boxes[name] = box
            column.addWidget(box)
        self.out_dir = QLineEdit(str(default_dir) if default_dir else "")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        dir_row = QWidget()
        row = QHBoxLayout(dir_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.out_dir, 1)
        row.addWidget(browse)
        self.min_confidence = QDoubleSpinBox()
        self.min_confidence.setRange(0.0, 1.0)
        self.min_confidence.setSingleStep(0.05)
        self.min_confidence.setDecimals(2)
        self.min_confidence.setValue(min_confidence)
        self.min_confidence.setToolTip("Pixels whose confidence is below this become 255 (ignore); "
                                       "your own brush labels always count as certain")
        self.error = QLabel()
        self.error.setObjectName("inlineError")
        self.error.setStyleSheet("color: #d93025;")
        self.error.setWordWrap(True)
        self.error.setVisible(False)
        form = QFormLayout()
        form.addRow("Formats", box_column)
        form.addRow("Output folder", dir_row)
        form.addRow("Min. confidence", self.min_confidence)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.out_dir.text())
        if folder:
            self.out_dir.setText(folder)

    def choice(self) -> ExportChoice:
        value = float(self.min_confidence.value())
        return ExportChoice(
            out_dir=Path(self.out_dir.text().strip()).expanduser(),
            formats=[name for name, box in self.format_boxes.items() if box.isChecked()],
            min_confidence=value if value > 0 else None,
        )

    def validate(self) -> str | None:
        choice = self.choice()
        if not self.out_dir.text().strip():
            return "choose an output folder"
        if not choice.formats:
            return "choose at least one format"
        probe = choice.out_dir
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            return f"cannot write into {choice.out_dir}: the folder is not writable"
        return None

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(True)

    def _accept(self) -> None:
        problem = self.validate()
        if problem:
            self.show_error(problem)
            return
        self.accept()


def summary_text(summary) -> str:
    """One short paragraph about what an export wrote."""
    files = getattr(summary, "files", []) or []
    formats = ", ".join(getattr(summary, "formats", ()) or ())
    skipped = list(getattr(summary, "skipped", []) or [])
    note = ""
    if skipped:
        more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
        note = f" Skipped {len(skipped)} unreadable image(s): {skipped[0]}{more}."
    return (f"Exported {getattr(summary, 'added', 0)} image(s) as {formats} into {getattr(summary, 'out_dir', '')}"
            f" ({getattr(summary, 'objects', 0)} objects; {len(files)} index files).{note}")
