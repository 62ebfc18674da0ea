"""ZS3Net training as the paper describes it, one function per step (Bucher et al., NeurIPS 2019).

1. :func:`train_segmentation` – DeepLabv3+ on seen classes only. The dataset given is a
   ``SeenOnly`` view (every image containing an unseen class dropped); unseen-class logits are not in
   the loss and their classifier rows are restored after training, so they are never trained.
2. :func:`collect_features` – real 256-d decoder features of seen pixels (labels nearest-downsampled to
   the feature grid, unseen ids mapped to 255 first, a uniform random sample of at most
   ``max_per_class`` pixels per class) and :func:`train_generator` – the GMMN on them.
3. :func:`retrain_classifier` – only the final 1×1 classifier, on real seen features + GMMN features of
   the unseen classes, class-balanced; the fitted ``nn.Linear`` is copied into the model's 1×1 conv.
4. :func:`self_train` – predict on unlabelled images (their labels are never opened), pseudo-label the
   top p% most confident pixels predicted as each unseen class, add their real features, retrain.

:func:`evaluate` – one confusion matrix over the whole set, arg-max over all classes.

Graph context (ZS3Net-GC): :func:`train_graph_generator` replaces step 2b with a GMMN whose layers are
graph convolutions over each seen-only scene's class-adjacency graph; step 3 then generates every
unseen class inside context graphs made from those seen-only graphs (:func:`insert_unseen`), never
from a label map holding the unseen class. Generated features are sampled with the GMMN's dropout
on (``core.zs3.generation.generate_features``, docs/adr/0003-generation-sampling.md).

No step reads a label of an unseen class: the reference code does (it puts generated features at the
ground-truth positions of unseen pixels); ``tests/engine/test_no_unseen_labels.py`` proves we do not.
Defaults are the paper's (SGD lr 7e-3 poly 0.9, momentum 0.9, weight decay 5e-4, output stride 16,
batch 16, crop 513; GMMN Adam 2e-4, 128 pixels per class per step, σ ∈ {2,…,80}; p = 25 % on VOC,
75 % on Context).
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.constants import IGNORE
from core.errors import CancelledError, UserError
from core.zs3.self_training import DEFAULT_PERCENT

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]



# ----------------------------------------------------------------------------- configs
@dataclass
class SegTrainConfig:
    """Step 1 options; defaults = the paper / DeepLabv3+ reference training on VOC."""

    iterations: int = 30000
    batch_size: int = 16  # total over all processes
    lr: float = 7e-3
    poly_power: float = 0.9
    momentum: float = 0.9
    weight_decay: float = 5e-4
    crop_size: int = 513
    base_size: int | None = 513
    scale: tuple = (0.5, 2.0)
    workers: int = 0
    seed: int = 0
    log_every: int = 50

    def to_dict(self) -> dict:
        d = asdict(self)
        d["scale"] = list(self.scale)
        return d


@dataclass
class FeatureConfig:
    """Step 2/4 feature sampling: a uniform sample of at most ``max_per_class`` pixels per class."""

    max_per_class: int = 20000
    batch_size: int = 8
    workers: int = 0
    seed: int = 0


@dataclass
class GraphSceneConfig:
    """Step 2 of the graph-context variant (ZS3Net-GC): scenes of seen-only training images.

    ``max_scenes`` images (a seeded uniform sample; None = all) keep their class-adjacency graph and
    at most ``max_per_class_per_scene`` feature rows per class (bounded memory); the same pass also
    samples at most ``max_per_class`` real features per class for step 3 (like :func:`collect_features`).
    """

    max_scenes: int | None = 2000
    max_per_class_per_scene: int = 64
    max_per_class: int = 20000
    batch_size: int = 8
    workers: int = 0
    seed: int = 0


@dataclass
class SelfTrainConfig:
    """Step 4 options. ``percent``: top p % most confident pixels per unseen class (25 VOC, 75 Context)."""

    percent: float = DEFAULT_PERCENT
    max_per_class: int = 1500  # at most the classifier's rows per class (it would subsample the rest)
    include_generated: bool = True
    sample_with_dropout: bool = True  # see core.zs3.generation.generate_features
    batch_size: int = 8
    workers: int = 0
    seed: int = 0


# ----------------------------------------------------------------------------- helpers
def _check_cancel(cancel: threading.Event | None, what: str) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError(f"{what} cancelled")


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def classifier_conv(model: nn.Module) -> nn.Conv2d:
    """The final 1×1 classifier convolution of a segmentation model.

    ``model.classifier`` when it is a 1×1 Conv2d, else the last 1×1 Conv2d registered in the model.
    """
    head = getattr(model, "classifier", None)
    if isinstance(head, nn.Conv2d) and head.kernel_size == (1, 1):
        return head
    last = None
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1):
            last = module
    if last is None:
        raise ValueError(f"{type(model).__name__} has no 1×1 classifier convolution")
    return last


def set_classifier(model: nn.Module, linear: nn.Linear) -> None:
    """Copy an ``nn.Linear(F, C)`` into the model's 1×1 classifier conv (same function per pixel)."""
    conv = classifier_conv(model)
    if conv.weight.shape[:2] != linear.weight.shape:
        raise ValueError(f"classifier is {tuple(conv.weight.shape[:2])}, fitted linear is {tuple(linear.weight.shape)}")
    with torch.no_grad():
        conv.weight.copy_(linear.weight.detach().view_as(conv.weight).to(conv.weight))
        if conv.bias is not None:
            conv.bias.copy_(linear.bias.detach().to(conv.bias))


def classifier_as_linear(model: nn.Module) -> nn.Linear:
    conv = classifier_conv(model)
    linear = nn.Linear(conv.in_channels, conv.out_channels).to(conv.weight.device)
    with torch.no_grad():
        linear.weight.copy_(conv.weight.detach().flatten(1))
        if conv.bias is not None:
            linear.bias.copy_(conv.bias.detach())
        else:
            linear.bias.zero_()
    return linear


def seen_lut(seen_ids: Iterable[int], num_values: int = 256) -> np.ndarray:
    """uint8 look-up table: seen id → itself, every other value (unseen ids, 255) → 255."""
    lut = np.full(num_values, IGNORE, dtype=np.uint8)
    for i in seen_ids:
        lut[int(i)] = int(i)
    return lut


def normalize_images(images: Sequence[np.ndarray], device: torch.device) -> Tensor:
    """HWC uint8 RGB images of one size → (B,3,H,W) float tensor, ImageNet mean/std."""
    from core.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    batch = torch.from_numpy(np.stack([np.ascontiguousarray(im) for im in images])).to(device)
    batch = batch.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    batch = (batch - mean) / std
    if device.type == "cuda":
        batch = batch.contiguous(memory_format=torch.channels_last)
    return batch


def _identity(x):
    return x


def _same_size_batches(items: Iterable[tuple], batch_size: int) -> Iterator[list[tuple]]:
    """Group consecutive items whose first element (an image) has the same shape."""
    batch: list[tuple] = []
    for item in items:
        if batch and (len(batch) >= batch_size or item[0].shape != batch[0][0].shape):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def _iterate(dataset, fn: Callable[[Any, int], tuple], workers: int) -> Iterator[tuple]:
    """``fn(dataset, i)`` for every index, in order, optionally in DataLoader worker processes."""
    if workers <= 0:
        for i in range(len(dataset)):
            yield fn(dataset, i)
        return
    loader = torch.utils.data.DataLoader(_IndexMap(dataset, fn), batch_size=None, shuffle=False,
                                         num_workers=workers, collate_fn=_identity)
    yield from loader


class _IndexMap(torch.utils.data.Dataset):
    def __init__(self, dataset, fn):
        self.dataset, self.fn = dataset, fn

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return self.fn(self.dataset, i)


def _image_only(dataset, i: int) -> tuple[np.ndarray]:
    """Read image ``i`` without its label: ``load_image`` when the reader has it."""
    if hasattr(dataset, "load_image"):
        return (dataset.load_image(i),)
    return (dataset[i].image,)


def _image_and_label(dataset, i: int) -> tuple[np.ndarray, np.ndarray]:
    sample = dataset.load_sample(i) if hasattr(dataset, "load_sample") else dataset[i]
    return sample.image, sample.label


class _BottomK:
    """Uniform random sample without replacement of at most ``k`` rows per class, in bounded memory.

    Each row gets a random key; per class the rows with the ``k`` smallest keys are kept.
    """

    def __init__(self, k: int, seed: int = 0):
        self.k = int(k)
        self.gen = torch.Generator().manual_seed(int(seed))
        self.rows: dict[int, list[Tensor]] = {}
        self.keys: dict[int, list[Tensor]] = {}
        self.sizes: dict[int, int] = {}

    def add(self, feats: Tensor, labels: Tensor) -> None:
        feats = feats.detach().float().cpu()
        labels = labels.cpu()
        keys = torch.rand(labels.shape[0], generator=self.gen)
        for c in torch.unique(labels).tolist():
            sel = labels == c
            self.rows.setdefault(c, []).append(feats[sel])
            self.keys.setdefault(c, []).append(keys[sel])
            self.sizes[c] = self.sizes.get(c, 0) + int(sel.sum())
            if self.sizes[c] > 2 * self.k:
                self._shrink(c)

    def _shrink(self, c: int) -> None:
        rows = torch.cat(self.rows[c])
        keys = torch.cat(self.keys[c])
        if keys.shape[0] > self.k:
            top = torch.topk(keys, self.k, largest=False).indices
            rows, keys = rows[top], keys[top]
        self.rows[c], self.keys[c], self.sizes[c] = [rows], [keys], keys.shape[0]

    def result(self, feat_dim: int) -> tuple[Tensor, Tensor]:
        feats, labels = [], []
        for c in sorted(self.rows):
            self._shrink(c)
            feats.append(self.rows[c][0])
            labels.append(torch.full((self.rows[c][0].shape[0],), c, dtype=torch.long))
        if not feats:
            return torch.zeros(0, feat_dim), torch.zeros(0, dtype=torch.long)
        return torch.cat(feats), torch.cat(labels)


# ----------------------------------------------------------------------------- step 1
def _poly_lr(base: float, it: int, total: int, power: float) -> float:
    return base * (1.0 - it / max(1, total)) ** power


def train_segmentation(model: nn.Module, dataset_seen_only, config: SegTrainConfig | None = None,
                       unseen_ids: Sequence[int] | None = None, device: torch.device | None = None,
                       dist_ctx=None, progress: Progress | None = None,
                       cancel: threading.Event | None = None) -> nn.Module:
    """Step 1: train the segmentation network on seen classes only.

    ``dataset_seen_only`` yields :class:`core.data.Sample` (a ``SeenOnly`` view: images with an unseen
    class are already gone). ``unseen_ids`` defaults to ``dataset_seen_only.unseen_ids``. The loss is
    cross-entropy over the seen-class logits only; unseen rows of the 1×1 classifier are put back to
    their initial values at the end (weight decay would otherwise shrink them), so they are never
    trained. Under torchrun (``dist_ctx.distributed``) the model is wrapped in DDP and each rank reads
    its shard through a ``DistributedSampler``. Returns the (unwrapped) model, in eval mode.
    """
    from core.data.transforms import TrainTransform
    from core.zs3 import distributed as zdist

    config = config or SegTrainConfig()
    if unseen_ids is None:
        unseen_ids = getattr(dataset_seen_only, "unseen_ids", None)
        if unseen_ids is None:
            raise ValueError("train_segmentation needs unseen_ids (or a SeenOnly dataset)")
    unseen_ids = sorted(int(u) for u in unseen_ids)
    if len(dataset_seen_only) == 0:
        raise UserError("no training image is left once images with unseen classes are dropped")
    device = device or (dist_ctx.device if dist_ctx is not None else _model_device(model))
    model = model.to(device)
    conv = classifier_conv(model)
    num_classes = conv.out_channels
    seen_ids = [c for c in range(num_classes) if c not in set(unseen_ids)]
    # target: seen id -> its position among the seen logits; everything else (incl. 255) -> ignore
    lut = torch.full((256,), IGNORE, dtype=torch.long, device=device)
    lut[torch.tensor(seen_ids, device=device)] = torch.arange(len(seen_ids), device=device)
    seen_index = torch.tensor(seen_ids, device=device)

    world = dist_ctx.world_size if dist_ctx is not None and dist_ctx.distributed else 1
    per_rank = max(1, config.batch_size // world)
    seed = zdist.rank_seed(config.seed, dist_ctx)
    transform = TrainTransform(base_size=config.base_size, crop_size=config.crop_size,
                               scale=tuple(config.scale),
                               generator=torch.Generator().manual_seed(seed) if config.workers == 0 else None)
    train_set = _Transformed(dataset_seen_only, transform)
    sampler = zdist.make_sampler(train_set, dist_ctx, shuffle=True, seed=config.seed)
    loader = train_loader(train_set, per_rank, sampler, config.workers, seed, pin_memory=device.type == "cuda")
    net = zdist.wrap_model(model, dist_ctx)  # DDP broadcasts rank 0's weights here
    saved_unseen = (conv.weight.detach()[unseen_ids].clone(),
                    conv.bias.detach()[unseen_ids].clone() if conv.bias is not None else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    is_main = dist_ctx is None or dist_ctx.is_main
    net.train()
    it, epoch, start = 0, 0, time.perf_counter()
    while it < config.iterations:
        if sampler is not None:
            sampler.set_epoch(epoch)
        for images, labels in loader:
            if it >= config.iterations:
                break
            _check_cancel(cancel, "segmentation training")
            lr = _poly_lr(config.lr, it, config.iterations, config.poly_power)
            for group in optimizer.param_groups:
                group["lr"] = lr
            images = images.to(device, non_blocking=True)
            target = lut[labels.to(device, non_blocking=True).clamp(0, 255)]
            if device.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    logits = net(images)
            else:
                logits = net(images)
            logits = logits.float().index_select(1, seen_index)  # unseen logits are not in the loss
            loss = F.cross_entropy(logits, target, ignore_index=IGNORE)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            it += 1
            if is_main and (it % config.log_every == 0 or it == config.iterations):
                log.info("seg iter %d/%d loss %.4f lr %.2e (%.1f s)", it, config.iterations, loss.item(), lr,
                         time.perf_counter() - start)
            if progress is not None and is_main:
                progress(it / config.iterations, f"segmentation iter {it}/{config.iterations}, loss {loss.item():.3f}")
        if it == 0:  # an epoch without a batch: looping again would never end
            raise UserError(f"no training batch: {len(train_set)} images for batches of {per_rank} per process")
        epoch += 1
    with torch.no_grad():
        conv.weight[unseen_ids] = saved_unseen[0]
        if conv.bias is not None:
            conv.bias[unseen_ids] = saved_unseen[1]
    model.eval()
    return model


def train_loader(train_set, per_rank: int, sampler, workers: int, seed: int, pin_memory: bool = False):
    """The step-1 loader: shuffled (or ``sampler``'s shard), full batches when there are enough images.

    ``seed`` (per rank, ``distributed.rank_seed``) drives the shuffle and the loader workers' torch seeds,
    from which the workers' random crops are drawn: ranks must not augment identically.
    """
    shard = len(sampler) if sampler is not None else len(train_set)
    return torch.utils.data.DataLoader(
        train_set, batch_size=per_rank, shuffle=sampler is None, sampler=sampler, drop_last=shard >= per_rank,
        num_workers=workers, generator=torch.Generator().manual_seed(seed), pin_memory=pin_memory)


class _Transformed(torch.utils.data.Dataset):
    """``dataset[i]`` through ``transform`` (the readers' own transform slot stays untouched)."""

    def __init__(self, dataset, transform):
        self.dataset, self.transform = dataset, transform

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        sample = self.dataset[i]
        return self.transform(sample)


# ----------------------------------------------------------------------------- step 2
def _seen_feature_batches(model: nn.Module, dataset, seen_ids: Sequence[int], batch_size: int, workers: int,
                          device: torch.device | None, cancel: threading.Event | None, what: str):
    """Yield ``(features (B,F,h,w) float32, labels (B,h,w) long)`` per batch, labels on the feature grid.

    The one place steps 2 and 2-GC read label maps: every value that is not a seen class becomes 255
    through the look-up table *before* anything else looks at it, then labels are nearest-downsampled.
    """
    from core.device import inference_context

    device = device or _model_device(model)
    lut = torch.from_numpy(seen_lut(seen_ids).astype(np.int64))
    model.eval()
    for batch in _same_size_batches(_iterate(dataset, _image_and_label, workers), batch_size):
        _check_cancel(cancel, what)
        images = normalize_images([b[0] for b in batch], device)
        labels = lut[torch.from_numpy(np.stack([b[1] for b in batch])).long()]  # unseen → 255 first
        with inference_context(device):
            feats = model.features(images)
        feats = feats.float()
        small = F.interpolate(labels[:, None].float(), size=feats.shape[-2:], mode="nearest")[:, 0].long()
        yield feats, small


def _labelled_rows(feats: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Per-pixel rows ``(N,F)`` and labels ``(N,)`` of the pixels that carry a seen label."""
    flat_feats = feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1])
    flat_labels = labels.reshape(-1).to(flat_feats.device)
    keep = flat_labels != IGNORE
    return flat_feats[keep], flat_labels[keep]


@torch.no_grad()
def collect_features(model: nn.Module, dataset, seen_ids: Sequence[int], config: FeatureConfig | None = None,
                     device: torch.device | None = None, progress: Progress | None = None,
                     cancel: threading.Event | None = None) -> tuple[Tensor, Tensor]:
    """Step 2a: real decoder features of seen-class pixels, ``(features (N,F) float32, labels (N,))`` on CPU.

    Every label map goes through a look-up table that sends any non-seen value to 255 *before* it is
    used (resized to the feature grid by nearest neighbour, then sampled); ``dataset`` itself should
    be the seen-only view, so unseen pixels are not even present. At most ``max_per_class`` pixels per
    class are kept, a uniform random sample over the whole set.
    """
    config = config or FeatureConfig()
    bank = _BottomK(config.max_per_class, config.seed)
    total, done, feat_dim = len(dataset), 0, 0
    for feats, small in _seen_feature_batches(model, dataset, seen_ids, config.batch_size, config.workers,
                                              device, cancel, "feature collection"):
        feat_dim = feats.shape[1]
        bank.add(*_labelled_rows(feats, small))
        done += feats.shape[0]
        if progress is not None:
            progress(done / max(1, total), f"features of {done}/{total} images")
    feats, labels = bank.result(feat_dim)
    if feats.shape[0] == 0:
        raise UserError("no labelled pixel of a seen class found: cannot collect features")
    log.info("collected %d seen features over %d classes", feats.shape[0], len(torch.unique(labels)))
    return feats, labels


def train_generator(features: Tensor, labels: Tensor, class_embeddings: Tensor, seen_ids: Sequence[int],
                    config=None, device: torch.device | None = None, progress: Progress | None = None,
                    cancel: threading.Event | None = None):
    """Step 2b: the GMMN, fitted on real features of the seen classes only (rows of other classes dropped)."""
    from core.zs3.generation import GMMNTrainConfig, train_gmmn

    config = config or GMMNTrainConfig()
    seen = torch.zeros(max(int(labels.max()) + 1 if labels.numel() else 1, 256), dtype=torch.bool)
    seen[torch.tensor(list(seen_ids), dtype=torch.long)] = True
    keep = seen[labels.clamp(0, seen.shape[0] - 1)] & (labels != IGNORE)
    device = device or features.device
    emb = torch.as_tensor(class_embeddings, dtype=torch.float32)
    return train_gmmn(features[keep].to(device), labels[keep].to(device), emb.to(device), config,
                      progress=progress, cancel=cancel)


# ----------------------------------------------------------------------------- step 2, graph context
#: a context graph: the class ids of its nodes and their (K, K) 0/1 adjacency
ContextGraph = tuple[list[int], Tensor]


@dataclass
class GraphGenerator:
    """What :func:`train_graph_generator` returns.

    ``gmmn``: the ``GraphContextGMMN``; ``contexts``: the distinct class-adjacency graphs of the
    seen-only training scenes (seen ids only), from which step 3 builds unseen contexts;
    ``features`` / ``labels``: real seen features sampled in the same pass (step 3's real rows).
    """

    gmmn: nn.Module
    contexts: list
    features: Tensor
    labels: Tensor


def _subset_indices(n: int, k: int | None, seed: int) -> set[int]:
    if k is None or k >= n:
        return set(range(n))
    return set(torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))[: int(k)].tolist())


@torch.no_grad()
def collect_scenes(model: nn.Module, dataset_seen_only, seen_ids: Sequence[int], num_classes: int,
                   config: GraphSceneConfig | None = None, device: torch.device | None = None,
                   progress: Progress | None = None, cancel: threading.Event | None = None):
    """Step 2a of ZS3Net-GC: per-image scenes + a real seen-feature sample, in one pass.

    Label maps go through the seen look-up table (anything not seen → 255) before use and are
    nearest-downsampled to the feature grid, as in :func:`collect_features`; ``dataset_seen_only``
    should be the ``SeenOnly`` view. Returns ``(scenes: list[GraphScene] on CPU, features, labels)``.
    """
    from core.zs3.generation import prepare_graph_scene

    config = config or GraphSceneConfig()
    bank = _BottomK(config.max_per_class, config.seed)
    chosen = _subset_indices(len(dataset_seen_only), config.max_scenes, config.seed)
    gen = torch.Generator().manual_seed(int(config.seed) + 1)
    scenes = []
    total, index, feat_dim = len(dataset_seen_only), 0, 0
    for feats, small in _seen_feature_batches(model, dataset_seen_only, seen_ids, config.batch_size,
                                              config.workers, device, cancel, "scene collection"):
        feat_dim = feats.shape[1]
        bank.add(*_labelled_rows(feats, small))
        for j in range(feats.shape[0]):
            if index + j in chosen:
                scene = prepare_graph_scene(feats[j].cpu(), small[j], num_classes,
                                            config.max_per_class_per_scene, generator=gen)
                if scene is not None:
                    scenes.append(scene)
        index += feats.shape[0]
        if progress is not None:
            progress(index / max(1, total), f"scenes of {index}/{total} images")
    real_feats, real_labels = bank.result(feat_dim)
    if not scenes:
        raise UserError("no labelled pixel of a seen class found: cannot collect scenes")
    log.info("collected %d scenes, %d seen features", len(scenes), real_feats.shape[0])
    return scenes, real_feats, real_labels


def context_graphs(scenes, max_graphs: int | None = 2000) -> list:
    """The distinct class-adjacency graphs of ``scenes`` as ``(class ids, adjacency)`` (first seen first)."""
    seen_keys, out = set(), []
    for scene in scenes:
        ids = [int(i) for i in scene.present.tolist()]
        adj = scene.adjacency.float().cpu()
        key = (tuple(ids), tuple(adj.flatten().int().tolist()))
        if key in seen_keys:
            continue
        seen_keys.add(key)
        out.append((ids, adj))
        if max_graphs is not None and len(out) >= max_graphs:
            break
    return out


def contexts_to_list(contexts) -> list:
    """Plain-container form for a checkpoint's meta: ``[[ids], [[i, j], …]]`` (edges as class-id pairs)."""
    out = []
    for ids, adj in contexts:
        a = torch.as_tensor(adj)
        edges = [[ids[i], ids[j]] for i, j in torch.nonzero(torch.triu(a, 1)).tolist()]
        out.append([list(map(int, ids)), edges])
    return out


def contexts_from_list(items) -> list:
    """Inverse of :func:`contexts_to_list`."""
    out = []
    for ids, edges in items:
        ids = [int(i) for i in ids]
        pos = {c: k for k, c in enumerate(ids)}
        adj = torch.zeros(len(ids), len(ids))
        for a, b in edges:
            adj[pos[int(a)], pos[int(b)]] = adj[pos[int(b)], pos[int(a)]] = 1.0
        out.append((ids, adj))
    return out


def train_graph_generator(model: nn.Module, dataset_seen_only, seen_ids: Sequence[int], class_embeddings: Tensor,
                          config=None, scene_config: GraphSceneConfig | None = None,
                          device: torch.device | None = None, progress: Progress | None = None,
                          cancel: threading.Event | None = None) -> GraphGenerator:
    """Step 2 of ZS3Net-GC: scenes of seen-only training images, then the graph-context GMMN on them.

    Every scene is the features of one image with its seen-only label map nearest-downsampled to the
    feature grid (unseen ids → 255 before use, so an unseen id is never read); the GMMN is trained on
    the class-adjacency graph of each scene (``core.zs3.generation.train_graph_gmmn``).
    """
    from core.zs3.generation import GMMNTrainConfig, train_graph_gmmn

    config = config or GMMNTrainConfig()
    device = device or _model_device(model)
    emb = torch.as_tensor(class_embeddings, dtype=torch.float32)

    def sub(lo, hi):
        return None if progress is None else (lambda f, m: progress(lo + (hi - lo) * f, m))

    scenes, real_feats, real_labels = collect_scenes(model, dataset_seen_only, seen_ids, emb.shape[0], scene_config,
                                                     device=device, progress=sub(0.0, 0.3), cancel=cancel)
    on_device = [type(s)(s.features.to(device), s.present.to(device), s.counts.to(device), s.adjacency)
                 for s in scenes]
    gmmn = train_graph_gmmn(on_device, emb.to(device), config, progress=sub(0.3, 1.0), cancel=cancel)
    return GraphGenerator(gmmn, context_graphs(scenes), real_feats, real_labels)


def insert_unseen(context: tuple, unseen_id: int, generator: torch.Generator) -> tuple[list[int], Tensor, int]:
    """A context graph for ``unseen_id`` built from a seen-only scene graph, without any unseen label.

    Two ways, each with probability ½: *replace* a random non-background node by the unseen class
    (it inherits that region's neighbours: an unseen object where a seen one was), or *add* the
    unseen class as a new node touching 1–2 random present classes (an extra object). A graph with
    no object node (background alone) always gets the *add*. Returns ``(ids, adjacency, position of
    the unseen node)``.
    """
    ids, adj = list(context[0]), torch.as_tensor(context[1]).float()
    objects = [k for k, c in enumerate(ids) if c != 0]
    if objects and float(torch.rand(1, generator=generator)) < 0.5:
        k = objects[int(torch.randint(len(objects), (1,), generator=generator))]
        ids[k] = int(unseen_id)
        return ids, adj.clone(), k
    n = len(ids)
    m = min(n, 1 + int(torch.randint(2, (1,), generator=generator)))
    touch = torch.randperm(n, generator=generator)[:m]
    new = torch.zeros(n + 1, n + 1)
    new[:n, :n] = adj
    new[n, touch] = 1.0
    new[touch, n] = 1.0
    return ids + [int(unseen_id)], new, n


def generate_in_context(gmmn, class_embeddings: Tensor, unseen_ids: Sequence[int], contexts, n_per_class: int,
                        seed: int = 0, with_dropout: bool = True, n_contexts: int = 64) -> tuple[Tensor, Tensor]:
    """Graph-context features of each unseen class, each in ``n_contexts`` random contexts.

    For every unseen class ``n_contexts`` seen-only scene graphs are drawn from ``contexts`` and the
    class is put into each (:func:`insert_unseen`); the network then generates the unseen node's
    features in all of them in one batched pass. No unseen label is read: the graphs come from
    seen-only label maps (a context holding an unseen id is refused). Returns ``(features (U*n, F),
    labels (U*n,))`` grouped by class.
    """
    from core.zs3.generation import generate_in_graphs

    unseen = [int(u) for u in unseen_ids]
    if not contexts:
        raise ValueError("the graph-context generator needs context graphs of seen-only scenes")
    for ids, _ in contexts:
        if set(map(int, ids)) & set(unseen):
            raise ValueError("a context graph holds an unseen class: contexts must come from seen-only label maps")
    n = int(n_per_class)
    m = max(1, min(int(n_contexts), n))
    per = int(math.ceil(n / m))
    gen = torch.Generator().manual_seed(int(seed))
    feats, labels = [], []
    for i, u in enumerate(unseen):
        picks = torch.randint(len(contexts), (m,), generator=gen).tolist()
        graphs, nodes = [], []
        for p in picks:
            ids, adj, pos = insert_unseen(contexts[p], u, gen)
            graphs.append((ids, adj))
            nodes.append(pos)
        out = generate_in_graphs(gmmn, class_embeddings, graphs, nodes, per, seed=int(seed) + 1000 * i,
                                 with_dropout=with_dropout)
        feats.append(out.reshape(-1, out.shape[-1])[:n])
        labels.append(torch.full((n,), u, dtype=torch.long, device=out.device))
    return torch.cat(feats), torch.cat(labels)


# ----------------------------------------------------------------------------- step 3
def _assert_no_unseen(labels: Tensor, unseen_ids: Sequence[int], what: str) -> None:
    if labels.numel() and bool(torch.isin(labels.cpu(), torch.tensor(list(unseen_ids), dtype=torch.long)).any()):
        raise ValueError(f"{what} contain unseen-class rows: real features of unseen classes are not allowed here")


def _generate_unseen(gmmn, class_embeddings, unseen_ids, n, seed, with_dropout, contexts):
    from core.models.graph_context import GraphContextGMMN
    from core.zs3.generation import generate_features

    if isinstance(gmmn, GraphContextGMMN):
        return generate_in_context(gmmn, class_embeddings, unseen_ids, contexts, n, seed=seed,
                                   with_dropout=with_dropout)
    return generate_features(gmmn, class_embeddings, unseen_ids, n, seed=seed, with_dropout=with_dropout)


def retrain_classifier(model: nn.Module, real_feats: Tensor, real_labels: Tensor, gmmn,
                       class_embeddings: Tensor, unseen_ids: Sequence[int], config=None,
                       n_generated: int | None = None, extra_feats: Tensor | None = None,
                       extra_labels: Tensor | None = None, seed: int = 0, sample_with_dropout: bool = True,
                       contexts=None, progress: Progress | None = None,
                       cancel: threading.Event | None = None) -> nn.Module:
    """Step 3: retrain only the final 1×1 classifier on real seen + generated unseen features.

    ``n_generated`` per unseen class defaults to the largest real per-class count (capped by the
    classifier's ``max_per_class``); the fit itself is class-balanced. ``gmmn=None`` is the
    no-generation baseline: the classifier is fitted on seen features only and the unseen rows are set
    to never win (weight 0, bias −1e4). ``extra_feats/labels`` (step 4's pseudo-labelled pixels) are
    added as they are. ``sample_with_dropout``: see ``core.zs3.generation.generate_features``
    (docs/adr/0003). A ``GraphContextGMMN`` generates each unseen class in context graphs built from
    ``contexts`` (the seen-only scene graphs of :func:`train_graph_generator`, see
    :func:`generate_in_context`). The result is copied into the model's classifier conv; the model is
    returned.
    """
    from core.zs3.classifier import ClassifierTrainConfig, train_classifier

    config = config or ClassifierTrainConfig()
    unseen_ids = [int(u) for u in unseen_ids]
    _assert_no_unseen(real_labels, unseen_ids, "real seen features")
    conv = classifier_conv(model)
    num_classes = conv.out_channels
    device = conv.weight.device
    feats = [real_feats.float()]
    labels = [real_labels.long()]
    cap = config.max_per_class
    if n_generated is not None and cap and n_generated > cap:
        raise UserError(f"{n_generated} generated features per class but the classifier is fitted on at most "
                        f"{cap} rows per class: raise its rows per class or generate fewer")
    if gmmn is not None and unseen_ids:
        if n_generated is None:
            counts = torch.bincount(real_labels.long(), minlength=num_classes)
            n_generated = int(counts.max())
            if config.max_per_class:
                n_generated = min(n_generated, int(config.max_per_class))
        gen_feats, gen_labels = _generate_unseen(gmmn, class_embeddings, unseen_ids, max(1, n_generated), seed,
                                                 sample_with_dropout, contexts)
        feats.append(gen_feats.float().cpu())
        labels.append(gen_labels.cpu())
    if extra_feats is not None and extra_feats.numel():
        feats.append(extra_feats.float().cpu())
        labels.append(extra_labels.long().cpu())
    x = torch.cat([f.cpu() for f in feats]).to(device)
    y = torch.cat([lab.cpu() for lab in labels]).to(device)
    linear = train_classifier(x, y, num_classes, config, progress=progress, cancel=cancel,
                              upweight=unseen_ids if gmmn is not None or extra_feats is not None else ())
    if gmmn is None and unseen_ids:
        with torch.no_grad():
            linear.weight[unseen_ids] = 0.0
            linear.bias[unseen_ids] = -1e4
    set_classifier(model, linear)
    return model


# ----------------------------------------------------------------------------- step 4
@torch.no_grad()
def self_train(model: nn.Module, unlabelled_dataset, unseen_ids: Sequence[int], percent: float,
               real_feats: Tensor, real_labels: Tensor, gmmn, class_embeddings: Tensor,
               config: SelfTrainConfig | None = None, classifier_config=None,
               device: torch.device | None = None, contexts=None, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> tuple[nn.Module, dict]:
    """Step 4 (ZS3Net+ST): pseudo-label confident unseen pixels of unlabelled images, then retrain.

    Only images are read from ``unlabelled_dataset`` (``load_image``), never labels. One pass: the
    per-class confidence histogram of :class:`PseudoLabelSelector` gives the top-``percent`` % threshold
    over the whole set, while a uniform sample of the features of pixels predicted as each unseen class
    (with their confidence) is kept; the sample is then cut at the threshold — the same pixels
    ``select_pseudo_labels`` would keep, subsampled. Returns ``(model, stats)``.
    """
    from core.device import inference_context
    from core.zs3.self_training import PseudoLabelSelector, confidence_scores

    from core.zs3.classifier import ClassifierTrainConfig

    config = config or SelfTrainConfig(percent=percent)
    cap = (classifier_config or ClassifierTrainConfig()).max_per_class
    if cap and config.max_per_class > cap:
        raise UserError(f"{config.max_per_class} pseudo-labelled pixels per class but the classifier is fitted on "
                        f"at most {cap} rows per class: raise its rows per class or keep fewer pixels")
    device = device or _model_device(model)
    unseen_ids = [int(u) for u in unseen_ids]
    selector = PseudoLabelSelector(unseen_ids, percent)
    # oversample so that ≈ max_per_class rows survive the cut at the threshold
    keep_k = int(math.ceil(config.max_per_class * 100.0 / max(percent, 1e-3)))
    bank = _BottomK(keep_k, config.seed)
    model.eval()
    total, done, feat_dim = len(unlabelled_dataset), 0, 0
    for batch in _same_size_batches(_iterate(unlabelled_dataset, _image_only, config.workers), config.batch_size):
        _check_cancel(cancel, "self-training")
        images = normalize_images([b[0] for b in batch], device)
        with inference_context(device):
            feats = model.features(images)
            logits = model.classify(feats)
        feats, logits = feats.float(), logits.float()
        feat_dim = feats.shape[1]
        if logits.shape[-2:] != feats.shape[-2:]:
            logits = F.interpolate(logits, size=feats.shape[-2:], mode="bilinear", align_corners=False)
        pred, score = confidence_scores(logits.softmax(1))
        selector.observe_scores(pred, score)
        flat_pred = pred.reshape(-1)
        mask = torch.isin(flat_pred, torch.tensor(unseen_ids, device=flat_pred.device))
        flat_feats = feats.permute(0, 2, 3, 1).reshape(-1, feat_dim)[mask]
        # carry the score as an extra column so it survives the sampling
        bank.add(torch.cat([flat_feats, score.reshape(-1)[mask, None]], 1), flat_pred[mask])
        done += len(batch)
        if progress is not None:
            progress(0.8 * done / max(1, total), f"pseudo-labelling {done}/{total} images")
    rows, labels = bank.result(feat_dim + 1)
    thresholds = selector.thresholds()
    chosen_feats, chosen_labels, stats = [], [], {"percent": percent, "pseudo_pixels": {}}
    for u in unseen_ids:
        sel = labels == u
        f_u = rows[sel]
        ok = f_u[:, -1] >= thresholds.get(u, math.inf)
        f_u = f_u[ok][:, :-1]
        if f_u.shape[0] > config.max_per_class:
            f_u = f_u[: config.max_per_class]  # rows are already in random order
        chosen_feats.append(f_u)
        chosen_labels.append(torch.full((f_u.shape[0],), u, dtype=torch.long))
        stats["pseudo_pixels"][int(u)] = int(f_u.shape[0])
    extra_f = torch.cat(chosen_feats) if chosen_feats else torch.zeros(0, feat_dim)
    extra_l = torch.cat(chosen_labels) if chosen_labels else torch.zeros(0, dtype=torch.long)
    log.info("self-training: pseudo-labelled pixels per unseen class %s", stats["pseudo_pixels"])
    with torch.enable_grad():
        retrain_classifier(model, real_feats, real_labels, gmmn if config.include_generated else None,
                           class_embeddings, unseen_ids, classifier_config, extra_feats=extra_f,
                           extra_labels=extra_l, seed=config.seed + 1, contexts=contexts,
                           sample_with_dropout=config.sample_with_dropout, cancel=cancel)
    if progress is not None:
        progress(1.0, "self-training done")
    return model, stats


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(model: nn.Module, dataset, seen_ids: Sequence[int], unseen_ids: Sequence[int],
             batch_size: int = 8, workers: int = 0, device: torch.device | None = None,
             progress: Progress | None = None, cancel: threading.Event | None = None) -> dict:
    """Generalised ZS3 evaluation: arg-max over all classes, one confusion matrix over the whole set.

    Returns ``ConfusionMatrix.scores(seen_ids, unseen_ids)`` (pa/ma/miou per subset, hiou, per-class iou).
    """
    from core.device import inference_context
    from core.metrics import ConfusionMatrix

    device = device or _model_device(model)
    num_classes = classifier_conv(model).out_channels
    cm = ConfusionMatrix(num_classes)
    model.eval()
    total, done = len(dataset), 0
    for batch in _same_size_batches(_iterate(dataset, _image_and_label, workers), batch_size):
        _check_cancel(cancel, "evaluation")
        images = normalize_images([b[0] for b in batch], device)
        with inference_context(device):
            logits = model(images)
        if logits.shape[-2:] != images.shape[-2:]:
            logits = F.interpolate(logits.float(), size=images.shape[-2:], mode="bilinear", align_corners=False)
        pred = logits.argmax(1).cpu()
        target = torch.from_numpy(np.stack([b[1] for b in batch])).long()
        cm.update(pred, target)
        done += len(batch)
        if progress is not None:
            progress(done / max(1, total), f"evaluated {done}/{total} images")
    return cm.scores(list(seen_ids), list(unseen_ids))
