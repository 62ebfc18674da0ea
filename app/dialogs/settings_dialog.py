"""Settings: compute device (auto / CPU / CUDA) and model (default or a checkpoint file).

Mistakes are shown inline (a missing checkpoint, CUDA without a GPU) and block OK; a checkpoint
that exists but cannot be loaded is reported by the engine in the status bar, never a traceback.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.controller import EngineSettings

CUDA_MISSING = ("No CUDA GPU is usable here (no NVIDIA GPU, or a PyTorch without CUDA): "
                "choose Automatic or CPU")
DEVICES = (("Automatic (GPU if available)", "auto"), ("CPU", "cpu"), ("CUDA GPU", "cuda"))


class SettingsDialog(QDialog):
    def __init__(self, settings: EngineSettings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self.device = QComboBox()
        for text, value in DEVICES:
            self.device.addItem(text, value)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.device)))
        self.model_kind = QComboBox()
        self.model_kind.addItem("Default (EfficientNet-Lite2 features, offline)", "default")
        self.model_kind.addItem("Checkpoint file…", "file")
        self.model_path = QLineEdit("" if settings.model == "default" else settings.model)
        self.model_path.setPlaceholderText("path/to/checkpoint.pth")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QWidget()
        row = QHBoxLayout(path_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.model_path, 1)
        row.addWidget(browse)
        self.model_kind.setCurrentIndex(0 if settings.model == "default" else 1)
        self.model_kind.currentIndexChanged.connect(self._sync)
        self.embeddings = QLineEdit(settings.embeddings)
        self.embeddings.setToolTip("'default' (GloVe 6B 50-d) or a word-vector file")
        self.error = QLabel()
        self.error.setObjectName("inlineError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d93025;")
        self.error.setVisible(False)
        form = QFormLayout()
        form.addRow("Device", self.device)
        form.addRow("Model", self.model_kind)
        form.addRow("Checkpoint", path_row)
        form.addRow("Word vectors", self.embeddings)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self._path_row = path_row
        self._sync()

    def _sync(self) -> None:
        self._path_row.setEnabled(self.model_kind.currentData() == "file")

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Checkpoint", "", "Checkpoints (*.pth *.pt *.ckpt);;All files (*)")
        if path:
            self.model_path.setText(path)

    def settings(self) -> EngineSettings:
        model = "default" if self.model_kind.currentData() == "default" else self.model_path.text().strip()
        return EngineSettings(model=model, device=self.device.currentData(),
                              embeddings=self.embeddings.text().strip() or "default")

    def validate(self) -> str | None:
        """A one-line problem with the choice, or None."""
        settings = self.settings()
        if settings.model != "default":
            if not settings.model:
                return "choose a checkpoint file, or the default model"
            if not Path(settings.model).is_file():
                return f"no such checkpoint file: {settings.model}"
        if settings.device == "cuda":
            try:
                from core.device import resolve_device

                resolve_device("cuda")
            except Exception:  # noqa: BLE001 - UserError, or torch missing CUDA support
                return CUDA_MISSING
        if settings.embeddings != "default" and not Path(settings.embeddings).exists():
            return f"no such word-vector file: {settings.embeddings}"
        return None

    def _accept(self) -> None:
        problem = self.validate()
        if problem:
            self.error.setText(problem)
            self.error.setVisible(True)
            return
        self.accept()
