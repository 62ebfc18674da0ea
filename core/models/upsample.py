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
    subsample: int = 4  # fast guided filter: coefficients on a 4× smaller grid


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def _by_4_channels(op, x: np.ndarray) -> np.ndarray:
    """``op`` (an OpenCV image function) on an (H, W, C) array of any C: OpenCV takes at most 4 channels
    at once, and drops the channel axis of a 1-channel result, which is put back here."""
    if x.shape[2] <= 4:
        out = op(x)
        return out.reshape(*out.shape[:2], -1)
    return np.concatenate([_by_4_channels(op, np.ascontiguousarray(x[..., i:i + 4]))
                           for i in range(0, x.shape[2], 4)], axis=2)


def _box_channels(x: np.ndarray, r: int) -> np.ndarray:
    """Box filter of an (H, W, C) array, C of any size."""
    return _by_4_channels(lambda a: _box(a, r), x)


def _inverse_sym3(m: np.ndarray) -> np.ndarray:
    """Inverse of per-pixel symmetric 3×3 matrices (H,W,3,3) by cofactors: ~20× faster than a batched solve."""
    a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    d, e, f = m[..., 1, 1], m[..., 1, 2], m[..., 2, 2]
    ia, ib, ic = d * f - e * e, c * e - b * f, b * e - c * d
    idd, ie, iff = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * ia + b * ib + c * ic
    inv = np.stack([ia, ib, ic, ib, idd, ie, ic, ie, iff], -1) / det[..., None]
    return inv.reshape(m.shape).astype(np.float32)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float, subsample: int = 1) -> np.ndarray:
    """Colour guided filter: guide (H,W,3) float32 in 0..1, src (H,W,C) float32 → (H,W,C).

    ``subsample`` > 1 is the fast guided filter (He & Sun, 2015): the per-pixel linear coefficients
    are computed on a ``subsample``-times smaller grid and upsampled bilinearly; only the final
    ``q = a·I + b`` runs at full resolution. Cheap here because ``src`` comes from a coarse patch grid.
    """
    full = guide
    if subsample > 1:
        size = (max(1, guide.shape[1] // subsample), max(1, guide.shape[0] // subsample))
        guide = cv2.resize(guide, size, interpolation=cv2.INTER_AREA)
        src = _resize_channels(src, size, cv2.INTER_AREA)
        radius = max(1, round(radius / subsample))
    h, w, c = src.shape
    mean_i = _box(guide, radius)  # (H,W,3)
    mean_p = _box_channels(src, radius)  # (H,W,C)
    # covariance of the guide (3×3 per pixel) and guide–source cross-covariance (3×C per pixel)
    ii = guide[..., :, None] * guide[..., None, :]
    var = _box_channels(ii.reshape(h, w, 9), radius).reshape(h, w, 3, 3) - mean_i[..., :, None] * mean_i[..., None, :]
    ip = guide[..., :, None] * src[..., None, :]
    cov = _box_channels(ip.reshape(h, w, 3 * c), radius).reshape(h, w, 3, c) - mean_i[..., :, None] * mean_p[..., None, :]
    inv = _inverse_sym3(var + eps * np.eye(3, dtype=np.float32))
    a = sum(inv[..., :, k, None] * cov[..., None, k, :] for k in range(3))  # (H,W,3,C)
    b = mean_p - sum(mean_i[..., k, None] * a[..., k, :] for k in range(3))
    mean_a = _box_channels(a.reshape(h, w, 3 * c), radius).reshape(h, w, 3 * c)
    mean_b = _box_channels(b, radius).reshape(h, w, c)
    if full.shape[:2] != (h, w):
        size = (full.shape[1], full.shape[0])
        mean_a = _resize_channels(mean_a, size)
        mean_b = _resize_channels(mean_b, size)
    mean_a = mean_a.reshape(*full.shape[:2], 3, c)
    return sum(full[..., k, None] * mean_a[..., k, :] for k in range(3)) + mean_b


def _resize_channels(x: np.ndarray, size: tuple, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resize of an (H, W, C) array to ``size`` = (width, height), C of any size."""
    return _by_4_channels(lambda a: cv2.resize(a, size, interpolation=interpolation), x)


def refine_probabilities(logits: torch.Tensor, guide: np.ndarray, out_size: tuple,
                         config: RefineConfig = RefineConfig()) -> torch.Tensor:
    """(C,h,w) logits on the patch grid + (H',W',3) uint8 guide → (C,H,W) probabilities at ``out_size``."""
    gh, gw = guide.shape[:2]
    probs = F.interpolate(logits[None].float(), size=(gh, gw), mode="bilinear", align_corners=False)[0].softmax(0)
    src = np.ascontiguousarray(probs.permute(1, 2, 0).numpy(), dtype=np.float32)
    q = guided_filter(guide.astype(np.float32) / 255.0, src, config.radius, config.eps, config.subsample)
    q = np.clip(q, 0.0, None)
    q /= np.maximum(q.sum(2, keepdims=True), 1e-6)
    out = torch.from_numpy(np.ascontiguousarray(q)).permute(2, 0, 1)
    if tuple(out_size) != (gh, gw):
        out = F.interpolate(out[None], size=tuple(out_size), mode="bilinear", align_corners=False)[0]
    return out
