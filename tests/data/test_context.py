import numpy as np
import pytest

from core.data.context import PascalContext
from core.data.registry import open_dataset
from core.data.splits import CONTEXT_CLASSES
from core.errors import UserError

# 459-class indices (labels.txt) of one row of pixels, and what they become.
RAW = np.array([0, 1, 2, 65, 397, 427, 3, 308, 440, 5000], dtype=np.uint16)
NAMES60 = ["background", "background", "aeroplane", "cat", "table", "tvmonitor", "background",
           "pottedplant", "wall", "background"]


def raw_map(shift=0):
    return np.tile(np.roll(RAW, shift), (3, 1))


def make(tmp_path, build, labels=None):
    return build.make_context(tmp_path / "ctx", {"2008_000002": raw_map(), "2008_000003": raw_map(2)},
                              {"2008_000008": raw_map(5)}, labels=labels)


def test_459_to_60_keeps_background(tmp_path, build):
    ds = PascalContext(make(tmp_path, build), "train")
    assert ds.class_names == CONTEXT_CLASSES and ds.names == ["2008_000002", "2008_000003"]
    expected = np.array([CONTEXT_CLASSES.index(n) for n in NAMES60], dtype=np.uint8)
    assert expected.tolist() == [0, 0, 1, 15, 50, 55, 0, 40, 56, 0]
    np.testing.assert_array_equal(ds.load_label(0), np.tile(expected, (3, 1)))
    np.testing.assert_array_equal(ds.load_label(1), np.tile(np.roll(expected, 2), (3, 1)))
    sample = ds[0]
    assert sample.image.shape == (3, 10, 3) and sample.label.dtype == np.uint8


def test_459_to_59_ignores_background(tmp_path, build):
    ds = PascalContext(make(tmp_path, build), "val", num_classes=59)
    assert ds.class_names == CONTEXT_CLASSES[1:] and len(ds.class_names) == 59
    expected = np.array([255, 255, 0, 14, 49, 54, 255, 39, 55, 255], dtype=np.uint8)
    np.testing.assert_array_equal(ds.load_label(0), np.tile(np.roll(expected, 5), (3, 1)))
    assert ds.class_names[14] == "cat" and ds.class_names[54] == "tvmonitor"


def test_labels_txt_spelling_variants(tmp_path, build):
    labels = dict(build.CONTEXT_LABELS_459)
    labels.update({308: "potted plant", 427: "tv monitor", 397: "diningtable", 2: "Aeroplane"})
    ds = open_dataset("context", make(tmp_path, build, labels), "train")
    row = ds.load_label(0)[0]
    assert [ds.class_names[v] for v in row] == NAMES60


def test_images_and_split_lists_in_other_places(tmp_path, build):
    root = make(tmp_path, build)
    (root / "train.txt").rename(tmp_path / "moved.txt")
    seg_ctx = root / "VOCdevkit" / "VOC2010" / "ImageSets" / "SegmentationContext"
    seg_ctx.mkdir(parents=True)
    (tmp_path / "moved.txt").rename(seg_ctx / "train.txt")
    (root / "VOCdevkit").rename(tmp_path / "VOCdevkit")  # images next to the Context folder
    ds = PascalContext(root, "train", image_root=tmp_path / "VOCdevkit" / "VOC2010")
    assert len(ds) == 2 and ds[1].image.shape == (3, 10, 3)


@pytest.mark.parametrize("case, message", [
    ("missing_root", "does not exist"),
    ("no_mats", "no Pascal-Context annotations"),
    ("no_labels_txt", "missing Pascal-Context class list"),
    ("bad_labels_line", "is not 'idx: name'"),
    ("labels_without_59", "names none of the 59"),
    ("no_images", "no JPEGImages/"),
    ("no_split", "no train.txt split list"),
    ("empty_split", "is empty"),
    ("missing_image", "names image '2008_000003'"),
    ("missing_mat", "is missing"),
    ("unreadable_mat", "not a readable MATLAB file"),
    ("mat_without_labelmap", "has no LabelMap"),
    ("bad_num_classes", "59 or 60"),
])
def test_malformed_context_gives_user_errors(tmp_path, build, case, message):
    root = make(tmp_path, build)
    kw = {}
    if case == "missing_root":
        root = tmp_path / "nope"
    elif case == "no_mats":
        for mat in (root / "trainval").glob("*.mat"):
            mat.unlink()
    elif case == "no_labels_txt":
        (root / "labels.txt").unlink()
    elif case == "bad_labels_line":
        build.write_lines(root / "labels.txt", ["1: accordion", "aeroplane"])
    elif case == "labels_without_59":
        build.write_lines(root / "labels.txt", ["1: accordion", "3: air conditioner"])
    elif case == "no_images":
        (root / "VOCdevkit").rename(tmp_path / "elsewhere")
    elif case == "no_split":
        (root / "train.txt").unlink()
    elif case == "empty_split":
        build.write_lines(root / "train.txt", [])
    elif case == "missing_image":
        (root / "VOCdevkit" / "VOC2010" / "JPEGImages" / "2008_000003.jpg").unlink()
    elif case == "missing_mat":
        (root / "trainval" / "2008_000003.mat").unlink()
    elif case == "unreadable_mat":
        (root / "trainval" / "2008_000003.mat").write_bytes(b"\x00" * 40)
    elif case == "mat_without_labelmap":
        build.write_sbd_mat(root / "trainval" / "2008_000003.mat", np.zeros((3, 10), np.uint8))
    elif case == "bad_num_classes":
        kw = {"num_classes": 21}
    with pytest.raises(UserError) as info:
        ds = open_dataset("context", root, "train", **kw)
        for i in range(len(ds)):
            ds.load_label(i)
    assert message in str(info.value) and "\n" not in str(info.value)
