"""The simulated annotator: how many corrective dots does the session need to reach a good mask?

Protocol (``zs3 bench annotate``), identical for every backbone so the numbers compare:

- Start with no labels: predict every image (0 dots).
- Each round, every image gets one dot of radius R px at the pixel farthest from the border of its
  largest connected wrong region (prediction ≠ ground truth, ground truth ≠ 255, not yet painted),
  painted with the ground-truth class at that pixel (only the disk's pixels of that class). Then one
  refit and a prediction of every image; painted pixels keep their class (the session guarantees it).
- mIoU over the classes asked for plus background, one confusion matrix over all images; pixels of
  classes that were not asked for are ignored (as ``--labels`` treats them).

Why a simulation: the product's promise is that a few corrections fix a folder; this measures it
on held-out photos without a human, and any change to the default model is judged by it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from core.constants import IGNORE
from core.errors import UserError

log = logging.getLogger(__name__)

REPORT_AT = (0, 1, 2, 4, 8, 16)


@dataclass
class AnnotateConfig:
    radius: int = 8
    rounds: int = 16


def next_dot(pred: np.ndarray, gt: np.ndarray, painted: np.ndarray, radius: int):
    """The simulated annotator's next dot: (y, x, class) or None when nothing is left to fix."""
    wrong = ((pred != gt) & (gt != IGNORE) & (painted == IGNORE)).astype(np.uint8)
    n, comp, stats, _ = cv2.connectedComponentsWithStats(wrong, connectivity=8)
    if n <= 1:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = np.pad((comp == largest).astype(np.uint8), 1)  # the image edge counts as a border
    dist = cv2.distanceTransform(region, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(y), int(x), int(gt[y, x])


def paint_dot(painted: np.ndarray, gt: np.ndarray, dot, radius: int) -> None:
    """Paint the disk's pixels that belong to the dot's class (in place)."""
    y, x, cls = dot
    disk = np.zeros(gt.shape, np.uint8)
    cv2.circle(disk, (x, y), int(radius), 1, thickness=-1)
    painted[(disk > 0) & (gt == cls)] = cls


def run_annotate(folder, classes: Sequence[str] | None = None, model: str = "default", device: str = "auto",
                 config: AnnotateConfig = AnnotateConfig(), session_config=None,
                 progress: Callable[[float, str], None] | None = None) -> dict:
    """Run the protocol above; returns the JSON-ready result of ``zs3 bench annotate``."""
    from core.metrics import ConfusionMatrix
    from core.session import Session
    from core.session.evaluation import load_labelled_folder

    class_list, items = load_labelled_folder(folder, classes)
    session = Session(model=model, device=device, config=session_config)
    session.add_images([p for p, _ in items])
    session.set_classes(class_list)
    painted = [np.full(gt.shape, IGNORE, np.uint8) for _, gt in items]
    result = {"model": str(model), "data": str(folder), "classes": class_list, "images": [p.name for p, _ in items],
              "radius": config.radius, "rounds": config.rounds, "miou_by_dots": {}, "per_class_by_dots": {}}
    round_seconds = []

    def score(dots: int, preds) -> None:
        cm = ConfusionMatrix(len(class_list))
        for pred, (_, gt) in zip(preds, items):
            cm.update(pred, gt)
        sc = cm.scores(list(range(len(class_list))), [])
        result["miou_by_dots"][str(dots)] = round(float(sc["all"]["miou"]), 4)
        result["per_class_by_dots"][str(dots)] = {c: round(float(sc["iou"][i]), 4) for i, c in enumerate(class_list)}
        log.info("%d dots: mIoU %.3f", dots, sc["all"]["miou"])

    def predict_all() -> list[np.ndarray]:
        try:
            return [session.predict(p).labels for p, _ in items]
        except UserError:  # nothing to learn from yet (no labels, no name the model knows): all background
            return [np.zeros(gt.shape, np.uint8) for _, gt in items]

    preds = predict_all()
    score(0, preds)
    for r in range(1, config.rounds + 1):
        t0 = time.perf_counter()
        for i, (path, gt) in enumerate(items):
            dot = next_dot(preds[i], gt, painted[i], config.radius)
            if dot is not None:
                paint_dot(painted[i], gt, dot, config.radius)
                session.add_labels(path, painted[i], source="simulated")
        preds = predict_all()
        round_seconds.append(time.perf_counter() - t0)
        if r in REPORT_AT or r == config.rounds:
            score(r, preds)
        if progress:
            progress(r / config.rounds, f"round {r}/{config.rounds}: mIoU {result['miou_by_dots'].get(str(r), float('nan')):.3f}")
    result["seconds_per_round"] = round(float(np.mean(round_seconds)), 3) if round_seconds else 0.0
    return result
