"""Run on all images: options (skip reviewed), progress, cancel, and resume where it stopped.

Resume needs no bookkeeping here: the controller skips every image already labelled by the
current model, so pressing Start again after Cancel continues with the rest.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

from app.controller import BatchOptions, Controller


class BatchDialog(QDialog):
    def __init__(self, controller: Controller, parent=None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Run on all images")
        self.setMinimumWidth(440)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.skip_reviewed = QCheckBox("Skip images I have reviewed")
        self.skip_reviewed.setChecked(True)
        self.label = QLabel(f"{len(controller.images)} images with {len(controller.classes)} classes.")
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, max(1, len(controller.images)))
        self.bar.setValue(0)
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.close_button = QPushButton("Close")
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.start_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.skip_reviewed)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addLayout(buttons)
        controller.batch_progress.connect(self._on_progress)
        controller.batch_finished.connect(self._on_finished)
        self.state = "idle"

    def start(self) -> None:
        job = self.controller.run_all(BatchOptions(skip_reviewed=self.skip_reviewed.isChecked()))
        if job is None:
            return
        self.state = "running"
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.skip_reviewed.setEnabled(False)
        self.label.setText("Labelling…")

    def cancel(self) -> None:
        self.controller.runner.cancel("batch")
        self.cancel_button.setEnabled(False)

    def _on_progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)
        self.label.setText(f"Labelled {done} of {total} images")

    def _on_finished(self, outcome: str) -> None:
        self.state = outcome
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.skip_reviewed.setEnabled(True)
        if outcome == "done":
            self.label.setText(f"Done: {self.bar.value()} of {self.bar.maximum()} images labelled.")
            self.start_button.setText("Run again")
        elif outcome == "cancelled":
            self.label.setText(f"Cancelled after {self.bar.value()} images. Press Resume to continue.")
            self.start_button.setText("Resume")
        else:
            self.label.setText(f"Stopped: {outcome}")
            self.start_button.setText("Retry")
