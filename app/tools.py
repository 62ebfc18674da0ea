"""The editing tools beyond the brush: flood fill, fill holes, pick a class, box / click → object mask.

Each tool only computes a boolean mask (pure functions below, tested without a window); the
controller then paints it with the selected class through ``apply_stroke``, so every tool's
result is one ordinary undoable edit that saves, refits and trains like a brush stroke.

Object masks use OpenCV's GrabCut (``core.object_cut``, shared with the zero-label prior)
inside the user's box, or around the model's predicted region under a click. GrabCut runs in the
worker thread.
"""
from __future__ import annotations

import cv2
import numpy as np

from app.overlay import IGNORE
from core.object_cut import grabcut_box
from app.workers import Job, JobContext

CLICK_BOX_FRACTION = 0.25  # no prediction under a click: a box this fraction of the image side


def flood_region(labels: np.ndarray, x: int, y: int) -> np.ndarray:
    """The 4-connected region of pixels with the same label as (x, y)."""
    mask = np.zeros((labels.shape[0] + 2, labels.shape[1] + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    cv2.floodFill(np.ascontiguousarray(labels), mask, (int(x), int(y)), 0, 0, 0, flags)
    return mask[1:-1, 1:-1].astype(bool)


def hole_mask(labels: np.ndarray, value: int) -> np.ndarray:
    """Pixels not of class ``value`` that it encloses (regions that do not reach the image border)."""
    inside = labels == value
    outside = (~inside).astype(np.uint8)
    count, components = cv2.connectedComponents(outside, connectivity=4)
    border = np.unique(np.concatenate([components[0], components[-1], components[:, 0], components[:, -1]]))
    holes = np.isin(components, border, invert=True) & (components > 0)
    return holes & (count > 1)


def click_box(shape: tuple[int, int], x: int, y: int, region: np.ndarray | None) -> tuple[int, int, int, int]:
    """The box GrabCut searches after a click: around the predicted region under the click
    (grown by a quarter), or a square of ``CLICK_BOX_FRACTION`` of the image side."""
    height, width = shape
    if region is not None and region.any():
        ys, xs = np.nonzero(region)
        rx0, rx1, ry0, ry1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        gx, gy = (rx1 - rx0) // 4 + 2, (ry1 - ry0) // 4 + 2
        return max(0, rx0 - gx), max(0, ry0 - gy), min(width, rx1 + gx), min(height, ry1 + gy)
    half = int(max(8, CLICK_BOX_FRACTION * max(height, width) / 2))
    return max(0, x - half), max(0, y - half), min(width, x + half + 1), min(height, y + half + 1)


def click_object(rgb: np.ndarray, labels: np.ndarray, x: int, y: int) -> np.ndarray:
    """Click → object: GrabCut in :func:`click_box` around (x, y), started from the shown label
    region under the click when it is a class (the model's guess of the object's extent)."""
    region = flood_region(labels, x, y) if labels[y, x] not in (0, IGNORE) else None
    return grabcut_box(rgb, click_box(labels.shape, x, y, region), region)


class ToolsMixin:
    """The controller's side of the tools: turn a click or a box into an edit of the image shown."""

    def fill_at(self, x: int, y: int) -> bool:
        """Flood fill: the region of one label under (x, y) takes the selected class."""
        labels = self.composed_labels()
        if labels is None or not (0 <= y < labels.shape[0] and 0 <= x < labels.shape[1]):
            return False
        return self.apply_stroke(flood_region(labels, x, y), action="Fill")

    def fill_holes(self) -> bool:
        """Close the holes of the selected class in the image shown."""
        labels = self.composed_labels()
        if labels is None or self.brush_value in (0, IGNORE):
            self.message.emit("Select a class (not background or the eraser) to fill its holes", "error")
            return False
        holes = hole_mask(labels, self.brush_value)
        if not holes.any():
            self.message.emit(f"'{self.class_values()[self.brush_value]}' has no holes here", "info")
            return False
        return self.apply_stroke(holes, action="Fill holes of")

    def pick_at(self, x: int, y: int) -> int | None:
        """The class shown at (x, y) becomes the brush's class (None outside the image)."""
        labels = self.composed_labels()
        if labels is None or not (0 <= y < labels.shape[0] and 0 <= x < labels.shape[1]):
            return None
        self.brush_value = int(labels[y, x])
        self.brush_picked.emit(self.brush_value)
        return self.brush_value

    def object_from_box(self, x0: int, y0: int, x1: int, y1: int):
        """Box → object: GrabCut inside the box, in the worker; painted with the selected class."""
        return self._object_job(lambda rgb: grabcut_box(rgb, (x0, y0, x1, y1)))

    def object_at(self, x: int, y: int):
        """Click → object (see :func:`click_object`), in the worker."""
        labels = self.composed_labels()
        if labels is None or not (0 <= y < labels.shape[0] and 0 <= x < labels.shape[1]):
            return None
        return self._object_job(lambda rgb: click_object(rgb, labels, x, y))

    def _object_job(self, find):
        """Run ``find(full-resolution rgb)`` in the worker, which waits for the pixels if they are
        still loading (a box dragged on the quick preview), then paint its mask."""
        record, photo = self.current_record, self.photo
        if record is None or photo is None:
            return None
        path, value = record.path, self.brush_value

        def work(ctx: JobContext):
            ctx.progress(0.1, "Finding the object…")
            return find(photo.wait(ctx.cancel))

        def done(mask) -> None:
            current = self.current_record
            if current is None or current.path != path:
                self.message.emit(f"Object mask dropped: {path.name} is no longer shown", "info")
                return
            if not mask.any():
                self.message.emit("No object found in the box: try a tighter box or the brush", "error")
                return
            self.apply_stroke(mask, value=value, action="Object")

        job = Job("object", work)
        job.signals.succeeded.connect(done)
        job.signals.failed.connect(lambda exc: self._report_failure("Object mask", exc))
        return self.runner.submit(job)
