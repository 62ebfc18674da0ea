"""The Semantic Boundaries Dataset (SBD, Hariharan et al.): the extra VOC labels of "train_aug".

SBD ships ``dataset/cls/<id>.mat`` (a MATLAB struct ``GTcls`` whose ``Segmentation`` field is the
H×W class map, VOC class order, no 255 border), ``dataset/img/<id>.jpg`` and ``train.txt``/``val.txt``.
Some copies add ``train_noval.txt`` (SBD train without the VOC 2012 val images).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.data import Sample
from core.data.folder import SegmentationDataset, existing_dir, find_image, read_id_list
from core.data.splits import VOC_CLASSES
from core.errors import UserError


def resolve_sbd_root(path: str | os.PathLike) -> Path:
    """The folder holding ``cls/``: ``path`` itself, ``path/dataset`` or ``path/benchmark_RELEASE/dataset``."""
    base = existing_dir(path, "SBD folder")
    for candidate in (base, base / "dataset", base / "benchmark_RELEASE" / "dataset"):
        if (candidate / "cls").is_dir():
            return candidate
    raise UserError(f"no cls/ folder in SBD folder {base} (expected benchmark_RELEASE/dataset/cls/*.mat)")


def sbd_ids(sbd_root: Path, split: str) -> list[str]:
    """Ids of an SBD split file (``train``, ``val`` or ``train_noval``)."""
    path = sbd_root / f"{split}.txt"
    if not path.is_file():
        raise UserError(f"no split list {path} in the SBD folder")
    return read_id_list(path)


def sbd_train_ids(sbd_root: Path, exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """SBD training ids for VOC train_aug: ``train_noval.txt`` if present, else ``train.txt``;
    ids in ``exclude`` (the VOC val images) are always removed, order kept, duplicates dropped."""
    split = "train_noval" if (sbd_root / "train_noval.txt").is_file() else "train"
    seen: set[str] = set()
    ids = []
    for name in sbd_ids(sbd_root, split):
        if name not in exclude and name not in seen:
            seen.add(name)
            ids.append(name)
    return ids


def load_sbd_label(path: str | os.PathLike) -> np.ndarray:
    """The ``GTcls.Segmentation`` map of an SBD ``cls/*.mat`` file as H×W uint8."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise UserError(f"missing SBD label {path}")
    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False, variable_names=["GTcls"])
    except Exception as exc:  # noqa: BLE001 - scipy raises many types for a corrupt file
        raise UserError(f"cannot read SBD label {path.name}: not a readable MATLAB file ({exc})") from exc
    gt = mat.get("GTcls")
    if gt is None:
        raise UserError(f"SBD label {path.name} has no GTcls struct")
    seg = getattr(gt, "Segmentation", None)
    if seg is None and isinstance(gt, np.ndarray) and gt.dtype.names and "Segmentation" in gt.dtype.names:
        seg = gt["Segmentation"].item() if gt.size == 1 else None
    if seg is None:
        raise UserError(f"SBD label {path.name} has no GTcls.Segmentation field")
    seg = np.asarray(seg)
    if seg.ndim != 2 or seg.size == 0:
        raise UserError(f"SBD label {path.name} holds a {seg.shape} array, not a 2-D label map")
    if seg.min() < 0 or seg.max() > 255:
        raise UserError(f"SBD label {path.name} holds values outside 0..255")
    return seg.astype(np.uint8)


class SBDSegmentation(SegmentationDataset):
    """SBD on its own (``train``, ``val`` or ``train_noval``), images from ``img/``."""

    kind = "sbd"

    def __init__(self, root: str | os.PathLike, split: str = "train",
                 transform: Callable[[Sample], Any] | None = None) -> None:
        self.root = resolve_sbd_root(root)
        self.split = split
        self.transform = transform
        self.class_names = list(VOC_CLASSES)
        self.names = sbd_ids(self.root, split)
        self.image_paths = []
        for name in self.names:
            image = find_image(self.root / "img", name)
            if image is None:
                raise UserError(f"{split}.txt names image {name!r} which is not in {self.root / 'img'}")
            if not (self.root / "cls" / f"{name}.mat").is_file():
                raise UserError(f"{split}.txt names {name!r} but {self.root / 'cls' / (name + '.mat')} is missing")
            self.image_paths.append(image)

    def label_file(self, index: int) -> Path:
        return self.root / "cls" / f"{self.names[index]}.mat"

    def load_label(self, index: int) -> np.ndarray:
        return load_sbd_label(self.label_file(index))
