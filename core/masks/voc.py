"""VOC layout: ``SegmentationClass/<stem>.png`` palette masks, ``class_names.txt``, and optionally the
``JPEGImages/`` + ``ImageSets/Segmentation/<set>.txt`` that torchvision's ``VOCSegmentation`` expects.
"""
from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Sequence

from PIL import Image

from core.atomic import atomic_open, atomic_write_bytes, atomic_write_text
from core.masks.names import format_class_names
from core.masks.palette import encode_label_png

MASK_DIR = "SegmentationClass"
IMAGE_DIR = "JPEGImages"
SETS_DIR = "ImageSets/Segmentation"
CLASS_NAMES_FILE = "class_names.txt"


def mask_path(out_dir: Path, stem: str) -> Path:
    return out_dir / MASK_DIR / f"{stem}.png"


def image_copy_path(out_dir: Path, stem: str) -> Path:
    return out_dir / IMAGE_DIR / f"{stem}.jpg"


def write_mask(out_dir: Path, stem: str, labels) -> Path:
    path = mask_path(out_dir, stem)
    atomic_write_bytes(path, encode_label_png(labels))
    return path


def copy_image_as_jpeg(source: Path, target: Path) -> Path:
    """VOC readers want ``<stem>.jpg``: JPEG files are copied byte for byte, others re-encoded (q=95)."""
    if source.suffix.lower() in (".jpg", ".jpeg"):
        with open(source, "rb") as src, atomic_open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    else:
        with Image.open(source) as image:
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=95)
        atomic_write_bytes(target, buffer.getvalue())
    return target


def write_class_names(out_dir: Path, class_names: Sequence[str]) -> Path:
    path = out_dir / CLASS_NAMES_FILE
    atomic_write_text(path, format_class_names(class_names))
    return path


def write_image_set(out_dir: Path, name: str, stems: Sequence[str]) -> Path:
    path = out_dir / SETS_DIR / f"{name}.txt"
    atomic_write_text(path, "".join(f"{s}\n" for s in stems))
    return path
