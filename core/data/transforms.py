"""Training and evaluation transforms in the style of torchvision's segmentation references.

Inputs are :class:`core.data.Sample` (or ``(image, label)`` pairs of numpy arrays); outputs are
``(image, label)``: a 3×H×W float32 tensor normalised with the ImageNet mean/std and an H×W int64
tensor. Labels are only ever resized with nearest neighbour, so no value that is not in the source
label can appear (no "class 7.5" at the border of 7 and 8, no 254 next to 255).

Randomness comes from torch's generator (or the one passed in), not numpy's global state: DataLoader
workers get distinct torch seeds but would share a numpy one. A generator passed in is copied into
every forked worker, so inside a worker it is replaced by one seeded from the worker's own seed
(distinct per worker, still reproducible from the loader's generator).
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import cv2
import numpy as np
import torch
import torch.utils.data

from core.constants import IGNORE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_NEAREST = getattr(cv2, "INTER_NEAREST_EXACT", cv2.INTER_NEAREST)


def _unpack(sample: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(sample, "image") and hasattr(sample, "label"):
        image, label = sample.image, sample.label
    else:
        image, label = sample
    image = np.asarray(image)
    label = np.asarray(label)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 image, got {image.shape} {image.dtype}")
    if label.shape != image.shape[:2]:
        raise ValueError(f"label shape {label.shape} does not match image {image.shape[:2]}")
    return image, label


def resize_pair(image: np.ndarray, label: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear (area when shrinking) for the image, nearest neighbour for the label."""
    if (height, width) == image.shape[:2]:
        return image, label
    shrink = height * width < image.shape[0] * image.shape[1]
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    label = cv2.resize(label, (width, height), interpolation=_NEAREST)
    return image, label


def to_tensors(image: np.ndarray, label: np.ndarray, mean: Sequence[float] = IMAGENET_MEAN,
               std: Sequence[float] = IMAGENET_STD) -> tuple[torch.Tensor, torch.Tensor]:
    """HWC uint8 + HW label → normalised CHW float32 tensor + HW int64 tensor."""
    img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    img = img.sub_(mean_t).div_(std_t).contiguous()
    return img, torch.from_numpy(np.ascontiguousarray(label).astype(np.int64))


class TrainTransform:
    """Random scale (shorter side = base_size × s, s ~ U(scale)), flip, pad (0 / 255), random crop.

    ``base_size=None`` scales relative to each image's own shorter side.
    """

    def __init__(self, base_size: int | None = 513, crop_size: int = 513,
                 scale: tuple[float, float] = (0.5, 2.0), flip: bool = True,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 generator: torch.Generator | None = None) -> None:
        if crop_size < 1 or (base_size is not None and base_size < 1):
            raise ValueError("crop_size and base_size must be positive")
        if not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be (min, max) with 0 < min <= max, got {scale}")
        self.base_size = base_size
        self.crop_size = int(crop_size)
        self.scale = (float(scale[0]), float(scale[1]))
        self.flip = flip
        self.mean, self.std = tuple(mean), tuple(std)
        self.generator = generator
        self._worker_generator: tuple[tuple[int, int], torch.Generator] | None = None

    def _gen(self) -> torch.Generator | None:
        info = torch.utils.data.get_worker_info()
        if info is None or self.generator is None:
            return self.generator
        owner = (os.getpid(), info.id)
        if self._worker_generator is None or self._worker_generator[0] != owner:
            seed = (info.seed * 1_000_003 + self.generator.initial_seed()) % (2**63)
            self._worker_generator = (owner, torch.Generator().manual_seed(seed))
        return self._worker_generator[1]

    def _rand(self) -> float:
        return float(torch.rand(1, generator=self._gen()).item())

    def _randint(self, high: int) -> int:
        return int(torch.randint(0, high, (1,), generator=self._gen()).item()) if high > 1 else 0

    def __call__(self, sample: Any) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = _unpack(sample)
        h, w = image.shape[:2]
        s = self.scale[0] + (self.scale[1] - self.scale[0]) * self._rand()
        short = max(1, int(round((self.base_size if self.base_size is not None else min(h, w)) * s)))
        if h <= w:
            new_h, new_w = short, max(1, int(round(w * short / h)))
        else:
            new_h, new_w = max(1, int(round(h * short / w))), short
        image, label = resize_pair(image, label, new_h, new_w)
        if self.flip and self._rand() < 0.5:
            image, label = image[:, ::-1], label[:, ::-1]
        c = self.crop_size
        pad_h, pad_w = max(0, c - new_h), max(0, c - new_w)
        if pad_h or pad_w:
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), constant_values=0)
            label = np.pad(label, ((0, pad_h), (0, pad_w)), constant_values=IGNORE)
        y = self._randint(image.shape[0] - c + 1)
        x = self._randint(image.shape[1] - c + 1)
        image, label = image[y:y + c, x:x + c], label[y:y + c, x:x + c]
        return to_tensors(image, label, self.mean, self.std)


class EvalTransform:
    """No augmentation; with ``max_size``, images whose longer side exceeds it are shrunk (label
    too, nearest neighbour — for exact benchmark numbers leave ``max_size=None``)."""

    def __init__(self, max_size: int | None = None, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        self.max_size = max_size
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, sample: Any) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = _unpack(sample)
        h, w = image.shape[:2]
        if self.max_size is not None and max(h, w) > self.max_size:
            factor = self.max_size / max(h, w)
            image, label = resize_pair(image, label, max(1, int(round(h * factor))), max(1, int(round(w * factor))))
        return to_tensors(image, label, self.mean, self.std)


def pad_collate(batch: Sequence[tuple[torch.Tensor, torch.Tensor]], size_divisor: int = 1
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (image, label) pairs of different sizes: pad bottom/right with 0 (image) and 255 (label)."""
    height = max(img.shape[1] for img, _ in batch)
    width = max(img.shape[2] for img, _ in batch)
    if size_divisor > 1:
        height = -(-height // size_divisor) * size_divisor
        width = -(-width // size_divisor) * size_divisor
    images = batch[0][0].new_zeros((len(batch), 3, height, width))
    labels = torch.full((len(batch), height, width), IGNORE, dtype=torch.int64)
    for i, (img, lab) in enumerate(batch):
        images[i, :, : img.shape[1], : img.shape[2]] = img
        labels[i, : lab.shape[0], : lab.shape[1]] = lab
    return images, labels
