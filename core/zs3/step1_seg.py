"""Step 1 of ZS3Net: DeepLabv3+ (or the tiny net) trained on seen classes only, alone or under torchrun."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.constants import IGNORE
from core.errors import UserError
from core.zs3.common import Progress, _check_cancel, _model_device, classifier_conv

log = logging.getLogger(__name__)


@dataclass
class SegTrainConfig:
    """Step 1 options; defaults = the paper / DeepLabv3+ reference training on VOC.

    ``head_lr_mult``: the reference's parameter groups, the backbone at ``lr`` and everything after it
    (ASPP, decoder, classifier) at ``head_lr_mult × lr``. ``checkpoint_every``: iterations between
    resumable states handed to ``train_segmentation``'s ``on_checkpoint`` (0 = none).
    """

    iterations: int = 30000
    batch_size: int = 16  # total over all processes
    lr: float = 7e-3
    head_lr_mult: float = 10.0
    poly_power: float = 0.9
    momentum: float = 0.9
    weight_decay: float = 5e-4
    crop_size: int = 513
    base_size: int | None = 513
    scale: tuple = (0.5, 2.0)
    workers: int = 0
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["scale"] = list(self.scale)
        return d


def _poly_lr(base: float, it: int, total: int, power: float) -> float:
    return base * (1.0 - it / max(1, total)) ** power


def param_groups(model: nn.Module, head_lr_mult: float) -> list[dict]:
    """SGD groups: ``model.backbone`` at ×1, every other parameter at ×``head_lr_mult`` (key ``mult``)."""
    backbone = getattr(model, "backbone", None)
    mine = {id(p) for p in backbone.parameters()} if isinstance(backbone, nn.Module) else set()
    groups = [{"params": [p for p in model.parameters() if id(p) in mine], "mult": 1.0},
              {"params": [p for p in model.parameters() if id(p) not in mine], "mult": float(head_lr_mult)}]
    return [g for g in groups if g["params"]]


def _seen_targets(num_classes: int, unseen_ids: Sequence[int], device) -> tuple[Tensor, Tensor]:
    """(look-up table: seen id → its position among the seen logits, all else 255; the seen ids)."""
    seen_ids = [c for c in range(num_classes) if c not in set(unseen_ids)]
    lut = torch.full((256,), IGNORE, dtype=torch.long, device=device)
    lut[torch.tensor(seen_ids, device=device)] = torch.arange(len(seen_ids), device=device)
    return lut, torch.tensor(seen_ids, device=device)


def _make_loader(dataset_seen_only, config: SegTrainConfig, dist_ctx, device):
    from core.data.transforms import TrainTransform
    from core.zs3 import distributed as zdist

    world = dist_ctx.world_size if dist_ctx is not None and dist_ctx.distributed else 1
    per_rank = max(1, config.batch_size // world)
    seed = zdist.rank_seed(config.seed, dist_ctx)
    transform = TrainTransform(base_size=config.base_size, crop_size=config.crop_size,
                               scale=tuple(config.scale),
                               generator=torch.Generator().manual_seed(seed) if config.workers == 0 else None)
    train_set = _Transformed(dataset_seen_only, transform)
    sampler = zdist.make_sampler(train_set, dist_ctx, shuffle=True, seed=config.seed)
    loader = train_loader(train_set, per_rank, sampler, config.workers, seed, pin_memory=device.type == "cuda")
    return loader, sampler, per_rank


def _sgd_step(net, optimizer, lr: float, images: Tensor, labels: Tensor, lut: Tensor, seen_index: Tensor,
              device) -> Tensor:
    """One poly-lr SGD step on a batch; cross-entropy over the seen logits only (bf16 autocast on CUDA)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("mult", 1.0)
    cuda = device.type == "cuda"
    images = images.to(device, non_blocking=True)
    if cuda:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
        logits = net(images)
    logits = logits.float().index_select(1, seen_index)  # unseen logits are not in the loss
    loss = F.cross_entropy(logits, lut[labels.to(device, non_blocking=True).clamp(0, 255)], ignore_index=IGNORE)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def train_segmentation(model: nn.Module, dataset_seen_only, config: SegTrainConfig | None = None,
                       unseen_ids: Sequence[int] | None = None, device: torch.device | None = None,
                       dist_ctx=None, progress: Progress | None = None,
                       cancel: threading.Event | None = None, resume: dict | None = None,
                       on_checkpoint: Callable[[dict], None] | None = None) -> nn.Module:
    """Step 1: train the segmentation network on seen classes only.

    ``dataset_seen_only`` yields :class:`core.data.Sample` (a ``SeenOnly`` view: images with an unseen
    class are already gone). ``unseen_ids`` defaults to ``dataset_seen_only.unseen_ids``. The loss is
    cross-entropy over the seen-class logits only; unseen rows of the 1×1 classifier are put back to
    their initial values at the end (weight decay would otherwise shrink them), so they are never
    trained. Under torchrun (``dist_ctx.distributed``) the model is wrapped in DDP and each rank reads
    its shard through a ``DistributedSampler``. On CUDA: channels-last, bf16 autocast, cuDNN autotuning.
    Every ``config.checkpoint_every`` iterations ``on_checkpoint(state)`` gets a resumable state (live
    tensors: write it out before returning);
    ``resume=state`` continues from one (same data order statistics, not the same batches). Returns the
    (unwrapped) model, in eval mode.
    """
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
    cuda = device.type == "cuda"
    model = model.to(device, memory_format=torch.channels_last) if cuda else model.to(device)
    conv = classifier_conv(model)
    lut, seen_index = _seen_targets(conv.out_channels, unseen_ids, device)
    loader, sampler, per_rank = _make_loader(dataset_seen_only, config, dist_ctx, device)
    optimizer = torch.optim.SGD(param_groups(model, config.head_lr_mult), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    it, epoch = 0, 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        it, epoch = int(resume["iteration"]), int(resume["epoch"])
    net = zdist.wrap_model(model, dist_ctx)  # DDP broadcasts rank 0's weights here
    unseen_rows = resume["unseen_rows"] if resume is not None else (
        conv.weight.detach()[unseen_ids].clone(), conv.bias.detach()[unseen_ids].clone() if conv.bias is not None else None)
    is_main = dist_ctx is None or dist_ctx.is_main
    benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = benchmark or cuda  # fixed crop size: autotuned kernels pay off
    net.train()
    start = time.perf_counter()
    try:
        while it < config.iterations:
            if sampler is not None:
                sampler.set_epoch(epoch)
            first = it
            for images, labels in loader:
                if it >= config.iterations:
                    break
                _check_cancel(cancel, "segmentation training")
                lr = _poly_lr(config.lr, it, config.iterations, config.poly_power)
                loss = _sgd_step(net, optimizer, lr, images, labels, lut, seen_index, device)
                it += 1
                if is_main and (it % config.log_every == 0 or it == config.iterations):
                    log.info("seg iter %d/%d loss %.4f lr %.2e (%.1f s)", it, config.iterations, loss.item(), lr,
                             time.perf_counter() - start)
                if progress is not None and is_main:
                    progress(it / config.iterations, f"segmentation iter {it}/{config.iterations}, loss {loss.item():.3f}")
                if on_checkpoint is not None and config.checkpoint_every and it % config.checkpoint_every == 0 \
                        and it < config.iterations:
                    on_checkpoint({"iteration": it, "epoch": epoch,
                                   "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                   "unseen_rows": unseen_rows, "config": config.to_dict()})
            if it == first:  # an epoch without a batch: looping again would never end
                raise UserError(f"no training batch: {len(dataset_seen_only)} images for batches of {per_rank} "
                                "per process")
            epoch += 1
    finally:
        torch.backends.cudnn.benchmark = benchmark
    with torch.no_grad():
        conv.weight[unseen_ids] = unseen_rows[0].to(conv.weight)
        if conv.bias is not None:
            conv.bias[unseen_ids] = unseen_rows[1].to(conv.bias)
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
