"""A generic VOC-style folder dataset, and the pieces every dataset reader here shares.

Layout read by :class:`FolderDataset` (the one ``zs3 segment --labels`` documents)::

    root/JPEGImages/<stem>.jpg|.png|…        images
    root/SegmentationClass/<stem>.png        optional mask: palette or grey PNG of class indices, 255 = ignore
    root/class_names.txt                     one class per line, background first
    root/ImageSets/Segmentation/<split>.txt  optional list of stems

Images without a mask are kept with a label of all 255: self-training needs unlabelled images.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch.utils.data
from PIL import Image, UnidentifiedImageError

from core.constants import IGNORE
from core.data import Sample
from core.data.splits import normalize_class_name
from core.errors import UserError
from core.images import IMAGE_SUFFIXES, displayed_size, load_image, natural_key

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------- shared helpers
def existing_dir(path: str | os.PathLike, what: str = "dataset folder") -> Path:
    """``path`` as a Path, or a ``UserError`` when it is missing or not a folder."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UserError(f"{what} {folder} does not exist")
    if not folder.is_dir():
        raise UserError(f"{what} {folder} is not a folder")
    return folder


def read_id_list(path: Path) -> list[str]:
    """Image ids of a split file (first token of each non-empty line); ``UserError`` when empty."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read split list {path}: {exc.strerror or exc}") from exc
    ids = [line.split()[0] for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise UserError(f"split list {path} is empty")
    return ids


def find_image(folder: Path, stem: str) -> Path | None:
    """The image file ``folder/stem.<any image suffix>``, or None."""
    for suffix in (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", *IMAGE_SUFFIXES):
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def read_index_png(path: Path) -> np.ndarray:
    """The class indices stored in a palette or greyscale PNG, without any colour conversion.

    A palette PNG's pixel values ARE the indices; converting to RGB/L would destroy them.
    """
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode in ("P", "L", "1"):
                return np.array(img, dtype=np.uint8)
            if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
                arr = np.array(img)
                if arr.size and (arr.min() < 0 or arr.max() > 255):
                    raise UserError(f"mask {path.name} holds values above 255: class indices must fit in 8 bits")
                return arr.astype(np.uint8)
    except UserError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"mask {path} is not a readable PNG: {exc}") from exc
    raise UserError(f"mask {path.name} is a {mode} colour image, not an index mask: save it as a "
                    f"palette (P) or greyscale (L) PNG of class indices")


def read_class_names(path: Path) -> list[str]:
    """A ``class_names.txt``: one name per line, background first (labelme's ``__ignore__`` skipped)."""
    if not path.is_file():
        raise UserError(f"missing {path.name} in {path.parent}: list the classes one per line, background first")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc
    names = [line.strip() for line in lines if line.strip()]
    if names and normalize_class_name(names[0]) == "ignore":
        names = names[1:]  # labelme writes "__ignore__" (index -1) before "_background_"
    if not names:
        raise UserError(f"{path} lists no classes")
    if normalize_class_name(names[0]) != "background":
        raise UserError(f"{path} must start with 'background' (found {names[0]!r} on the first line)")
    if len(names) > 255:
        raise UserError(f"{path} lists {len(names)} classes; at most 255 fit in an 8-bit mask")
    return ["background", *names[1:]]


def check_label_values(label: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    """``UserError`` when ``label`` holds an index that is neither a class nor 255."""
    bad = label[(label >= num_classes) & (label != IGNORE)]
    if bad.size:
        raise UserError(f"{where} holds class index {int(bad.max())} but only {num_classes} classes are defined")
    return label


# --------------------------------------------------------------------------- base class
class SegmentationDataset(torch.utils.data.Dataset):
    """Base of every reader: index → :class:`Sample` (through ``transform`` when given).

    Subclasses set ``root``, ``split``, ``class_names``, ``names``, ``image_paths`` and implement
    ``load_label(i)``; ``load_label`` must not decode the image (filters like ``SeenOnly`` scan it).
    """

    kind = "dataset"
    root: Path
    split: str | None
    class_names: list[str]
    names: list[str]
    image_paths: list[Path]
    transform: Callable[[Sample], Any] | None

    def __len__(self) -> int:
        return len(self.names)

    ignore_index = IGNORE

    def load_label(self, index: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def label_file(self, index: int) -> Path | None:
        """The file ``load_label(index)`` reads (None for an unlabelled image); used to spot edits."""
        return None

    def load_image(self, index: int) -> np.ndarray:
        return load_image(self.image_paths[index])

    def load_sample(self, index: int) -> Sample:
        """The untransformed sample; image and label shapes are checked against each other."""
        image = self.load_image(index)
        label = self.load_label(index)
        if label.shape != image.shape[:2]:
            raise UserError(f"label of {self.names[index]} is {label.shape[1]}×{label.shape[0]} but its image is "
                            f"{image.shape[1]}×{image.shape[0]}")
        return Sample(image=image, label=label, name=self.names[index])

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        sample = self.load_sample(index)
        return self.transform(sample) if self.transform is not None else sample

    @property
    def cache_key(self) -> str:
        """Identifies what ``load_label`` returns: folder, split and label mapping."""
        return f"{self.kind}|{Path(self.root).resolve()}|{self.split}|{len(self.class_names)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, images={len(self)})"


# --------------------------------------------------------------------------- the folder dataset
class FolderDataset(SegmentationDataset):
    """Images in ``JPEGImages/``, optional masks in ``SegmentationClass/``, classes in ``class_names.txt``.

    ``class_names`` overrides the file (it must still start with background).
    """

    kind = "folder"

    def __init__(self, root: str | os.PathLike, split: str | None = None,
                 transform: Callable[[Sample], Any] | None = None,
                 class_names: Sequence[str] | None = None) -> None:
        self.root = existing_dir(root)
        self.split = split
        self.transform = transform
        image_dir = self.root / "JPEGImages"
        if not image_dir.is_dir():
            raise UserError(f"no JPEGImages/ folder in {self.root}: put the images in {image_dir}")
        self.mask_dir = self.root / "SegmentationClass"
        if class_names is None:
            self.class_names = read_class_names(self.root / "class_names.txt")
        else:
            names = [str(n) for n in class_names]
            if not names or normalize_class_name(names[0]) != "background":
                raise UserError("class_names must start with 'background'")
            self.class_names = ["background", *names[1:]]

        if split:
            split_file = self.root / "ImageSets" / "Segmentation" / f"{split}.txt"
            if not split_file.is_file():
                available = sorted(p.stem for p in split_file.parent.glob("*.txt")) if split_file.parent.is_dir() else []
                raise UserError(f"no split list {split_file}" + (f" (available: {', '.join(available)})" if available else ""))
            # entries may carry the file suffix ("a.jpg"): the id is always the stem
            stems = [Path(s).stem if Path(s).suffix.lower() in IMAGE_SUFFIXES else s for s in read_id_list(split_file)]
            paths = []
            for stem in stems:
                path = find_image(image_dir, stem)
                if path is None:
                    raise UserError(f"{split_file.name} names image {stem!r} which is not in {image_dir}")
                paths.append(path)
        else:
            by_stem: dict[str, Path] = {}
            for path in sorted(image_dir.iterdir(), key=lambda p: natural_key(p.name)):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
                    if path.stem in by_stem:
                        log.warning("two images named %s in %s; using %s", path.stem, image_dir, by_stem[path.stem].name)
                        continue
                    by_stem[path.stem] = path
            if not by_stem:
                raise UserError(f"no images in {image_dir}")
            stems, paths = list(by_stem), list(by_stem.values())
        self.names = list(stems)
        self.image_paths = paths

    def mask_path(self, index: int) -> Path:
        return self.mask_dir / f"{self.names[index]}.png"

    def label_file(self, index: int) -> Path | None:
        path = self.mask_path(index)
        return path if path.is_file() else None

    def has_label(self, index: int) -> bool:
        return self.mask_path(index).is_file()

    @property
    def labelled_indices(self) -> list[int]:
        return [i for i in range(len(self)) if self.has_label(i)]

    def load_label(self, index: int) -> np.ndarray:
        path = self.mask_path(index)
        if not path.is_file():
            return np.full(displayed_size(self.image_paths[index]), IGNORE, dtype=np.uint8)
        label = read_index_png(path)
        return check_label_values(label, len(self.class_names), f"mask {path.name}")
