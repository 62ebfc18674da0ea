"""Label propagation over an image's feature-affinity graph (``core.session.rows.propagate``) on a
grid with a known answer."""
from __future__ import annotations

import torch

from core.session.rows import propagate


def _two_objects(h=6, w=8, dim=16):
    """Left half one object, right half another: every cell's nearest cells are its own half's."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(dim, generator=gen), torch.randn(dim, generator=gen)
    feats = torch.empty(dim, h, w)
    feats[:, :, : w // 2] = a[:, None, None]
    feats[:, :, w // 2:] = b[:, None, None]
    return feats + 0.05 * torch.randn(dim, h, w, generator=gen)


def test_propagation_fixes_a_cell_its_object_outvotes():
    feats = _two_objects()
    logits = torch.zeros(2, 6, 8)
    logits[0, :, :4] = 2.0  # left object: class 0
    logits[1, :, 4:] = 2.0  # right object: class 1
    logits[:, 2, 1] = torch.tensor([0.0, 1.0])  # one wrong cell inside the left object
    assert logits[:, 2, 1].argmax() == 1
    out = propagate(feats, logits, alpha=0.5, k=8, temperature=0.05)
    assert out[:, 2, 1].argmax() == 0
    assert torch.equal(out.argmax(0)[:, 4:], torch.ones(6, 4, dtype=torch.long))
    same = propagate(feats, logits, alpha=0.0, k=8, temperature=0.05)
    assert torch.allclose(same.exp(), logits.softmax(0), atol=1e-6)  # α = 0: the classifier's own scores
