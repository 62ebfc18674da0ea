"""Label map → polygons for the polygon formats (labelme, YOLO), and polygons → mask to read them.

One polygon per connected object (8-connected, as ``cv2.findContours`` traces them). Neither labelme
nor YOLO has holes, so each hole is joined to its object's outline by a zero-width cut (the trick
Ultralytics uses to merge segments): filled with ``cv2.fillPoly`` or PIL's ``ImageDraw.polygon`` the
hole stays empty. Vertices sit on pixel centres of the object's border pixels.

What is lossy: objects that touch only at corners may be traced as one; a cut crossing another hole
of the same object, or crossing the hole's contents, can fill a one-pixel line; 1-pixel-wide parts
may be thinned or widened where contour simplification cuts a corner.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np


def mask_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """Polygons (each ``(N, 2)`` int32 x, y; N ≥ 3) of the objects of a binary mask, holes cut in."""
    binary = np.ascontiguousarray(mask, dtype=np.uint8)
    if not binary.any():
        return []
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    hierarchy = hierarchy.reshape(-1, 4)
    polygons: list[np.ndarray] = []
    for index, contour in enumerate(contours):
        if hierarchy[index, 3] != -1:
            continue  # a hole: joined to its parent below
        outline = _as_polygon(contour.reshape(-1, 2))
        child = hierarchy[index, 2]
        while child != -1:
            hole = contours[child].reshape(-1, 2)
            if len(hole) >= 3:
                outline = _cut_in(outline, hole)
            child = hierarchy[child, 0]
        polygons.append(outline.astype(np.int32))
    return polygons


def _as_polygon(points: np.ndarray) -> np.ndarray:
    """Degenerate outlines (one pixel, a straight 1-pixel line) become their bounding box."""
    if len(points) >= 3:
        return points
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.int32)


def _cut_in(outline: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Splice ``hole`` into ``outline`` at their closest pair of vertices."""
    diff = outline[:, None, :].astype(np.int64) - hole[None, :, :].astype(np.int64)
    i, j = np.unravel_index(np.argmin((diff**2).sum(-1)), (len(outline), len(hole)))
    return np.concatenate([outline[: i + 1], hole[j:], hole[: j + 1], outline[i:]])


def fill_polygons(polygons: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Rasterise polygons (x, y in pixels) into a binary ``shape`` mask, as Ultralytics reads them."""
    out = np.zeros(shape, dtype=np.uint8)
    for polygon in polygons:
        pts = np.round(np.asarray(polygon, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
        if len(pts):
            cv2.fillPoly(out, [pts], 1)
    return out


def polygon_area(polygon: np.ndarray) -> float:
    return float(abs(cv2.contourArea(np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2))))
