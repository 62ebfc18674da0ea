"""Splitting one ``zs3 segment`` job over processes: ``--shard I/N`` and ``torchrun`` ranks.

Both cut the input the same way (:func:`shard_of`): every N-th image of the list sorted by full
path, starting at I. Sorting by path, not by the order of the command-line arguments, makes a shard
the same in every job of a Slurm array or Kubernetes indexed job however each one lists its inputs;
taking every N-th image instead of a block keeps shards balanced when image sizes drift along the
folder (camera sessions, sequences).

Under torchrun (``RANK``/``WORLD_SIZE`` set by it) the ranks write into one output folder and only
need two meeting points, so a gloo process group is enough on CPU and GPU alike (no tensors move).
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from core.errors import UserError

# Ranks meet twice: once when rank 0 has prepared the output folder, once when every rank has
# written its images. Shards are balanced, but a rank that meets slow files can lag far behind;
# torch's 30-minute default would kill a long job that is merely uneven.
BARRIER_TIMEOUT = _dt.timedelta(hours=24)


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based); ``ranks`` when the shards are torchrun processes."""

    index: int = 0
    count: int = 1
    ranks: bool = False

    @property
    def is_main(self) -> bool:
        return self.index == 0

    @property
    def label(self) -> str:
        return f"{'rank' if self.ranks else 'shard'} {self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"I/N"`` -> Shard(I, N); anything else is a user error with an example."""
    parts = str(text).split("/")
    try:
        index, count = (int(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        index = count = None
    if index is None or count is None:
        raise UserError(f"--shard wants I/N (shard I of N, counted from 0), e.g. --shard 0/4; got {text!r}")
    if count < 1:
        raise UserError(f"--shard {text}: the number of shards N must be at least 1")
    if not 0 <= index < count:
        raise UserError(f"--shard {text}: the shard index must be between 0 and {count - 1} (counted from 0)")
    return Shard(index, count)


def shard_of(images: Sequence[Path], shard: Shard) -> list[Path]:
    """The images of ``shard`` (disjoint across shards, together all images), in the input's order."""
    if shard.count == 1:
        return list(images)
    by_path = sorted(images, key=lambda p: str(Path(p).resolve()))
    mine = {str(Path(p).resolve()) for p in by_path[shard.index:: shard.count]}
    return [p for p in images if str(Path(p).resolve()) in mine]


def check_unique_stems(images: Sequence[Path]) -> None:
    """Outputs are named by stem: two inputs with one stem would overwrite each other's files,
    silently so when they fall into different shards; refuse before any work."""
    first: dict[str, Path] = {}
    for path in images:
        other = first.setdefault(path.stem, path)
        if other is not path:
            raise UserError(f"two images are both named {path.stem!r} ({other} and {path}); rename one")


def launched_by_torchrun() -> bool:
    from core.zs3.distributed import launched_by_torchrun as engine_check

    return engine_check()


def join_ranks(requested: Shard | None) -> Shard:
    """The shard of this process: ``--shard``, or this torchrun rank (joining the gloo group), or all."""
    if not launched_by_torchrun():
        return requested or Shard()
    if requested is not None and requested.count > 1:
        raise UserError("--shard and torchrun both split the input: use one of them")
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if not dist.is_initialized():
        dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world, timeout=BARRIER_TIMEOUT)
    return Shard(rank, world, ranks=True)


def meet(shard: Shard) -> None:
    """Wait for every rank (a no-op outside torchrun)."""
    if shard.ranks:
        import torch.distributed as dist

        dist.barrier()


def leave(shard: Shard) -> None:
    if shard.ranks:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def cuda_device_for(shard: Shard, device: str) -> str:
    """Under torchrun each rank of a node takes its own GPU (``LOCAL_RANK``); otherwise as asked."""
    if not shard.ranks or device not in ("auto", "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    return f"cuda:{local}"
