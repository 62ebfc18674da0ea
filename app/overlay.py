"""Turning label maps into coloured, semi-transparent overlays (and the class colours themselves).

Kept free of widgets: the canvas only receives ready ``QImage`` objects, and tests can check the
colours of an overlay pixel by pixel.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor, QImage

from core.masks import voc_colormap  # the canonical VOC palette, shared with the exporters

IGNORE = 255


def default_color(index: int) -> QColor:
    """Colour of class ``index`` in a fresh project (the VOC colour of that index)."""
    r, g, b = (int(v) for v in voc_colormap(256)[index % 256])
    return QColor(r, g, b)


def build_lut(colors: dict[int, QColor], hidden: set[int], background_alpha: int = 0) -> np.ndarray:
    """A 256×4 RGBA lookup table: index → overlay colour; hidden classes and 255 are transparent.

    The background is transparent by default so that the photo stays readable under the mask.
    """
    lut = np.zeros((256, 4), dtype=np.uint8)
    for index, color in colors.items():
        if 0 <= index < 255:
            lut[index] = (color.red(), color.green(), color.blue(), 255)
    lut[0, 3] = background_alpha
    for index in hidden:
        if 0 <= index < 256:
            lut[index, 3] = 0
    lut[IGNORE, 3] = 0
    return lut


def labels_to_qimage(labels: np.ndarray, lut: np.ndarray) -> QImage:
    """Colour an H×W uint8 label map with ``lut``; the returned image owns its pixels."""
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be an H×W uint8 array, got {labels.shape} {labels.dtype}")
    rgba = np.ascontiguousarray(lut[labels])
    height, width = labels.shape
    image = QImage(rgba.data, width, height, width * 4, QImage.Format.Format_RGBA8888)
    return image.copy()  # detach from the numpy buffer, which dies with this frame


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """An H×W×3 uint8 RGB array as a QImage that owns its pixels."""
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    image = QImage(rgb.data, width, height, width * 3, QImage.Format.Format_RGB888)
    return image.copy()


def compose_labels(prediction: np.ndarray | None, user: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """What the user sees and exports: their own labels win, the prediction fills the rest."""
    if prediction is None and user is None:
        return np.full(shape, IGNORE, dtype=np.uint8)
    if user is None:
        return prediction
    if prediction is None:
        return user
    return np.where(user != IGNORE, user, prediction).astype(np.uint8)


def confidence_levels(confidence: np.ndarray, user: np.ndarray | None = None) -> np.ndarray:
    """Confidence (0…1) as levels 0…254 for :func:`heat_lut`; the user's own labels count as 1."""
    levels = np.rint(np.clip(confidence, 0.0, 1.0) * 254).astype(np.uint8)
    if user is not None and user.shape == levels.shape:
        levels[user != IGNORE] = 254
    return levels


def heat_lut(threshold: float | None) -> np.ndarray:
    """LUT for confidence levels: blue (unsure) to red (sure); below the export threshold grey,
    because export turns those pixels into 255 (ignore)."""
    import cv2

    ramp = np.arange(255, dtype=np.uint8).reshape(-1, 1)
    bgr = cv2.applyColorMap(ramp, cv2.COLORMAP_JET).reshape(-1, 3)
    lut = np.zeros((256, 4), dtype=np.uint8)
    lut[:255, :3] = bgr[:, ::-1]
    lut[:255, 3] = 255
    if threshold:
        below = int(np.ceil(float(threshold) * 254))
        lut[:below, :3] = (128, 128, 128)
    lut[IGNORE, 3] = 0
    return lut
