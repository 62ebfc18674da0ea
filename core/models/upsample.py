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

import math
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


def _sym3_cofactors(a, b, c, d, e, f):
    """Cofactors and determinant of the symmetric 3×3 matrices [[a,b,c],[b,d,e],[c,e,f]] (arrays or
    tensors of any shape): the OpenCV and the torch filters share this one inverse."""
    ia, ib, ic = d * f - e * e, c * e - b * f, b * e - c * d
    idd, ie, iff = a * f - c * c, b * c - a * e, a * d - b * b
    return (ia, ib, ic, ib, idd, ie, ic, ie, iff), a * ia + b * ib + c * ic


def _inverse_sym3(m: np.ndarray) -> np.ndarray:
    """Inverse of per-pixel symmetric 3×3 matrices (H,W,3,3) by cofactors: ~20× faster than a batched solve."""
    cof, det = _sym3_cofactors(m[..., 0, 0], m[..., 0, 1], m[..., 0, 2], m[..., 1, 1], m[..., 1, 2], m[..., 2, 2])
    inv = np.stack(cof, -1) / det[..., None]
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


def _reflect_index(n: int, r: int, device) -> torch.Tensor:
    """Positions -r..n+r-1 folded into 0..n-1 as OpenCV's BORDER_REFLECT folds them (edge repeated: cba|abc|cba)."""
    i = torch.arange(-r, n + r, device=device) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def _box_torch(x: torch.Tensor, r: int) -> torch.Tensor:
    """``_box`` of each (N, H, W) map in torch. Two 1-D average pools: each output is a sum of 2r+1 terms,
    so no cumulative-sum round-off enters the variances (which ε = 1e-3 amplifies)."""
    h, w = x.shape[-2:]
    k = 2 * r + 1
    x = F.avg_pool2d(x[:, _reflect_index(h, r, x.device)], (k, 1), stride=1)
    return F.avg_pool2d(x[:, :, _reflect_index(w, r, x.device)], (1, k), stride=1)


def _area_taps(n_in: int, n_out: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_out, K) source indices and weights of OpenCV's INTER_AREA shrink from n_in to n_out samples:
    each output averages the inputs its cell covers, fractions at both ends, slivers under 1e-3 dropped
    as OpenCV drops them (unused taps: index 0, weight 0)."""
    scale = n_in / n_out
    taps = []
    for i in range(n_out):
        f1 = i * scale
        f2 = f1 + scale
        cell = min(scale, n_in - f1)
        s2 = min(math.floor(f2), n_in - 1)
        s1 = min(math.ceil(f1), s2)
        row = [(s1 - 1, (s1 - f1) / cell)] if s1 - f1 > 1e-3 else []
        row += [(j, 1.0 / cell) for j in range(s1, s2)]
        if f2 - s2 > 1e-3:
            row.append((s2, min(f2 - s2, 1.0, cell) / cell))
        taps.append(row)
    k = max(len(row) for row in taps)
    index = torch.zeros(n_out, k, dtype=torch.long)
    weight = torch.zeros(n_out, k, dtype=torch.float32)
    for i, row in enumerate(taps):
        for j, (src, wt) in enumerate(row):
            index[i, j], weight[i, j] = src, wt
    return index.to(device), weight.to(device)


def _area_resize_torch(x: torch.Tensor, size: tuple) -> torch.Tensor:
    """(N, H, W) → (N, *size) as ``cv2.resize(..., INTER_AREA)`` shrinks: weighted taps, no matmul (a GPU
    matmul may run in TF32 and lose the precision the filter's ε needs)."""
    index, weight = _area_taps(x.shape[-1], size[1], x.device)
    x = (x[..., index] * weight).sum(-1)
    index, weight = _area_taps(x.shape[-2], size[0], x.device)
    return (x.transpose(-1, -2)[..., index] * weight).sum(-1).transpose(-1, -2)


def guided_filter_torch(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float,
                        subsample: int = 1) -> torch.Tensor:
    """``guided_filter`` in torch on any device: guide (3,H,W) float in 0..1, src (C,H,W) → (C,H,W).

    Why: on a GPU the probabilities then never go to host numpy and back. Same maths, same borders
    (reflected), same fast-filter shrink (OpenCV's area rule) and bilinear growth: equal to ``guided_filter``
    to float rounding (~1e-5). Runs in float32 whatever autocast says (ε needs it).
    """
    with torch.autocast(src.device.type, enabled=False):
        guide, src = guide.float(), src.float()
        full = guide
        if subsample > 1:
            size = (max(1, guide.shape[1] // subsample), max(1, guide.shape[2] // subsample))
            guide, src = _area_resize_torch(guide, size), _area_resize_torch(src, size)
            radius = max(1, round(radius / subsample))
        c, h, w = src.shape
        mean_i = _box_torch(guide, radius)  # (3,h,w)
        mean_p = _box_torch(src, radius)  # (C,h,w)
        pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # the 6 entries of the symmetric covariance
        var = _box_torch(torch.stack([guide[i] * guide[j] for i, j in pairs]), radius)
        var = var - torch.stack([mean_i[i] * mean_i[j] for i, j in pairs])
        var[[0, 3, 5]] += eps
        cov = _box_torch((guide[:, None] * src[None]).reshape(3 * c, h, w), radius).reshape(3, c, h, w)
        cov = cov - mean_i[:, None] * mean_p[None]
        cofactors, det = _sym3_cofactors(*var)
        inv = torch.stack(cofactors).reshape(3, 3, h, w) / det
        a = sum(inv[:, k, None] * cov[k][None] for k in range(3))  # (3,C,h,w)
        b = mean_p - sum(mean_i[k][None] * a[k] for k in range(3))
        mean_a = _box_torch(a.reshape(3 * c, h, w), radius)
        mean_b = _box_torch(b, radius)
        if tuple(full.shape[-2:]) != (h, w):
            mean_a = F.interpolate(mean_a[None], size=full.shape[-2:], mode="bilinear", align_corners=False)[0]
            mean_b = F.interpolate(mean_b[None], size=full.shape[-2:], mode="bilinear", align_corners=False)[0]
        mean_a = mean_a.reshape(3, c, *full.shape[-2:])
        return sum(full[k][None] * mean_a[k] for k in range(3)) + mean_b


def refine_at_guide(logits: torch.Tensor, guide: np.ndarray | torch.Tensor, config: RefineConfig = RefineConfig(),
                    device="cpu", use_torch: bool | None = None) -> torch.Tensor:
    """(C,h,w) logits on the patch grid + (H',W',3) uint8 guide (array, or tensor on any device) →
    (C,H',W') probabilities at the guide's size, on ``device``. The filter is OpenCV's on the CPU and the
    torch one elsewhere (``use_torch`` overrides: tests compare the two on the CPU)."""
    device = torch.device(device)
    use_torch = device.type != "cpu" if use_torch is None else use_torch
    gh, gw = guide.shape[:2]
    with torch.autocast(device.type, enabled=False):
        probs = F.interpolate(logits[None].to(device).float(), size=(gh, gw), mode="bilinear",
                              align_corners=False)[0].softmax(0)
        if use_torch:
            image = guide if torch.is_tensor(guide) else torch.from_numpy(np.ascontiguousarray(guide))
            image = image.to(device).permute(2, 0, 1).float() / 255.0
            q = guided_filter_torch(image, probs, config.radius, config.eps, config.subsample)
        else:
            src = np.ascontiguousarray(probs.permute(1, 2, 0).cpu().numpy(), dtype=np.float32)
            image = guide.cpu().numpy() if torch.is_tensor(guide) else guide
            q = guided_filter(image.astype(np.float32) / 255.0, src, config.radius, config.eps, config.subsample)
            q = torch.from_numpy(np.ascontiguousarray(q)).permute(2, 0, 1).to(device)
        q = q.clamp_min(0.0)
        return q / q.sum(0, keepdim=True).clamp_min(1e-6)


def refine_probabilities(logits: torch.Tensor, guide: np.ndarray, out_size: tuple,
                         config: RefineConfig = RefineConfig()) -> torch.Tensor:
    """(C,h,w) logits on the patch grid + (H',W',3) uint8 guide → (C,H,W) probabilities at ``out_size``.

    The whole (C,H,W) tensor at once: for a photo of many megapixels use
    ``core.models.tiled_output.predict_full_resolution``, which never builds it.
    """
    out = refine_at_guide(logits, guide, config)
    if tuple(out_size) != tuple(out.shape[-2:]):
        out = F.interpolate(out[None], size=tuple(out_size), mode="bilinear", align_corners=False)[0]
    return out
