"""Training rows from painted pixels, and the within-image vote of those pixels (pure functions).

Why sampled at the painted pixels: reading a label map at feature-cell centres loses any stroke
thinner than a cell (14 px for DINOv2); bilinear sampling of the feature map at each painted pixel
keeps every stroke.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from core.constants import IGNORE
from core.zs3.sampling import capped_subsample


def painted_rows(features: torch.Tensor, mask: np.ndarray, num_classes: int, cap: int, gen: torch.Generator):
    """(F, h, w) features + full-resolution mask → (N, F) features at up to ``cap`` random labelled
    pixels per class (bilinear), and their (N,) labels."""
    h, w = mask.shape
    flat = torch.from_numpy(mask.reshape(-1))
    keep = torch.nonzero((flat != IGNORE) & (flat < num_classes)).flatten()
    if keep.numel() == 0:
        return torch.zeros(0, features.shape[0]), torch.zeros(0, dtype=torch.long)
    keep = keep[capped_subsample(flat[keep].long(), cap, gen)]
    ys, xs = (keep // w).float(), (keep % w).float()
    grid = torch.stack([(xs + 0.5) / w * 2 - 1, (ys + 0.5) / h * 2 - 1], 1)[None, None]
    rows = F.grid_sample(features[None].float(), grid, mode="bilinear", align_corners=False)[0, :, 0].T
    return rows, flat[keep].long()


def bank_rows(features, labels, bank_names, classes, feat_dim: int):
    """A checkpoint's stored real features (labels index ``bank_names``) as rows of the same-named
    session ``classes``; nothing when there is no bank or its width is not the features'."""
    if features is None or labels is None or features.shape[1] != feat_dim:
        return torch.zeros(0, feat_dim), torch.zeros(0, dtype=torch.long)
    lut = torch.full((len(bank_names) + 1,), IGNORE, dtype=torch.long)
    index = {n: i for i, n in enumerate(classes)}
    for i, n in enumerate(bank_names):
        if n in index:
            lut[i] = index[n]
    mapped = lut[labels.long().clamp(0, len(bank_names))]
    keep = mapped != IGNORE
    return features[keep].float(), mapped[keep]


def local_vote(features: torch.Tensor, rows: torch.Tensor, labels: torch.Tensor, num_classes: int,
               temperature: float) -> torch.Tensor:
    """(C, h, w) log-probabilities of a nearest-painted-pixel vote, over the classes painted (0 elsewhere).

    Why: the global linear classifier spreads a correction across every image, but an object in one
    photo resembles itself more than its class elsewhere; each cell's best cosine similarity to the
    pixels painted with each class, softmaxed over those classes, is that evidence.
    """
    out = torch.zeros(num_classes, *features.shape[-2:])
    present = torch.unique(labels)
    if len(present) < 2:
        return out
    grid = F.normalize(features.float().flatten(1), dim=0)  # (F, hw)
    sim = F.normalize(rows, dim=1) @ grid  # (N, hw)
    best = torch.full((num_classes, sim.shape[1]), -1.0)
    best.scatter_reduce_(0, labels[:, None].expand_as(sim), sim, reduce="amax")
    vote = (best[present] / temperature).log_softmax(0)
    out[present] = vote.reshape(len(present), *features.shape[-2:])
    return out


def propagate(features: torch.Tensor, logits: torch.Tensor, alpha: float, k: int, temperature: float,
              iterations: int = 10) -> torch.Tensor:
    """(C, h, w) logits smoothed over the image's own feature-affinity graph (label propagation).

    Why: cells of one object are each other's nearest neighbours in DINOv2 space, so the classifier's
    scores averaged over a cell's ``k`` most similar cells (weights softmax(cos / T)) fix the cells the
    linear classifier got wrong where the rest of the object is right. ``P ← α·A·P + (1 − α)·P₀``.
    (Holding the painted cells at their class during the iterations was measured too: no gain.)
    """
    c, h, w = logits.shape
    grid = F.normalize(features.float().flatten(1), dim=0)  # (F, n)
    sim = grid.T @ grid  # (n, n)
    k = min(int(k), sim.shape[1])
    vals, idx = sim.topk(k, dim=1)
    weights = (vals / temperature).softmax(1)  # (n, k)
    p0 = logits.flatten(1).softmax(0).T  # (n, C)
    p = p0
    for _ in range(iterations):
        p = alpha * (weights[..., None] * p[idx]).sum(1) + (1 - alpha) * p0

    return p.clamp_min(1e-8).log().T.reshape(c, h, w)

