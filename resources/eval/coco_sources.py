"""COCO annotations as class labels, for resources/eval/fetch_heldout.py (pure: arrays in, arrays out).

COCO's own masks are instance polygons, run-length encodings (RLE) or a panoptic PNG; these functions turn
them into one H×W class map (0 = background, 255 = ignore) with the held-out folder's conventions: a
crowd region (``iscrowd``) and an annotation dropped as wrong are ignore where no kept instance covers
them, a pixel two instances of different classes both claim is ignore, and a ``band``-px ignore line runs
along every instance's outline (the annotator's line is not exact).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

IGNORE = 255
#: COCO names of the Pascal VOC classes, renamed so that the held-out folder has one name per concept.
COCO_TO_VOC = {"airplane": "aeroplane", "couch": "sofa", "dining table": "diningtable", "motorcycle": "motorbike",
               "potted plant": "pottedplant", "tv": "tvmonitor"}


@dataclass(frozen=True)
class Instance:
    """One COCO annotation as a mask: ``name`` None = dropped (its region is ignore, like a crowd)."""

    name: str | None
    mask: np.ndarray
    crowd: bool = False


def polygon_mask(size: tuple[int, int], polygons: Sequence[Sequence[float]]) -> np.ndarray:
    """H×W bool of COCO polygons (``[x0, y0, x1, y1, …]`` each) in an image of ``size`` = (width, height)."""
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    for flat in polygons:
        draw.polygon([(flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2)], fill=1)
    return np.array(canvas, dtype=bool)


def _listed(value):
    """A list the JSON holds as a list or as its text (pixano writes ``"[426, 640]"``)."""
    if isinstance(value, str):
        if not value.startswith("["):
            raise ValueError("compressed COCO RLE is not supported")
        value = json.loads(value)
    return [int(v) for v in value]


def rle_mask(segmentation: dict) -> np.ndarray:
    """H×W bool of an uncompressed COCO RLE: alternating run lengths (background first), column-major."""
    height, width = _listed(segmentation["size"])
    flat = np.zeros(height * width, dtype=bool)
    position = 0
    for k, run in enumerate(_listed(segmentation["counts"])):
        if k % 2:
            flat[position:position + run] = True
        position += run
    if position != height * width:
        raise ValueError(f"RLE covers {position} pixels, not {height}×{width}")
    return flat.reshape(width, height).T


def segmentation_mask(segmentation, size: tuple[int, int]) -> np.ndarray:
    """A COCO ``segmentation`` (polygons or RLE) as an H×W bool for an image of ``size`` = (width, height)."""
    if isinstance(segmentation, list):
        return polygon_mask(size, segmentation)
    mask = rle_mask(segmentation)
    if mask.shape != (size[1], size[0]):
        raise ValueError(f"RLE of {mask.shape} in an image of {size}")
    return mask


def edge_band(mask: np.ndarray, band: int) -> np.ndarray:
    """Pixels within ``band // 2`` of the mask's outline, on either side (a ``band``-px wide line)."""
    mask = np.asarray(mask, dtype=bool)
    radius = band // 2
    if radius <= 0 or not mask.any():
        return np.zeros(mask.shape, dtype=bool)
    padded = np.pad(mask, radius, mode="edge")
    height, width = mask.shape
    grown, shrunk = mask.copy(), mask.copy()
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            window = padded[dy:dy + height, dx:dx + width]
            grown |= window
            shrunk &= window
    return grown & ~shrunk


def coco_labels(shape: tuple[int, int], instances: Sequence[Instance], band: int,
                rename: dict[str, str] = COCO_TO_VOC) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class labels (names in order of first appearance, background first) from COCO instances: kept
    instances are their class, where two of different classes overlap ignore; crowds and dropped
    annotations ignore where no kept instance is; then the ``band``-px outline of each instance ignore."""
    names = ["background"]
    labels = np.zeros(shape, dtype=np.uint8)
    unclaimed_ignore = np.zeros(shape, dtype=bool)
    for instance in instances:
        if instance.crowd or instance.name is None:
            unclaimed_ignore |= instance.mask
            continue
        name = rename.get(instance.name, instance.name)
        if name not in names:
            names.append(name)
        index = names.index(name)
        region = labels[instance.mask]
        labels[instance.mask] = np.where((region == 0) | (region == index), index, IGNORE)
    labels[unclaimed_ignore & (labels == 0)] = IGNORE
    for instance in instances:
        labels[edge_band(instance.mask, band)] = IGNORE
    return labels, tuple(names)


def panoptic_labels(rgb: np.ndarray, segments: Sequence[tuple[int, str]], band: int,
                    rename: dict[str, str] = COCO_TO_VOC) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class labels from a COCO panoptic PNG (segment id = R + 256 G + 65536 B) and its ``(id, class
    name)`` segments: unlabelled pixels (no segment) are ignore, and so is a ``band``-px outline of each
    segment. There is no background class: COCO panoptic labels every pixel it can."""
    rgb = np.asarray(rgb, dtype=np.int64)
    ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
    instances = [Instance(name, ids == segment) for segment, name in segments]
    labels, names = coco_labels(ids.shape, instances, band, rename)
    covered = np.zeros(ids.shape, dtype=bool)
    for instance in instances:
        covered |= instance.mask
    labels[~covered] = IGNORE
    return labels, names
