"""Generalised ZS3 evaluation: arg-max over all classes, one confusion matrix over the whole set."""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np
import torch
from torch import nn

from core.zs3.common import (Progress, _check_cancel, _image_and_label, _iterate, _model_device, classifier_conv,
                             fp32_logits, normalize_images, size_batches)


@torch.no_grad()
def evaluate(model: nn.Module, dataset, seen_ids: Sequence[int], unseen_ids: Sequence[int],
             batch_size: int = 8, workers: int = 0, device: torch.device | None = None,
             progress: Progress | None = None, cancel: threading.Event | None = None, dist_ctx=None) -> dict:
    """Generalised ZS3 evaluation: arg-max over all classes, one confusion matrix over the whole set.

    Returns ``ConfusionMatrix.scores(seen_ids, unseen_ids)`` (pa/ma/miou per subset, hiou, per-class iou).
    Images of one size are scored in batches of ``batch_size`` however sizes are mixed (``size_batches``).
    Under torchrun (``dist_ctx``) each rank scores its shard and the matrices are summed: every rank
    returns the scores of the whole set.
    """
    from core.metrics import ConfusionMatrix
    from core.zs3 import distributed as zdist

    dataset = zdist.Shard(dataset, dist_ctx)

    device = device or _model_device(model)
    num_classes = classifier_conv(model).out_channels
    cm = ConfusionMatrix(num_classes)
    model.eval()
    total, done = len(dataset), 0
    for batch in size_batches(_iterate(dataset, _image_and_label, workers), batch_size):
        _check_cancel(cancel, "evaluation")
        images = normalize_images([b[0] for b in batch], device)
        _, logits = fp32_logits(model, images, size=images.shape[-2:])
        pred = logits.argmax(1).cpu()
        target = torch.from_numpy(np.stack([b[1] for b in batch])).long()
        cm.update(pred, target)
        done += len(batch)
        if progress is not None:
            progress(done / max(1, total), f"evaluated {done}/{total} images")
    if dist_ctx is not None and dist_ctx.distributed:
        cm.counts[:] = zdist.all_reduce_sum(cm.counts, dist_ctx)
    return cm.scores(list(seen_ids), list(unseen_ids))
