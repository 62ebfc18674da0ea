"""Pseudo-label selection for self-training."""
from __future__ import annotations

import math

import pytest
import torch

from core.zs3.self_training import PseudoLabelSelector, confidence_scores, select_over_set, select_pseudo_labels


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


def _confident_probs(margin: float, b=4, c=5, h=32, w=32, seed=3):
    """Softmax of logits whose arg-max class leads the others by ``margin`` ± 1: a confident classifier."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, h, w, generator=g) * 0.5
    top = torch.randint(c, (b, 1, h, w), generator=g)
    boost = margin + (torch.rand(b, 1, h, w, generator=g) * 2 - 1)
    logits.scatter_add_(1, top, boost)
    return torch.softmax(logits, dim=1)


@pytest.mark.parametrize("margin", [8.0, 12.0, 30.0])
def test_streaming_selector_keeps_p_percent_of_confident_pixels(margin):
    """With logit margins of 8 or 12 nearly every p_top is above 0.999: a histogram of p_top kept
    46 % / 89 % instead of 25 %. Ranked by log-odds, the kept fraction is p to within a bin."""
    probs = _confident_probs(margin)
    sel = PseudoLabelSelector([1, 3], 25)
    for i in range(probs.shape[0]):
        sel.observe(probs[i])
    out = torch.cat([sel.labels(probs[i]) for i in range(probs.shape[0])])
    pred = probs.argmax(1)
    for u in (1, 3):
        kept = (out == u).sum().item() / (pred == u).sum().item()
        assert 0.24 <= kept <= 0.26, (margin, u, kept)


def test_batch_selection_ranks_pixels_whose_probability_rounds_to_one():
    """Margins of 20–40 make p_top exactly 1.0 in float32; the chosen pixels are still the largest margins."""
    logits = torch.zeros(1, 3, 1, 40)
    margins = torch.linspace(20, 40, 40)[torch.randperm(40, generator=torch.Generator().manual_seed(0))]
    logits[0, 2, 0] = margins
    probs = torch.softmax(logits, dim=1)
    assert bool((probs[:, 2] == 1.0).any())  # the regime where p_top alone cannot rank
    out = select_pseudo_labels(probs, [2], 25)[0, 0]
    chosen = margins[out == 2]
    assert chosen.numel() == 10
    assert chosen.min() > margins[out != 2].max()
    pred, score = confidence_scores(probs)
    assert bool((pred == 2).all()) and torch.isfinite(score).all()


def test_set_selection_spans_images_of_different_sizes():
    """The session's form: per-image (class, score) grids of any size, ranked as one set."""
    sure = torch.zeros(2, 3, 3)
    sure[1] = 10.0
    doubt = torch.zeros(2, 5, 2)
    doubt[1] = 0.5
    ranked = [confidence_scores(torch.softmax(x, 0)) for x in (sure, doubt)]
    ranked = [(p[0], s[0]) for p, s in ranked]
    first, second = select_over_set(ranked, [1], 40)  # 40 % of 19 pixels = 8, all from the sure image
    assert first.shape == (3, 3) and second.shape == (5, 2)
    assert (first == 1).sum().item() == 8 and (second == 255).all()
