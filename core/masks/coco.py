"""COCO instance JSON with RLE masks: one annotation per connected object (8-connected) of each class.

Choices (documented because tools disagree):
- ``iscrowd`` is 0. The spec pairs RLE with iscrowd=1, but COCOeval and detectron2 treat iscrowd=1
  regions as "ignore" (no training signal, no evaluation); our objects are real single objects, and
  pycocotools ``COCO().annToMask`` decodes compressed RLE whatever iscrowd says.
- ``category_id`` is the class index in our class list (background, id 0, is not a category).
- COCO has no "ignore" label. Pixels labelled 255 are in no annotation; so that our own files read
  back losslessly, each image entry carries an extra ``zs3_ignore`` RLE of those pixels (other tools
  ignore unknown keys).
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from core.masks.names import display_name

ANNOTATIONS_FILE = "annotations.json"
IGNORE_KEY = "zs3_ignore"


def encode_rle(binary: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a binary mask, with ``counts`` as str so that it is JSON."""
    rle = mask_utils.encode(np.asfortranarray(binary, dtype=np.uint8))
    rle["counts"] = rle["counts"].decode("ascii")
    rle["size"] = [int(v) for v in rle["size"]]
    return rle


def image_objects(labels: np.ndarray, num_classes: int) -> list[dict[str, Any]]:
    """Annotations (without ids) of every connected object of classes 1..num_classes-1."""
    annotations: list[dict[str, Any]] = []
    present = np.unique(labels)
    for class_index in present:
        class_index = int(class_index)
        if class_index == 0 or class_index >= num_classes or class_index == 255:
            continue
        binary = (labels == class_index).astype(np.uint8)
        count, components = cv2.connectedComponents(binary, connectivity=8)
        for component in range(1, count):
            rle = encode_rle(components == component)
            annotations.append(
                {
                    "category_id": class_index,
                    "segmentation": rle,
                    "area": int(mask_utils.area(_bytes_rle(rle))),
                    "bbox": [float(v) for v in mask_utils.toBbox(_bytes_rle(rle))],
                    "iscrowd": 0,
                }
            )
    return annotations


def _bytes_rle(rle: dict[str, Any]) -> dict[str, Any]:
    return {"size": rle["size"], "counts": rle["counts"].encode("ascii")}


def image_part(file_name: str, labels: np.ndarray, num_classes: int) -> dict[str, Any]:
    """What ``annotations.json`` needs from one image; kept on disk so a resumed run can finish it."""
    height, width = labels.shape
    ignore = labels == 255
    return {
        "file_name": file_name,
        "width": int(width),
        "height": int(height),
        "annotations": image_objects(labels, num_classes),
        "ignore": encode_rle(ignore) if ignore.any() else None,
    }


def build_document(parts: Sequence[dict[str, Any]], class_names: Sequence[str], version: str) -> dict[str, Any]:
    """The full COCO document; image and annotation ids are 1-based in the order of ``parts``."""
    images, annotations = [], []
    for image_id, part in enumerate(parts, start=1):
        entry = {"id": image_id, "file_name": part["file_name"], "width": part["width"], "height": part["height"]}
        if part.get("ignore"):
            entry[IGNORE_KEY] = part["ignore"]
        images.append(entry)
        for ann in part["annotations"]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **ann})
    categories = [
        {"id": index, "name": display_name(name), "supercategory": ""}
        for index, name in enumerate(class_names)
        if index > 0
    ]
    return {
        "info": {
            "description": "pseudo-labels from zs3-annotator",
            "version": version,
            "date_created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
