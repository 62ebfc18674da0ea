"""From a fitted linear classifier to class scores of one image: the steps after a fit, as functions.

Why a module of its own: ``Session`` owns state (images, labels, the fit, caches, locks); these steps
own none — each takes the features, the classifier and the config and returns tensors — so they are
read, tested and changed apart from the session's bookkeeping.

Order (``grid_logits``): the classifier on every feature cell; the within-image vote of the painted
pixels (``SessionConfig.local_weight``, off by default); label propagation over the image's feature
graph (``propagate_alpha``); a class nobody painted kept inside its detector boxes where the image has
some (``PriorConfig.detector_clip``). Then either the guided-filter upsampling to full resolution
(``probabilities``) or the band-by-band arg-max of ``core.models.tiled_output`` (``Session.predict``).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from core.models.upsample import refine_probabilities
from core.session.rows import propagate


def classifier_logits(features: torch.Tensor, classifier: torch.nn.Linear) -> torch.Tensor:
    """(F, h, w) features, a (C, F) linear classifier → (C, h, w) logits (float32, on the CPU)."""
    w = classifier.weight.detach().float().cpu()
    b = classifier.bias.detach().float().cpu()
    return torch.einsum("fhw,cf->chw", features.float(), w) + b[:, None, None]


def clip_to_extent(logits: torch.Tensor, extent: dict) -> torch.Tensor:
    """``logits`` with each class of ``extent`` (class id → (h, w) bool cells) pushed below every other
    class outside its cells: another class wins there, whatever its own score."""
    if not extent:
        return logits
    logits = logits.clone()
    floor = float(logits.min()) - 100.0
    for c, cells in extent.items():
        logits[c][~cells] = floor
    return logits


def grid_logits(features: torch.Tensor, classifier: torch.nn.Linear, config, local=None, extent=None) -> torch.Tensor:
    """(C, h, w) class logits on the feature grid (``config``: the ``SessionConfig``; ``local``: the
    painted pixels' (C, h, w) vote or None; ``extent``: ``clip_to_extent``'s cells or None)."""
    with torch.inference_mode():
        logits = classifier_logits(features, classifier)
        if local is not None and config.local_weight > 0:
            logits = logits + config.local_weight * local
        if config.propagate_alpha > 0:
            logits = propagate(features, logits, config.propagate_alpha, config.propagate_k,
                               config.propagate_temperature)
        return clip_to_extent(logits, extent or {})


def full_probabilities(logits: torch.Tensor, feats, config) -> torch.Tensor:
    """(C, H, W) probabilities at the image's size: the guided filter where the backbone keeps a guide
    (``SessionConfig.edge_refine``), else bilinear."""
    with torch.inference_mode():
        if config.edge_refine and feats.guide is not None:
            return refine_probabilities(logits, feats.guide, feats.image_size, config.refine)
        logits = F.interpolate(logits[None], size=feats.image_size, mode="bilinear", align_corners=False)[0]
        return logits.softmax(0)
