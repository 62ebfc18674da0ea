"""labelme and YOLO polygons: known shapes come back nearly identical, with the right class names."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from core.masks import ExportItem, ExportOptions, export_label_maps, read_labelme, read_yolo
from core.masks.polygons import fill_polygons, mask_polygons
from masks_helpers import FEW_CLASSES, iou

yaml = pytest.importorskip("yaml")

def _shapes() -> np.ndarray:
    labels = np.zeros((60, 80), dtype=np.uint8)
    labels[5:25, 5:45] = 1  # a rectangle: cat
    labels[30:58, 40:78] = 2  # a ring with a hole: tv/monitor
    labels[38:50, 50:68] = 0
    labels[41:47, 55:62] = 4  # a person inside the hole
    labels[0:4, 70:80] = 255  # ignore: no object in any polygon format
    return labels

@pytest.fixture()
def exported(tmp_path):
    labels = _shapes()
    image = tmp_path / "photos" / "scene.png"
    image.parent.mkdir()
    Image.fromarray(np.zeros((60, 80, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "out"
    export_label_maps([ExportItem(image, labels)], FEW_CLASSES, out, ExportOptions(formats=("labelme", "yolo")))
    return labels, image, out

def test_labelme_file_and_read_back(exported):
    labels, image, out = exported
    path = out / "labelme" / "scene.json"
    doc = json.loads(path.read_text())
    assert doc["imageData"] is None and isinstance(doc["version"], str)
    assert (doc["imageHeight"], doc["imageWidth"]) == labels.shape
    assert (path.parent / doc["imagePath"]).resolve() == image.resolve()  # relative to the JSON, as labelme reads it
    assert sorted(s["label"] for s in doc["shapes"]) == ["cat", "person", "tv/monitor"]
    assert all(s["shape_type"] == "polygon" and len(s["points"]) >= 3 for s in doc["shapes"])
    back = read_labelme(path, FEW_CLASSES)
    for index in (1, 2, 4):
        assert iou(back == index, labels == index) > 0.95, FEW_CLASSES[index]
    assert (back[38:50, 50:68] != 2).all(), "the ring's hole must stay open"

def test_yolo_file_and_read_back(exported):
    labels, _, out = exported
    lines = (out / "labels" / "scene.txt").read_text().splitlines()
    assert sorted(int(line.split()[0]) for line in lines) == [0, 1, 3]  # 0-based over non-background classes
    for line in lines:
        coords = np.array(line.split()[1:], dtype=float)
        assert len(coords) % 2 == 0 and len(coords) >= 6 and (0 <= coords).all() and (coords <= 1).all()
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["nc"] == 4
    assert data["names"] == {0: "cat", 1: "tv/monitor", 2: "potted plant", 3: "person"}
    back = read_yolo(out / "labels" / "scene.txt", *labels.shape)
    for index in (1, 2, 4):
        assert iou(back == index, labels == index) > 0.95, FEW_CLASSES[index]
    assert (back[38:50, 50:68] != 2).all(), "the ring's hole must stay open"

def test_tiny_objects_give_valid_polygons():
    """A single pixel and a 1-pixel line still give polygons of ≥ 3 points that fill back exactly."""
    labels = np.zeros((30, 50), dtype=np.uint8)
    labels[10, 10] = 1
    labels[20, 5:40] = 3
    for index in (1, 3):
        polygons = mask_polygons(labels == index)
        assert len(polygons) == 1 and len(polygons[0]) >= 3
        assert np.array_equal(fill_polygons(polygons, labels.shape) > 0, labels == index)
