"""An object's mask from a box around it: OpenCV GrabCut, shared by the GUI's box/click tools and
the zero-label prior (detector boxes become object extents).

Why GrabCut: a box says where an object is, not which of its pixels are the object; GrabCut's colour
models separate the two without any trained weights. It runs on at most ``GRABCUT_SIDE`` pixels a
side (a 24-Mpx photo is cut at screen-like resolution and the mask scaled back), so a box costs the
same at any image size.
"""
from __future__ import annotations

import cv2
import numpy as np

GRABCUT_SIDE = 400       # the longer side GrabCut works at (a 24-Mpx box costs as much as a small one)
GRABCUT_ITERATIONS = 5


def context_crop(box, image_hw: tuple) -> tuple[int, int, int, int]:
    """The box grown by a margin of a twentieth of its size (at least 4 px), inside the image: what a
    cut sees around the object, so that the box's own edge is not the object's."""
    x0, y0, x1, y1 = (int(v) for v in box)
    margin = max(4, (x1 - x0 + y1 - y0) // 20)
    return max(0, x0 - margin), max(0, y0 - margin), min(image_hw[1], x1 + margin), min(image_hw[0], y1 + margin)


def grabcut_box(rgb: np.ndarray, box: tuple[int, int, int, int], hint: np.ndarray | None = None,
                side: int = GRABCUT_SIDE, iterations: int = GRABCUT_ITERATIONS, upscale: float = 1.0) -> np.ndarray:
    """The object inside ``box`` (x0, y0, x1, y1) as a full-size boolean mask.

    ``hint`` (optional, full size, bool) marks pixels that are probably the object (the model's
    prediction): GrabCut then starts from it instead of from the whole box. ``side``: the longer side
    GrabCut works at, ``iterations`` its rounds (fewer of both when only a coarse mask is needed);
    ``upscale``: a smaller crop is enlarged towards ``side`` by up to this factor. Why: GrabCut's
    smoothness cost grows with an object's outline, its colour cost with its area, so on a box of a
    few dozen pixels the cheapest cut is often no object at all; enlarged, the same box keeps it.
    """
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in box)
    cx0, cy0, cx1, cy1 = context_crop(box, (height, width))
    crop = rgb[cy0:cy1, cx0:cx1]
    scale = min(max(1.0, upscale), side / max(crop.shape[:2]))
    small = crop if scale == 1.0 else cv2.resize(crop, (max(1, round(crop.shape[1] * scale)),
                                                        max(1, round(crop.shape[0] * scale))),
                                                 interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    bx0, by0 = int((x0 - cx0) * scale), int((y0 - cy0) * scale)
    bx1, by1 = max(bx0 + 2, int(np.ceil((x1 - cx0) * scale))), max(by0 + 2, int(np.ceil((y1 - cy0) * scale)))
    init = np.full((sh, sw), cv2.GC_BGD, np.uint8)
    init[by0:by1, bx0:bx1] = cv2.GC_PR_FGD
    if hint is not None and hint[y0:y1, x0:x1].any():
        small_hint = cv2.resize(hint[cy0:cy1, cx0:cx1].astype(np.uint8), (sw, sh),
                                interpolation=cv2.INTER_NEAREST).astype(bool)
        inside = np.zeros((sh, sw), bool)
        inside[by0:by1, bx0:bx1] = True
        init[inside & ~small_hint] = cv2.GC_PR_BGD
        init[inside & small_hint] = cv2.GC_PR_FGD
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2BGR)
    cv2.setRNGSeed(0)  # GrabCut's colour models start from k-means: same box, same answer
    try:
        cv2.grabCut(bgr, init, None, background, foreground, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # one colour only (e.g. a flat box): keep the starting guess
        pass
    small_mask = ((init == cv2.GC_FGD) | (init == cv2.GC_PR_FGD)).astype(np.uint8)
    mask = np.zeros((height, width), bool)
    crop_mask = cv2.resize(small_mask, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_NEAREST).astype(bool)
    mask[cy0:cy1, cx0:cx1] = crop_mask
    mask[:, :x0] = mask[:, x1:] = False
    mask[:y0, :] = mask[y1:, :] = False
    return mask
