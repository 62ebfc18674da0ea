"""Exporter behaviour: atomic writes, clashes, resume after an interruption, min_confidence, provenance."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

import core
from core.errors import UserError
from core.masks import (
    FORMATS,
    ExportItem,
    ExportOptions,
    Exporter,
    Provenance,
    export_label_maps,
    find_clashes,
    import_coco,
    import_voc_folder,
    read_binary_masks,
    read_label_png,
    read_labelme,
    read_yolo,
)
from masks_helpers import FEW_CLASSES, leftovers

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _items(n: int = 3) -> list[ExportItem]:
    items = []
    for i in range(n):
        labels = np.zeros((24, 32), dtype=np.uint8)
        labels[2 + i : 12 + i, 3:15] = 1 + i % 4
        labels[15:22, 18:30] = 2
        items.append(ExportItem(Path(f"shots/frame{i}.jpg"), labels, reviewed=i == 0, edited=i == 1))
    return items


def _all_files(folder: Path) -> dict[str, bytes]:
    return {
        str(Path(root, f).relative_to(folder)): Path(root, f).read_bytes()
        for root, _, files in os.walk(folder)
        for f in files
    }


def test_unrelated_files_survive_and_clash_raises(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "SegmentationClass").mkdir()
    (tmp_path / "SegmentationClass" / "other.png").write_bytes(b"not ours")
    items = _items(2)
    export_label_maps(items, FEW_CLASSES, tmp_path, ExportOptions(formats=FORMATS))
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "SegmentationClass" / "other.png").read_bytes() == b"not ours"

    before = _all_files(tmp_path)
    clashes = find_clashes(tmp_path, [i.image_path for i in items], FEW_CLASSES, ExportOptions(formats=FORMATS))
    assert tmp_path / "SegmentationClass" / "frame0.png" in clashes
    assert tmp_path / "annotations.json" in clashes
    with pytest.raises(UserError, match="already exists") as err:
        export_label_maps(items, FEW_CLASSES, tmp_path, ExportOptions(formats=FORMATS))
    assert "\n" not in str(err.value)
    assert _all_files(tmp_path) == before, "a refused export must not touch anything"
    assert find_clashes(tmp_path, [Path("new/pic.jpg")], FEW_CLASSES, ExportOptions(formats=("labelme",))) == [
        tmp_path / "class_names.txt",
        tmp_path / "zs3_provenance.json",
    ]

    changed = [ExportItem(items[0].image_path, np.zeros((24, 32), dtype=np.uint8))]
    export_label_maps(changed, FEW_CLASSES, tmp_path, ExportOptions(formats=FORMATS, overwrite=True))
    assert not read_label_png(tmp_path / "SegmentationClass" / "frame0.png").any()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_failure_midway_leaves_no_partial_or_temp_file(tmp_path, monkeypatch):
    items = _items(3)
    exporter = Exporter(tmp_path, FEW_CLASSES, ExportOptions(formats=FORMATS))
    exporter.add(items[0])

    real_fsync = os.fsync
    calls = {"n": 0}

    def failing_fsync(fd):  # the disk fills up while the 3rd file of this image is being written
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(28, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(UserError, match="No space left on device"):  # one line for the user, not a traceback
        exporter.add(items[1])
    monkeypatch.setattr(os, "fsync", real_fsync)

    assert leftovers(tmp_path) == []
    for png in (tmp_path / "SegmentationClass").glob("*.png"):
        read_label_png(png)  # every file that exists is complete
    for js in (tmp_path / "labelme").glob("*.json"):
        json.loads(js.read_text())
    assert exporter.is_done(items[0].image_path)
    assert not exporter.is_done(items[1].image_path)

    # The interrupted image is ours: a resumed run redoes it without overwrite=True.
    resumed = Exporter(tmp_path, FEW_CLASSES, ExportOptions(formats=FORMATS))
    for item in items:
        if not resumed.is_done(item.image_path):
            resumed.add(item)
    summary = resumed.close()
    assert summary.images == 3 and summary.added == 2
    back = import_voc_folder(tmp_path, FEW_CLASSES)
    for item in items:
        assert np.array_equal(back[item.image_path.stem], item.labels)


def test_encoder_raising_leaves_no_file(tmp_path, monkeypatch):
    import core.masks.binary as binary_module

    real = binary_module.encode_binary_png
    calls = {"n": 0}

    def flaky(mask):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("encoder crashed")
        return real(mask)

    monkeypatch.setattr(binary_module, "encode_binary_png", flaky)
    exporter = Exporter(tmp_path, FEW_CLASSES, ExportOptions(formats=("binary",)))
    with pytest.raises(RuntimeError):
        exporter.add(_items(1)[0])
    folder = tmp_path / "masks" / "frame0"
    assert sorted(p.name for p in folder.iterdir()) == ["background.png", "cat.png"]
    assert leftovers(tmp_path) == []


def test_resume_after_interrupt_builds_complete_annotations(tmp_path):
    items = _items(4)
    options = ExportOptions(formats=("voc", "coco", "yolo"))
    first = Exporter(tmp_path, FEW_CLASSES, options, Provenance(model="m1"))
    first.add(items[0])
    first.add(items[1])
    del first  # Ctrl-C: close() never ran

    second = Exporter(tmp_path, FEW_CLASSES, options, Provenance(model="m1"))
    assert [second.is_done(i.image_path) for i in items] == [True, True, False, False]
    with pytest.raises(UserError, match="already exists"):
        second.add(items[0])  # a finished image is a clash unless overwrite
    for item in items[2:]:
        second.add(item)
    summary = second.close()
    assert (summary.images, summary.added) == (4, 2)
    coco = COCO(str(tmp_path / "annotations.json"))
    assert sorted(im["file_name"] for im in coco.imgs.values()) == [f"frame{i}.jpg" for i in range(4)]
    assert summary.objects == len(coco.anns)
    back = import_coco(tmp_path / "annotations.json", FEW_CLASSES)
    for item in items:
        assert np.array_equal(back[item.image_path.name], item.labels)

    with pytest.raises(UserError, match="other classes"):
        Exporter(tmp_path, ["background", "dog"], options)


def test_min_confidence_becomes_ignore_everywhere(tmp_path):
    labels = np.zeros((30, 40), dtype=np.uint8)
    labels[5:25, 5:35] = 1
    confidence = np.ones((30, 40), dtype=np.float32)
    confidence[:, 20:] = 0.2  # the right half of the cat is unsure
    item = ExportItem(Path("a.jpg"), labels, confidence=confidence)
    export_label_maps([item], FEW_CLASSES, tmp_path, ExportOptions(formats=FORMATS, min_confidence=0.5))
    expected = np.where(confidence < 0.5, 255, labels).astype(np.uint8)
    assert np.array_equal(read_label_png(tmp_path / "SegmentationClass" / "a.png"), expected)
    assert np.array_equal(read_binary_masks(tmp_path / "masks" / "a", FEW_CLASSES), expected)
    assert np.array_equal(import_coco(tmp_path / "annotations.json", FEW_CLASSES)["a.jpg"], expected)
    coco = COCO(str(tmp_path / "annotations.json"))
    (ann,) = coco.anns.values()
    assert ann["area"] == int((expected == 1).sum()) and not coco.annToMask(ann)[:, 20:].any()
    for rasterised in (read_labelme(tmp_path / "labelme" / "a.json", FEW_CLASSES), read_yolo(tmp_path / "labels" / "a.txt", 30, 40)):
        assert not (rasterised[:, 21:] == 1).any()  # no polygon reaches into the ignored half
    assert json.loads((tmp_path / "zs3_provenance.json").read_text())["min_confidence"] == 0.5


def test_provenance_sidecar(tmp_path):
    items = _items(3)
    provenance = Provenance(model="default", embeddings="glove-6b-50d", seen_classes=["cat", "person"])
    export_label_maps(items, FEW_CLASSES, tmp_path, ExportOptions(formats=("voc",)), provenance)
    doc = json.loads((tmp_path / "zs3_provenance.json").read_text())
    assert doc["version"] == core.__version__ and doc["tool"] == "zs3-annotator"
    assert doc["model"] == "default" and doc["embeddings"] == "glove-6b-50d"
    assert [(c["name"], c["seen"]) for c in doc["classes"]] == [
        ("background", False), ("cat", True), ("tv/monitor", False), ("potted plant", False), ("person", True)
    ]
    assert doc["reviewed_images"] == ["frame0.jpg"] and doc["edited_images"] == ["frame1.jpg"]
    assert doc["created"].endswith("+00:00") and doc["min_confidence"] is None


def test_user_mistakes_are_one_line_user_errors(tmp_path):
    good = _items(1)[0]
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((10, 12, 3), dtype=np.uint8)).save(photo)
    cases = [
        (lambda: ExportOptions(formats=("voc", "pascal")).checked_formats(), "unknown export format"),
        (lambda: export_label_maps([ExportItem(photo, np.zeros((11, 12), np.uint8))], FEW_CLASSES, tmp_path / "o1"), "mask is 12×11"),
        (lambda: export_label_maps([ExportItem(Path("x.jpg"), np.full((4, 4), 9, np.uint8))], FEW_CLASSES, tmp_path / "o2"), "has class 9"),
        (lambda: export_label_maps([good], ["background", "cat", "Cat"], tmp_path / "o3"), "same class"),
        (lambda: export_label_maps([good, ExportItem(Path("other/frame0.png"), good.labels)], FEW_CLASSES, tmp_path / "o4"), "both named"),
        (lambda: export_label_maps([ExportItem(Path("x.jpg"), good.labels, confidence=np.ones((2, 2)))], FEW_CLASSES, tmp_path / "o5", ExportOptions(min_confidence=0.5)), "confidence map"),
    ]
    for action, message in cases:
        with pytest.raises(UserError, match=message) as err:
            action()
        assert "\n" not in str(err.value)
