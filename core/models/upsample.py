"""Edge-aware upsampling of coarse class probabilities: masks that follow the image's edges.

Why: the default backbone scores 14×14-pixel patches; bilinear upsampling of those scores draws
boundaries through the middle of patches, not along the object's edge. A guided filter (He et al.,
"Guided Image Filtering", 2010) with the image as guide makes each probability map locally an affine
function of the image's colour, so a class boundary snaps to the nearest strong edge. It costs a few
box filters (O(pixels), independent of the radius) at the guide's resolution (≤ 448 px), then one
bilinear resize to the full image: ~10 ms per class on a laptop CPU. Its effect is measured by
``zs3 bench annotate`` (docs/benchmarks.md), and it can be switched off (``SessionConfig.edge_refine``).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class RefineConfig:
    """Guided-filter settings at the guide's resolution (chosen on the tuning part of the eval set)."""

    radius: int = 8
    eps: float = 1e-3  # regularisation on the guide's variance (guide in 0..1)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def _box_channels(x: np.ndarray, r: int) -> np.ndarray:
    """Box filter of an (H, W, C) array, C of any size (OpenCV filters at most 4 channels at once)."""
    if x.ndim == 2 or x.shape[2] <= 4:
        return _box(x, r)
    return np.concatenate([_box(np.ascontiguousarray(x[..., i:i + 4]), r).reshape(*x.shape[:2], -1)
                           for i in range(0, x.shape[2], 4)], axis=2)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Colour guided filter: guide (H,W,3) float32 in 0..1, src (H,W,C) float32 → (H,W,C)."""
    h, w, c = src.shape
    mean_i = _box(guide, radius)  # (H,W,3)
    mean_p = _box_channels(src, radius)  # (H,W,C)
    # covariance of the guide (3×3 per pixel) and guide–source cross terms (3×C per pixel)
    ii = guide[..., :, None] * guide[..., None, :]
    var = _box_channels(ii.reshape(h, w, 9), radius).reshape(h, w, 3, 3) - mean_i[..., :, None] * mean_i[..., None, :]
    ip = guide[..., :, None] * src[..., None, :]
    cov = _box_channels(ip.reshape(h, w, 3 * c), radius).reshape(h, w, 3, c) - mean_i[..., :, None] * mean_p[..., None, :]
    a = np.linalg.solve(var + eps * np.eye(3, dtype=np.float32), cov)  # (H,W,3,C)
    b = mean_p - np.einsum("hwk,hwkc->hwc", mean_i, a)
    mean_a = _box_channels(a.reshape(h, w, 3 * c), radius).reshape(h, w, 3, c)
    mean_b = _box_channels(b, radius)
    return np.einsum("hwk,hwkc->hwc", guide, mean_a) + mean_b


def refine_probabilities(logits: torch.Tensor, guide: np.ndarray, out_size: tuple,
                         config: RefineConfig = RefineConfig()) -> torch.Tensor:
    """(C,h,w) logits on the patch grid + (H',W',3) uint8 guide → (C,H,W) probabilities at ``out_size``."""
    gh, gw = guide.shape[:2]
    probs = F.interpolate(logits[None].float(), size=(gh, gw), mode="bilinear", align_corners=False)[0].softmax(0)
    src = np.ascontiguousarray(probs.permute(1, 2, 0).numpy(), dtype=np.float32)
    q = guided_filter(guide.astype(np.float32) / 255.0, src, config.radius, config.eps)
    q = np.clip(q, 0.0, None)
    q /= np.maximum(q.sum(2, keepdims=True), 1e-6)
    out = torch.from_numpy(np.ascontiguousarray(q)).permute(2, 0, 1)
    if tuple(out_size) != (gh, gw):
        out = F.interpolate(out[None], size=tuple(out_size), mode="bilinear", align_corners=False)[0]
    return out
