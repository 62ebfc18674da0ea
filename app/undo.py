"""Undo/redo of brush strokes: one stroke is one ``QUndoCommand``.

A command stores only the bounding box of the stroke (the user-label pixels before and after), so
a long session of edits stays small in memory. The target that owns the label maps implements
``write_user_patch(image, y0, x0, patch)``; it saves, re-draws and schedules the refit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
from PySide6.QtGui import QUndoCommand


class PatchTarget(Protocol):
    def write_user_patch(self, image: Path, y0: int, x0: int, patch: np.ndarray) -> None: ...


class BrushStrokeCommand(QUndoCommand):
    """Paint ``value`` (a class index, or 255 to erase) where ``stroke`` is true."""

    def __init__(self, target: PatchTarget, image: Path, user_labels: np.ndarray, stroke: np.ndarray,
                 value: int, text: str) -> None:
        super().__init__(text)
        ys, xs = np.nonzero(stroke)
        self.target = target
        self.image = Path(image)
        self.y0, self.y1 = int(ys.min()), int(ys.max()) + 1
        self.x0, self.x1 = int(xs.min()), int(xs.max()) + 1
        region = (slice(self.y0, self.y1), slice(self.x0, self.x1))
        self.before = user_labels[region].copy()
        self.after = self.before.copy()
        self.after[stroke[region]] = np.uint8(value)
        self.value = int(value)
        self.pixels = int(stroke.sum())

    @property
    def changes_anything(self) -> bool:
        return not np.array_equal(self.before, self.after)

    def redo(self) -> None:
        self.target.write_user_patch(self.image, self.y0, self.x0, self.after)

    def undo(self) -> None:
        self.target.write_user_patch(self.image, self.y0, self.x0, self.before)
