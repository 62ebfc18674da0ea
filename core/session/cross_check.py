"""Cross-image check of the zero-label prior's cells: a class's cells in one photo are judged by what
the class's cells in the *other* photos look like.

Why: the prior's cells of a detector box are GrabCut's cut, and GrabCut separates colours, not
objects: behind a walker in a green shirt it keeps the green bushes, on a cat at a window the sill,
and the linear classifier learns those as the class. What a class looks like is what its boxes in
several photos share (co-segmentation); a bush is in one box, the person in all of them. So for each
photo a ridge classifier (one-hot targets, each class's rows weighing as much in total as the
background's, closed form) is fitted on the prior's cells of every other photo — the sums of all photos
minus this one's, one small solve per photo — and a cell of class c that this classifier scores as
background rather than as c becomes unsure. Only classes with prior cells in at least
``min_others`` other photos are judged (``PriorConfig.cross_check``, 3): a few other photos say too
little — with one, a bee and a flower lost their cells; with two, one of them a false box, a car.

Tuning part (15 photos), zero labels: mIoU 0.532 → 0.543 (person 0.82 → 0.93, background 0.76 → 0.79);
docs/benchmarks.md and ADR 0008 have the sweep and the held-out figures.
"""
from __future__ import annotations

import torch

from core.constants import IGNORE


def _sums(features: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, num_classes: int):
    """One photo's weighted Gram matrix (F+1, F+1) and target sums (F+1, C) over its labelled cells."""
    x = features.flatten(1).T.float()
    y = labels.flatten()
    keep = (y != IGNORE) & (y < num_classes)
    xa = torch.cat([x[keep], torch.ones(int(keep.sum()), 1, dtype=torch.float32)], 1)
    w = weights[y[keep]][:, None]
    targets = torch.nn.functional.one_hot(y[keep], num_classes).float()
    return xa.T @ (xa * w), xa.T @ (targets * w)


def cross_image_check(pairs: list, num_classes: int, min_others: int = 3, ridge: float = 1.0) -> list:
    """[(features (F, h, w), prior labels (h, w) long)] → the same pairs, each photo's foreground cells
    that the other photos' ridge classifier gives to background set to ``IGNORE`` (new label tensors;
    the inputs are not changed). ``ridge``: the penalty relative to the Gram matrix's mean diagonal."""
    if min_others <= 0 or len(pairs) < min_others + 1:
        return pairs
    present = []  # per photo: (C,) bool, the classes it has cells of
    counts = torch.zeros(num_classes, dtype=torch.float32)
    for _, lab in pairs:
        y = lab.flatten()
        y = y[(y != IGNORE) & (y < num_classes)]
        hist = torch.bincount(y, minlength=num_classes)
        counts += hist.float()
        present.append(hist > 0)
    photos_with = torch.stack(present).sum(0)
    weights = torch.where(counts > 0, 1.0 / counts.clamp(min=1), torch.zeros_like(counts))
    sums = [_sums(f, lab, weights, num_classes) for f, lab in pairs]
    gram = sum(g for g, _ in sums)
    target = sum(b for _, b in sums)
    out = []
    for (feats, lab), own, (g, b) in zip(pairs, present, sums):
        others = photos_with - own.long()
        judged = [c for c in range(1, num_classes) if own[c] and others[c] >= min_others]
        if not judged or others[0] < 1:
            out.append((feats, lab))
            continue
        g_rest = gram - g
        eye = torch.eye(g_rest.shape[0], dtype=torch.float32) * (ridge * g_rest.diagonal().mean())
        w = torch.linalg.solve(g_rest + eye, target - b)  # (F+1, C)
        x = feats.flatten(1).T.float()
        scores = x @ w[:-1] + w[-1]  # (h*w, C)
        flat = lab.flatten().clone()
        for c in judged:
            flat[(flat == c) & (scores[:, 0] > scores[:, c])] = IGNORE
        out.append((feats, flat.view_as(lab)))
    return out
