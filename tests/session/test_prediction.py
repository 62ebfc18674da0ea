"""The steps from a fitted classifier to one image's scores (``core.session.prediction``)."""
from dataclasses import replace

import torch

from core.session.config import SessionConfig
from core.session.prediction import classifier_logits, clip_to_extent, grid_logits


def _classifier(weight, bias):
    clf = torch.nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        clf.weight.copy_(weight)
        clf.bias.copy_(bias)
    return clf


def test_classifier_logits_are_the_linear_layer_at_every_cell():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(5, 3, 4, generator=gen)
    clf = _classifier(torch.randn(3, 5, generator=gen), torch.randn(3, generator=gen))
    logits = classifier_logits(feats, clf)
    assert logits.shape == (3, 3, 4)
    expected = clf(feats.permute(1, 2, 0)).permute(2, 0, 1)
    assert torch.allclose(logits, expected.detach(), atol=1e-5)


def test_a_clipped_class_never_wins_outside_its_cells_and_keeps_its_scores_inside():
    logits = torch.zeros(3, 2, 2)
    logits[2] = 50.0  # class 2 is the strongest everywhere
    cells = torch.tensor([[True, False], [False, False]])
    out = clip_to_extent(logits, {2: cells})
    arg = out.argmax(0)
    assert arg[0, 0] == 2 and (arg[~cells] != 2).all()
    assert out[2, 0, 0] == 50.0 and torch.equal(out[:2], logits[:2])
    assert logits[2].eq(50.0).all()  # the caller's tensor is left alone
    assert clip_to_extent(logits, {}) is logits


def test_grid_logits_clip_applies_after_propagation():
    gen = torch.Generator().manual_seed(1)
    feats = torch.randn(8, 4, 4, generator=gen)
    clf = _classifier(torch.randn(2, 8, generator=gen), torch.tensor([0.0, 30.0]))  # class 1 wins
    config = replace(SessionConfig(), propagate_alpha=0.5)
    cells = torch.zeros(4, 4, dtype=torch.bool)
    cells[:2, :2] = True
    arg = grid_logits(feats, clf, config, extent={1: cells}).argmax(0)
    assert (arg[cells] == 1).all() and (arg[~cells] == 0).all()
    assert (grid_logits(feats, clf, config).argmax(0) == 1).all()
