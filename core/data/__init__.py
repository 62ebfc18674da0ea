"""Datasets for training and evaluating ZS3Net: Pascal-VOC (+SBD), Pascal-Context, a plain folder.

Importing this package is cheap (no torch, no scipy): the dataset classes load lazily on first
attribute access, so light callers (the GUI, ``zs3 embed``) and the synthetic-scene module can share
the package without paying for the readers.

Every dataset returns :class:`Sample` objects (or whatever its ``transform`` makes of them) and offers
``class_names``, ``names`` (image ids), ``__len__`` and ``load_label(i)`` (label only, no image decode).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


@dataclass
class Sample:
    """One image with its label map.

    ``image``: H×W×3 uint8 RGB; ``label``: H×W uint8 class indices (0 = background when the class
    list has one), 255 = ignore / unlabelled; ``name``: the image id (file stem).
    """

    image: "np.ndarray"
    label: "np.ndarray"
    name: str


# name -> module that defines it; resolved on first access (PEP 562).
_LAZY = {
    "VOC_CLASSES": "core.data.splits",
    "CONTEXT_CLASSES": "core.data.splits",
    "UNSEEN_ORDER": "core.data.splits",
    "unseen_classes": "core.data.splits",
    "class_ids": "core.data.splits",
    "normalize_class_name": "core.data.splits",
    "SegmentationDataset": "core.data.folder",
    "FolderDataset": "core.data.folder",
    "VOCSegmentation": "core.data.voc",
    "PascalContext": "core.data.context",
    "SeenOnly": "core.data.seen_only",
    "TrainTransform": "core.data.transforms",
    "EvalTransform": "core.data.transforms",
    "pad_collate": "core.data.transforms",
    "open_dataset": "core.data.registry",
    "DATASET_KINDS": "core.data.registry",
}

__all__ = ["Sample", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'core.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
