"""Step 1 of ZS3Net: DeepLabv3+ (or the tiny net) trained on seen classes only, alone or under torchrun."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.constants import IGNORE
from core.errors import UserError
from core.zs3.common import Progress, _check_cancel, _model_device, classifier_conv

log = logging.getLogger(__name__)


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
