"""Self-training (ZS5Net / ZS3Net+ST): the project's one definition of which pixels become pseudo-labels.

Definition (docs/adr/0005-self-training.md), used by the engine's step 4 and the annotation session:

- a pixel is a candidate for unseen class u when u is its arg-max class on the feature grid;
- candidates are ranked by the **log-odds of the arg-max class**, log p_top − log Σ_{c≠top} p_c,
  computed from the probabilities without forming 1 − p_top (which rounds to 0 in float32 once the
  logit margin passes ≈ 17, so a ranking by p_top alone collapses exactly where classifiers are
  confident);
- per unseen class, the top ``percent`` % of its candidates **over the whole set of images** become
  pseudo-labels (an image full of confident cows gives more cow pixels than a doubtful one); every
  other pixel is 255 (ignore). p = 25 on VOC, 75 on Context in the paper; ``DEFAULT_PERCENT`` otherwise.

:func:`select_over_set` applies it to per-image ``(pred, score)`` pairs from :func:`confidence_scores`
(what the session keeps: two small maps per image), :func:`select_pseudo_labels` to one batch of
probabilities, and :class:`PseudoLabelSelector` streams it in two passes with bounded memory: a fixed
histogram of the log-odds, which stays resolved where a histogram of p_top puts every pixel in its top bin.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from core.constants import IGNORE

#: the paper's self-training percentages per dataset kind
PAPER_PERCENT = {"voc": 25.0, "voc_aug": 25.0, "context": 75.0}
#: p for anything else (the session, folders): the paper's VOC value
DEFAULT_PERCENT = 25.0
#: log-odds range of the streaming histogram; float32 probabilities cannot express more than ≈ 104
SCORE_RANGE = (-16.0, 112.0)


def _as_tensor(probs) -> Tensor:
    if isinstance(probs, np.ndarray):
        probs = torch.from_numpy(probs)
    if probs.dim() == 3:
        probs = probs.unsqueeze(0)
    if probs.dim() != 4:
        raise ValueError(f"probs must be (B,C,H,W) or (C,H,W), got {tuple(probs.shape)}")
    return probs


def _check_percent(percent: float) -> float:
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be in [0, 100], got {percent}")
    return float(percent)


def confidence_scores(probs) -> tuple[Tensor, Tensor]:
    """(B,C,H,W) or (C,H,W) probabilities → (arg-max class (B,H,W) long, log-odds score (B,H,W) float32).

    The score is +inf where every other class underflows to 0 (ties among such pixels are broken by
    position). Monotone in p_top, so it ranks pixels as p_top would with unlimited precision.
    """
    probs = _as_tensor(probs).float()
    top, pred = probs.max(dim=1)
    rest = probs.scatter(1, pred.unsqueeze(1), 0.0).sum(dim=1)
    with torch.no_grad():
        score = torch.log(top) - torch.log(rest)
    return pred, score


def select_over_set(ranked: Sequence[tuple[Tensor, Tensor]], unseen_ids: Sequence[int],
                    percent: float) -> list[Tensor]:
    """Pseudo-labels of a set of images from their ``confidence_scores``: one uint8 map per item, 255 elsewhere.

    Exactly ``ceil(percent/100 * n_u)`` pixels are kept for each unseen class u predicted on n_u
    pixels of the whole set; ties are broken by position (earlier image, then raster order).
    """
    percent = _check_percent(percent)
    preds = [torch.as_tensor(p) for p, _ in ranked]
    outs = [torch.full(p.shape, IGNORE, dtype=torch.uint8, device=p.device) for p in preds]
    if not preds:
        return outs
    flat_pred = torch.cat([p.reshape(-1).long().cpu() for p in preds])
    flat_score = torch.cat([torch.as_tensor(s).reshape(-1).float().cpu() for _, s in ranked])
    flat_out = torch.full(flat_pred.shape, IGNORE, dtype=torch.uint8)
    for u in unseen_ids:
        idx = torch.nonzero(flat_pred == int(u), as_tuple=True)[0]
        k = math.ceil(percent / 100.0 * idx.numel())
        if k == 0:
            continue
        order = torch.sort(flat_score[idx], descending=True, stable=True).indices[:k]
        flat_out[idx[order]] = int(u)
    start = 0
    for i, p in enumerate(preds):
        n = p.numel()
        outs[i] = flat_out[start:start + n].view(p.shape).to(p.device)
        start += n
    return outs


def select_pseudo_labels(probs, unseen_ids: Sequence[int], percent: float) -> Tensor:
    """(B,C,H,W) class probabilities → (B,H,W) uint8 pseudo-labels, 255 where not chosen.

    The whole batch is one set (:func:`select_over_set`). Returns on the device of ``probs``.
    """
    probs = _as_tensor(probs)
    return select_over_set([confidence_scores(probs)], unseen_ids, percent)[0].to(probs.device)


class PseudoLabelSelector:
    """Streaming version: pass 1 ``observe`` every image, pass 2 ``labels`` every image.

    Thresholds come from a per-class histogram of the log-odds scores with ``bins`` bins on
    ``SCORE_RANGE`` (width 1/64 by default), so memory does not grow with the number of images and
    the kept fraction matches ``percent`` to within one bin's population.
    """

    def __init__(self, unseen_ids: Sequence[int], percent: float, bins: int = 8192) -> None:
        self.unseen_ids = [int(u) for u in unseen_ids]
        self.percent = _check_percent(percent)
        self.bins = int(bins)
        self.lo, self.hi = SCORE_RANGE
        self.hist = torch.zeros(len(self.unseen_ids), self.bins, dtype=torch.float64)
        self._thresholds: dict[int, float] | None = None

    def _bin(self, score: Tensor) -> Tensor:
        width = (self.hi - self.lo) / self.bins
        return ((score.clamp(self.lo, self.hi) - self.lo) / width).long().clamp(0, self.bins - 1)

    def observe(self, probs) -> None:
        """Add the scores of one image (C,H,W) or a batch (B,C,H,W)."""
        self.observe_scores(*confidence_scores(probs))

    def observe_scores(self, pred: Tensor, score: Tensor) -> None:
        """Add ``confidence_scores`` already computed (the pipeline keeps them for its feature sample)."""
        for i, u in enumerate(self.unseen_ids):
            values = score[pred == u]
            if values.numel():
                self.hist[i] += torch.bincount(self._bin(values), minlength=self.bins).to(torch.float64).cpu()
        self._thresholds = None

    def thresholds(self) -> dict[int, float]:
        """Per unseen class, the score at or above which a pixel is pseudo-labelled (inf: none)."""
        if self._thresholds is None:
            width = (self.hi - self.lo) / self.bins
            out: dict[int, float] = {}
            for i, u in enumerate(self.unseen_ids):
                want = math.ceil(self.percent / 100.0 * float(self.hist[i].sum()))
                if want <= 0:
                    out[u] = math.inf
                    continue
                from_top = torch.cumsum(self.hist[i].flip(0), 0)  # pixels at or above each bin, top down
                top_bin = int(torch.searchsorted(from_top, torch.tensor([float(want)], dtype=torch.float64)))
                b = self.bins - 1 - min(top_bin, self.bins - 1)
                out[u] = -math.inf if b == 0 else self.lo + b * width
            self._thresholds = out
        return self._thresholds

    def keep(self, pred: Tensor, score: Tensor) -> Tensor:
        """Boolean map: which pixels of ``confidence_scores`` pass the thresholds of pass 1."""
        out = torch.zeros(pred.shape, dtype=torch.bool, device=pred.device)
        for u, thr in self.thresholds().items():
            out |= (pred == u) & (score >= thr)
        return out

    def labels(self, probs) -> Tensor:
        """(B,H,W) uint8 pseudo-labels of one image/batch under the thresholds of pass 1."""
        pred, score = confidence_scores(probs)
        out = torch.full(pred.shape, IGNORE, dtype=torch.uint8, device=pred.device)
        chosen = self.keep(pred, score)
        out[chosen] = pred[chosen].to(torch.uint8)
        return out
