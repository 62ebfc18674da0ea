"""Pseudo-label selection for self-training."""
from __future__ import annotations

import math

import pytest
import torch

from core.zs3.self_training import PseudoLabelSelector, select_pseudo_labels


def _probs(b=3, c=4, h=9, w=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(b, c, h, w, generator=g), dim=1)


def test_top_percent_per_unseen_class_over_whole_batch():
    probs = _probs()
    conf, pred = probs.max(1)
    out = select_pseudo_labels(probs, [2, 3], 25)
    assert out.dtype == torch.uint8 and out.shape == (3, 9, 11)
    assert set(out.unique().tolist()) <= {2, 3, 255}
    for u in (2, 3):
        mine = pred == u
        chosen = out == u
        assert chosen.sum().item() == math.ceil(0.25 * mine.sum().item())
        assert bool((pred[chosen] == u).all())
        # every chosen pixel is at least as confident as every dropped pixel of the class
        assert conf[chosen].min() >= conf[mine & ~chosen].max()
    # seen classes are never pseudo-labelled
    assert not ((out == 0) | (out == 1)).any()


def test_ranking_is_across_images_not_per_image():
    probs = torch.zeros(2, 2, 1, 4)
    probs[:, 0] = 0.1
    probs[0, 1] = torch.tensor([0.95, 0.94, 0.93, 0.92])  # confident image
    probs[1, 1] = torch.tensor([0.6, 0.6, 0.6, 0.6])       # doubtful image
    out = select_pseudo_labels(probs, [1], 50)
    assert (out[0] == 1).all() and (out[1] == 255).all()


def test_edge_percentages_and_numpy_input():
    probs = _probs(seed=1)
    assert (select_pseudo_labels(probs, [1], 0) == 255).all()
    full = select_pseudo_labels(probs.numpy(), [1], 100)
    assert torch.equal(full == 1, probs.argmax(1) == 1)
    assert (select_pseudo_labels(probs, [], 50) == 255).all()
    with pytest.raises(ValueError):
        select_pseudo_labels(probs, [1], 150)


def test_streaming_selector_matches_batch_selection():
    probs = _probs(b=4, h=20, w=20, seed=2)
    sel = PseudoLabelSelector([1, 3], 30, bins=100000)
    for i in range(4):
        sel.observe(probs[i])
    streamed = torch.cat([sel.labels(probs[i]) for i in range(4)])
    batch = select_pseudo_labels(probs, [1, 3], 30)
    for u in (1, 3):
        n_batch = (batch == u).sum().item()
        n_stream = (streamed == u).sum().item()
        assert abs(n_stream - n_batch) <= 2
        agree = ((streamed == u) & (batch == u)).sum().item()
        assert agree >= n_batch - 2
    assert sel.thresholds()[1] > 0


def test_streaming_selector_absent_class_selects_nothing():
    probs = torch.zeros(1, 3, 4, 4)
    probs[:, 0] = 1.0
    sel = PseudoLabelSelector([2], 50)
    sel.observe(probs)
    assert sel.thresholds()[2] == math.inf
    assert (sel.labels(probs) == 255).all()
