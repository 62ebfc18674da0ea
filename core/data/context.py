"""Pascal-Context (Mottaghi et al. 2014) reduced from its 459 annotated classes to the usual 59/60.

Files read::

    root/trainval/<id>.mat      MATLAB file with ``LabelMap``: H×W indices into labels.txt (0 = unlabelled)
    root/labels.txt             459 lines "idx: name" (1-based: "1: accordion", "2: aeroplane", …)
    <VOC2010>/JPEGImages/       the images: root/JPEGImages, root/VOC2010, root/VOCdevkit/VOC2010,
                                the same next to root, or ``image_root=``
    train.txt / val.txt         in root, root/ImageSets, root/ImageSets/SegmentationContext or the
                                VOC2010 ImageSets/SegmentationContext, ImageSets/Main (train 4,998 / val 5,105)

The 459 → 59 reduction matches labels.txt names to :data:`CONTEXT_CLASSES` by normalised name
("tv monitor" = "tvmonitor", "potted plant" = "pottedplant", "dining table" = "table").

Two label protocols, both kept:

- ``num_classes=60`` (default; ZS3Net's, background counted as a seen class): 0 = background = every
  pixel of the 400 other classes and unlabelled pixels; 1..59 = the 59 classes.
- ``num_classes=59`` (the mmseg "reduce_zero_label" protocol): background → 255 (ignored),
  1..59 → 0..58; ``class_names`` then has no background entry.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.constants import IGNORE
from core.data import Sample
from core.data.folder import SegmentationDataset, existing_dir, find_image, read_id_list
from core.data.splits import CONTEXT_CLASSES, normalize_class_name
from core.errors import UserError

log = logging.getLogger(__name__)

# labels.txt spellings that differ from CONTEXT_CLASSES once normalised.
_CONTEXT_ALIASES = {"diningtable": "table", "pottedplants": "pottedplant", "tvmonitors": "tvmonitor"}
_LINE = re.compile(r"^\s*(\d+)\s*:\s*(.+?)\s*$")


def read_context_labels(path: Path) -> dict[int, str]:
    """``labels.txt`` as {index: name}; ``UserError`` when missing or not "idx: name" lines."""
    if not path.is_file():
        raise UserError(f"missing Pascal-Context class list {path} (the 459 lines 'idx: name')")
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
    labels: dict[int, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise UserError(f"{path.name} line {number} is not 'idx: name': {line.strip()[:60]!r}")
        labels[int(match.group(1))] = match.group(2)
    if not labels:
        raise UserError(f"{path} lists no classes")
    return labels


def context_lookup(labels: dict[int, str], num_classes: int = 60) -> np.ndarray:
    """A 65,536-entry uint8 table: 459-class index → 60-class (or 59-class) index.

    60: unmatched indices and 0 → 0 (background). 59: those → 255, the 59 classes → 0..58.
    """
    if num_classes not in (59, 60):
        raise UserError(f"Pascal-Context has 59 or 60 classes, not {num_classes}")
    wanted = {normalize_class_name(n): i for i, n in enumerate(CONTEXT_CLASSES) if i > 0}
    lut60 = np.zeros(65536, dtype=np.uint8)
    found: set[int] = set()
    for index, name in labels.items():
        key = normalize_class_name(name)
        key = _CONTEXT_ALIASES.get(key, key)
        target = wanted.get(key)
        if target is None or not 0 < index < lut60.size:
            continue
        if target in found:
            log.warning("labels.txt names %s twice; index %d also maps to %s", name, index, CONTEXT_CLASSES[target])
        lut60[index] = target
        found.add(target)
    if not found:
        raise UserError("labels.txt names none of the 59 Pascal-Context classes: is it the 459-class list?")
    missing = [CONTEXT_CLASSES[i] for i in range(1, 60) if i not in found]
    if missing:
        log.warning("labels.txt lacks %d of the 59 classes (%s…); their pixels read as background",
                    len(missing), ", ".join(missing[:5]))
    if num_classes == 60:
        return lut60
    lut59 = lut60.astype(np.int16) - 1
    lut59[lut59 < 0] = IGNORE
    return lut59.astype(np.uint8)


def load_label_map(path: Path) -> np.ndarray:
    """The raw ``LabelMap`` (459-class indices) of a Pascal-Context ``.mat`` file."""
    import scipy.io

    if not path.is_file():
        raise UserError(f"missing Pascal-Context label {path}")
    try:
        mat = scipy.io.loadmat(path, variable_names=["LabelMap"])
    except Exception as exc:  # noqa: BLE001 - scipy raises many types for a corrupt file
        raise UserError(f"cannot read Pascal-Context label {path.name}: not a readable MATLAB file ({exc})") from exc
    label_map = mat.get("LabelMap")
    if label_map is None:
        raise UserError(f"Pascal-Context label {path.name} has no LabelMap array")
    label_map = np.asarray(label_map)
    if label_map.ndim != 2 or label_map.size == 0:
        raise UserError(f"Pascal-Context label {path.name} holds a {label_map.shape} array, not a 2-D map")
    return label_map


class PascalContext(SegmentationDataset):
    """Pascal-Context 59/60 classes read from the original 459-class ``.mat`` annotations."""

    kind = "context"

    def __init__(self, root: str | os.PathLike, split: str = "train", num_classes: int = 60,
                 transform: Callable[[Sample], Any] | None = None,
                 image_root: str | os.PathLike | None = None) -> None:
        self.root = existing_dir(root, "Pascal-Context folder")
        if split not in ("train", "val"):
            raise UserError(f"unknown Pascal-Context split {split!r}: use train or val")
        if num_classes not in (59, 60):
            raise UserError(f"Pascal-Context has 59 or 60 classes, not {num_classes}")
        self.split = split
        self.num_classes = num_classes
        self.transform = transform
        self.class_names = list(CONTEXT_CLASSES if num_classes == 60 else CONTEXT_CLASSES[1:])

        self.label_dir = self._find_label_dir()
        labels_txt = next((p for p in (self.root / "labels.txt", self.label_dir / "labels.txt",
                                       self.label_dir.parent / "labels.txt") if p.is_file()),
                          self.root / "labels.txt")
        self.lookup = context_lookup(read_context_labels(labels_txt), num_classes)
        self.image_dir = self._find_image_dir(image_root)
        split_file = self._find_split_file(split)
        self.names = read_id_list(split_file)
        self.image_paths = []
        for name in self.names:
            image = find_image(self.image_dir, name)
            if image is None:
                raise UserError(f"{split_file.name} names image {name!r} which is not in {self.image_dir}")
            if not (self.label_dir / f"{name}.mat").is_file():
                raise UserError(f"{split_file.name} names {name!r} but {self.label_dir / (name + '.mat')} is missing")
            self.image_paths.append(image)

    def _find_label_dir(self) -> Path:
        for candidate in (self.root / "trainval", self.root / "trainval" / "trainval", self.root):
            if candidate.is_dir() and next(candidate.glob("*.mat"), None) is not None:
                return candidate
        raise UserError(f"no Pascal-Context annotations in {self.root}: expected trainval/<id>.mat")

    def _find_image_dir(self, image_root: str | os.PathLike | None) -> Path:
        if image_root is not None:
            base = existing_dir(image_root, "image folder")
            candidates = [base / "JPEGImages", base]
        else:
            candidates = []
            for base in (self.root, self.root.parent):
                candidates += [base / "JPEGImages", base / "VOC2010" / "JPEGImages",
                               base / "VOCdevkit" / "VOC2010" / "JPEGImages"]
        for candidate in candidates:
            if candidate.is_dir():
                return candidate
        raise UserError(f"no JPEGImages/ folder for Pascal-Context near {self.root}: "
                        "put VOCdevkit/VOC2010 there or pass image_root")

    def _find_split_file(self, split: str) -> Path:
        voc2010 = self.image_dir.parent
        candidates = [self.root / f"{split}.txt", self.root / "ImageSets" / f"{split}.txt",
                      self.root / "ImageSets" / "SegmentationContext" / f"{split}.txt",
                      voc2010 / "ImageSets" / "SegmentationContext" / f"{split}.txt",
                      voc2010 / "ImageSets" / "Main" / f"{split}.txt"]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise UserError(f"no {split}.txt split list for Pascal-Context in {self.root} "
                        f"(nor in ImageSets/, ImageSets/SegmentationContext/ or VOC2010 ImageSets/Main/)")

    @property
    def cache_key(self) -> str:
        return f"{super().cache_key}|images={self.image_dir.resolve()}"

    def map_label(self, label_map: np.ndarray) -> np.ndarray:
        """459-class indices → this dataset's indices (see the module docstring)."""
        indices = np.clip(label_map, 0, self.lookup.size - 1).astype(np.intp, copy=False)
        return self.lookup[indices]

    def label_file(self, index: int) -> Path:
        return self.label_dir / f"{self.names[index]}.mat"

    def load_label(self, index: int) -> np.ndarray:
        return self.map_label(load_label_map(self.label_file(index)))
