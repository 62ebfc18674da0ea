"""GMMN, batched MMD, GMMN training and sampling on small seeded problems."""
from __future__ import annotations

import threading

import pytest
import torch

from core.errors import CancelledError, UserError
from core.models.gmmn import GMMN, mmd_loss
from core.zs3.generation import GMMNTrainConfig, generate_features, train_gmmn


def test_gmmn_shapes_and_gradient():
    net = GMMN(embed_dim=12, feat_dim=16, noise_dim=8, hidden_dim=32)
    emb = torch.randn(5, 12)
    out = net(emb)
    assert out.shape == (5, 16)
    assert (out >= 0).all()  # output ReLU: decoder features are post-ReLU
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert net.net[0].weight.grad.abs().sum() > 0


def test_gmmn_without_output_relu_can_go_negative():
    net = GMMN(embed_dim=4, feat_dim=64, noise_dim=4, hidden_dim=16, output_relu=False).eval()
    assert (net(torch.randn(50, 4)) < 0).any()


def test_gmmn_noise_changes_output_and_explicit_noise_is_deterministic():
    net = GMMN(embed_dim=6, feat_dim=10, noise_dim=5, hidden_dim=16).eval()
    emb = torch.randn(3, 6)
    noise = torch.rand(3, 5)
    assert torch.equal(net(emb, noise), net(emb, noise))
    assert not torch.allclose(net(emb, noise), net(emb, torch.rand(3, 5)))


def test_mmd_zero_for_identical_and_grows_with_shift():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 64, 8, generator=g) * 2
    assert mmd_loss(x, x.clone()).abs().item() < 1e-3
    y = torch.randn(3, 64, 8, generator=g) * 2  # same distribution, other samples
    near = mmd_loss(x, y).item()
    mid = mmd_loss(x, y + 3.0).item()
    far = mmd_loss(x, y + 10.0).item()
    assert near < mid < far


def test_mmd_is_mean_of_per_class_values():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(4, 20, 5, generator=g)
    fake = torch.randn(4, 30, 5, generator=g) + torch.arange(4.0).view(4, 1, 1)
    batched = mmd_loss(real, fake)
    single = torch.stack([mmd_loss(real[i : i + 1], fake[i : i + 1]) for i in range(4)]).mean()
    assert torch.allclose(batched, single, atol=1e-5)


def test_mmd_has_gradient_wrt_fake():
    real = torch.randn(2, 16, 4)
    fake = (torch.randn(2, 16, 4) + 2).requires_grad_()
    mmd_loss(real, fake).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def _problem(clusters):
    feats, labels, means = clusters(3, 200, 8, spread=0.4, seed=3, scale=6.0)
    emb = torch.eye(3, 6) + 0.1 * torch.randn(3, 6, generator=torch.Generator().manual_seed(4))
    return feats, labels, means, emb


def _loss_of(gmmn, feats, labels, emb, sigmas):
    real = torch.stack([feats[labels == c][:128] for c in range(3)])
    fake, _ = generate_features(gmmn, emb, [0, 1, 2], 128, seed=9)
    return mmd_loss(real, fake.view(3, 128, -1), sigmas).item()


def test_training_lowers_loss_and_moves_samples_to_class_means(clusters):
    feats, labels, means, emb = _problem(clusters)
    cfg = GMMNTrainConfig(steps=300, lr=3e-3, per_class=64, sigmas=(1, 2, 5, 10), noise_dim=4,
                          hidden_dim=64, dropout=0.0, seed=0)
    untrained = GMMN(6, feat_dim=8, noise_dim=4, hidden_dim=64, dropout=0.0)
    torch.manual_seed(0)
    untrained_copy = GMMN(6, feat_dim=8, noise_dim=4, hidden_dim=64, dropout=0.0)
    untrained_copy.load_state_dict(untrained.state_dict())
    before = _loss_of(untrained_copy, feats, labels, emb, cfg.sigmas)
    messages = []
    trained = train_gmmn(feats, labels, emb, cfg, gmmn=untrained, progress=lambda f, m: messages.append((f, m)))
    after = _loss_of(trained, feats, labels, emb, cfg.sigmas)
    assert after < 0.5 * before
    assert messages and messages[-1][0] == pytest.approx(1.0)
    fake, lab = generate_features(trained, emb, [0, 1, 2], 200, seed=1)
    gen_means = torch.stack([fake[lab == c].mean(0) for c in range(3)])
    dist = torch.cdist(gen_means, means)  # each generated class mean is nearest its own real mean
    assert torch.equal(dist.argmin(1), torch.arange(3))
    start_dist = torch.cdist(torch.stack([f.mean(0) for f in
                                          generate_features(untrained_copy, emb, [0, 1, 2], 200, seed=1)[0].view(3, 200, -1)]), means)
    assert dist.diagonal().mean() < 0.5 * start_dist.diagonal().mean()


def test_training_is_seeded_and_ignores_255(clusters):
    feats, labels, _, emb = _problem(clusters)
    cfg = GMMNTrainConfig(steps=20, lr=1e-3, per_class=16, noise_dim=4, hidden_dim=16, seed=5)
    a = train_gmmn(feats, labels, emb, cfg)
    b = train_gmmn(feats, labels, emb, cfg)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    # Rows labelled 255 carry garbage that would blow up the loss if used.
    junk = torch.full((50, 8), 1e4)
    c = train_gmmn(torch.cat([feats, junk]), torch.cat([labels, torch.full((50,), 255)]), emb, cfg)
    for pa, pc in zip(a.parameters(), c.parameters()):
        assert torch.isfinite(pc).all()
    fa, _ = generate_features(a, emb, [1], 10, seed=0)
    fc, _ = generate_features(c, emb, [1], 10, seed=0)
    assert torch.allclose(fa, fc, atol=1e-5)


def test_rare_class_sampled_with_replacement_and_class_subsets(clusters):
    feats, labels, _, emb = _problem(clusters)
    keep = (labels != 2) | (torch.arange(labels.shape[0]) % 200 < 3)  # class 2 has 3 rows only
    cfg = GMMNTrainConfig(steps=10, per_class=32, noise_dim=4, hidden_dim=16, classes_per_step=2)
    net = train_gmmn(feats[keep], labels[keep], emb, cfg)
    assert not net.training
    # the draw itself: 32 rows from a class of 3 repeat them all, and never leave the class's block
    from core.zs3.generation import draw_rows

    counts, starts = torch.tensor([50, 3, 40]), torch.tensor([0, 50, 53])
    rows = draw_rows(counts, starts, torch.tensor([1, 2]), 32, torch.Generator().manual_seed(0))
    assert rows.shape == (2, 32)
    assert set(rows[0].tolist()) == {50, 51, 52}
    assert bool(((rows[1] >= 53) & (rows[1] < 93)).all()) and len(set(rows[1].tolist())) > 3


@pytest.mark.parametrize("with_dropout", [True, False])
@pytest.mark.parametrize("start_training", [True, False])
def test_generate_features_layout_seed_and_flags(with_dropout, start_training):
    net = GMMN(4, feat_dim=6, noise_dim=3, hidden_dim=8, dropout=0.5).train(start_training)
    emb = torch.randn(5, 4)
    torch.manual_seed(11)
    expected_next = torch.rand(3)
    torch.manual_seed(11)
    f, l = generate_features(net, emb, [3, 1], 7, seed=2, with_dropout=with_dropout)
    assert torch.equal(torch.rand(3), expected_next)  # a seeded draw leaves the caller's RNG alone
    assert f.shape == (14, 6) and l.tolist() == [3] * 7 + [1] * 7
    f2, _ = generate_features(net, emb, [3, 1], 7, seed=2, with_dropout=with_dropout)
    assert torch.equal(f, f2)  # reproducible, dropout masks included
    f3, _ = generate_features(net, emb, [3, 1], 7, seed=3, with_dropout=with_dropout)
    assert not torch.equal(f, f3)
    assert all(m.training == start_training for m in net.modules())  # flags restored
    assert f.requires_grad is False and torch.is_grad_enabled()
    f.sum()  # usable outside inference mode
    f0, l0 = generate_features(net, emb, [], 7, with_dropout=with_dropout)
    assert f0.shape == (0, 6) and l0.shape == (0,)


def test_generate_features_dropout_is_really_on_or_off():
    """Same seed, same noise: only the dropout masks differ between the two modes."""
    net = GMMN(4, feat_dim=32, noise_dim=3, hidden_dim=64, dropout=0.5, output_relu=False).eval()
    emb = torch.randn(2, 4)
    off, _ = generate_features(net, emb, [0, 1], 50, seed=5, with_dropout=False)
    with torch.no_grad():
        noise = net.sample_noise(100, generator=torch.Generator().manual_seed(5))
        plain = net(emb.repeat_interleave(50, 0), noise)
    assert torch.allclose(off, plain)  # eval mode = the deterministic network on the seeded noise
    on, _ = generate_features(net, emb, [0, 1], 50, seed=5, with_dropout=True)
    assert not torch.allclose(on, off)
    # with dropout on, each output is W2 · (mask ⊙ hidden / (1-p)) + b2 for some 0/1 mask
    with torch.no_grad():
        hidden = torch.nn.functional.leaky_relu(net.net[0](torch.cat([emb.repeat_interleave(50, 0), noise], 1)), 0.2)
        torch.manual_seed(5)  # generate_features seeds the (forked) global RNG that draws the masks
        mask = (torch.nn.functional.dropout(torch.ones_like(hidden), 0.5, training=True) > 0).float()
        assert torch.allclose(on, net.net[3](mask * hidden * 2.0), atol=1e-5)


def test_cancel_and_empty_input(clusters):
    feats, labels, _, emb = _problem(clusters)
    ev = threading.Event()
    ev.set()
    with pytest.raises(CancelledError):
        train_gmmn(feats, labels, emb, GMMNTrainConfig(steps=5, noise_dim=4), cancel=ev)
    with pytest.raises(UserError):
        train_gmmn(feats, torch.full_like(labels, 255), emb, GMMNTrainConfig(steps=5, noise_dim=4))


def test_hand_written_adam_matches_torch_adam():
    from core.zs3.generation import _Adam

    torch.manual_seed(3)
    a = torch.nn.Linear(4, 3)
    b = torch.nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    ours = _Adam(list(a.parameters()), lr=1e-2)
    ref = torch.optim.Adam(b.parameters(), lr=1e-2)
    x = torch.randn(8, 4)
    for _ in range(5):
        for net, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            (net(x) ** 2).sum().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)


@pytest.mark.parametrize("scenes_per_step", [1, 2])
def test_graph_gmmn_training_learns_context(scenes_per_step):
    """Class 2 looks different next to class 0 than next to class 1; the GC generator must learn it.

    With two scenes per step both contexts go through one block-diagonal graph and must stay apart."""
    from core.models.graph_context import class_adjacency
    from core.zs3.generation import generate_graph_features, train_graph_gmmn

    g = torch.Generator().manual_seed(0)
    f_dim, h, w = 4, 6, 6

    def scene(ctx, c2_value):
        lm = torch.full((h, w), ctx, dtype=torch.long)
        lm[:, 3:] = 2
        feats = torch.zeros(f_dim, h, w)
        feats[:, lm == ctx] = (torch.tensor([4.0, 0, 0, 0]) if ctx == 0 else torch.tensor([0, 4.0, 0, 0]))[:, None]
        feats[:, lm == 2] = c2_value[:, None]
        return feats + 0.1 * torch.rand(f_dim, h, w, generator=g), lm

    scenes = [scene(0, torch.tensor([0, 0, 3.0, 0])), scene(1, torch.tensor([0, 0, 0, 3.0]))]
    emb = torch.eye(3)
    cfg = GMMNTrainConfig(steps=250, lr=5e-3, per_class=16, noise_dim=2, hidden_dim=32, dropout=0.0,
                          sigmas=(0.5, 1, 2, 4), seed=0, scenes_per_step=scenes_per_step)
    net = train_graph_gmmn(scenes, emb, cfg)
    for ctx, hot in ((0, 2), (1, 3)):
        ids = [ctx, 2]
        adj = class_adjacency(scenes[ctx][1], 3)[ids][:, ids]
        feats, labels = generate_graph_features(net, emb, ids, adj, 50, seed=1)
        mean2 = feats[labels == 2].mean(0)
        assert mean2.argmax().item() == hot


def test_output_relu_follows_the_sign_of_the_real_features(clusters):
    """One rule for engine and session: ReLU on generated features exactly when the real ones are ≥ 0."""
    feats, labels, _, emb = _problem(clusters)
    cfg = GMMNTrainConfig(steps=2, per_class=8, noise_dim=4, hidden_dim=16)
    assert cfg.output_relu is None
    assert train_gmmn(feats, labels, emb, cfg).output_relu is True  # post-ReLU-like clusters
    assert train_gmmn(feats - 1.0, labels, emb, cfg).output_relu is False  # features that go negative
    forced = GMMNTrainConfig(steps=2, per_class=8, noise_dim=4, hidden_dim=16, output_relu=False)
    assert train_gmmn(feats, labels, emb, forced).output_relu is False
