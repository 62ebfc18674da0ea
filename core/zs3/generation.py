"""Training the GMMN on real seen-class features and sampling synthetic features from it.

Each step draws ``per_class`` real features of every seen class (with replacement when a class has
fewer) and the same number of generated ones, and takes one batched MMD over all classes at once.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from core.models.gmmn import DEFAULT_SIGMAS, GMMN, mmd_loss
from core.zs3.sampling import capped_subsample
from core.constants import IGNORE
from core.errors import CancelledError, UserError

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@dataclass
class GMMNTrainConfig:
    """Adam 2e-4, 128 pixels per class per step and σ ∈ {2,…,80} are the paper's. ``steps`` is not: the
    paper gives no budget and the reference takes one single-class step per (image, class) for ≈ 30
    epochs; one batched step here covers every seen class, so the reference's budget is about
    30 × Σ_images |seen classes in it| / |seen classes| steps (docs/adr/0004-gmmn-kernel-and-budget.md).
    """

    steps: int = 1000
    lr: float = 2e-4
    per_class: int = 128
    sigmas: tuple = DEFAULT_SIGMAS
    noise_dim: int = 300
    hidden_dim: int = 256
    dropout: float = 0.5
    seed: int = 0
    classes_per_step: int | None = None  # None = every present class in every step
    scenes_per_step: int = 1  # graph-context generator only: scenes per step, as one block-diagonal graph
    # ReLU on the generated features: None = exactly when every real training feature is ≥ 0 (post-ReLU
    # decoder features: on; the session's hypercolumns, which go negative: off). One rule for every caller.
    output_relu: bool | None = None
    kernel: str = "std"  # core.models.gmmn.KERNELS; docs/adr/0004-gmmn-kernel-and-budget.md

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


def resolve_output_relu(choice: bool | None, *real: Tensor) -> bool:
    """``GMMNTrainConfig.output_relu``: as given, or (None) whether the real features are all ≥ 0."""
    if choice is not None:
        return bool(choice)
    return all(bool((r >= 0).all()) for r in real if r.numel())


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


def draw_rows(counts: Tensor, starts: Tensor, cls_idx: Tensor, per: int, gen: torch.Generator) -> Tensor:
    """(K, per) row indices: ``per`` uniform draws with replacement inside each chosen class's block.

    Rows are grouped by class (class k occupies ``starts[k] : starts[k] + counts[k]``); a class with
    fewer rows than ``per`` is drawn with repeats rather than dropped, so rare classes still train.
    """
    c = counts[cls_idx, None]
    offsets = (torch.rand(cls_idx.shape[0], int(per), generator=gen, device=counts.device) * c).long()
    return starts[cls_idx, None] + torch.minimum(offsets, c - 1)


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
            output_relu=resolve_output_relu(config.output_relu, feats),
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
        real = feats[draw_rows(counts, starts, cls_idx, per, gen)]  # (K, per, F)
        emb = class_embeddings[present[cls_idx]].repeat_interleave(per, dim=0)
        noise = gmmn.sample_noise(emb.shape[0], generator=gen, device=device)
        fake = gmmn(emb, noise).view(per_step, per, -1)
        loss = mmd_loss(real, fake, config.sigmas, config.kernel)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None and (step % report_every == 0 or step == config.steps - 1):
            progress((step + 1) / config.steps, f"feature generator step {step + 1}/{config.steps}, MMD {loss.item():.4f}")
        if step % 200 == 0:
            log.debug("gmmn step %d loss %.5f", step, loss.item())
    return gmmn


@contextlib.contextmanager
def sampling_mode(net: nn.Module, seed: int | None = None, with_dropout: bool = True):
    """Context for drawing samples from a generator ``net``: no autograd, dropout as asked, seeded.

    ``with_dropout`` puts only the ``nn.Dropout`` modules in training mode (every other module in
    eval mode); the training flag of every module is restored on exit. With a ``seed`` the global
    RNG (which draws dropout masks) is forked and seeded, so the caller's RNG is untouched and the
    draw is reproducible; the yielded ``torch.Generator`` (None without a seed) is for the noise.
    ``torch.no_grad`` rather than ``inference_mode``: callers train classifiers on these tensors.
    """
    device = next(net.parameters()).device
    flags = [(m, m.training) for m in net.modules()]
    fork_devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=fork_devices, enabled=seed is not None), torch.no_grad():
            gen = None
            if seed is not None:
                torch.manual_seed(int(seed))
                gen = torch.Generator(device=device)
                gen.manual_seed(int(seed))
            net.eval()
            if with_dropout:
                for m in net.modules():
                    if isinstance(m, nn.Dropout):
                        m.train()
            yield gen
    finally:
        for m, flag in flags:
            m.training = flag


def generate_features(
    gmmn: GMMN,
    class_embeddings: Tensor,
    class_ids: Sequence[int],
    n_per_class: int,
    seed: int | None = None,
    with_dropout: bool = True,
) -> tuple[Tensor, Tensor]:
    """Sample ``n_per_class`` synthetic features for each class in ``class_ids``: the one sampler.

    ``with_dropout`` (default) samples with the GMMN's dropout active, i.e. from the distribution the
    MMD fitted to the real features during training (dropout was on then); eval-mode samples come out
    about half as spread and the retrained classifier fences unseen classes into too small a region
    (docs/adr/0003-generation-sampling.md). A ``seed`` makes the draw reproducible in both modes and
    leaves the caller's RNG untouched. Returns ``(features (K*n, F), labels (K*n,) long)`` on the
    GMMN's device, grouped by class in the order of ``class_ids``; no autograd graph; the module's
    training flags are as before. A ``GraphContextGMMN`` (e.g. from a ``--graph-context``
    checkpoint) is sampled without context, each class as a lone node; in-context generation is
    ``core.zs3.step2_graph.generate_in_context``.
    """
    from core.models.graph_context import GraphContextGMMN

    device = next(gmmn.parameters()).device
    ids = torch.as_tensor(list(class_ids), dtype=torch.long)
    n = int(n_per_class)
    if ids.numel() == 0 or n <= 0:
        return torch.zeros(0, gmmn.feat_dim, device=device), torch.zeros(0, dtype=torch.long, device=device)
    if isinstance(gmmn, GraphContextGMMN):
        lone = [([int(c)], torch.zeros(1, 1)) for c in ids.tolist()]
        feats = generate_in_graphs(gmmn, class_embeddings, lone, [0] * len(lone), n, seed, with_dropout)
        return feats.reshape(-1, gmmn.feat_dim), ids.to(device).repeat_interleave(n)
    emb = torch.as_tensor(class_embeddings).to(device=device, dtype=torch.float32)[ids.to(device)]
    emb = emb.repeat_interleave(n, dim=0)
    with sampling_mode(gmmn, seed, with_dropout) as gen:
        noise = gmmn.sample_noise(emb.shape[0], generator=gen, device=device)
        feats = gmmn(emb, noise).float()
    labels = ids.to(device).repeat_interleave(n)
    return feats, labels


@dataclass
class GraphScene:
    """One image's training data for the graph-context GMMN, compact.

    ``features`` (M, F) real features grouped by class in the order of ``present`` (K,) long with
    ``counts`` (K,) rows each; ``adjacency`` (K, K) 0/1: which of those classes touch in the image.
    """

    features: Tensor
    present: Tensor
    counts: Tensor
    adjacency: Tensor


def prepare_graph_scene(features: Tensor, label_map: Tensor, num_classes: int, max_per_class: int | None = None,
                        generator: torch.Generator | None = None) -> GraphScene | None:
    """``features`` (F,h,w) + ``label_map`` (h,w) at feature resolution → a :class:`GraphScene`.

    255 and ids ≥ ``num_classes`` are ignored (the graph is built from the whole map, so pass maps
    whose classes may be read). ``max_per_class`` keeps a random subset of each class's pixels (the
    graph is unchanged): it bounds the memory of thousands of scenes. None when no pixel is labelled.
    """
    from core.models.graph_context import class_adjacency

    f = features.reshape(features.shape[0], -1).t()
    lab = torch.as_tensor(label_map).reshape(-1).long().to(f.device)
    if lab.shape[0] != f.shape[0]:
        raise ValueError(f"label map ({tuple(label_map.shape)}) does not match features ({tuple(features.shape)})")
    keep = (lab != IGNORE) & (lab >= 0) & (lab < num_classes)
    if not bool(keep.any()):
        return None
    f, lab = f[keep], lab[keep]
    if max_per_class is not None:
        order = capped_subsample(lab, int(max_per_class), generator)
    else:
        order = torch.argsort(lab, stable=True)
    f, lab = f[order], lab[order]
    present, counts = torch.unique_consecutive(lab, return_counts=True)
    pc = present.cpu()
    adj = class_adjacency(torch.as_tensor(label_map).cpu(), num_classes)[pc][:, pc]
    return GraphScene(f.float(), present, counts, adj)


def train_graph_gmmn(
    scenes: Sequence,
    class_embeddings: Tensor,
    config: GMMNTrainConfig | None = None,
    gmmn=None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
):
    """Train a ``GraphContextGMMN`` (ZS3Net-GC) on per-image scenes.

    ``scenes``: ``(features (F,h,w), label_map (h,w))`` pairs at feature resolution (255 = ignore;
    pass only maps whose classes may be read, i.e. seen classes), or :class:`GraphScene` objects
    (``prepare_graph_scene``). Each step takes ``config.scenes_per_step`` random scenes, draws
    ``per_class`` real features per node of their class-adjacency graphs, generates ``per_class``
    samples per node in one batched pass over the block-diagonal union of the graphs (dropout on),
    and takes one batched MMD over all nodes. Training runs on the device of the first scene's
    features. Returns the network in eval mode.
    """
    from core.models.graph_context import GraphContextGMMN, normalize_adjacency

    config = config or GMMNTrainConfig()
    num_classes = class_embeddings.shape[0]
    prepared = []
    for scene in scenes:
        if not isinstance(scene, GraphScene):
            scene = prepare_graph_scene(scene[0], scene[1], num_classes)
        if scene is None:
            continue
        f = scene.features
        present, counts = scene.present.to(f.device), scene.counts.to(f.device)
        prepared.append((f, present, counts, torch.cumsum(counts, 0) - counts,
                         normalize_adjacency(scene.adjacency.float()).to(f.device)))
    if not prepared:
        raise UserError("no labelled pixels to train the graph-context feature generator on")
    device = prepared[0][0].device
    emb_all = class_embeddings.to(device=device, dtype=torch.float32)
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(int(config.seed))
        if gmmn is None:
            gmmn = GraphContextGMMN(emb_all.shape[1], feat_dim=prepared[0][0].shape[1], noise_dim=config.noise_dim,
                                    hidden_dim=config.hidden_dim, dropout=config.dropout,
                                    output_relu=resolve_output_relu(config.output_relu,
                                                                    *[p[0] for p in prepared]))
        if gmmn.embed_dim != emb_all.shape[1] or gmmn.feat_dim != prepared[0][0].shape[1]:
            raise UserError(
                f"graph feature generator expects {gmmn.embed_dim}-d embeddings and {gmmn.feat_dim}-d features, "
                f"got {emb_all.shape[1]} and {prepared[0][0].shape[1]}: retrain it from scratch")
        gmmn = gmmn.to(device).train()
        optimizer = _Adam(list(gmmn.parameters()), lr=config.lr)
        gen = torch.Generator(device=device)
        gen.manual_seed(int(config.seed))
        per = int(config.per_class)
        report_every = max(1, config.steps // 50)
        for step in range(int(config.steps)):
            _check_cancel(cancel)
            picks = torch.randint(len(prepared), (max(1, int(config.scenes_per_step)),), generator=gen, device=device)
            reals, nodes, adjs = [], [], []
            for i in picks.tolist():
                f, present, counts, starts, norm_adj = prepared[i]
                offsets = torch.minimum((torch.rand(present.shape[0], per, generator=gen, device=device)
                                         * counts[:, None]).long(), counts[:, None] - 1)
                reals.append(f[starts[:, None] + offsets])  # (K_i, per, F)
                nodes.append(present)
                adjs.append(norm_adj)
            real = torch.cat(reals)  # (K, per, F), K = nodes of all picked scenes
            present = torch.cat(nodes)
            norm_adj = adjs[0] if len(adjs) == 1 else torch.block_diag(*adjs)  # scenes stay separate graphs
            noise = torch.rand(per, present.shape[0], gmmn.noise_dim, generator=gen, device=device)
            fake = gmmn(emb_all[present], norm_adj, noise, normalized=True).transpose(0, 1)  # (K, per, F)
            loss = mmd_loss(real, fake, config.sigmas, config.kernel)
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
    with_dropout: bool = True,
) -> tuple[Tensor, Tensor]:
    """Sample features for the nodes ``class_ids`` of a context graph ``adjacency`` (K,K over those ids).

    Same sampling rules as :func:`generate_features` (``with_dropout``, ``seed``, no autograd).
    Returns ``(features (K*n, F), labels (K*n,))`` grouped by class in the order of ``class_ids``.
    """
    device = next(gmmn.parameters()).device
    ids = torch.as_tensor(list(class_ids), dtype=torch.long, device=device)
    n = int(n_per_class)
    with sampling_mode(gmmn, seed, with_dropout) as gen:
        noise = torch.rand(n, ids.shape[0], gmmn.noise_dim, generator=gen, device=device)
        emb = torch.as_tensor(class_embeddings).to(device=device, dtype=torch.float32)[ids]
        feats = gmmn(emb, adjacency.to(device), noise).transpose(0, 1).reshape(-1, gmmn.feat_dim).float()
    return feats, ids.repeat_interleave(n)


def generate_in_graphs(
    gmmn,
    class_embeddings: Tensor,
    graphs: Sequence[tuple[Sequence[int], Tensor]],
    nodes: Sequence[int],
    samples_per_graph: int,
    seed: int | None = None,
    with_dropout: bool = True,
) -> Tensor:
    """Features of one node per graph, for many graphs in one batched pass.

    ``graphs``: ``(class_ids (K_g,), adjacency (K_g, K_g))``; ``nodes[g]`` the position of the node
    wanted in graph ``g``. The graphs go through the network as one block-diagonal graph (a graph
    convolution never crosses blocks, so each graph is processed on its own). Returns
    ``(G, samples_per_graph, F)``.
    """
    from core.models.graph_context import normalize_adjacency

    device = next(gmmn.parameters()).device
    if not graphs:
        return torch.zeros(0, int(samples_per_graph), gmmn.feat_dim, device=device)
    ids = torch.cat([torch.as_tensor(list(g[0]), dtype=torch.long) for g in graphs]).to(device)
    norm = torch.block_diag(*[normalize_adjacency(torch.as_tensor(g[1]).float()) for g in graphs]).to(device)
    offsets = torch.tensor([0] + [len(g[0]) for g in graphs[:-1]]).cumsum(0)
    where = (offsets + torch.as_tensor(list(nodes), dtype=torch.long)).to(device)
    emb = torch.as_tensor(class_embeddings).to(device=device, dtype=torch.float32)[ids]
    with sampling_mode(gmmn, seed, with_dropout) as gen:
        noise = torch.rand(int(samples_per_graph), ids.shape[0], gmmn.noise_dim, generator=gen, device=device)
        out = gmmn(emb, norm, noise, normalized=True)  # (S, N, F)
    return out[:, where].transpose(0, 1).float()
