"""Plain per-class binary masks: ``masks/<stem>/<class>.png``, "L" mode, 0 or 255.

One file per class of the list, background included and empty classes included: a reader then
knows every file to expect, and the set is lossless (a pixel in no file is ignore, 255).
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from core.atomic import atomic_write_bytes
from core.errors import UserError
from core.masks.names import safe_filename

MASKS_DIR = "masks"


def mask_paths(out_dir: Path, stem: str, class_names: Sequence[str]) -> list[Path]:
    folder = out_dir / MASKS_DIR / stem
    return [folder / f"{safe_filename(name)}.png" for name in class_names]


def encode_binary_png(binary: np.ndarray) -> bytes:
    image = Image.fromarray(np.where(binary, 255, 0).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_binary_masks(out_dir: Path, stem: str, labels: np.ndarray, class_names: Sequence[str]) -> list[Path]:
    paths = mask_paths(out_dir, stem, class_names)
    for index, path in enumerate(paths):
        atomic_write_bytes(path, encode_binary_png(labels == index))
    return paths


def read_binary_masks(folder: str | os.PathLike, class_names: Sequence[str]) -> np.ndarray:
    """Rebuild a label map from one image's folder of binary masks; pixels in no mask are 255."""
    folder = Path(folder)
    labels: np.ndarray | None = None
    for index, name in enumerate(class_names):
        path = folder / f"{safe_filename(name)}.png"
        if not path.is_file():
            raise UserError(f"missing binary mask {path}")
        with Image.open(path) as image:
            binary = np.array(image.convert("L")) > 127
        if labels is None:
            labels = np.full(binary.shape, 255, dtype=np.uint8)
        elif binary.shape != labels.shape:
            raise UserError(f"{path} is {binary.shape[1]}×{binary.shape[0]}, the other masks {labels.shape[1]}×{labels.shape[0]}")
        labels[binary] = index
    if labels is None:
        raise UserError("no classes given")
    return labels
