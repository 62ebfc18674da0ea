"""YOLO segmentation (Ultralytics): ``labels/<stem>.txt`` with one object per line,
``<class> x1 y1 x2 y2 …`` (class ids 0-based over the non-background classes, coordinates divided by
the image width / height), plus ``data.yaml`` with the class list.

Lossy like labelme (see ``polygons.py``): no ignore label, holes cut into outlines.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from core.errors import UserError
from core.masks.names import display_name
from core.masks.polygons import fill_polygons, mask_polygons

LABEL_DIR = "labels"
IMAGE_DIR = "images"
DATA_YAML = "data.yaml"


def txt_path(out_dir: Path, stem: str) -> Path:
    return out_dir / LABEL_DIR / f"{stem}.txt"


def image_copy_path(out_dir: Path, image_path: Path) -> Path:
    return out_dir / IMAGE_DIR / Path(image_path).name


def label_text(labels: np.ndarray, num_classes: int) -> str:
    height, width = labels.shape
    lines = []
    for class_index in np.unique(labels):
        class_index = int(class_index)
        if class_index == 0 or class_index == 255 or class_index >= num_classes:
            continue
        for polygon in mask_polygons(labels == class_index):
            coords = " ".join(f"{x / width:.6f} {y / height:.6f}" for x, y in polygon)
            lines.append(f"{class_index - 1} {coords}\n")
    return "".join(lines)


def data_yaml(class_names: Sequence[str]) -> str:
    """``data.yaml``; names are JSON-quoted strings, which YAML reads as they are."""
    names = [display_name(n) for n in class_names[1:]]
    lines = [
        "# written by zs3-annotator; class ids are 0-based, background is not a class",
        "path: .",
        f"train: {IMAGE_DIR}",
        f"val: {IMAGE_DIR}",
        f"nc: {len(names)}",
        "names:",
    ]
    lines += [f"  {i}: {json.dumps(name, ensure_ascii=False)}" for i, name in enumerate(names)]
    return "\n".join(lines) + "\n"


def read_yolo(path: str | os.PathLike, height: int, width: int) -> np.ndarray:
    """Rasterise a YOLO segmentation file back into a label map (class id k → label k+1)."""
    path = Path(path)
    labels = np.zeros((height, width), dtype=np.uint8)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read YOLO label file {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 7 or len(fields) % 2 == 0:
            raise UserError(f"{path}:{number}: expected a class id and at least 3 x y pairs")
        class_id = int(fields[0])
        xy = np.asarray(fields[1:], dtype=np.float64).reshape(-1, 2) * (width, height)
        labels[fill_polygons([xy], (height, width)) > 0] = class_id + 1
    return labels
