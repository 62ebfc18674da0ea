"""labelme JSON: one ``polygon`` shape per connected object, for people who correct labels in labelme.

Lossy, unlike VOC/COCO: polygons follow the border pixels' centres (see ``polygons.py`` for holes,
which are cut into the outline because labelme shapes have none); ignore (255) pixels and background
are not shapes, so both read back as background; ``imageData`` is null, so labelme loads the image
from ``imagePath`` (relative to the JSON file).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.errors import UserError
from core.masks.names import display_name, match_class_names
from core.masks.polygons import fill_polygons, mask_polygons

LABELME_DIR = "labelme"
LABELME_VERSION = "5.5.0"  # the labelme file-format version we write (shapes as in labelme ≥ 4)


def json_path(out_dir: Path, stem: str) -> Path:
    return out_dir / LABELME_DIR / f"{stem}.json"


def document(labels: np.ndarray, class_names: Sequence[str], image_path: Path, json_file: Path) -> dict[str, Any]:
    height, width = labels.shape
    shapes = []
    for class_index in np.unique(labels):
        class_index = int(class_index)
        if class_index == 0 or class_index == 255 or class_index >= len(class_names):
            continue
        for polygon in mask_polygons(labels == class_index):
            shapes.append(
                {
                    "label": display_name(class_names[class_index]),
                    "points": [[float(x), float(y)] for x, y in polygon],
                    "group_id": None,
                    "description": "",
                    "shape_type": "polygon",
                    "flags": {},
                    "mask": None,
                }
            )
    return {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": _relative(image_path, json_file.parent),
        "imageData": None,
        "imageHeight": int(height),
        "imageWidth": int(width),
    }


def _relative(image_path: Path, folder: Path) -> str:
    try:
        return Path(os.path.relpath(Path(image_path).resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return Path(image_path).resolve().as_posix()


def read_labelme(path: str | os.PathLike, class_names: Sequence[str]) -> np.ndarray:
    """Rasterise a labelme file's polygons (in file order) into a label map over ``class_names``.

    Shapes of classes not in ``class_names`` become 255; unpainted pixels are background.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        height, width = int(data["imageHeight"]), int(data["imageWidth"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a readable labelme file: {exc}") from exc
    labels = np.zeros((height, width), dtype=np.uint8)
    for shape in data.get("shapes", []):
        if shape.get("shape_type", "polygon") != "polygon":
            continue
        index = int(match_class_names([shape["label"]], class_names)[0])
        labels[fill_polygons([np.asarray(shape["points"])], (height, width)) > 0] = index
    return labels
