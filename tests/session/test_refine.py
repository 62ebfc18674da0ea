"""Edge-aware upsampling: coarse scores snap to the image's edges (guided filter), and never invent classes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.models.upsample import RefineConfig, guided_filter, guided_filter_torch, refine_at_guide, refine_probabilities


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_refined_boundary_follows_the_edge_better_than_bilinear():
    # A bright disc on a dark background; scores on a 14-px grid (as the DINOv2 patches).
    h = w = 224
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - 100) ** 2 + (xx - 120) ** 2 < 60 ** 2
    guide = np.where(disc[..., None], 200, 40).astype(np.uint8).repeat(3, 2)
    cells = torch.from_numpy(disc.astype(np.float32))[None, None]
    coarse = torch.nn.functional.adaptive_avg_pool2d(cells, (16, 16))[0, 0]
    logits = torch.stack([(0.5 - coarse) * 8, (coarse - 0.5) * 8])
    bilinear = torch.nn.functional.interpolate(logits[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    plain = bilinear.argmax(0).numpy() == 1
    refined = refine_probabilities(logits, guide, (h, w), RefineConfig(radius=8, eps=1e-3))
    assert refined.shape == (2, h, w)
    assert torch.allclose(refined.sum(0), torch.ones(h, w), atol=1e-4)
    snapped = refined.argmax(0).numpy() == 1
    assert _iou(snapped, disc) > _iou(plain, disc) + 0.02
    assert _iou(snapped, disc) > 0.97


def test_guided_filter_keeps_a_constant_and_handles_many_channels():
    rng = np.random.default_rng(0)
    guide = rng.random((40, 30, 3), dtype=np.float32)
    src = np.full((40, 30, 7), 0.25, np.float32)
    out = guided_filter(guide, src, radius=3, eps=1e-3)
    assert out.shape == src.shape
    assert np.allclose(out, 0.25, atol=1e-4)


def test_refine_upsamples_to_a_size_other_than_the_guide_for_many_classes():
    guide = np.zeros((56, 84, 3), np.uint8)
    out = refine_probabilities(torch.zeros(9, 4, 6), guide, (100, 150))  # 9 classes: more than OpenCV's 4 channels
    assert out.shape == (9, 100, 150)
    assert torch.allclose(out, torch.full_like(out, 1 / 9), atol=1e-4)


def _photo_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Flat regions with hard edges and noise: a guide whose variances range from tiny to large."""
    rng = np.random.default_rng(seed)
    g = np.zeros((h, w, 3), np.float32)
    g[:, : w // 2] = (0.2, 0.4, 0.7)
    g[h // 3:, w // 3:] = (0.8, 0.7, 0.2)
    return np.clip(g + rng.normal(0, 0.03, g.shape).astype(np.float32), 0, 1)


@pytest.mark.parametrize("h,w,subsample", [(112, 84, 1), (336, 448, 4), (322, 434, 4), (45, 61, 3)])
def test_torch_guided_filter_equals_the_opencv_one(h, w, subsample):
    guide = _photo_like(h, w)
    rng = np.random.default_rng(1)
    src = rng.random((h, w, 6), dtype=np.float32)
    ref = guided_filter(guide, src, radius=8, eps=1e-3, subsample=subsample)
    out = guided_filter_torch(torch.from_numpy(guide).permute(2, 0, 1), torch.from_numpy(src).permute(2, 0, 1),
                              radius=8, eps=1e-3, subsample=subsample)
    assert np.abs(out.permute(1, 2, 0).numpy() - ref).max() < 1e-4
    # and the comparison can fail: a filter without the edge-aware step differs by far more
    assert np.abs(ref - src).max() > 1e-2


def test_refine_with_the_torch_filter_equals_the_opencv_path():
    guide = (_photo_like(224, 168, 2) * 255).astype(np.uint8)
    logits = torch.randn(4, 16, 12, generator=torch.Generator().manual_seed(0)) * 4
    a = refine_at_guide(logits, guide, RefineConfig(), "cpu", use_torch=False)
    b = refine_at_guide(logits, guide, RefineConfig(), "cpu", use_torch=True)
    assert a.shape == b.shape == (4, 224, 168)
    assert (a - b).abs().max() < 1e-4
    # a guide already in torch (as on a GPU, where it never goes through numpy) gives the same
    assert torch.equal(refine_at_guide(logits, torch.from_numpy(guide), RefineConfig(), "cpu", use_torch=True), b)
