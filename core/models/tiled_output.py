"""Full-resolution labels and confidence, one band of rows at a time: memory bounded by the band.

Why: the class scores live on a small grid (the patch grid, or the ≤ 448-px guide after edge
refinement), and a prediction needs only H×W labels (uint8) and confidence (float32). Upsampling all C
maps to the photo first costs C×H×W floats — 3.8 GB for 20 classes on an 8000×6000 photo — for one
argmax. Bilinear upsampling (``align_corners=False``) is separable, and output row y reads two source
rows only, i0(y) and i1(y): a band of output rows needs exactly the source rows its own taps name. The
overlap between bands is therefore computed, not guessed, and the bands together give the untiled
result to float rounding (~1e-6), borders included.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from core.errors import CancelledError
from core.models.upsample import RefineConfig, refine_at_guide

# One band's (C, rows, W) float block. A band's temporaries are a few such blocks whatever the photo's
# size (measured: +0.4 GB for an 8000×6000 prediction, 0.24 GB of it the labels and confidence
# themselves; docs/benchmarks.md); a photo of up to ~0.5 Mpx with 16 classes fits in one band.
BAND_BYTES = 32 * 2**20


@dataclass(frozen=True)
class LinearTaps:
    """Per output sample along one axis: the two source samples it reads and their weights."""

    i0: torch.Tensor
    i1: torch.Tensor
    w0: torch.Tensor
    w1: torch.Tensor

    def part(self, start: int, stop: int) -> "LinearTaps":
        return LinearTaps(self.i0[start:stop], self.i1[start:stop], self.w0[start:stop], self.w1[start:stop])


def linear_taps(n_in: int, n_out: int, device="cpu") -> LinearTaps:
    """Bilinear taps of ``F.interpolate(..., align_corners=False)`` along one axis of n_in → n_out samples.

    Source position (y + ½)·n_in/n_out − ½, clamped at 0; the right neighbour clamped at the last
    sample. The scale is float32 as in torch's kernel and the position is rounded to float32 once
    (closest to ``F.interpolate`` of the variants measured: ≤ 1e-6 on 448 → 6000 samples).
    """
    scale = torch.tensor(n_in, dtype=torch.float32) / n_out
    pos = (scale.double() * (torch.arange(n_out, dtype=torch.float64) + 0.5) - 0.5).float().clamp_min(0.0)
    i0 = pos.floor().long().clamp_max(n_in - 1)
    w1 = (pos - i0).clamp(0.0, 1.0)
    i1 = torch.where(i0 < n_in - 1, i0 + 1, i0)
    return LinearTaps(i0.to(device), i1.to(device), (1.0 - w1).to(device), w1.to(device))


def upsample_rows(x: torch.Tensor, rows: LinearTaps, width: int) -> torch.Tensor:
    """(C,h,w) → (C, len(rows), width): those output rows of the bilinear upsampling to ``width`` columns,
    from the source rows they read only. Columns by ``F.interpolate`` itself (the column mapping does not
    depend on the band), then the rows by their taps."""
    lo, hi = int(rows.i0[0]), int(rows.i1[-1]) + 1  # taps are monotone in the output position
    slab = F.interpolate(x[None, :, lo:hi], size=(hi - lo, width), mode="bilinear", align_corners=False)[0]
    out = slab.index_select(1, rows.i0 - lo).mul_(rows.w0[:, None])
    return out.addcmul_(slab.index_select(1, rows.i1 - lo), rows.w1[:, None])


def label_map(scores: torch.Tensor, out_size: tuple, softmax: bool, cancel: threading.Event | None = None,
              band_bytes: int = BAND_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """(C,h,w) scores → (H,W) uint8 argmax and float32 max at ``out_size`` after bilinear upsampling
    (and a softmax over classes first when the scores are logits), band by band; host arrays."""
    c, h = scores.shape[:2]
    height, width = (int(s) for s in out_size)
    labels = np.empty((height, width), np.uint8)
    conf = np.empty((height, width), np.float32)
    rows = linear_taps(h, height, scores.device)
    step = max(1, band_bytes // (4 * c * width))
    for start in range(0, height, step):
        if cancel is not None and cancel.is_set():
            raise CancelledError("cancelled")
        stop = min(height, start + step)
        band = upsample_rows(scores, rows.part(start, stop), width)
        if softmax:
            band = band.softmax(0)
        best, index = band.max(0)
        conf[start:stop] = best.cpu().numpy()
        labels[start:stop] = index.to(torch.uint8).cpu().numpy()
    return labels, conf


def predict_full_resolution(logits: torch.Tensor, out_size: tuple, guide: np.ndarray | None = None,
                            refine: RefineConfig = RefineConfig(), device="cpu",
                            cancel: threading.Event | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(C,h,w) grid logits → (H,W) uint8 labels and float32 confidence at ``out_size``.

    With a guide: edge-refined probabilities at the guide's size (``refine_at_guide``), then bilinear to
    the photo; without one: bilinear logits, then softmax. The same results as
    ``refine_probabilities(...).max(0)`` and as the plain bilinear path, without the (C,H,W) tensor.
    Everything runs on ``device``; only the band results come to the host.
    """
    device = torch.device(device)
    with torch.inference_mode():
        if guide is not None:
            return label_map(refine_at_guide(logits, guide, refine, device), out_size, False, cancel)
        return label_map(logits.to(device).float(), out_size, True, cancel)
