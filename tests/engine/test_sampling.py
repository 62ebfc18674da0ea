"""The one capped random subsample: bounds per class, whole small classes, streaming = one shot."""
from __future__ import annotations

import torch

from core.zs3.sampling import CappedSample, capped_subsample, smallest_keys_per_class


def test_capped_subsample_bounds_each_class_and_keeps_small_ones_whole():
    labels = torch.tensor([0] * 50 + [1] * 3 + [2] * 20)
    idx = capped_subsample(labels, 10, torch.Generator().manual_seed(0))
    counts = torch.bincount(labels[idx], minlength=3)
    assert counts.tolist() == [10, 3, 10]
    assert len(set(idx.tolist())) == idx.numel()  # without replacement
    assert torch.equal(labels[idx], labels[idx].sort().values)  # grouped by class
    other = capped_subsample(labels, 10, torch.Generator().manual_seed(1))
    assert not torch.equal(idx, other)  # a seeded random draw, not the first rows
    assert capped_subsample(labels, None).numel() == labels.numel()


def test_streaming_sample_equals_drawing_the_keys_up_front():
    g = torch.Generator().manual_seed(3)
    labels = torch.randint(0, 4, (900,), generator=g)
    feats = torch.arange(900, dtype=torch.float32)[:, None].repeat(1, 2)
    stream = CappedSample(25, seed=7)
    for start in range(0, 900, 64):
        stream.add(feats[start:start + 64], labels[start:start + 64])
    got, got_labels = stream.result(2)
    kg = torch.Generator().manual_seed(7)
    all_keys = torch.cat([torch.rand(min(64, 900 - s), generator=kg) for s in range(0, 900, 64)])
    want = smallest_keys_per_class(labels, all_keys, 25)
    assert torch.equal(got[:, 0].long(), want) and torch.equal(got_labels, labels[want])
    assert torch.bincount(got_labels).max() == 25
    assert CappedSample(5).result(3)[0].shape == (0, 3)
