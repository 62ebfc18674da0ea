"""The paper's steps one by one, on small problems whose right answer is known."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.data import Sample
from core.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from core.zs3 import pipeline as P
from core.zs3.classifier import ClassifierTrainConfig
from core.zs3.generation import GMMNTrainConfig
from core.zs3.steps_synthetic import TinySegNet

NUM_CLASSES = 5
UNSEEN = [3]
SEEN = [0, 1, 2, 4]


class BlockScenes:
    """Images whose red channel encodes the class of each 8×8 block (so a model can echo the label)."""

    def __init__(self, n: int, size: int = 32, seed: int = 0, classes=tuple(range(NUM_CLASSES))):
        rng = np.random.default_rng(seed)
        self.class_names = ["background"] + [f"c{i}" for i in range(1, NUM_CLASSES)]
        self.names = [f"b{i}" for i in range(n)]
        self.labels = [np.kron(rng.choice(classes, size=(size // 8, size // 8)), np.ones((8, 8))).astype(np.uint8)
                       for _ in range(n)]
        self.conf = [np.kron(rng.uniform(0.8, 1.0, size=(size // 4, size // 4)), np.ones((4, 4))) for _ in range(n)]

    def __len__(self):
        return len(self.names)

    def load_label(self, i):
        return self.labels[i].copy()

    def load_image(self, i):
        image = np.zeros(self.labels[i].shape + (3,), np.uint8)
        image[..., 0] = self.labels[i] * 40
        image[..., 1] = (self.conf[i] * 255).astype(np.uint8)
        return image

    def load_sample(self, i):
        return Sample(self.load_image(i), self.load_label(i), self.names[i])

    def __getitem__(self, i):
        return self.load_sample(i)


class EchoModel(nn.Module):
    """features = one-hot of the class encoded in the red channel (stride 4), scaled by the green channel.

    Its confidence therefore varies from cell to cell, which self-training ranks by."""

    def __init__(self):
        super().__init__()
        self.classifier = nn.Conv2d(256, NUM_CLASSES, 1)
        with torch.no_grad():
            self.classifier.weight.zero_()
            self.classifier.bias.zero_()
            for c in range(NUM_CLASSES):
                self.classifier.weight[c, c] = 1.0

    def _denorm(self, x, ch):
        return x[:, ch] * IMAGENET_STD[ch] + IMAGENET_MEAN[ch]

    def features(self, x):
        red = F.avg_pool2d(self._denorm(x, 0)[:, None], 4)[:, 0]
        green = F.avg_pool2d(self._denorm(x, 1)[:, None], 4)
        cls = torch.round(red * 255 / 40).long().clamp(0, NUM_CLASSES - 1)
        onehot = F.one_hot(cls, 256).permute(0, 3, 1, 2).float()
        return onehot * (0.5 + green)

    def classify(self, f):
        return self.classifier(f)

    def forward(self, x):
        return F.interpolate(self.classify(self.features(x)), size=x.shape[-2:], mode="nearest")


def test_classifier_copy_round_trip():
    model = TinySegNet(NUM_CLASSES, width=8)
    linear = nn.Linear(256, NUM_CLASSES)
    P.set_classifier(model, linear)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        f = model.features(x)
        expected = linear(f.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        assert torch.allclose(model.classify(f), expected, atol=1e-5)
        back = P.classifier_as_linear(model)
        assert torch.equal(back.weight, linear.weight) and torch.equal(back.bias, linear.bias)
    assert P.classifier_conv(model) is model.classifier


def test_seen_lut_sends_everything_else_to_ignore():
    lut = P.seen_lut(SEEN)
    assert [int(lut[v]) for v in (0, 1, 2, 3, 4, 5, 255)] == [0, 1, 2, 255, 4, 255, 255]


def test_evaluate_oracle_is_perfect():
    data = BlockScenes(6)
    scores = P.evaluate(EchoModel(), data, SEEN, UNSEEN, batch_size=4)
    assert scores["seen"]["miou"] == pytest.approx(1.0) and scores["unseen"]["miou"] == pytest.approx(1.0)
    assert scores["hiou"] == pytest.approx(1.0)


def test_collect_features_aligns_labels_and_bounds_classes():
    data = BlockScenes(6, seed=1)
    feats, labels = P.collect_features(EchoModel(), data, SEEN, P.FeatureConfig(max_per_class=30, batch_size=4))
    assert not (labels == UNSEEN[0]).any()  # unseen pixels mapped to 255 before use
    assert set(labels.tolist()) == set(SEEN)
    counts = torch.bincount(labels, minlength=NUM_CLASSES)
    assert int(counts.max()) <= 30 and int(counts[SEEN].min()) == 30
    # the echo features say which class each pixel is: the downsampled label must agree everywhere
    assert torch.equal(feats.argmax(1), labels)


def test_train_segmentation_never_trains_unseen_logits():
    data = BlockScenes(8, classes=SEEN)
    model = TinySegNet(NUM_CLASSES, width=8)
    before = model.classifier.weight.detach().clone(), model.classifier.bias.detach().clone()
    head_before = model.head[0].weight.detach().clone()
    config = P.SegTrainConfig(iterations=3, batch_size=4, lr=0.05, crop_size=32, base_size=32, scale=(1.0, 1.0))
    P.train_segmentation(model, data, config, unseen_ids=UNSEEN)
    w, b = model.classifier.weight.detach(), model.classifier.bias.detach()
    assert torch.equal(w[UNSEEN], before[0][UNSEEN]) and torch.equal(b[UNSEEN], before[1][UNSEEN])
    assert not torch.equal(w[SEEN], before[0][SEEN])
    assert not torch.equal(model.head[0].weight, head_before)
    assert not model.training


def _clusters(classes, per_class=60, dim=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(NUM_CLASSES, dim, generator=g) * 4
    labels = torch.tensor(classes).repeat_interleave(per_class)
    return (means[labels] + 0.3 * torch.randn(len(labels), dim, generator=g)).clamp_min(0), labels, means


def test_retrain_classifier_with_and_without_generation():
    feats, labels, means = _clusters(SEEN)
    emb = torch.eye(NUM_CLASSES, 8)
    gmmn = P.train_generator(feats, labels, emb, SEEN, GMMNTrainConfig(steps=5, per_class=16))
    model = TinySegNet(NUM_CLASSES, width=8)
    with pytest.raises(ValueError):
        bad = torch.cat([labels, torch.tensor([UNSEEN[0]])])
        P.retrain_classifier(model, torch.cat([feats, feats[:1]]), bad, gmmn, emb, UNSEEN)

    P.retrain_classifier(model, feats, labels, gmmn, emb, UNSEEN, ClassifierTrainConfig(max_iter=20))
    linear = P.classifier_as_linear(model)
    from core.zs3.generation import generate_features

    gen, gen_labels = generate_features(gmmn, emb, UNSEEN, 50, seed=3)
    with torch.no_grad():
        assert (linear(gen).argmax(1) == gen_labels).float().mean() > 0.9  # unseen class is predictable
        assert (linear(feats).argmax(1) == labels).float().mean() > 0.9

    baseline = TinySegNet(NUM_CLASSES, width=8)
    P.retrain_classifier(baseline, feats, labels, None, emb, UNSEEN, ClassifierTrainConfig(max_iter=20))
    with torch.no_grad():
        pred = P.classifier_as_linear(baseline)(torch.cat([feats, gen])).argmax(1)
    assert not (pred == UNSEEN[0]).any()  # the no-generation baseline never predicts an unseen class


def test_self_train_pseudo_labels_the_confident_share():
    data = BlockScenes(6, seed=2)
    model = EchoModel()
    predicted = sum(int((lab[::4, ::4] == UNSEEN[0]).sum()) for lab in data.labels)  # feature-grid pixels
    feats, labels, _ = _clusters(SEEN)
    emb = torch.eye(NUM_CLASSES, 8)
    gmmn = P.train_generator(feats, labels, emb, SEEN, GMMNTrainConfig(steps=3, per_class=8))
    _, stats = P.self_train(model, data, UNSEEN, 50.0, feats, labels, gmmn, emb,
                            P.SelfTrainConfig(percent=50.0, max_per_class=10_000),
                            ClassifierTrainConfig(max_iter=5))
    chosen = stats["pseudo_pixels"][UNSEEN[0]]
    assert predicted > 0
    assert abs(chosen - predicted / 2) <= 0.1 * predicted  # top 50% (confidence histogram resolution)


def test_generator_samples_with_dropout_match_the_trained_spread():
    """Sampling with dropout on reproduces the spread the MMD fitted; eval-mode samples are narrower."""
    from core.zs3.generation import generate_features

    feats, labels, _ = _clusters(SEEN, per_class=80)
    emb = torch.eye(NUM_CLASSES, 8)
    gmmn = P.train_generator(feats, labels, emb, SEEN, GMMNTrainConfig(steps=30, per_class=32, lr=1e-3))
    a, la = P.sample_generator(gmmn, emb, [1, 2], 200, seed=4)
    b, _ = P.sample_generator(gmmn, emb, [1, 2], 200, seed=4)
    assert torch.equal(a, b) and la.tolist() == [1] * 200 + [2] * 200  # seeded, grouped by class
    assert not gmmn.training
    plain, _ = generate_features(gmmn, emb, [1, 2], 200, seed=4)

    def spread(x):
        return float((x[:200] - x[:200].mean(0)).norm(dim=1).mean())

    assert spread(a) > spread(plain)
