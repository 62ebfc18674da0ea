"""Scene items that draw numpy arrays at screen resolution: the photo, the label overlay, the stroke.

Why not ``QGraphicsPixmapItem``: a 24-Mpx photo made a 96 MB pixmap on every switch, and the
stroke preview converted a full-size image on every mouse move (~125 ms). These items keep the
arrays and, in ``paint``, turn only the exposed rectangle into pixels, subsampled to the zoom
(a 2× pyramid for the photo, nearest-neighbour for labels, which must stay crisp). Work per
repaint therefore follows the screen's size, not the image's.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem

from app.overlay import IGNORE

PYRAMID_MIN_SIDE = 256  # no pyramid level smaller than this


def _step_for(painter: QPainter) -> int:
    """Image pixels per screen pixel, as a power of two (1 when zoomed in)."""
    scale = abs(painter.worldTransform().m11()) or 1.0
    return 1 if scale >= 0.5 else 2 ** int(math.floor(math.log2(1.0 / scale)))


def _exposed(option, shape: tuple[int, int], pad: int = 0) -> tuple[int, int, int, int] | None:
    rect = option.exposedRect
    height, width = shape
    x0, y0 = max(0, int(math.floor(rect.left())) - pad), max(0, int(math.floor(rect.top())) - pad)
    x1, y1 = min(width, int(math.ceil(rect.right())) + pad), min(height, int(math.ceil(rect.bottom())) + pad)
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def _qimage(array: np.ndarray) -> QImage:
    """A QImage over ``array`` (RGB or RGBA uint8); valid while ``array`` lives."""
    array = np.ascontiguousarray(array)
    height, width, channels = array.shape
    fmt = QImage.Format.Format_RGB888 if channels == 3 else QImage.Format.Format_RGBA8888
    image = QImage(array.data, width, height, width * channels, fmt)
    image._keep = array  # noqa: SLF001 - the buffer must outlive the QImage
    return image


def _draw(painter: QPainter, pixels: np.ndarray, x0: int, y0: int, step: int, shape: tuple[int, int]) -> None:
    """Draw ``pixels`` (a region subsampled by ``step`` from image pixel (x0, y0)) in scene units."""
    height, width = pixels.shape[:2]
    w = min(width * step, shape[1] - x0)
    h = min(height * step, shape[0] - y0)
    source = QRectF(0, 0, w / step, h / step)
    painter.drawImage(QRectF(x0, y0, w, h), _qimage(pixels), source)


class _ArrayItem(QGraphicsItem):
    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, int] | None = None

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF() if self._shape is None else QRectF(0, 0, self._shape[1], self._shape[0])

    def _visible(self, painter: QPainter, option, array: np.ndarray | None):
        """(x0, y0, step, the exposed part of ``array`` read every ``step`` pixels), or None."""
        if array is None:
            return None
        region = _exposed(option, self._shape, pad=1)
        if region is None:
            return None
        x0, y0, x1, y1 = region
        step = _step_for(painter)
        x0, y0 = x0 - x0 % step, y0 - y0 % step
        return x0, y0, step, array[y0:y1:step, x0:x1:step]


class PhotoItem(_ArrayItem):
    """The photo, with 2× levels made on first need so a zoomed-out view reads few pixels.

    It may hold a reduced preview (``factor`` 2, 4 or 8: pixel (i, j) covers the photo's pixels
    [i·f, (i+1)·f) × [j·f, (j+1)·f)) as the first level; the item keeps the photo's full size, so
    it lines up with the labels and strokes, and looks blocky when zoomed in until the full photo
    replaces it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._levels: list[np.ndarray] = []
        self.factor = 1  # the photo's pixels per pixel of the first level

    def set_rgb(self, rgb: np.ndarray | None, shape: tuple[int, int] | None = None) -> None:
        """Show ``rgb``; ``shape`` is the photo's full (H, W) when ``rgb`` is a reduced preview of it."""
        self.prepareGeometryChange()
        self._levels = [] if rgb is None else [np.ascontiguousarray(rgb)]
        self._shape = None if rgb is None else tuple(shape or rgb.shape[:2])
        self.factor = 1 if rgb is None else max(1, 2 ** round(math.log2(self._shape[1] / rgb.shape[1])))
        self.update()

    @property
    def rgb(self) -> np.ndarray | None:
        """The full-resolution photo (None while a preview is shown)."""
        return self._levels[0] if self._levels and self.factor == 1 else None

    def level(self, step: int) -> tuple[np.ndarray, int]:
        """The pyramid level for ``step`` (and that level's own step), made when first asked for."""
        base = int(math.log2(self.factor))
        index = max(0, (int(math.log2(step)) if step > 1 else 0) - base)
        while len(self._levels) <= index:
            last = self._levels[-1]
            if min(last.shape[:2]) < 2 * PYRAMID_MIN_SIDE:
                break
            half = cv2.resize(last, (last.shape[1] // 2, last.shape[0] // 2), interpolation=cv2.INTER_AREA)
            self._levels.append(half)
        index = min(index, len(self._levels) - 1)
        return self._levels[index], 2 ** (index + base)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if not self._levels:
            return
        region = _exposed(option, self._shape)
        if region is None:
            return
        x0, y0, x1, y1 = region
        step = _step_for(painter)
        level, level_step = self.level(step)
        # Align the region to the level's grid so the level's pixels land on the right spot.
        x0, y0 = x0 - x0 % level_step, y0 - y0 % level_step
        pixels = level[y0 // level_step:-(-y1 // level_step), x0 // level_step:-(-x1 // level_step)]
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, level_step > 1)
        _draw(painter, pixels, x0, y0, level_step, self._shape)


class LabelItem(_ArrayItem):
    """A label map coloured through a 256×4 LUT; ``outline`` keeps only the class borders."""

    def __init__(self) -> None:
        super().__init__()
        self._labels: np.ndarray | None = None
        self._lut = np.zeros((256, 4), np.uint8)
        self.outline = False

    def set_labels(self, labels: np.ndarray | None, lut: np.ndarray | None = None) -> None:
        self.prepareGeometryChange()
        self._labels = labels
        self._shape = None if labels is None else labels.shape[:2]
        if lut is not None:
            self._lut = lut
        self.update()

    def set_outline(self, on: bool) -> None:
        self.outline = bool(on)
        self.update()

    @property
    def labels(self) -> np.ndarray | None:
        return self._labels

    def rgba(self, labels: np.ndarray) -> np.ndarray:
        """Colours of ``labels`` as this item shows them (outline mode: borders only)."""
        if self.outline:
            labels = outline_labels(labels)
        return self._lut[labels]

    def paint(self, painter: QPainter, option, widget=None) -> None:
        visible = self._visible(painter, option, self._labels)
        if visible is None:
            return
        x0, y0, step, sub = visible
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        _draw(painter, self.rgba(sub), x0, y0, step, self._shape)

    def to_qimage(self) -> QImage:
        """The whole overlay at full resolution (tests and screenshots; small images only)."""
        if self._labels is None:
            return QImage()
        return _qimage(self.rgba(self._labels)).copy()


class MaskItem(_ArrayItem):
    """The stroke being painted: a boolean mask in one colour; ``touch`` repaints a small rectangle."""

    def __init__(self) -> None:
        super().__init__()
        self._mask: np.ndarray | None = None
        self._rgba = np.array([255, 0, 0, 255], np.uint8)

    def set_mask(self, mask: np.ndarray | None, color=None) -> None:
        self.prepareGeometryChange()
        self._mask = mask
        self._shape = None if mask is None else mask.shape[:2]
        if color is not None:
            self._rgba = np.array([color.red(), color.green(), color.blue(), 255], np.uint8)
        self.update()

    def touch(self, x0: int, y0: int, x1: int, y1: int) -> None:
        self.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def paint(self, painter: QPainter, option, widget=None) -> None:
        visible = self._visible(painter, option, self._mask)
        if visible is None:
            return
        x0, y0, step, sub = visible
        if not sub.any():
            return
        rgba = np.zeros(sub.shape + (4,), np.uint8)
        rgba[sub > 0] = self._rgba
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        _draw(painter, rgba, x0, y0, step, self._shape)


def outline_labels(labels: np.ndarray, width: int = 2) -> np.ndarray:
    """Keep a pixel's label only within ``width`` pixels of another label (255 elsewhere)."""
    edge = np.zeros(labels.shape, bool)
    for shift in range(1, width + 1):
        edge[shift:, :] |= labels[shift:, :] != labels[:-shift, :]
        edge[:-shift, :] |= labels[:-shift, :] != labels[shift:, :]
        edge[:, shift:] |= labels[:, shift:] != labels[:, :-shift]
        edge[:, :-shift] |= labels[:, :-shift] != labels[:, shift:]
    return np.where(edge, labels, np.uint8(IGNORE)).astype(np.uint8)


def set_item_cache(item: QGraphicsItem) -> None:
    """No item cache: the items draw only what is exposed, a cache would hold full-size pixmaps."""
    item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
    item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
