import json
import threading

import numpy as np
import pytest

from core.data.folder import FolderDataset
from core.data.seen_only import SeenOnly
from core.data.splits import VOC_CLASSES, class_ids, unseen_classes
from core.data.voc import VOCSegmentation
from core.errors import CancelledError

IMAGES = {"a": [0, 1], "b": [0, 2, 255], "c": [3], "d": None, "e": [1, 3], "f": [0]}
CLASSES = ["background", "cat", "dog", "cow"]


def folder(tmp_path, build):
    return FolderDataset(build.make_folder(tmp_path / "ds", IMAGES, class_names=CLASSES))


def test_drops_exactly_the_images_with_unseen_ids(tmp_path, build):
    ds = folder(tmp_path, build)
    seen = SeenOnly(ds, [3])
    assert seen.names == ["a", "b", "d", "f"] and seen.dropped == 2 and len(seen) == 4
    assert [s.name for s in seen] == seen.names
    for i in range(len(seen)):
        assert not np.isin(seen.load_label(i), [3]).any()
    assert SeenOnly(ds, [2, 3]).names == ["a", "d", "f"]
    assert SeenOnly(ds, []).names == ds.names  # nothing unseen: nothing dropped
    assert seen.class_names == CLASSES


def test_voc_split_with_paper_unseen_classes(tmp_path, build):
    train = {"x1": [0, 10], "x2": [0, 15], "x3": [0, 14, 15], "x4": [0, 12]}
    build.make_voc(tmp_path, train, {"v": [0]})
    ds = VOCSegmentation(tmp_path, "train")
    unseen = class_ids(unseen_classes("voc", 2), VOC_CLASSES)  # cow, motorbike
    assert SeenOnly(ds, unseen).names == ["x2", "x4"]


def test_cache_file_is_written_and_reused(tmp_path, build):
    ds = folder(tmp_path, build)
    cache_dir = tmp_path / "cache"
    first = SeenOnly(ds, [3], cache=True, cache_dir=cache_dir)
    files = list((cache_dir / "seen_only").glob("*.json"))
    assert len(files) == 1 and first.cache_path == files[0]
    data = json.loads(files[0].read_text())
    assert data["kept"] == ["a", "b", "d", "f"] and data["total"] == 6
    # the second instance reads the file instead of scanning: an edit of the file shows through
    data["kept"] = ["a", "f"]
    files[0].write_text(json.dumps(data))
    assert SeenOnly(FolderDataset(tmp_path / "ds"), [3], cache=True, cache_dir=cache_dir).names == ["a", "f"]
    # other unseen ids -> another key -> a fresh scan and a second file
    assert SeenOnly(ds, [2], cache=True, cache_dir=cache_dir).names == ["a", "c", "d", "e", "f"]
    assert len(list((cache_dir / "seen_only").glob("*.json"))) == 2
    # a broken cache file is ignored and rewritten
    files[0].write_text("{not json")
    assert SeenOnly(ds, [3], cache=True, cache_dir=cache_dir).names == ["a", "b", "d", "f"]
    assert json.loads(files[0].read_text())["kept"] == ["a", "b", "d", "f"]


def test_edited_mask_invalidates_the_cache(tmp_path, build):
    ds = folder(tmp_path, build)
    cache_dir = tmp_path / "cache"
    assert SeenOnly(ds, [3], cache=True, cache_dir=cache_dir).names == ["a", "b", "d", "f"]
    build.write_palette_png(tmp_path / "ds" / "SegmentationClass" / "a.png", build.label_with(12, 16, [0, 1, 3]))
    assert SeenOnly(ds, [3], cache=True, cache_dir=cache_dir).names == ["b", "d", "f"]


def test_stale_cache_is_ignored_when_the_image_list_changed(tmp_path, build):
    ds = folder(tmp_path, build)
    cache_dir = tmp_path / "cache"
    SeenOnly(ds, [3], cache=True, cache_dir=cache_dir)
    build.write_image(tmp_path / "ds" / "JPEGImages" / "g.png", build.blocky_image(12, 16, 9))
    build.write_palette_png(tmp_path / "ds" / "SegmentationClass" / "g.png", build.label_with(12, 16, [3]))
    build.write_image(tmp_path / "ds" / "JPEGImages" / "h.png", build.blocky_image(12, 16, 9))
    assert SeenOnly(FolderDataset(tmp_path / "ds"), [3], cache=True, cache_dir=cache_dir).names == ["a", "b", "d", "f", "h"]


def test_progress_and_cancel(tmp_path, build):
    ds = folder(tmp_path, build)
    calls = []
    SeenOnly(ds, [1], progress=lambda f, m: calls.append(f))
    assert calls and calls[-1] == 1.0
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        SeenOnly(ds, [1], cancel=cancel)
