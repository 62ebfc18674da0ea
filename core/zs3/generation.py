"""Training the GMMN on real seen-class features and sampling synthetic features from it.

Each step draws ``per_class`` real features of every seen class (with replacement when a class has
fewer) and the same number of generated ones, and takes one batched MMD over all classes at once.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

from core.errors import CancelledError, UserError
from core.models.gmmn import DEFAULT_SIGMAS, GMMN, mmd_loss

log = logging.getLogger(__name__)

IGNORE = 255
Progress = Callable[[float, str], None]


@dataclass
class GMMNTrainConfig:
    """Defaults follow the paper: Adam 2e-4, 128 pixels per class per step, σ ∈ {2,…,80}."""

    steps: int = 1000
    lr: float = 2e-4
    per_class: int = 128
    sigmas: tuple = DEFAULT_SIGMAS
    noise_dim: int = 300
    hidden_dim: int = 256
    dropout: float = 0.5
    seed: int = 0
    classes_per_step: int | None = None  # None = every present class in every step
    output_relu: bool = True

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sigmas"] = list(self.sigmas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GMMNTrainConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "sigmas" in known:
            known["sigmas"] = tuple(known["sigmas"])
        return cls(**known)


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("GMMN training cancelled")


def train_gmmn(
    features: Tensor,
    labels: Tensor,
    class_embeddings: Tensor,
    config: GMMNTrainConfig | None = None,
    gmmn: GMMN | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> GMMN:
    """Fit a GMMN so that GMMN(embedding_c, noise) matches the real features of class c.

    ``features`` (N,F) and ``labels`` (N,) long; rows labelled 255 are ignored. ``class_embeddings``
    (C,E) is indexed by label. Training runs on the device of ``features``; pass ``gmmn`` to
    continue training an existing network (it is moved to that device). Returns the network in
    eval mode.
    """
    config = config or GMMNTrainConfig()
    if features.dim() != 2 or labels.dim() != 1 or features.shape[0] != labels.shape[0]:
        raise ValueError(f"features (N,F) and labels (N,) expected, got {tuple(features.shape)}, {tuple(labels.shape)}")
    device = features.device
    labels = labels.to(device=device, dtype=torch.long)
    class_embeddings = class_embeddings.to(device=device, dtype=torch.float32)
    num_classes = class_embeddings.shape[0]
    keep = (labels != IGNORE) & (labels >= 0) & (labels < num_classes)
    feats = features[keep].float()
    labs = labels[keep]
    if feats.shape[0] == 0:
        raise UserError("no labelled features to train the feature generator on: label some pixels first")

    # Group rows by class once; sampling is then a vectorised offset draw per (class, sample).
    order = torch.argsort(labs, stable=True)
    feats = feats[order]
    labs = labs[order]
    present, counts = torch.unique_consecutive(labs, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts

    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):  # seeded init + dropout, caller's RNG untouched
        torch.manual_seed(int(config.seed))
        gmmn = _fit(gmmn, feats, present, counts, starts, class_embeddings, config, progress, cancel)
    gmmn.eval()
    return gmmn


class _Adam:
    """Plain Adam (Kingma & Ba, bias-corrected), same update as ``torch.optim.Adam`` defaults.

    Used instead of ``torch.optim.Adam`` because constructing any ``torch.optim`` optimizer imports
    ``torch._dynamo`` (seconds of start-up on the session's first fit).
    """

    def __init__(self, params: list, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = params
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            denom = (v / c2).sqrt_().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / c1)


def _fit(gmmn, feats, present, counts, starts, class_embeddings, config, progress, cancel) -> GMMN:
    device = feats.device
    k = present.shape[0]
    if gmmn is None:
        gmmn = GMMN(
            class_embeddings.shape[1],
            feat_dim=feats.shape[1],
            noise_dim=config.noise_dim,
            hidden_dim=config.hidden_dim,
            dropout=config.dropout,
            output_relu=config.output_relu,
        )
    if gmmn.embed_dim != class_embeddings.shape[1] or gmmn.feat_dim != feats.shape[1]:
        raise UserError(
            f"feature generator expects {gmmn.embed_dim}-d embeddings and {gmmn.feat_dim}-d features, "
            f"got {class_embeddings.shape[1]} and {feats.shape[1]}: retrain it from scratch"
        )
    gmmn = gmmn.to(device)
    gmmn.train()
    optimizer = _Adam(list(gmmn.parameters()), lr=config.lr)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(config.seed))
    per = int(config.per_class)
    per_step = k if not config.classes_per_step else min(k, int(config.classes_per_step))
    report_every = max(1, config.steps // 50)
    for step in range(int(config.steps)):
        _check_cancel(cancel)
        if per_step < k:
            cls_idx = torch.randperm(k, generator=gen, device=device)[:per_step]
        else:
            cls_idx = torch.arange(k, device=device)
        offsets = (torch.rand(per_step, per, generator=gen, device=device) * counts[cls_idx, None]).long()
        offsets = torch.minimum(offsets, counts[cls_idx, None] - 1)
        real = feats[starts[cls_idx, None] + offsets]  # (K, per, F)
        emb = class_embeddings[present[cls_idx]].repeat_interleave(per, dim=0)
        noise = gmmn.sample_noise(emb.shape[0], generator=gen, device=device)
        fake = gmmn(emb, noise).view(per_step, per, -1)
        loss = mmd_loss(real, fake, config.sigmas)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None and (step % report_every == 0 or step == config.steps - 1):
            progress((step + 1) / config.steps, f"feature generator step {step + 1}/{config.steps}, MMD {loss.item():.4f}")
        if step % 200 == 0:
            log.debug("gmmn step %d loss %.5f", step, loss.item())
    return gmmn


def generate_features(
    gmmn: GMMN,
    class_embeddings: Tensor,
    class_ids: Sequence[int],
    n_per_class: int,
    seed: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Sample ``n_per_class`` synthetic features for each class in ``class_ids``.

    The network is used in eval mode (no dropout): diversity comes from the noise. Returns
    ``(features (K*n, F), labels (K*n,) long)`` on the GMMN's device, grouped by class in the order
    of ``class_ids``.
    """
    device = next(gmmn.parameters()).device
    ids = torch.as_tensor(list(class_ids), dtype=torch.long)
    n = int(n_per_class)
    if ids.numel() == 0 or n <= 0:
        return torch.zeros(0, gmmn.feat_dim, device=device), torch.zeros(0, dtype=torch.long, device=device)
    gen = None
    if seed is not None:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(seed))
    emb = class_embeddings.to(device=device, dtype=torch.float32)[ids.to(device)].repeat_interleave(n, dim=0)
    was_training = gmmn.training
    gmmn.eval()
    try:
        with torch.no_grad():  # not inference_mode: callers train on these tensors
            noise = gmmn.sample_noise(emb.shape[0], generator=gen, device=device)
            feats = gmmn(emb, noise).float()
    finally:
        gmmn.train(was_training)
    labels = ids.to(device).repeat_interleave(n)
    return feats, labels


def train_graph_gmmn(
    scenes: Sequence[tuple[Tensor, Tensor]],
    class_embeddings: Tensor,
    config: GMMNTrainConfig | None = None,
    gmmn=None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
):
    """Train a ``GraphContextGMMN`` (ZS3Net-GC) on per-image scenes.

    ``scenes``: ``(features (F,h,w), label_map (h,w))`` pairs at feature resolution (255 = ignore;
    pass only maps whose classes may be read, i.e. seen classes). Each step takes one scene, builds
    the adjacency graph of its classes, draws ``per_class`` real features per node, generates
    ``per_class`` samples per node in one batched graph pass, and takes one batched MMD.
    """
    from core.models.graph_context import GraphContextGMMN, class_adjacency, normalize_adjacency

    config = config or GMMNTrainConfig()
    num_classes = class_embeddings.shape[0]
    prepared = []
    for feats, label_map in scenes:
        f = feats.reshape(feats.shape[0], -1).t()
        lab = torch.as_tensor(label_map).reshape(-1).long().to(f.device)
        if lab.shape[0] != f.shape[0]:
            raise ValueError(f"label map ({tuple(label_map.shape)}) does not match features ({tuple(feats.shape)})")
        keep = (lab != IGNORE) & (lab < num_classes)
        if not bool(keep.any()):
            continue
        order = torch.argsort(lab[keep], stable=True)
        f, lab_k = f[keep][order].float(), lab[keep][order]
        present, counts = torch.unique_consecutive(lab_k, return_counts=True)
        adj = class_adjacency(torch.as_tensor(label_map).cpu(), num_classes)[present.cpu()][:, present.cpu()]
        prepared.append((f, present, counts, torch.cumsum(counts, 0) - counts, normalize_adjacency(adj).to(f.device)))
    if not prepared:
        raise UserError("no labelled pixels to train the graph-context feature generator on")
    device = prepared[0][0].device
    emb_all = class_embeddings.to(device=device, dtype=torch.float32)
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(int(config.seed))
        if gmmn is None:
            gmmn = GraphContextGMMN(emb_all.shape[1], feat_dim=prepared[0][0].shape[1], noise_dim=config.noise_dim,
                                    hidden_dim=config.hidden_dim, dropout=config.dropout, output_relu=config.output_relu)
        gmmn = gmmn.to(device).train()
        optimizer = _Adam(list(gmmn.parameters()), lr=config.lr)
        gen = torch.Generator(device=device)
        gen.manual_seed(int(config.seed))
        per = int(config.per_class)
        report_every = max(1, config.steps // 50)
        for step in range(int(config.steps)):
            _check_cancel(cancel)
            f, present, counts, starts, norm_adj = prepared[int(torch.randint(len(prepared), (1,), generator=gen, device=device))]
            k = present.shape[0]
            offsets = torch.minimum((torch.rand(k, per, generator=gen, device=device) * counts[:, None]).long(),
                                    counts[:, None] - 1)
            real = f[starts[:, None] + offsets]  # (K, per, F)
            noise = torch.rand(per, k, gmmn.noise_dim, generator=gen, device=device)
            fake = gmmn(emb_all[present], norm_adj, noise, normalized=True).transpose(0, 1)  # (K, per, F)
            loss = mmd_loss(real, fake, config.sigmas)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if progress is not None and (step % report_every == 0 or step == config.steps - 1):
                progress((step + 1) / config.steps, f"graph feature generator step {step + 1}/{config.steps}, MMD {loss.item():.4f}")
    return gmmn.eval()


def generate_graph_features(
    gmmn,
    class_embeddings: Tensor,
    class_ids: Sequence[int],
    adjacency: Tensor,
    n_per_class: int,
    seed: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Sample features for the nodes ``class_ids`` of a context graph ``adjacency`` (K,K over those ids).

    Returns ``(features (K*n, F), labels (K*n,))`` grouped by class in the order of ``class_ids``.
    """
    device = next(gmmn.parameters()).device
    ids = torch.as_tensor(list(class_ids), dtype=torch.long, device=device)
    n = int(n_per_class)
    gen = None
    if seed is not None:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(seed))
    was_training = gmmn.training
    gmmn.eval()
    try:
        with torch.no_grad():
            noise = torch.rand(n, ids.shape[0], gmmn.noise_dim, generator=gen, device=device)
            emb = class_embeddings.to(device=device, dtype=torch.float32)[ids]
            feats = gmmn(emb, adjacency.to(device), noise).transpose(0, 1).reshape(-1, gmmn.feat_dim)
    finally:
        gmmn.train(was_training)
    return feats, ids.repeat_interleave(n)
