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

    def upsample(self, logits, size):
        return F.interpolate(logits, size=tuple(size), mode="nearest")

    def forward(self, x):
        return self.upsample(self.classify(self.features(x)), x.shape[-2:])


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
                            ClassifierTrainConfig(max_iter=5, max_per_class=10_000))
    chosen = stats["pseudo_pixels"][UNSEEN[0]]
    assert predicted > 0
    assert abs(chosen - predicted / 2) <= 0.1 * predicted  # top 50% (confidence histogram resolution)


def test_generate_features_with_dropout_matches_the_trained_spread():
    """Sampling with dropout on reproduces the spread the MMD fitted; eval-mode samples are narrower."""
    from core.zs3.generation import generate_features

    feats, labels, _ = _clusters(SEEN, per_class=80)
    emb = torch.eye(NUM_CLASSES, 8)
    gmmn = P.train_generator(feats, labels, emb, SEEN, GMMNTrainConfig(steps=30, per_class=32, lr=1e-3))
    assert not hasattr(P, "sample_generator")  # one sampling path
    draws = {}
    for mode in (True, False):
        a, la = generate_features(gmmn, emb, [1, 2], 200, seed=4, with_dropout=mode)
        b, _ = generate_features(gmmn, emb, [1, 2], 200, seed=4, with_dropout=mode)
        assert torch.equal(a, b) and la.tolist() == [1] * 200 + [2] * 200  # seeded, grouped by class
        draws[mode] = a
    assert not gmmn.training

    def spread(x):
        return float((x[:200] - x[:200].mean(0)).norm(dim=1).mean())

    assert spread(draws[True]) > spread(draws[False])


def test_retrain_classifier_uses_generate_features_in_both_modes():
    """retrain_classifier's generated rows are exactly generate_features' (same seed, same mode)."""
    from core.zs3.generation import generate_features

    feats, labels, _ = _clusters(SEEN, per_class=40)
    emb = torch.eye(NUM_CLASSES, 8)
    gmmn = P.train_generator(feats, labels, emb, SEEN, GMMNTrainConfig(steps=5, per_class=16))
    cfg = ClassifierTrainConfig(max_iter=15, max_per_class=None)
    for mode in (True, False):
        model = TinySegNet(NUM_CLASSES, width=8)
        P.retrain_classifier(model, feats, labels, gmmn, emb, UNSEEN, cfg, seed=7, sample_with_dropout=mode)
        gen, gen_labels = generate_features(gmmn, emb, UNSEEN, 40, seed=7, with_dropout=mode)
        from core.zs3.classifier import train_classifier

        direct = train_classifier(torch.cat([feats, gen]), torch.cat([labels, gen_labels]), NUM_CLASSES, cfg,
                                  upweight=UNSEEN)  # retraining weighs unseen classes (ADR 0006)
        assert torch.allclose(P.classifier_as_linear(model).weight, direct.weight, atol=1e-5)


# ----------------------------------------------------------------------------- graph context (ZS3Net-GC)
def _gc_net(emb_dim=8, feat_dim=16):
    from core.models.graph_context import GraphContextGMMN

    torch.manual_seed(0)
    return GraphContextGMMN(emb_dim, feat_dim=feat_dim, noise_dim=4, hidden_dim=32).eval()


def test_unseen_features_depend_on_their_context_graph():
    """Same unseen class, same seed: other neighbours → other features; same neighbours → same features."""
    from core.zs3.generation import generate_graph_features

    net = _gc_net()
    emb = torch.eye(NUM_CLASSES, 8)
    u = UNSEEN[0]
    pair = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    next_to_1, _ = generate_graph_features(net, emb, [1, u], pair, 100, seed=3)
    next_to_2, _ = generate_graph_features(net, emb, [2, u], pair, 100, seed=3)
    again, _ = generate_graph_features(net, emb, [1, u], pair, 100, seed=3)
    alone, _ = generate_graph_features(net, emb, [1, u], torch.zeros(2, 2), 100, seed=3)
    mean = lambda f: f[100:].mean(0)  # noqa: E731 - rows of the unseen node
    assert torch.equal(next_to_1, again)
    assert (mean(next_to_1) - mean(next_to_2)).norm() > 1e-3
    assert (mean(next_to_1) - mean(alone)).norm() > 1e-3


def test_generate_in_graphs_equals_one_graph_at_a_time():
    """The block-diagonal batch gives each graph exactly what it gets on its own."""
    from core.zs3.generation import generate_in_graphs

    net = _gc_net()
    emb = torch.randn(NUM_CLASSES, 8)
    graphs = [([0, 1, 3], torch.tensor([[0, 1, 1], [1, 0, 0], [1, 0, 0.0]])), ([2, 3], torch.ones(2, 2) - torch.eye(2))]
    out = generate_in_graphs(net, emb, graphs, [2, 1], 5, seed=1, with_dropout=False)
    assert out.shape == (2, 5, 16)
    g = torch.Generator().manual_seed(1)
    noise = torch.rand(5, 5, 4, generator=g)  # (S, all nodes, noise_dim), as the batch draws it
    with torch.no_grad():
        first = net(emb[[0, 1, 3]], graphs[0][1], noise[:, :3])[:, 2]
        second = net(emb[[2, 3]], graphs[1][1], noise[:, 3:])[:, 1]
    assert torch.allclose(out[0], first, atol=1e-5) and torch.allclose(out[1], second, atol=1e-5)


def test_insert_unseen_replaces_or_adds_a_node():
    ctx = ([0, 1, 2], torch.tensor([[0, 1, 1], [1, 0, 0], [1, 0, 0.0]]))
    g = torch.Generator().manual_seed(0)
    kinds = set()
    for _ in range(40):
        ids, adj, pos = P.insert_unseen(ctx, 3, g)
        assert ids[pos] == 3 and ids.count(3) == 1 and torch.equal(adj, adj.t()) and adj.diagonal().sum() == 0
        if len(ids) == 3:  # replaced an object node (never background), keeping its neighbours
            kinds.add("replace")
            assert pos != 0 and torch.equal(adj, ctx[1])
        else:  # added, touching 1 or 2 present classes
            kinds.add("add")
            assert pos == 3 and 1 <= int(adj[3].sum()) <= 2 and torch.equal(adj[:3, :3], ctx[1])
    assert kinds == {"replace", "add"}
    ids, adj, pos = P.insert_unseen(([0], torch.zeros(1, 1)), 3, g)  # background alone: always add
    assert ids == [0, 3] and adj[0, 1] == 1


def test_generate_in_context_refuses_unseen_contexts_and_varies_with_context():
    net = _gc_net()
    emb = torch.randn(NUM_CLASSES, 8, generator=torch.Generator().manual_seed(2))
    with pytest.raises(ValueError):
        P.generate_in_context(net, emb, UNSEEN, [([0, UNSEEN[0]], torch.ones(2, 2) - torch.eye(2))], 10)
    ctx_a = [([0, 1], torch.ones(2, 2) - torch.eye(2))]
    ctx_b = [([0, 2, 4], torch.ones(3, 3) - torch.eye(3))]
    fa, la = P.generate_in_context(net, emb, UNSEEN, ctx_a, 30, seed=1, n_contexts=4)
    fb, _ = P.generate_in_context(net, emb, UNSEEN, ctx_b, 30, seed=1, n_contexts=4)
    fa2, _ = P.generate_in_context(net, emb, UNSEEN, ctx_a, 30, seed=1, n_contexts=4)
    assert fa.shape == (30, 16) and la.tolist() == [UNSEEN[0]] * 30
    assert torch.equal(fa, fa2) and (fa.mean(0) - fb.mean(0)).norm() > 1e-3


def test_contexts_round_trip_through_plain_lists():
    ctx = [([0, 1, 2], torch.tensor([[0, 1, 1], [1, 0, 0], [1, 0, 0.0]])), ([0], torch.zeros(1, 1))]
    items = P.contexts_to_list(ctx)
    assert items == [[[0, 1, 2], [[0, 1], [0, 2]]], [[0], []]]
    back = P.contexts_from_list(items)
    assert [b[0] for b in back] == [c[0] for c in ctx] and all(torch.equal(b[1], c[1]) for b, c in zip(back, ctx))


def test_train_graph_generator_and_gc_retrain_on_echo_features():
    """Scenes from seen-only images: graphs hold only seen ids; the GC classifier learns the unseen class."""
    from core.models.graph_context import GraphContextGMMN
    from core.zs3.generation import GMMNTrainConfig as Cfg

    data = BlockScenes(6, seed=4, classes=SEEN)
    model = EchoModel()
    emb = torch.eye(NUM_CLASSES, 8)
    res = P.train_graph_generator(model, data, SEEN, emb, Cfg(steps=5, per_class=8, noise_dim=4, hidden_dim=16),
                                  P.GraphSceneConfig(max_scenes=4, max_per_class_per_scene=5, max_per_class=40))
    assert isinstance(res.gmmn, GraphContextGMMN) and not res.gmmn.training
    assert 1 <= len(res.contexts) <= 4
    assert all(set(ids) <= set(SEEN) for ids, _ in res.contexts)
    assert set(res.labels.tolist()) == set(SEEN) and torch.equal(res.features.argmax(1), res.labels)
    target = TinySegNet(NUM_CLASSES, width=8)
    with pytest.raises(ValueError):  # a GC generator without contexts
        P.retrain_classifier(target, res.features, res.labels, res.gmmn, emb, UNSEEN, ClassifierTrainConfig(max_iter=5))
    P.retrain_classifier(target, res.features, res.labels, res.gmmn, emb, UNSEEN, ClassifierTrainConfig(max_iter=20),
                         contexts=res.contexts)
    gen, gen_labels = P.generate_in_context(res.gmmn, emb, UNSEEN, res.contexts, 40, seed=0)
    with torch.no_grad():
        assert (P.classifier_as_linear(target)(gen).argmax(1) == gen_labels).float().mean() > 0.9


def test_prepare_graph_scene_caps_rows_but_keeps_the_graph():
    from core.models.graph_context import class_adjacency
    from core.zs3.generation import prepare_graph_scene

    lm = torch.zeros(8, 8, dtype=torch.long)
    lm[:, 4:] = 2
    lm[0, 0] = 255
    feats = torch.randn(3, 8, 8)
    full = prepare_graph_scene(feats, lm, NUM_CLASSES)
    capped = prepare_graph_scene(feats, lm, NUM_CLASSES, max_per_class=5, generator=torch.Generator().manual_seed(0))
    assert full.present.tolist() == capped.present.tolist() == [0, 2]
    assert full.counts.tolist() == [31, 32] and capped.counts.tolist() == [5, 5] and capped.features.shape == (10, 3)
    assert torch.equal(capped.adjacency, class_adjacency(lm, NUM_CLASSES)[[0, 2]][:, [0, 2]])
    rows = feats.reshape(3, -1).t()
    for f in capped.features[:5]:  # every kept row of class 0 is a real class-0 pixel
        hit = (rows == f).all(1).nonzero()[:, 0]
        assert hit.numel() == 1 and lm.reshape(-1)[hit].item() == 0
    assert prepare_graph_scene(feats, torch.full((8, 8), 255), NUM_CLASSES) is None


def test_generate_features_accepts_a_graph_generator_without_context():
    """A GC checkpoint's generator in a context-free caller (the session): each class as a lone node."""
    from core.zs3.generation import generate_features

    net = _gc_net()
    emb = torch.randn(NUM_CLASSES, 8)
    f, l = generate_features(net, emb, [3, 1], 6, seed=2, with_dropout=False)
    assert f.shape == (12, 16) and l.tolist() == [3] * 6 + [1] * 6
    noise = torch.rand(6, 2, 4, generator=torch.Generator().manual_seed(2))  # (S, nodes, noise_dim)
    with torch.no_grad():
        alone = net(emb[[3]], torch.zeros(1, 1), noise[:, :1])[:, 0]  # class 3 as a one-node graph
    assert torch.allclose(f[:6], alone, atol=1e-5)
    assert not net.training
