"""Lossless formats (VOC PNG, binary PNGs, COCO RLE): export → read back by real readers → identical."""
from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from core.masks import (
    ExportItem,
    ExportOptions,
    export_label_maps,
    import_coco,
    import_voc_folder,
    read_binary_masks,
)
from masks_helpers import ALL_CLASSES, FAST, FEW_CLASSES, label_maps

ALL_VALUES = list(range(256))
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools + numpy 2


@contextlib.contextmanager
def _export(maps: list[np.ndarray], classes, formats) -> Iterator[tuple[Path, list[ExportItem]]]:
    """Export into a fresh folder (hypothesis examples cannot share pytest's tmp_path)."""
    with tempfile.TemporaryDirectory(prefix="zs3-masks-") as folder:
        out = Path(folder)
        yield out, _write(maps, classes, formats, out)


def _write(maps, classes, formats, out: Path) -> list[ExportItem]:
    items = [ExportItem(Path(f"photos/img{i}.jpg"), m) for i, m in enumerate(maps)]  # no image files: synthetic
    summary = export_label_maps(items, classes, out, ExportOptions(formats=formats))
    assert summary.images == len(maps) and summary.added == len(maps)
    return items


@FAST
@given(maps=st.lists(label_maps(ALL_VALUES), min_size=1, max_size=3))
def test_voc_round_trip_all_values(maps):
    with _export(maps, ALL_CLASSES, ("voc",)) as (out, _items):
        back = import_voc_folder(out, ALL_CLASSES)
        assert sorted(back) == sorted(f"img{i}" for i in range(len(maps)))
        for i, labels in enumerate(maps):
            assert np.array_equal(back[f"img{i}"], labels)
            with Image.open(out / "SegmentationClass" / f"img{i}.png") as image:
                assert image.mode == "P" and np.array_equal(np.array(image), labels)
        assert (out / "class_names.txt").read_text().splitlines() == ALL_CLASSES


@FAST
@given(labels=label_maps([0, 1, 2, 3, 4, 255]))
def test_binary_round_trip(labels):
    with _export([labels], FEW_CLASSES, ("binary",)) as (out, _items):
        folder = out / "masks" / "img0"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["background.png", "cat.png", "tv_monitor.png", "potted plant.png", "person.png"]
        )
        with Image.open(folder / "cat.png") as image:
            assert image.mode == "L"
            assert set(np.unique(np.array(image)).tolist()) <= {0, 255}
            assert np.array_equal(np.array(image) == 255, labels == 1)
        assert np.array_equal(read_binary_masks(folder, FEW_CLASSES), labels)


def test_binary_round_trip_all_values():
    labels = np.random.default_rng(1).permutation(256).astype(np.uint8).reshape(16, 16)
    with _export([labels], ALL_CLASSES, ("binary",)) as (out, _items):
        assert np.array_equal(read_binary_masks(out / "masks" / "img0", ALL_CLASSES), labels)


def _bbox(binary: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(binary)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


@FAST
@given(maps=st.lists(label_maps(ALL_VALUES, max_side=16), min_size=1, max_size=3))
def test_coco_rle_decodes_in_pycocotools_and_round_trips(maps):
    with _export(maps, ALL_CLASSES, ("coco",)) as (out, items):
        coco = COCO(str(out / "annotations.json"))
        assert sorted(coco.getCatIds()) == list(range(1, 255))  # background is not a category
        assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == set(ALL_CLASSES[1:])
        for item, labels in zip(items, maps):
            (image_id,) = [i for i, im in coco.imgs.items() if im["file_name"] == item.image_path.name]
            image = coco.imgs[image_id]
            assert (image["height"], image["width"]) == labels.shape
            rebuilt = np.zeros_like(labels)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])):
                binary = coco.annToMask(ann)
                assert ann["image_id"] == image_id and ann["iscrowd"] == 0
                assert ann["area"] == int(binary.sum()) > 0
                assert ann["bbox"] == _bbox(binary)
                assert not rebuilt[binary > 0].any(), "objects must not overlap"
                rebuilt[binary > 0] = ann["category_id"]
            expected = np.where(labels == 255, 0, labels)  # COCO itself has no ignore label
            assert np.array_equal(rebuilt, expected)
        back = import_coco(out / "annotations.json", ALL_CLASSES)
        for item, labels in zip(items, maps):
            assert np.array_equal(back[item.image_path.name], labels)  # our zs3_ignore restores 255


def test_coco_one_annotation_per_connected_object(tmp_path):
    labels = np.zeros((20, 30), dtype=np.uint8)
    labels[2:6, 2:6] = 1
    labels[10:15, 20:28] = 1  # a second cat
    labels[8:9, 8:9] = 2
    labels[9:10, 9:10] = 2  # touches the first diagonally: one object (8-connected)
    labels[0:3, 27:30] = 255
    export_label_maps([ExportItem(Path("a.jpg"), labels)], FEW_CLASSES, tmp_path, ExportOptions(formats=("coco",)))
    doc = json.loads((tmp_path / "annotations.json").read_text())
    per_class = {}
    for ann in doc["annotations"]:
        per_class[ann["category_id"]] = per_class.get(ann["category_id"], 0) + 1
        assert isinstance(ann["segmentation"]["counts"], str)
    assert per_class == {1: 2, 2: 1}
    assert sorted(a["area"] for a in doc["annotations"]) == [2, 16, 40]
    assert [c["name"] for c in doc["categories"]] == ["cat", "tv/monitor", "potted plant", "person"]
    (image,) = doc["images"]
    assert {k: image[k] for k in ("id", "file_name", "width", "height")} == {
        "id": 1, "file_name": "a.jpg", "width": 30, "height": 20
    }
    ignore = image["zs3_ignore"]
    assert np.array_equal(mask_utils.decode({"size": ignore["size"], "counts": ignore["counts"].encode()}), labels == 255)
