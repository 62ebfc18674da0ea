"""Self-training (ZS5Net / ZS3Net+ST): pseudo-label the most confident pixels of unseen classes.

For each unseen class, among the pixels whose arg-max prediction is that class, the top ``percent``%
by that class's probability become pseudo-labels (p = 25 on VOC, 75 on Context in the paper); every
other pixel is 255 (ignore). The ranking is over the whole set of images, not per image, so an image
full of confident cows contributes more cow pixels than an image with a doubtful one.

``select_pseudo_labels`` does it for one batch in memory. ``PseudoLabelSelector`` does the same over
a stream of images in two passes with bounded memory (a fixed histogram of confidences per class).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

IGNORE = 255


def _as_tensor(probs) -> Tensor:
    if isinstance(probs, np.ndarray):
        probs = torch.from_numpy(probs)
    if probs.dim() == 3:
        probs = probs.unsqueeze(0)
    if probs.dim() != 4:
        raise ValueError(f"probs must be (B,C,H,W) or (C,H,W), got {tuple(probs.shape)}")
    return probs


def select_pseudo_labels(probs, unseen_ids: Sequence[int], percent: float) -> Tensor:
    """(B,C,H,W) class probabilities -> (B,H,W) uint8 pseudo-labels, 255 where not chosen.

    Exactly ``ceil(percent/100 * n_u)`` pixels are kept for each unseen class u predicted on n_u
    pixels (ties broken by position). Works on any device; returns on the device of ``probs``.
    """
    probs = _as_tensor(probs)
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be in [0, 100], got {percent}")
    conf, pred = probs.max(dim=1)  # (B,H,W)
    out = torch.full(pred.shape, IGNORE, dtype=torch.uint8, device=probs.device)
    flat_pred = pred.reshape(-1)
    flat_conf = conf.reshape(-1)
    flat_out = out.view(-1)
    for u in unseen_ids:
        idx = torch.nonzero(flat_pred == int(u), as_tuple=True)[0]
        if idx.numel() == 0:
            continue
        k = math.ceil(percent / 100.0 * idx.numel())
        if k == 0:
            continue
        top = torch.topk(flat_conf[idx], k, sorted=False).indices
        flat_out[idx[top]] = int(u)
    return out


class PseudoLabelSelector:
    """Streaming version: pass 1 ``observe`` every image, pass 2 ``labels`` every image.

    Thresholds come from a per-class histogram of the arg-max confidences with ``bins`` bins on
    [0, 1], so memory does not grow with the number of images and the kept fraction matches
    ``percent`` to within one bin's population.
    """

    def __init__(self, unseen_ids: Sequence[int], percent: float, bins: int = 4096) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be in [0, 100], got {percent}")
        self.unseen_ids = [int(u) for u in unseen_ids]
        self.percent = float(percent)
        self.bins = int(bins)
        self.hist = torch.zeros(len(self.unseen_ids), self.bins, dtype=torch.float64)
        self._thresholds: dict[int, float] | None = None

    def observe(self, probs) -> None:
        """Add the confidences of one image (C,H,W) or a batch (B,C,H,W)."""
        probs = _as_tensor(probs)
        conf, pred = probs.max(dim=1)
        for i, u in enumerate(self.unseen_ids):
            values = conf[pred == u].float().clamp(0, 1)
            if values.numel():
                bins = (values * self.bins).long().clamp_max(self.bins - 1)
                self.hist[i] += torch.bincount(bins, minlength=self.bins).to(torch.float64).cpu()
        self._thresholds = None

    def thresholds(self) -> dict[int, float]:
        """Per unseen class, the confidence at or above which a pixel is pseudo-labelled (inf: none)."""
        if self._thresholds is None:
            out: dict[int, float] = {}
            for i, u in enumerate(self.unseen_ids):
                total = float(self.hist[i].sum())
                want = math.ceil(self.percent / 100.0 * total)
                if want <= 0:
                    out[u] = math.inf
                    continue
                from_top = torch.cumsum(self.hist[i].flip(0), 0)  # pixels at or above each bin, top down
                top_bin = int(torch.searchsorted(from_top, torch.tensor([float(want)], dtype=torch.float64)))
                out[u] = (self.bins - 1 - min(top_bin, self.bins - 1)) / self.bins
            self._thresholds = out
        return self._thresholds

    def labels(self, probs) -> Tensor:
        """(B,H,W) uint8 pseudo-labels of one image/batch under the thresholds of pass 1."""
        probs = _as_tensor(probs)
        conf, pred = probs.max(dim=1)
        out = torch.full(pred.shape, IGNORE, dtype=torch.uint8, device=probs.device)
        for u, thr in self.thresholds().items():
            out[(pred == u) & (conf >= thr)] = u
        return out
