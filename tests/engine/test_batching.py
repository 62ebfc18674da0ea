"""Mixed image sizes run in full same-size batches, with the results of one image at a time."""
from __future__ import annotations

import numpy as np
import torch

from core.data import Sample
from core.data.synthetic import SyntheticScenes
from core.zs3 import pipeline as P
from core.zs3.common import size_batches
from core.zs3.steps_synthetic import TinySegNet

SIZES = ((32, 32), (24, 32), (32, 24))


class MixedSizes:
    """Synthetic scenes cropped to sizes that alternate image after image (as VOC's portraits and landscapes)."""

    def __init__(self, n: int):
        self.scenes = SyntheticScenes(n, size=32, seed=4)
        self.class_names = self.scenes.class_names

    def __len__(self):
        return len(self.scenes)

    def load_sample(self, i: int) -> Sample:
        s = self.scenes.load_sample(i)
        h, w = SIZES[i % len(SIZES)]
        return Sample(image=s.image[:h, :w].copy(), label=s.label[:h, :w].copy(), name=s.name)

    def load_image(self, i: int) -> np.ndarray:
        return self.load_sample(i).image

    def __getitem__(self, i: int) -> Sample:
        return self.load_sample(i)


class Recording(TinySegNet):
    """Notes the batch size of every feature pass."""

    def features(self, x):
        self.batches.append(x.shape[0])
        return super().features(x)


def _model() -> Recording:
    torch.manual_seed(0)
    model = Recording(13, width=16).eval()
    model.batches = []
    return model


def test_size_batches_groups_sizes_and_bounds_what_waits():
    items = [(np.zeros(SIZES[i % 3]), i) for i in range(30)]
    batches = list(size_batches(items, 4))
    assert sorted(i for b in batches for _, i in b) == list(range(30))  # every item once
    assert all(len({x.shape for x, _ in b}) == 1 for b in batches)
    assert max(len(b) for b in batches) == 4 and sum(len(b) == 4 for b in batches) >= 6
    read = []

    def twenty_sizes():  # never a full batch: items must still leave before too many wait
        for k in range(20):
            read.append(k)
            yield np.zeros((1, k + 1)), k

    out = 0
    for b in size_batches(twenty_sizes(), 4, max_pending=5):
        out += len(b)
        assert len(read) - out <= 5
    assert out == 20


def test_feature_collection_batched_equals_one_at_a_time():
    data = MixedSizes(12)
    seen = [c for c in range(13) if c not in (4, 9)]
    one, many = _model(), _model()
    f1, l1 = P.collect_features(one, data, seen, P.FeatureConfig(max_per_class=40, batch_size=1))
    f4, l4 = P.collect_features(many, data, seen, P.FeatureConfig(max_per_class=40, batch_size=4))
    assert max(one.batches) == 1 and max(many.batches) == 4 and len(many.batches) == 3
    assert torch.equal(l1, l4)
    assert torch.allclose(f1, f4, atol=1e-5)


def test_evaluation_batched_equals_one_at_a_time():
    data = MixedSizes(9)
    seen = [c for c in range(13) if c not in (4, 9)]
    one, many = _model(), _model()
    s1 = P.evaluate(one, data, seen, [4, 9], batch_size=1)
    s3 = P.evaluate(many, data, seen, [4, 9], batch_size=3)
    assert max(many.batches) == 3 and len(many.batches) == 3
    np.testing.assert_array_equal(np.array(s1["iou"], dtype=float), np.array(s3["iou"], dtype=float))
