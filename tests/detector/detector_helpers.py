"""Photos, masks and box overlap for the detector tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "resources" / "eval"


def eval_photo(name: str) -> np.ndarray:
    from core.images import load_image

    return load_image(EVAL / "JPEGImages" / f"{name}.jpg")


def mask_bbox(name: str, class_id: int) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (exclusive) of one class's pixels in an evaluation mask."""
    mask = np.asarray(Image.open(EVAL / "SegmentationClass" / f"{name}.png"))
    ys, xs = np.nonzero(mask == class_id)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union
