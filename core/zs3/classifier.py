"""Retraining the final 1×1 classifier on real seen features plus generated unseen features.

Only this layer is retrained in ZS3Net. The session refits it on every class-list change, so it must
be fast on a laptop CPU: we fit a class-balanced multinomial logistic regression with full-batch
L-BFGS on a per-class-capped subsample of standardised features, then fold the standardisation back
into an ordinary ``nn.Linear`` that applies to raw features. ``solver="sgd"`` minimises the same weighted
loss with the reference release's optimiser instead (mini-batch SGD with momentum, poly learning rate);
docs/adr/0009-retraining-solver.md says which one is the default and why.
"""
from __future__ import annotations

import logging
import math
import threading
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.constants import IGNORE
from core.errors import CancelledError, UserError
from core.zs3.sampling import capped_subsample

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@dataclass
class ClassifierTrainConfig:
    """Options of the classifier fit.

    ``solver``: ``lbfgs`` (full batch; ``max_iter`` iterations, ``lr`` its step length, 1 = the quasi-Newton
    step) or ``sgd`` (``sgd_epochs`` passes over the rows in shuffled mini-batches of ``sgd_batch``,
    momentum 0.9, learning rate ``sgd_lr`` decayed by the poly rule). ``weight_decay`` is the L2 penalty on the weights
    (in standardised feature space). ``balanced`` weights each class's loss by the inverse of its row
    count, so a rare class weighs as much as a frequent one. ``max_per_class`` caps the rows used per
    class (random subsample, seeded) and bounds the cost whatever the number of labelled pixels.
    ``anchor`` (with a warm start) pulls the parameters towards the ``init`` classifier's by an L2
    penalty of that weight: a refit then moves only as far as its new rows ask, and keeps what the
    start knew about classes the new rows say little of (0 = a warm start only speeds the fit up).
    """

    max_iter: int = 60
    lr: float = 1.0
    weight_decay: float = 5e-4
    balanced: bool = True
    max_per_class: int | None = 1500
    seed: int = 0
    # loss weight of the ``upweight`` classes (the unseen ones in ZS3Net retraining) relative to the
    # others, on top of the class balance: the reference release's ×100 (docs/adr/0006-retraining.md)
    unseen_weight: float = 100.0
    solver: str = "lbfgs"
    sgd_epochs: int = 20
    sgd_batch: int = 256
    sgd_lr: float = 0.1
    anchor: float = 0.0
    # loss weight of class 0 (background) relative to the others, on top of the class balance: the
    # balance makes every class as likely as background a priori, while most pixels of a photo are
    # background. 1 = plain balance (the paper's retraining); the session sets its own (SessionConfig).
    background_weight: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


SOLVERS = ("lbfgs", "sgd")


def train_classifier(
    features: Tensor,
    labels: Tensor,
    num_classes: int,
    config: ClassifierTrainConfig | None = None,
    init: nn.Linear | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    upweight: Sequence[int] = (),
) -> nn.Linear:
    """Fit ``nn.Linear(F, num_classes)`` on ``features`` (N,F) / ``labels`` (N,); 255 rows ignored.

    ``init`` (same shape) warm-starts the fit. The classes in ``upweight`` weigh
    ``config.unseen_weight`` times as much in the loss. The result lives on the device of ``features``.
    """
    config = config or ClassifierTrainConfig()
    if config.solver not in SOLVERS:
        raise UserError(f"unknown classifier solver {config.solver!r}: choose one of {', '.join(SOLVERS)}")
    if cancel is not None and cancel.is_set():
        raise CancelledError("classifier training cancelled")
    gen = torch.Generator(device=features.device)
    gen.manual_seed(int(config.seed))
    x, y = _training_rows(features, labels, num_classes, config, gen)
    mean = x.mean(0)
    std = x.std(0, unbiased=False).clamp_min(1e-3)
    theta0 = _start(init, mean, std, num_classes)
    anchor = float(config.anchor) if init is not None else 0.0
    loss_and_grad = _objective((x - mean) / std, y, _row_weights(y, num_classes, config, upweight), num_classes,
                               float(config.weight_decay), anchor, theta0.clone())
    total = config.max_iter if config.solver == "lbfgs" else config.sgd_epochs

    def on_iter(it: int, loss: float) -> None:
        if cancel is not None and cancel.is_set():
            raise CancelledError("classifier training cancelled")
        if progress is not None and (it % 10 == 0):
            progress(min(1.0, it / max(1, total)), f"classifier fit, loss {loss:.4f}")

    with torch.no_grad():
        if config.solver == "sgd":
            theta, loss, iters = sgd_minimize(loss_and_grad, theta0, len(y), config, gen, callback=on_iter)
        else:
            theta, loss, iters = lbfgs_minimize(loss_and_grad, theta0, max_iter=int(config.max_iter),
                                                step=float(config.lr), callback=on_iter)
    log.debug("classifier fit (%s): %d rows, %d iterations, final loss %.5f", config.solver, x.shape[0], iters, loss)
    if progress is not None:
        progress(1.0, "classifier fit done")
    return _to_linear(theta, mean, std, num_classes)


def _training_rows(features: Tensor, labels: Tensor, num_classes: int, config: ClassifierTrainConfig,
                   gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """The rows the fit reads: labelled ones (255 and out-of-range labels dropped), at most
    ``config.max_per_class`` of each class (seeded); float features, long labels."""
    if features.dim() != 2 or labels.dim() != 1 or features.shape[0] != labels.shape[0]:
        raise ValueError(f"features (N,F) and labels (N,) expected, got {tuple(features.shape)}, {tuple(labels.shape)}")
    labels = labels.to(device=features.device, dtype=torch.long)
    keep = (labels != IGNORE) & (labels >= 0) & (labels < num_classes)
    if not bool(keep.any()):
        raise UserError("no labelled features to train the classifier on: label some pixels first")
    x_all, y_all = features[keep], labels[keep]
    sel = capped_subsample(y_all, config.max_per_class, gen)
    return x_all[sel].float(), y_all[sel]


def _objective(xs: Tensor, y: Tensor, row_w: Tensor, num_classes: int, wd: float, anchor: float,
               anchor_theta: Tensor):
    """``loss_and_grad(theta, rows=None) -> (loss, grad)`` on standardised rows ``xs``: weighted
    cross-entropy + L2 (+ the anchor's pull towards ``anchor_theta``), over ``rows`` only when given,
    rescaled to the whole set (the mini-batch estimate), with its analytic gradient (no autograd graph)."""
    dim = xs.shape[1]
    onehot = F.one_hot(y, num_classes).float()

    def loss_and_grad(theta: Tensor, rows: Tensor | None = None) -> tuple[float, Tensor]:
        if rows is None:
            xb, ob, rw = xs, onehot, row_w
        else:
            xb, ob, rw = xs[rows], onehot[rows], row_w[rows] * (len(y) / len(rows))
        w = theta[: num_classes * dim].view(num_classes, dim)
        b = theta[num_classes * dim:]
        logp = torch.log_softmax(torch.addmm(b, xb, w.t()), dim=1)
        loss = -(rw * (logp * ob).sum(1)).sum() + 0.5 * wd * (w * w).sum()
        d_logits = (logp.exp() - ob) * rw[:, None]
        grad = torch.cat([(d_logits.t() @ xb + wd * w).reshape(-1), d_logits.sum(0)])
        if anchor > 0:
            pull = theta - anchor_theta
            loss = loss + 0.5 * anchor * (pull * pull).sum()
            grad = grad + anchor * pull
        return float(loss), grad

    return loss_and_grad


def _to_linear(theta: Tensor, mean: Tensor, std: Tensor, num_classes: int) -> nn.Linear:
    """The fitted parameters (standardised space, flat) as an ``nn.Linear`` on raw features."""
    dim = mean.shape[0]
    w = theta[: num_classes * dim].view(num_classes, dim)
    b = theta[num_classes * dim:]
    out = nn.Linear(dim, num_classes).to(mean.device)
    with torch.no_grad():
        w_raw = w / std
        out.weight.copy_(w_raw)
        out.bias.copy_(b - w_raw @ mean)
    return out


def _start(init: nn.Linear | None, mean: Tensor, std: Tensor, num_classes: int) -> Tensor:
    """The fit's starting parameters (weights then biases, flat) in standardised space: zeros, or ``init``
    expressed as the same function of standardised inputs (a warm start)."""
    dim, device = mean.shape[0], mean.device
    if init is None:
        return torch.zeros(num_classes * dim + num_classes, device=device)
    if init.weight.shape != (num_classes, dim):
        raise ValueError(f"init classifier has shape {tuple(init.weight.shape)}, expected {(num_classes, dim)}")
    with torch.no_grad():
        wi = init.weight.detach().to(device).float()
        bi = init.bias.detach().to(device).float() if init.bias is not None else torch.zeros(num_classes, device=device)
        return torch.cat([(wi * std).reshape(-1), bi + wi @ mean])


def _row_weights(y: Tensor, num_classes: int, config: ClassifierTrainConfig, upweight: Sequence[int]) -> Tensor:
    """Per-row loss weights summing to 1: inverse class counts when balanced, ×``unseen_weight`` for
    the ``upweight`` classes, ×``background_weight`` for class 0."""
    device = y.device
    counts = torch.bincount(y, minlength=num_classes).float()
    weight = torch.ones(num_classes, device=device)
    if config.balanced:
        present = counts > 0
        weight = torch.zeros(num_classes, device=device)
        weight[present] = counts[present].sum() / (present.sum() * counts[present])
    if len(upweight) and float(config.unseen_weight) != 1.0:
        weight[torch.as_tensor(list(upweight), dtype=torch.long, device=device)] *= float(config.unseen_weight)
    weight[0] *= float(config.background_weight)
    row_w = weight[y]
    return row_w / row_w.sum()


def sgd_minimize(fun: Callable[..., tuple[float, Tensor]], x0: Tensor, n_rows: int, config: ClassifierTrainConfig,
                 generator: torch.Generator, callback: Callable[[int, float], None] | None = None
                 ) -> tuple[Tensor, float, int]:
    """The reference release's optimiser: mini-batch SGD, momentum 0.9, poly(0.9) learning rate.

    ``fun(x, rows)`` gives the mini-batch loss and gradient; each epoch visits every row once in a
    seeded random order. Returns (x, last epoch's mean mini-batch loss, epochs).
    """
    x = x0.clone()
    velocity = torch.zeros_like(x)
    batch = max(1, int(config.sgd_batch))
    steps_per_epoch = max(1, math.ceil(n_rows / batch))
    total = max(1, int(config.sgd_epochs)) * steps_per_epoch
    step, loss = 0, float("nan")
    for epoch in range(1, max(1, int(config.sgd_epochs)) + 1):
        order = torch.randperm(n_rows, generator=generator, device=generator.device).to(x.device)
        losses = []
        for i in range(0, n_rows, batch):
            f, g = fun(x, order[i:i + batch])
            lr = float(config.sgd_lr) * (1.0 - step / total) ** 0.9
            velocity.mul_(0.9).add_(g)
            x.add_(velocity, alpha=-lr)
            losses.append(f)
            step += 1
        loss = sum(losses) / len(losses)
        if callback is not None:
            callback(epoch, loss)
    return x, loss, int(config.sgd_epochs)


def lbfgs_minimize(
    fun: Callable[[Tensor], tuple[float, Tensor]],
    x0: Tensor,
    max_iter: int = 60,
    history: int = 10,
    step: float = 1.0,
    tol: float = 1e-7,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[Tensor, float, int]:
    """Minimise a smooth function with L-BFGS (two-loop recursion, Armijo backtracking).

    Written out here instead of using ``torch.optim.LBFGS`` because constructing any
    ``torch.optim`` optimizer imports ``torch._dynamo``, which costs seconds on the first refit of
    a session; this loop needs nothing but tensor arithmetic. Returns (x, f(x), iterations).
    """
    x = x0.clone()
    f, g = fun(x)
    pairs: list[tuple[Tensor, Tensor, float]] = []
    it = 0
    for it in range(1, max_iter + 1):
        q = g.clone()
        alphas = []
        for s, y, rho in reversed(pairs):
            a = rho * torch.dot(s, q)
            q -= a * y
            alphas.append(a)
        if pairs:
            s, y, _ = pairs[-1]
            q *= torch.dot(s, y) / torch.dot(y, y)
            t = step
        else:
            t = step * min(1.0, 1.0 / max(float(g.abs().sum()), 1e-12))
        for (s, y, rho), a in zip(pairs, reversed(alphas)):
            q += s * (a - rho * torch.dot(y, q))
        direction = -q
        slope = float(torch.dot(g, direction))
        if slope > -1e-12:
            break
        for _ in range(20):  # backtracking until sufficient decrease
            x_new = x + t * direction
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            break
        s_vec, y_vec = x_new - x, g_new - g
        sy = float(torch.dot(s_vec, y_vec))
        if sy > 1e-10:
            pairs.append((s_vec, y_vec, 1.0 / sy))
            if len(pairs) > history:
                pairs.pop(0)
        converged = abs(f - f_new) <= tol * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if callback is not None:
            callback(it, f)
        if converged or float(g.abs().max()) < 1e-6:
            break
    return x, f, it
