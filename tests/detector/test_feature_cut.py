"""A box's object cells found in feature space (``core.feature_cut``), on features with a known answer."""
from __future__ import annotations

import torch

from core.feature_cut import MAX_SHARE, feature_cut


def _features(grid=20, dim=8, seed=0):
    """(dim, grid, grid) features: one ground vector everywhere, another on the object block
    (rows / columns 8–11), both with a little noise; cells of 14 px, a 280 px photo."""
    gen = torch.Generator().manual_seed(seed)
    ground, thing = torch.randn(dim, generator=gen), torch.randn(dim, generator=gen)
    feats = ground[:, None, None] + 0.1 * torch.randn(dim, grid, grid, generator=gen)
    feats[:, 8:12, 8:12] = thing[:, None, None] + 0.1 * torch.randn(dim, 4, 4, generator=gen)
    return feats


def test_the_cells_unlike_the_ring_are_the_object():
    out = feature_cut(_features(), (84, 84, 196, 196), (280, 280))  # cells 6–13: object and ground
    expected = torch.zeros(20, 20, dtype=torch.bool)
    expected[8:12, 8:12] = True
    assert torch.equal(out, expected)


def test_a_box_over_much_of_the_photo_or_with_no_ring_gives_nothing():
    feats = _features()
    side = int(280 * (MAX_SHARE ** 0.5)) + 28  # a square box over more than MAX_SHARE of the photo
    assert not feature_cut(feats, (0, 0, side, side), (280, 280)).any()
    assert not feature_cut(feats, (0, 0, 280, 280), (280, 280)).any()
    assert feature_cut(feats, (70, 70, 210, 210), (280, 280)).sum() == 16  # a quarter: still cut
