"""Importing existing labels: VOC-style folders and COCO files, remapped by class name."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from core.errors import UserError
from core.masks import import_coco, import_voc_folder, voc_colormap

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SOURCE = ["background", "aeroplane", "cat", "tvmonitor", "pottedplant"]
TARGET = ["background", "tv/monitor", "cat", "dog"]


def _voc_folder(root: Path, masks: dict[str, np.ndarray], grey: bool = False) -> Path:
    (root / "SegmentationClass").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "class_names.txt").write_text("\n".join(SOURCE) + "\n")
    for stem, mask in masks.items():
        if grey:
            image = Image.fromarray(mask)
        else:  # a palette PNG as VOC ships it
            image = Image.frombytes("P", mask.shape[::-1], mask.tobytes())
            image.putpalette(voc_colormap().tobytes())
        image.save(root / "SegmentationClass" / f"{stem}.png")
        Image.fromarray(np.zeros((*mask.shape, 3), dtype=np.uint8)).save(root / "JPEGImages" / f"{stem}.jpg")
    return root


@pytest.mark.parametrize("grey", [False, True])
def test_voc_folder_is_remapped_by_name(tmp_path, grey):
    source = np.array([[0, 1, 2], [3, 4, 255]], dtype=np.uint8)
    _voc_folder(tmp_path, {"2007_000001": source}, grey=grey)
    masks = import_voc_folder(tmp_path, TARGET)
    # aeroplane and pottedplant were not asked for: ignore, never background; 255 stays 255
    assert masks["2007_000001"].tolist() == [[0, 255, 2], [1, 255, 255]]


def test_voc_import_is_lossless_for_every_value(tmp_path):
    source = np.arange(256, dtype=np.uint8).reshape(16, 16)
    (tmp_path / "SegmentationClass").mkdir()
    names = ["background"] + [f"c{i}" for i in range(1, 255)]
    (tmp_path / "class_names.txt").write_text("\n".join(names))
    image = Image.frombytes("P", (16, 16), source.tobytes())
    image.putpalette(voc_colormap().tobytes())
    image.save(tmp_path / "SegmentationClass" / "all.png")
    assert np.array_equal(import_voc_folder(tmp_path, names)["all"], source)


def test_voc_folder_mistakes(tmp_path):
    folder = _voc_folder(tmp_path / "a", {"x": np.zeros((4, 6), dtype=np.uint8)})
    Image.fromarray(np.zeros((5, 6, 3), dtype=np.uint8)).save(folder / "JPEGImages" / "x.jpg")
    with pytest.raises(UserError, match="mask x.png is 6×4 but image x.jpg is 6×5"):
        import_voc_folder(folder, TARGET)
    (folder / "class_names.txt").unlink()
    with pytest.raises(UserError, match="missing class list"):
        import_voc_folder(folder, TARGET)
    empty = tmp_path / "b"
    empty.mkdir()
    (empty / "class_names.txt").write_text("background\n")
    with pytest.raises(UserError, match="no masks"):
        import_voc_folder(empty, TARGET)


def test_coco_polygons_rle_and_unmatched_categories(tmp_path):
    height, width = 20, 30
    dog = np.zeros((height, width), dtype=np.uint8)
    dog[2:8, 2:10] = 1
    rle = mask_utils.encode(np.asfortranarray(dog))
    sheep = np.zeros((height, width), dtype=np.uint8)
    sheep[12:18, 20:28] = 1
    doc = {
        "images": [{"id": 7, "file_name": "a.jpg", "height": height, "width": width}],
        "categories": [{"id": 3, "name": "Cat"}, {"id": 18, "name": "dog"}, {"id": 20, "name": "sheep"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "iscrowd": 0,
             "segmentation": [[12.0, 10.0, 18.0, 10.0, 18.0, 16.0, 12.0, 16.0]]},
            {"id": 2, "image_id": 7, "category_id": 18, "iscrowd": 1,
             "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}},
            {"id": 3, "image_id": 7, "category_id": 20, "iscrowd": 1,
             "segmentation": {"size": [height, width], "counts": _uncompressed(sheep)}},
        ],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    mask = import_coco(path, TARGET)["a.jpg"]
    assert np.array_equal(mask == 3, dog == 1)
    assert (mask[sheep == 1] == 255).all(), "a class not asked for is ignore, not background"
    cat = mask == 2
    square = np.zeros_like(cat)
    square[10:16, 12:18] = True  # pixel centres inside the 6×6 polygon
    assert np.array_equal(cat, square)
    assert set(np.unique(mask).tolist()) == {0, 2, 3, 255}


def _uncompressed(binary: np.ndarray) -> list[int]:
    flat = binary.flatten(order="F")
    counts, current, run = [], 0, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return counts


def test_coco_mistakes(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not a COCO annotations file"):
        import_coco(bad, TARGET)
    with pytest.raises(UserError, match="no such COCO file"):
        import_coco(tmp_path / "missing.json", TARGET)
    wrong_size = mask_utils.encode(np.asfortranarray(np.ones((5, 5), dtype=np.uint8)))
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 4, "width": 4}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                         "segmentation": {"size": [5, 5], "counts": wrong_size["counts"].decode()}}],
    }
    bad.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="is 5×5, the image 4×4"):
        import_coco(bad, TARGET)
