"""What the ZS3Net steps share: the classifier layer, image batches, reading images and labels.

Only images and, where a step may, label maps pass through here; unseen labels are never read by these
helpers on their own (``seen_lut`` sends them to 255 before anything looks at them).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.constants import IGNORE
from core.errors import CancelledError

Progress = Callable[[float, str], None]


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
    from core.models.deeplab import linear_to_conv1x1

    linear_to_conv1x1(linear, classifier_conv(model))


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


def size_batches(items: Iterable[tuple], batch_size: int, max_pending: int | None = None) -> Iterator[list[tuple]]:
    """Batches of items whose first element (an image) has one shape, from a stream of mixed sizes.

    Items wait in one bucket per shape; a bucket is yielded when it holds ``batch_size`` items, the
    largest one when more than ``max_pending`` (default 4 × ``batch_size``) items wait in all, and the
    rest at the end. Datasets of a few dominant sizes (VOC's 500×375 and 375×500) thus run in full
    batches, while memory stays bounded whatever the number of sizes. Items come out of order: callers
    carry each image's index (:func:`_iterate`) where order matters.
    """
    batch_size = max(1, int(batch_size))
    max_pending = max(batch_size, int(max_pending or 4 * batch_size))
    buckets: dict[tuple, list[tuple]] = {}
    pending = 0
    for item in items:
        bucket = buckets.setdefault(tuple(item[0].shape), [])
        bucket.append(item)
        pending += 1
        if len(bucket) >= batch_size:
            yield buckets.pop(tuple(item[0].shape))
            pending -= batch_size
        elif pending > max_pending:
            key = max(buckets, key=lambda k: len(buckets[k]))
            pending -= len(buckets[key])
            yield buckets.pop(key)
    yield from buckets.values()


def _iterate(dataset, fn: Callable[[Any, int], tuple], workers: int) -> Iterator[tuple]:
    """``fn(dataset, i) + (index,)`` for every image, in order, optionally in DataLoader worker processes.

    ``index`` is the image's index in the whole set (``dataset.global_index(i)`` for a rank's
    :class:`~core.zs3.distributed.Shard`): random draws keyed on it do not depend on batching or ranks.
    """
    where = getattr(dataset, "global_index", None) or _identity
    if workers <= 0:
        for i in range(len(dataset)):
            yield (*fn(dataset, i), where(i))
        return
    loader = torch.utils.data.DataLoader(_IndexMap(dataset, fn), batch_size=None, shuffle=False,
                                         num_workers=workers, collate_fn=_identity)
    for i, item in enumerate(loader):
        yield (*item, where(i))


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


def fp32_logits(model: nn.Module, images: Tensor, size=None) -> tuple[Tensor, Tensor]:
    """``(features, logits)`` in float32: the network under inference mode (bf16 autocast on CUDA), then
    the 1×1 classifier and any upsampling to ``size`` in fp32 — an arg-max or a softmax ranking over bf16
    logits flips near-ties. ``size=None`` keeps the feature grid."""
    from core.device import inference_context

    with inference_context(images.device):
        feats = model.features(images)
        with torch.autocast(images.device.type, enabled=False):
            feats = feats.float()
            logits = model.classify(feats)
            if size is not None and tuple(logits.shape[-2:]) != tuple(size):
                upsample = getattr(model, "upsample", None)  # the network's own, as in its forward
                logits = (upsample(logits, size) if upsample is not None
                          else F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False))
    return feats, logits
