"""The VOC export of real photos loads in torchvision's VOCSegmentation (download=False)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.masks import ExportItem, ExportOptions, export_label_maps
from masks_helpers import FEW_CLASSES, SAMPLES

torchvision = pytest.importorskip("torchvision")


def _synthetic_labels(height: int, width: int, seed: int) -> np.ndarray:
    labels = np.zeros((height, width), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for index in (1, 2, 3, 4):
        y, x = rng.integers(0, height // 2), rng.integers(0, width // 2)
        labels[y : y + height // 3, x : x + width // 3] = index
    labels[:3, :] = 255  # an ignore border, as VOC has
    return labels


def test_vocsegmentation_reads_the_export(tmp_path):
    photos = sorted(SAMPLES.glob("*.jpg"))[:3]
    assert photos, "sample photos are missing"
    items = []
    for seed, photo in enumerate(photos):
        with Image.open(photo) as image:
            width, height = image.size
        items.append(ExportItem(photo, _synthetic_labels(height, width, seed)))
    voc_root = tmp_path / "VOCdevkit" / "VOC2012"
    options = ExportOptions(formats=("voc",), image_set="train", copy_images=True)
    export_label_maps(items, FEW_CLASSES, voc_root, options)

    dataset = torchvision.datasets.VOCSegmentation(str(tmp_path), year="2012", image_set="train", download=False)
    assert len(dataset) == len(items)
    by_stem = {item.image_path.stem: item for item in items}
    for index in range(len(dataset)):
        image, target = dataset[index]
        stem = dataset.images[index].rsplit("/", 1)[-1][: -len(".jpg")]
        item = by_stem[stem]
        assert target.mode == "P"
        assert np.array_equal(np.array(target), item.labels)
        assert image.size == (item.labels.shape[1], item.labels.shape[0])
        assert (voc_root / "JPEGImages" / f"{stem}.jpg").read_bytes() == item.image_path.read_bytes()
