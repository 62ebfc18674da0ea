"""Existing labels into a session: VOC-style folders (palette or grey-index PNGs) and COCO JSON.

Every import is remapped onto the caller's class list by name (see ``names.py``): pixels of classes
the caller did not ask for become 255 (ignore, never background), and 255 stays 255. Raster masks
are taken pixel for pixel (lossless); COCO polygons are rasterised by pycocotools.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from core.errors import UserError
from core.images import IMAGE_SUFFIXES, displayed_size, natural_key
from core.masks import coco as coco_fmt
from core.masks import voc as voc_fmt
from core.masks.names import match_class_names, normalize_class_name, read_class_names
from core.masks.palette import read_label_png

log = logging.getLogger(__name__)


def import_voc_folder(folder: str | os.PathLike, class_names: Sequence[str]) -> dict[str, np.ndarray]:
    """``{stem: mask over class_names}`` from ``folder/SegmentationClass/*.png`` + ``class_names.txt``.

    When ``folder/JPEGImages/<stem>.*`` exists, its size must equal the mask's.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"no such labels folder: {folder}")
    source_names = read_class_names(folder / voc_fmt.CLASS_NAMES_FILE)
    lut = match_class_names(source_names, class_names)
    mask_dir = folder / voc_fmt.MASK_DIR
    pngs = sorted(mask_dir.glob("*.png"), key=lambda p: natural_key(p.name)) if mask_dir.is_dir() else []
    if not pngs:
        raise UserError(f"no masks in {mask_dir} (expected SegmentationClass/<image stem>.png)")
    images = _images_by_stem(folder / voc_fmt.IMAGE_DIR)
    masks: dict[str, np.ndarray] = {}
    for png in pngs:
        mask = read_label_png(png)
        unknown = mask[(mask >= len(source_names)) & (mask != 255)]
        if unknown.size:
            log.warning("%s has class index %d beyond class_names.txt; taken as ignore", png, int(unknown.max()))
        image = images.get(png.stem)
        if image is not None:
            height, width = displayed_size(image)
            if (height, width) != mask.shape:
                raise UserError(
                    f"mask {png.name} is {mask.shape[1]}×{mask.shape[0]} but image {image.name} is {width}×{height}"
                )
        masks[png.stem] = lut[mask]
    return masks


def _images_by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}


def import_coco(json_path: str | os.PathLike, class_names: Sequence[str]) -> dict[str, np.ndarray]:
    """``{file_name: mask over class_names}`` from a COCO instances file (RLE or polygons).

    Pixels in no annotation are background; overlapping annotations are painted largest first, so
    a small object on a large one stays visible. Our own ``zs3_ignore`` entries restore 255.
    """
    path = Path(json_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        categories = {int(c["id"]): str(c["name"]) for c in data.get("categories", [])}
        images = {int(im["id"]): im for im in data["images"]}
    except FileNotFoundError as exc:
        raise UserError(f"no such COCO file: {path}") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a COCO annotations file: {exc}") from exc
    target = {normalize_class_name(n): i for i, n in enumerate(class_names)}
    match_class_names([], class_names)  # rejects a target list with two names for one class
    category_index = {cid: target.get(normalize_class_name(name), 255) for cid, name in categories.items()}

    masks: dict[str, np.ndarray] = {}
    by_image: dict[int, list[dict[str, Any]]] = {image_id: [] for image_id in images}
    for ann in data.get("annotations", []):
        image_id = int(ann.get("image_id", -1))
        if image_id not in by_image:
            raise UserError(f"{path}: annotation {ann.get('id')} refers to unknown image {image_id}")
        by_image[image_id].append(ann)
    for image_id, image in images.items():
        name = str(image["file_name"])
        if name in masks:
            raise UserError(f"{path}: two images are named {name}")
        height, width = int(image["height"]), int(image["width"])
        mask = np.zeros((height, width), dtype=np.uint8)
        if image.get(coco_fmt.IGNORE_KEY):
            mask[_decode(image[coco_fmt.IGNORE_KEY], height, width, path, name) > 0] = 255
        decoded = []
        for ann in by_image[image_id]:
            if int(ann["category_id"]) not in category_index:
                raise UserError(f"{path}: annotation {ann.get('id')} has unknown category {ann['category_id']}")
            binary = _decode(ann["segmentation"], height, width, path, name)
            decoded.append((int(binary.sum()), category_index[int(ann["category_id"])], binary))
        for _, index, binary in sorted(decoded, key=lambda t: -t[0]):
            mask[binary > 0] = index
        masks[name] = mask
    return masks


def _decode(segmentation: Any, height: int, width: int, path: Path, name: str) -> np.ndarray:
    try:
        if isinstance(segmentation, list):  # polygons
            polygons = [p for p in segmentation if len(p) >= 6]
            if not polygons:
                return np.zeros((height, width), dtype=np.uint8)
            rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
        elif isinstance(segmentation.get("counts"), list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(segmentation, *segmentation["size"])
        else:
            counts = segmentation["counts"]
            rle = {"size": segmentation["size"], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        binary = mask_utils.decode(rle)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{path}: unreadable segmentation for {name}: {exc}") from exc
    if binary.shape != (height, width):
        raise UserError(f"{path}: a mask of {name} is {binary.shape[1]}×{binary.shape[0]}, the image {width}×{height}")
    return binary
