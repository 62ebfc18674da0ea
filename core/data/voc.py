"""Pascal-VOC 2012 segmentation, optionally augmented with SBD ("train_aug"), as ZS3Net trains on it.

``root`` may be ``VOCdevkit/VOC2012`` itself or any parent of it. Splits: ``train`` (1,464),
``val`` (1,449), ``trainval``, and ``train_aug`` = VOC train + SBD train_noval, de-duplicated and
with every VOC val image removed (10,582 images with the usual SBD copy). An image in both VOC train
and SBD keeps its VOC label (finer, with the 255 border). Without ``sbd_root``, ``train_aug`` also
works from the common pre-converted layout ``SegmentationClassAug/*.png`` +
``ImageSets/Segmentation/train_aug.txt``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.data import Sample
from core.data.folder import (SegmentationDataset, check_label_values, existing_dir, find_image,
                              read_id_list, read_index_png)
from core.data.sbd import load_sbd_label, resolve_sbd_root, sbd_train_ids
from core.data.splits import VOC_CLASSES
from core.errors import UserError

VOC_SPLITS = ("train", "val", "trainval", "train_aug")
_SPLIT_ALIASES = {"trainaug": "train_aug", "train_aug": "train_aug", "aug": "train_aug"}


def resolve_voc_root(path: str | os.PathLike) -> Path:
    """The folder holding ``JPEGImages/``: ``path``, ``path/VOC2012`` or ``path/VOCdevkit/VOC2012``."""
    base = existing_dir(path, "VOC folder")
    for candidate in (base, base / "VOC2012", base / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir():
            return candidate
    raise UserError(f"no JPEGImages/ folder in {base} (expected VOCdevkit/VOC2012/JPEGImages)")


class VOCSegmentation(SegmentationDataset):
    """Pascal-VOC 2012 (21 classes, background first; 255 = object borders / ignore)."""

    kind = "voc"

    def __init__(self, root: str | os.PathLike, split: str = "train",
                 sbd_root: str | os.PathLike | None = None,
                 transform: Callable[[Sample], Any] | None = None) -> None:
        self.root = resolve_voc_root(root)
        split = str(split).strip().lower().replace("-", "_")
        split = _SPLIT_ALIASES.get(split, split)
        if split not in VOC_SPLITS:
            raise UserError(f"unknown VOC split {split!r}: use one of {', '.join(VOC_SPLITS)}")
        self.split = split
        self.transform = transform
        self.class_names = list(VOC_CLASSES)
        self.sbd_root = resolve_sbd_root(sbd_root) if sbd_root is not None else None
        self.image_dir = self.root / "JPEGImages"
        seg_sets = self.root / "ImageSets" / "Segmentation"

        # each entry: (id, image path, ("png"|"mat", label path))
        entries: list[tuple[str, Path, tuple[str, Path]]] = []
        if split != "train_aug":
            for name in self._split_ids(seg_sets, split):
                entries.append((name, self._voc_image(name, split), ("png", self._voc_mask(name, split))))
        elif self.sbd_root is not None:
            voc_train = self._split_ids(seg_sets, "train")
            voc_val = set(self._split_ids(seg_sets, "val"))
            taken = set()
            for name in voc_train:
                if name in voc_val or name in taken:
                    continue
                taken.add(name)
                entries.append((name, self._voc_image(name, "train"), ("png", self._voc_mask(name, "train"))))
            for name in sbd_train_ids(self.sbd_root, exclude=voc_val | taken):
                image = find_image(self.image_dir, name) or find_image(self.sbd_root / "img", name)
                if image is None:
                    raise UserError(f"SBD image {name!r} is neither in {self.image_dir} nor in {self.sbd_root / 'img'}")
                mat = self.sbd_root / "cls" / f"{name}.mat"
                if not mat.is_file():
                    raise UserError(f"SBD split lists {name!r} but {mat} is missing")
                entries.append((name, image, ("mat", mat)))
        else:
            aug_list = seg_sets / "train_aug.txt"
            aug_dir = self.root / "SegmentationClassAug"
            if not (aug_list.is_file() and aug_dir.is_dir()):
                raise UserError("split train_aug needs the SBD folder (sbd_root=…/benchmark_RELEASE) or "
                                f"{aug_dir.name}/ with {aug_list.relative_to(self.root)} in {self.root}")
            for name in read_id_list(aug_list):
                mask = aug_dir / f"{name}.png"
                if not mask.is_file():
                    raise UserError(f"train_aug.txt names {name!r} but {mask} is missing")
                entries.append((name, self._voc_image(name, "train_aug"), ("png", mask)))
        if not entries:
            raise UserError(f"VOC split {split} in {self.root} has no images")
        self.names = [e[0] for e in entries]
        self.image_paths = [e[1] for e in entries]
        self._labels = [e[2] for e in entries]

    def _split_ids(self, seg_sets: Path, split: str) -> list[str]:
        path = seg_sets / f"{split}.txt"
        if not path.is_file():
            raise UserError(f"no split list {path} (is {self.root} a VOC2012 folder?)")
        return read_id_list(path)

    def _voc_image(self, name: str, split: str) -> Path:
        image = find_image(self.image_dir, name)
        if image is None:
            raise UserError(f"{split}.txt names image {name!r} which is not in {self.image_dir}")
        return image

    def _voc_mask(self, name: str, split: str) -> Path:
        mask = self.root / "SegmentationClass" / f"{name}.png"
        if not mask.is_file():
            raise UserError(f"{split}.txt names {name!r} but its mask {mask} is missing")
        return mask

    @property
    def cache_key(self) -> str:
        return f"{super().cache_key}|sbd={self.sbd_root.resolve() if self.sbd_root else None}"

    def label_source(self, index: int) -> str:
        """``"voc"`` or ``"sbd"``: where the label of image ``index`` comes from."""
        return "sbd" if self._labels[index][0] == "mat" else "voc"

    def label_file(self, index: int) -> Path:
        return self._labels[index][1]

    def load_label(self, index: int) -> np.ndarray:
        kind, path = self._labels[index]
        label = load_sbd_label(path) if kind == "mat" else read_index_png(path)
        return check_label_values(label, len(self.class_names), f"label {path.name}")
