"""Classifier retraining: accuracy, class balance, 255 rows, warm start, conv form."""
from __future__ import annotations

import threading

import pytest
import torch

from core.errors import CancelledError, UserError
from core.models.deeplab import linear_to_conv1x1
from core.zs3.classifier import ClassifierTrainConfig, train_classifier


def test_separable_features_are_classified(clusters):
    feats, labels, _ = clusters(4, 300, 16, spread=0.3, seed=0)
    lin = train_classifier(feats, labels, 4)
    assert isinstance(lin, torch.nn.Linear) and lin.weight.shape == (4, 16)
    feats_test, labels_test, _ = clusters(4, 100, 16, spread=0.3, seed=0)
    acc = (lin(feats_test).argmax(1) == labels_test).float().mean().item()
    assert acc > 0.97


def _imbalanced(clusters):
    # Overlapping classes; class 2 is 60x rarer. Unbalanced fitting sacrifices it.
    feats, labels, means = clusters(3, 3000, 8, spread=0.6, seed=1, scale=1.5)
    keep = (labels != 2) | (torch.arange(labels.shape[0]) % 3000 < 50)
    return feats[keep], labels[keep], means


def _recall(lin, feats, labels, c):
    m = labels == c
    return (lin(feats[m]).argmax(1) == c).float().mean().item()


def test_rare_class_keeps_recall_when_balanced(clusters):
    feats, labels, means = _imbalanced(clusters)
    g = torch.Generator().manual_seed(7)
    test_labels = torch.arange(3).repeat_interleave(400)
    test_feats = (means[test_labels] + 0.6 * torch.randn(1200, 8, generator=g)).clamp_min(0)
    cfg = ClassifierTrainConfig(max_per_class=None)
    balanced = train_classifier(feats, labels, 3, cfg)
    unbalanced = train_classifier(feats, labels, 3, ClassifierTrainConfig(max_per_class=None, balanced=False))
    rb = _recall(balanced, test_feats, test_labels, 2)
    ru = _recall(unbalanced, test_feats, test_labels, 2)
    assert rb > 0.6
    assert rb > ru + 0.1


def test_per_class_cap_still_balanced(clusters):
    feats, labels, _ = _imbalanced(clusters)
    lin = train_classifier(feats, labels, 3, ClassifierTrainConfig(max_per_class=200))
    assert _recall(lin, feats, labels, 2) > 0.6


def test_rows_labelled_255_are_ignored(clusters):
    feats, labels, _ = clusters(3, 200, 8, spread=0.3, seed=2)
    junk = torch.full((300, 8), 50.0)
    a = train_classifier(feats, labels, 3, ClassifierTrainConfig(max_per_class=None))
    b = train_classifier(torch.cat([feats, junk]), torch.cat([labels, torch.full((300,), 255)]), 3,
                         ClassifierTrainConfig(max_per_class=None))
    assert torch.allclose(a.weight, b.weight, atol=1e-4)
    assert torch.allclose(a.bias, b.bias, atol=1e-4)


def test_warm_start_from_a_good_classifier_stays_good(clusters):
    feats, labels, _ = clusters(3, 200, 8, spread=0.3, seed=3)
    first = train_classifier(feats, labels, 3)
    again = train_classifier(feats, labels, 3, ClassifierTrainConfig(max_iter=1), init=first)
    assert (again(feats).argmax(1) == labels).float().mean() > 0.97
    with pytest.raises(ValueError):
        train_classifier(feats, labels, 4, init=first)


def test_an_anchored_refit_keeps_a_class_its_new_rows_lack(clusters):
    """The session's refit after a few dots: rows of classes 0 and 1 only, warm-started from a fit that
    knew all three. Without the anchor class 2 is forgotten; anchored to the start it is kept."""
    feats, labels, _ = clusters(3, 200, 8, spread=0.3, seed=5)
    first = train_classifier(feats, labels, 3)
    few = labels != 2
    loose = train_classifier(feats[few], labels[few], 3, ClassifierTrainConfig(anchor=0.0), init=first)
    anchored = train_classifier(feats[few], labels[few], 3, ClassifierTrainConfig(anchor=0.01), init=first)
    two = labels == 2
    kept = (anchored(feats[two]).argmax(1) == 2).float().mean().item()
    lost = (loose(feats[two]).argmax(1) == 2).float().mean().item()
    assert kept > 0.9 and lost < 0.1
    assert (anchored(feats[few]).argmax(1) == labels[few]).float().mean() > 0.97  # the new rows still fit
    cold = train_classifier(feats[few], labels[few], 3, ClassifierTrainConfig(anchor=0.01))
    assert (cold(feats[two]).argmax(1) == 2).float().mean() < 0.1  # no init: nothing to anchor to


def test_conv_form_matches_linear(clusters):
    feats, labels, _ = clusters(3, 50, 8, seed=4)
    lin = train_classifier(feats, labels, 3)
    conv = linear_to_conv1x1(lin)
    fmap = feats[:12].T.reshape(1, 8, 3, 4)
    out = conv(fmap).reshape(3, 12).T
    assert torch.allclose(out, lin(feats[:12]), atol=1e-5)


def test_progress_cancel_and_errors(clusters):
    feats, labels, _ = clusters(3, 50, 8, seed=5)
    seen = []
    train_classifier(feats, labels, 3, progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == 1.0
    ev = threading.Event()
    ev.set()
    with pytest.raises(CancelledError):
        train_classifier(feats, labels, 3, cancel=ev)
    with pytest.raises(UserError):
        train_classifier(feats, torch.full_like(labels, 255), 3)


def test_lbfgs_minimises_a_quadratic_and_cross_entropy_gradient_is_right(clusters):
    from core.zs3.classifier import lbfgs_minimize

    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]])
    target = torch.tensor([1.0, -2.0])

    def quad(x):
        r = x - target
        return float(0.5 * r @ a @ r), a @ r

    x, f, _ = lbfgs_minimize(quad, torch.zeros(2), max_iter=50)
    assert torch.allclose(x, target, atol=1e-4) and f < 1e-8
    # The fitted classifier is a minimum of the weighted loss: autograd's gradient there is ~0.
    feats, labels, _ = clusters(3, 100, 5, spread=1.0, seed=6, scale=1.0)
    cfg = ClassifierTrainConfig(max_iter=200, weight_decay=0.0, balanced=False, max_per_class=None)
    lin = train_classifier(feats, labels, 3, cfg)
    loss = torch.nn.functional.cross_entropy(lin(feats), labels)
    grads = torch.autograd.grad(loss, [lin.weight, lin.bias])
    assert max(g.abs().max().item() for g in grads) < 1e-3


def test_unseen_weight_widens_the_upweighted_classes_region(clusters):
    """Weighing a class ×100 moves the boundary into its neighbours: more of the ambiguous points go to it."""
    feats, labels, means = clusters(2, 200, 4, spread=1.5, seed=5)
    plain = train_classifier(feats, labels, 2, ClassifierTrainConfig(max_iter=40, unseen_weight=1.0), upweight=[1])
    heavy = train_classifier(feats, labels, 2, ClassifierTrainConfig(max_iter=40, unseen_weight=100.0), upweight=[1])
    ignored = train_classifier(feats, labels, 2, ClassifierTrainConfig(max_iter=40, unseen_weight=100.0))
    with torch.no_grad():
        n_plain = int((plain(feats).argmax(1) == 1).sum())
        n_heavy = int((heavy(feats).argmax(1) == 1).sum())
        assert torch.allclose(ignored(feats), plain(feats), atol=1e-4)  # no upweight list: plain balance
    assert n_heavy > n_plain


def test_background_weight_keeps_the_ambiguous_points_background(clusters):
    """Class 0 weighed ×4 claims more of the overlap than under plain balance (fewer background points
    go to a class: the spill); ×1 is plain balance."""
    feats, labels, _ = clusters(3, 200, 4, spread=0.7, seed=6)
    plain = train_classifier(feats, labels, 3, ClassifierTrainConfig(max_iter=40))
    same = train_classifier(feats, labels, 3, ClassifierTrainConfig(max_iter=40, background_weight=1.0))
    heavy = train_classifier(feats, labels, 3, ClassifierTrainConfig(max_iter=40, background_weight=4.0))
    with torch.no_grad():
        assert torch.allclose(same(feats), plain(feats), atol=1e-5)
        n_plain = int((plain(feats).argmax(1) == 0).sum())
        n_heavy = int((heavy(feats).argmax(1) == 0).sum())
        spill_plain = int(((plain(feats).argmax(1) != 0) & (labels == 0)).sum())
        spill_heavy = int(((heavy(feats).argmax(1) != 0) & (labels == 0)).sum())
        swallowed = int(((heavy(feats).argmax(1) == 0) & (labels != 0)).sum())
    assert n_heavy > n_plain and spill_heavy < spill_plain
    assert swallowed < 0.25 * int((labels != 0).sum())  # it moves the boundary, it does not swallow classes


def _weighted_loss(lin, feats, labels, weight_of_1: float) -> float:
    w = torch.tensor([1.0, weight_of_1])
    return torch.nn.functional.cross_entropy(lin(feats), labels, weight=w).item()


def test_sgd_solver_minimises_the_same_weighted_loss(clusters):
    """The reference's optimiser: near L-BFGS's optimum of the same loss and far below the starting point,
    and the ×100 weight moves its boundary the same way."""
    feats, labels, _ = clusters(2, 200, 4, spread=1.5, seed=5)
    cfg = dict(max_per_class=None, weight_decay=0.0, balanced=False)
    start = train_classifier(feats, labels, 2, ClassifierTrainConfig(solver="sgd", sgd_epochs=1, sgd_lr=1e-9, **cfg),
                             upweight=[1])
    lbfgs = train_classifier(feats, labels, 2, ClassifierTrainConfig(max_iter=200, **cfg), upweight=[1])
    sgd = train_classifier(feats, labels, 2, ClassifierTrainConfig(solver="sgd", sgd_batch=32, **cfg), upweight=[1])
    plain = train_classifier(feats, labels, 2,
                             ClassifierTrainConfig(solver="sgd", sgd_batch=32, unseen_weight=1.0, **cfg), upweight=[1])
    with torch.no_grad():
        best, got, first = (_weighted_loss(m, feats, labels, 100.0) for m in (lbfgs, sgd, start))
        n_heavy, n_plain = (int((m(feats).argmax(1) == 1).sum()) for m in (sgd, plain))
    assert got < best + 0.05 * (first - best)
    assert n_heavy > n_plain


def test_unknown_solver_is_refused(clusters):
    feats, labels, _ = clusters(2, 20, 4, spread=0.3, seed=0)
    with pytest.raises(UserError, match="solver"):
        train_classifier(feats, labels, 2, ClassifierTrainConfig(solver="adam"))
