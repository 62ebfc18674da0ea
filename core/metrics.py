"""Generalized zero-shot segmentation metrics: one confusion matrix, scores per class subset.

The protocol of the paper: arg-max over all classes (seen + unseen), one confusion matrix over the
whole evaluation set, pixels whose ground truth is 255 ignored. ``IoU_c = TP / (TP + FP + FN)``;
seen / unseen / all mIoU are means over index subsets; ``hIoU = 2·S·U / (S + U)``.

NaN policy: a class that appears neither in the ground truth nor in the predictions has an undefined
IoU (NaN) and is left out of every mean; a class absent from the ground truth has an undefined class
accuracy (NaN), likewise left out of the mean accuracy (MA). A subset with no defined value scores
NaN. hIoU is 0 when both S and U are 0, NaN when either is NaN.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from core.constants import IGNORE


def _to_numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensor, without importing torch here
        a = a.detach().cpu().numpy()
    return np.asarray(a)


class ConfusionMatrix:
    """Accumulates ``matrix[target, prediction]`` pixel counts (int64).

    Predictions outside ``[0, num_classes)`` (e.g. 255 from an unlabelled output) count as wrong:
    they are false negatives of the target class and nobody's false positive.
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = int(num_classes)
        # Extra last column: predictions outside the class range.
        self._counts = np.zeros((self.num_classes, self.num_classes + 1), dtype=np.int64)

    @property
    def matrix(self) -> np.ndarray:
        """(C, C) counts, rows = ground truth, columns = prediction."""
        return self._counts[:, : self.num_classes].copy()

    @property
    def counts(self) -> np.ndarray:
        """The live (C, C + 1) counts, last column = predictions outside the classes (to sum across processes)."""
        return self._counts

    def reset(self) -> None:
        self._counts[:] = 0

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        if other.num_classes != self.num_classes:
            raise ValueError("cannot merge confusion matrices of different sizes")
        self._counts += other._counts
        return self

    def update(self, pred, target) -> None:
        """Add one image or batch; ``pred`` and ``target`` integer arrays/tensors of one shape."""
        pred = _to_numpy(pred).astype(np.int64, copy=False).ravel()
        target = _to_numpy(target).astype(np.int64, copy=False).ravel()
        if pred.shape != target.shape:
            raise ValueError(f"prediction and target differ in size: {pred.size} vs {target.size}")
        c = self.num_classes
        valid = (target != IGNORE) & (target >= 0) & (target < c)
        pred = pred[valid]
        target = target[valid]
        pred = np.where((pred >= 0) & (pred < c), pred, c)
        self._counts += np.bincount(target * (c + 1) + pred, minlength=c * (c + 1)).reshape(c, c + 1)

    def per_class(self) -> tuple[np.ndarray, np.ndarray]:
        """(IoU, class accuracy) per class, NaN where undefined."""
        c = self.num_classes
        tp = np.diag(self._counts[:, :c]).astype(np.float64)
        gt = self._counts.sum(1).astype(np.float64)  # includes out-of-range predictions
        predicted = self._counts[:, :c].sum(0).astype(np.float64)
        union = gt + predicted - tp
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, tp / union, np.nan)
            acc = np.where(gt > 0, tp / gt, np.nan)
        return iou, acc

    def _subset(self, ids: Sequence[int], iou: np.ndarray, acc: np.ndarray) -> dict:
        ids = np.asarray(sorted(set(int(i) for i in ids)), dtype=np.int64)
        if ids.size == 0:
            return {"pa": math.nan, "ma": math.nan, "miou": math.nan}
        c = self.num_classes
        tp = np.diag(self._counts[:, :c])[ids].sum()
        gt = self._counts[ids].sum()
        return {
            "pa": float(tp / gt) if gt > 0 else math.nan,
            "ma": _nanmean(acc[ids]),
            "miou": _nanmean(iou[ids]),
        }

    def scores(self, seen_ids: Sequence[int], unseen_ids: Sequence[int]) -> dict:
        """``{"seen"|"unseen"|"all": {"pa","ma","miou"}, "hiou", "iou": [...], "acc": [...]}``.

        PA of a subset = correctly labelled pixels / pixels whose ground truth is in the subset.
        "all" covers every class index. Values are fractions in [0, 1] (NaN when undefined).
        """
        iou, acc = self.per_class()
        seen = self._subset(seen_ids, iou, acc)
        unseen = self._subset(unseen_ids, iou, acc)
        every = self._subset(range(self.num_classes), iou, acc)
        s, u = seen["miou"], unseen["miou"]
        if math.isnan(s) or math.isnan(u):
            hiou = math.nan
        elif s + u == 0:
            hiou = 0.0
        else:
            hiou = 2 * s * u / (s + u)
        return {
            "seen": seen,
            "unseen": unseen,
            "all": every,
            "hiou": hiou,
            "iou": [float(v) for v in iou],
            "acc": [float(v) for v in acc],
            "seen_ids": sorted(int(i) for i in seen_ids),
            "unseen_ids": sorted(int(i) for i in unseen_ids),
        }


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def _pct(v: float) -> str:
    return "   –  " if v is None or math.isnan(v) else f"{100 * v:6.2f}"


def format_table(scores: dict, class_names: Sequence[str]) -> str:
    """A plain-text report: per-class IoU / accuracy (unseen marked *), then the subset summary."""
    unseen = set(scores.get("unseen_ids", []))
    width = max([len("class")] + [len(n) for n in class_names]) + 2
    lines = [f"{'class':<{width}}   IoU %   Acc %"]
    for i, name in enumerate(class_names):
        mark = "*" if i in unseen else " "
        lines.append(f"{name:<{width}}{mark} {_pct(scores['iou'][i])}  {_pct(scores['acc'][i])}")
    lines.append("")
    lines.append(f"{'subset':<8}   PA %    MA %  mIoU %")
    for key in ("seen", "unseen", "all"):
        sub = scores[key]
        lines.append(f"{key:<8} {_pct(sub['pa'])}  {_pct(sub['ma'])}  {_pct(sub['miou'])}")
    lines.append(f"hIoU %   {_pct(scores['hiou'])}")
    if unseen:
        lines.append("(* = unseen class)")
    return "\n".join(lines)
