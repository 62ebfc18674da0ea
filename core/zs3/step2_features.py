"""Step 2 of ZS3Net: real decoder features of seen-class pixels, and the GMMN trained on them."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.constants import IGNORE
from core.errors import UserError
from core.zs3.common import (Progress, _check_cancel, _image_and_label, _iterate, _model_device, normalize_images,
                             seen_lut, size_batches)
from core.zs3.sampling import CappedSample, pixel_keys, smallest_keys_per_class

log = logging.getLogger(__name__)


@dataclass
class FeatureConfig:
    """Step 2/4 feature sampling: a uniform sample of at most ``max_per_class`` pixels per class."""

    max_per_class: int = 20000
    batch_size: int = 8
    workers: int = 0
    seed: int = 0


def _seen_feature_batches(model: nn.Module, dataset, seen_ids: Sequence[int], batch_size: int, workers: int,
                          device: torch.device | None, cancel: threading.Event | None, what: str):
    """Yield ``(features (B,F,h,w) float32, labels (B,h,w) long, image indices)`` per batch of one image
    size (:func:`~core.zs3.common.size_batches`), labels on the feature grid.

    The one place steps 2 and 2-GC read label maps: every value that is not a seen class becomes 255
    through the look-up table *before* anything else looks at it, then labels are nearest-downsampled.
    """
    from core.device import inference_context

    device = device or _model_device(model)
    lut = torch.from_numpy(seen_lut(seen_ids).astype(np.int64))
    model.eval()
    for batch in size_batches(_iterate(dataset, _image_and_label, workers), batch_size):
        _check_cancel(cancel, what)
        images = normalize_images([b[0] for b in batch], device)
        labels = lut[torch.from_numpy(np.stack([b[1] for b in batch])).long()]  # unseen → 255 first
        with inference_context(device):
            feats = model.features(images)
        feats = feats.float()
        small = F.interpolate(labels[:, None].float(), size=feats.shape[-2:], mode="nearest")[:, 0].long()
        yield feats, small, [b[2] for b in batch]


def _labelled_rows(feats: Tensor, labels: Tensor, keys: Tensor | None = None) -> tuple[Tensor, ...]:
    """Per-pixel rows ``(N,F)`` and labels ``(N,)`` of the pixels that carry a seen label (and their
    ``keys``, one per feature-grid pixel of the batch, when given)."""
    flat_feats = feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1])
    flat_labels = labels.reshape(-1).to(flat_feats.device)
    keep = flat_labels != IGNORE
    if keys is None:
        return flat_feats[keep], flat_labels[keep]
    return flat_feats[keep], flat_labels[keep], keys[keep.cpu()]


def batch_keys(seed: int, indices, grid) -> Tensor:
    """:func:`~core.zs3.sampling.pixel_keys` of every feature-grid pixel of a batch, in the rows' order."""
    return torch.cat([pixel_keys(seed, i, int(grid[0]) * int(grid[1])) for i in indices])


@torch.no_grad()
def collect_features(model: nn.Module, dataset, seen_ids: Sequence[int], config: FeatureConfig | None = None,
                     device: torch.device | None = None, progress: Progress | None = None,
                     cancel: threading.Event | None = None, dist_ctx=None) -> tuple[Tensor, Tensor]:
    """Step 2a: real decoder features of seen-class pixels, ``(features (N,F) float32, labels (N,))`` on CPU.

    Every label map goes through a look-up table that sends any non-seen value to 255 *before* it is
    used (resized to the feature grid by nearest neighbour, then sampled); ``dataset`` itself should
    be the seen-only view, so unseen pixels are not even present. At most ``max_per_class`` pixels per
    class are kept, a uniform random sample over the whole set keyed per image and pixel
    (:func:`~core.zs3.sampling.pixel_keys`), so batching and order do not change it. Under torchrun
    (``dist_ctx``) each rank reads its :class:`~core.zs3.distributed.Shard` and every rank returns the
    single-process sample.
    """
    from core.zs3 import distributed as zdist

    config = config or FeatureConfig()
    dataset = zdist.Shard(dataset, dist_ctx)
    bank = CappedSample(config.max_per_class, config.seed)
    total, done, feat_dim = len(dataset), 0, 0
    for feats, small, indices in _seen_feature_batches(model, dataset, seen_ids, config.batch_size,
                                                       config.workers, device, cancel, "feature collection"):
        feat_dim = feats.shape[1]
        bank.add(*_labelled_rows(feats, small, batch_keys(config.seed, indices, feats.shape[-2:])))
        done += feats.shape[0]
        if progress is not None:
            progress(done / max(1, total), f"features of {done}/{total} images")
    feats, labels, keys = bank.result(feat_dim, with_keys=True)
    if dist_ctx is not None and dist_ctx.distributed:
        rows, labels = zdist.all_gather_rows(torch.cat([feats.double(), keys[:, None]], 1), labels, dist_ctx)
        keep = smallest_keys_per_class(labels, rows[:, -1], config.max_per_class)
        feats, labels = rows[keep, :-1].float(), labels[keep]
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
