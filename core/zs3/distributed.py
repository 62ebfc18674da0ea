"""Multi-GPU (or multi-process CPU) training through ``torchrun``: DistributedDataParallel helpers.

``torchrun --nproc_per_node N -m core.cli.main train seg …`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``
and a rendezvous address; :func:`init_distributed` reads them (``env://``), picks NCCL on CUDA and
gloo on CPU, and returns a :class:`DistContext`. Without those variables it returns a single-process
context, so the same training code runs alone or under torchrun. Only rank 0 logs progress and writes
checkpoints (:meth:`DistContext.is_main`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass
class DistContext:
    """Where this process sits in the job: ``rank`` of ``world_size``, on ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 and self.initialized


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_distributed(device: str | torch.device = "auto", backend: str | None = None) -> DistContext:
    """Join the torchrun job described by the environment (or return a one-process context).

    ``device``: "auto"/"cpu"/"cuda"; under torchrun on CUDA each process takes ``cuda:LOCAL_RANK``.
    """
    from core.device import resolve_device

    dev = resolve_device(device) if isinstance(device, str) else device
    if not launched_by_torchrun():
        return DistContext(device=dev)
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
    if rank != 0:  # only rank 0 talks
        logging.getLogger("core").setLevel(logging.WARNING)
    log.info("distributed: rank %d/%d on %s (%s)", rank, world, dev, backend)
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=dev, initialized=True)


def wrap_model(model: torch.nn.Module, ctx: DistContext | None) -> torch.nn.Module:
    """DistributedDataParallel around ``model`` when running distributed; else ``model`` itself.

    On CUDA the BatchNorm layers become SyncBatchNorm (in place: ``model`` keeps its attributes).
    """
    if ctx is None or not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = None
    if ctx.device.type == "cuda":
        # per-GPU batches are small (16 images over N GPUs): batch statistics over all GPUs, as DeepLab does
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        device_ids = [ctx.device.index]
    return DistributedDataParallel(model, device_ids=device_ids)


def make_sampler(dataset, ctx: DistContext | None, shuffle: bool = True, seed: int = 0):
    """A ``DistributedSampler`` that gives each rank its own shard, or None when alone.

    Shards are disjoint (the tail that does not divide evenly is dropped) when there are at least as
    many images as ranks; with fewer they are padded by repetition instead, since a cut would leave
    every shard empty and the training loop waiting forever for a batch.
    """
    if ctx is None or not ctx.distributed:
        return None
    from torch.utils.data.distributed import DistributedSampler

    return DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=shuffle, seed=seed,
                              drop_last=len(dataset) >= ctx.world_size)


def rank_seed(seed: int, ctx: DistContext | None) -> int:
    """A seed of its own for each rank (rank 0 keeps ``seed``): loader workers and augmentations differ."""
    return int(seed) + (1_000_003 * ctx.rank if ctx is not None and ctx.distributed else 0)


def barrier(ctx: DistContext | None) -> None:
    if ctx is not None and ctx.distributed:
        dist.barrier()


class Shard:
    """This rank's share of a dataset for one pass over it: images ``rank, rank + world, …``.

    Unlike the training sampler it never pads, so every image is seen by exactly one rank (scores and
    feature samples add up to the single-process ones). Reads go through the dataset's own methods.
    """

    def __init__(self, dataset, ctx: DistContext | None):
        self.dataset = dataset
        world, rank = (ctx.world_size, ctx.rank) if ctx is not None and ctx.distributed else (1, 0)
        self.indices = list(range(rank, len(dataset), world))

    def __len__(self) -> int:
        return len(self.indices)

    def global_index(self, i: int) -> int:
        """The whole set's index of this shard's image ``i``."""
        return self.indices[i]

    def __getitem__(self, i: int):
        return self.dataset[self.indices[i]]

    def __getattr__(self, name: str):
        if name in ("load_image", "load_label", "load_sample"):
            method = getattr(self.dataset, name)
            return lambda i: method(self.indices[i])
        return getattr(self.dataset, name)


def all_reduce_sum(array, ctx: DistContext | None):
    """Element-wise sum of a NumPy array or tensor over all ranks (the input itself when alone)."""
    if ctx is None or not ctx.distributed:
        return array
    import numpy as np

    tensor = torch.as_tensor(array).clone()
    on = tensor.to(ctx.device) if dist.get_backend() == "nccl" else tensor
    dist.all_reduce(on)
    out = on.cpu()
    return out.numpy() if isinstance(array, np.ndarray) else out


def all_gather_rows(rows: torch.Tensor, labels: torch.Tensor, ctx: DistContext | None):
    """Every rank's ``(rows, labels)`` concatenated in rank order, on every rank."""
    if ctx is None or not ctx.distributed:
        return rows, labels
    parts: list = [None] * ctx.world_size
    dist.all_gather_object(parts, (rows.cpu(), labels.cpu()))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def cleanup(ctx: DistContext | None) -> None:
    if ctx is not None and ctx.initialized and dist.is_initialized():
        dist.destroy_process_group()
