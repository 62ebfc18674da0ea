"""``bench/bench_grid_ceiling.py``: the perfect grid classifier's logits are each cell's class shares."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from core.constants import IGNORE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_grid_ceiling import grid_logits_of_truth  # noqa: E402


def test_cells_take_the_share_of_their_labelled_pixels():
    gt = np.zeros((8, 8), np.uint8)
    gt[:4, 4:] = 1                   # one whole cell of class 1 (cells of 4 × 4 px)
    gt[4:, :4] = 2
    gt[4:, :1] = 1                   # a quarter of the bottom-left cell is class 1 ...
    gt[4:6, 1:4] = IGNORE            # ... and 6 of its other 12 pixels are unlabelled
    logits = grid_logits_of_truth(gt, (2, 2), 3)
    shares = torch.exp(logits) - 1e-3
    assert logits.shape == (3, 2, 2)
    assert logits.argmax(0).tolist() == [[0, 1], [2, 0]]
    assert torch.allclose(shares[:, 1, 0], torch.tensor([0.0, 0.4, 0.6]), atol=1e-5)  # 4 of 10 labelled
    assert torch.allclose(shares.sum(0), torch.ones(2, 2), atol=1e-5)
