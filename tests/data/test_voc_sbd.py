import numpy as np
import pytest
from PIL import Image

from core.data.registry import open_dataset
from core.data.sbd import SBDSegmentation, load_sbd_label
from core.data.voc import VOCSegmentation
from core.errors import UserError

TRAIN = {"2007_000001": [0, 15], "2007_000002": [0, 12, 10]}
VAL = {"2007_000003": [0, 8], "2007_000004": [1, 0]}


def test_voc_root_may_be_the_devkit_parent_or_voc2012(tmp_path, build):
    voc = build.make_voc(tmp_path, TRAIN, VAL)
    for root in (tmp_path, tmp_path / "VOCdevkit", voc):
        assert VOCSegmentation(root, "val").names == list(VAL)


def test_voc_samples_decode(tmp_path, build):
    voc = build.make_voc(tmp_path, TRAIN, VAL)
    ds = VOCSegmentation(tmp_path, "trainval")
    assert ds.names == [*TRAIN, *VAL] and len(ds.class_names) == 21
    sample = ds[1]
    assert sample.name == "2007_000002"
    np.testing.assert_array_equal(sample.label, build.label_with(24, 32, [0, 12, 10], border=True))
    assert set(np.unique(sample.label)) == {0, 10, 12, 255}
    decoded = np.asarray(Image.open(voc / "JPEGImages" / "2007_000002.jpg").convert("RGB"))
    np.testing.assert_array_equal(sample.image, decoded)
    assert np.abs(sample.image.astype(int) - build.blocky_image(24, 32, 1)).max() <= 8


def test_sbd_label_reads_the_gtcls_struct(tmp_path, build):
    label = build.label_with(7, 9, [0, 3, 20])
    path = build.write_sbd_mat(tmp_path / "x.mat", label)
    out = load_sbd_label(path)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, label)


def test_train_aug_merges_sbd_without_val_and_duplicates(tmp_path, build):
    build.make_voc(tmp_path, TRAIN, VAL)
    sbd_train = {"2007_000002": [0, 4], "2007_000003": [0, 9], "2008_000010": [0, 7], "2008_000011": [0, 14]}
    sbd = build.make_sbd(tmp_path, sbd_train, val={"2008_000020": [0, 2]})
    ds = VOCSegmentation(tmp_path, "train_aug", sbd_root=sbd)
    # VOC train first; the VOC val image 2007_000003 is dropped; 2007_000002 only once, with VOC's label
    assert ds.names == ["2007_000001", "2007_000002", "2008_000010", "2008_000011"]
    assert [ds.label_source(i) for i in range(4)] == ["voc", "voc", "sbd", "sbd"]
    np.testing.assert_array_equal(ds.load_label(1), build.label_with(24, 32, [0, 12, 10], border=True))
    sample = ds[3]  # image only in SBD's img/
    assert sample.image.shape == (20, 28, 3)
    np.testing.assert_array_equal(sample.label, build.label_with(20, 28, [0, 14]))


def test_train_aug_prefers_train_noval_list(tmp_path, build):
    build.make_voc(tmp_path, TRAIN, VAL)
    sbd_train = {"2007_000003": [0, 9], "2008_000010": [0, 7], "2008_000011": [0, 14]}
    sbd = build.make_sbd(tmp_path, sbd_train, train_noval=["2008_000011", "2007_000003"])
    ds = VOCSegmentation(tmp_path / "VOCdevkit" / "VOC2012", "trainaug", sbd_root=sbd / "dataset")
    assert ds.names == ["2007_000001", "2007_000002", "2008_000011"]


def test_registry_voc_aug_finds_sbd_next_to_voc(tmp_path, build):
    build.make_voc(tmp_path, TRAIN, VAL)
    build.make_sbd(tmp_path, {"2008_000010": [0, 7]})
    ds = open_dataset("voc_aug", tmp_path / "VOCdevkit", "train")
    assert ds.split == "train_aug" and ds.names[-1] == "2008_000010"
    assert open_dataset("voc_aug", tmp_path, "val").names == list(VAL)


def test_train_aug_from_segmentation_class_aug(tmp_path, build):
    voc = build.make_voc(tmp_path, TRAIN, VAL)
    build.write_lines(voc / "ImageSets" / "Segmentation" / "train_aug.txt", ["2007_000001"])
    build.write_palette_png(voc / "SegmentationClassAug" / "2007_000001.png", build.label_with(24, 32, [3]))
    ds = VOCSegmentation(tmp_path, "train_aug")
    np.testing.assert_array_equal(ds[0].label, build.label_with(24, 32, [3]))


def test_sbd_alone(tmp_path, build):
    sbd = build.make_sbd(tmp_path, {"a": [0, 5]}, val={"b": [0, 6]})
    ds = open_dataset("sbd", sbd, "val")
    assert isinstance(ds, SBDSegmentation) and ds.names == ["b"]
    np.testing.assert_array_equal(ds[0].label, build.label_with(20, 28, [0, 6]))


@pytest.mark.parametrize("case, message", [
    ("missing_root", "does not exist"),
    ("no_jpegimages", "no JPEGImages/"),
    ("empty_split", "is empty"),
    ("missing_image", "names image '2007_000004'"),
    ("missing_mask", "its mask"),
    ("aug_without_sbd", "needs the SBD folder"),
    ("bad_sbd_root", "no cls/ folder"),
    ("missing_sbd_mat", "is missing"),
    ("unreadable_mat", "not a readable MATLAB file"),
    ("mat_without_gtcls", "has no GTcls"),
    ("unknown_split", "unknown VOC split"),
])
def test_malformed_voc_gives_user_errors(tmp_path, build, case, message):
    voc = build.make_voc(tmp_path / "data", TRAIN, VAL)
    sbd = build.make_sbd(tmp_path / "data", {"2008_000010": [0, 7]})
    root, split, kw = tmp_path / "data", "val", {}
    if case == "missing_root":
        root = tmp_path / "nothing"
    elif case == "no_jpegimages":
        root = tmp_path
        (tmp_path / "empty").mkdir()
        root = tmp_path / "empty"
    elif case == "empty_split":
        build.write_lines(voc / "ImageSets" / "Segmentation" / "val.txt", [])
    elif case == "missing_image":
        (voc / "JPEGImages" / "2007_000004.jpg").unlink()
    elif case == "missing_mask":
        (voc / "SegmentationClass" / "2007_000003.png").unlink()
    elif case == "aug_without_sbd":
        split = "train_aug"
    elif case == "bad_sbd_root":
        split, kw = "train_aug", {"sbd_root": tmp_path / "data" / "VOCdevkit"}
    elif case == "missing_sbd_mat":
        split, kw = "train_aug", {"sbd_root": sbd}
        (sbd / "dataset" / "cls" / "2008_000010.mat").unlink()
    elif case in ("unreadable_mat", "mat_without_gtcls"):
        split, kw = "train_aug", {"sbd_root": sbd}
        mat = sbd / "dataset" / "cls" / "2008_000010.mat"
        if case == "unreadable_mat":
            mat.write_bytes(b"MATLAB 5.0 MAT-file, truncated")
        else:
            build.write_context_mat(mat, np.zeros((3, 3)))
    elif case == "unknown_split":
        split = "test"
    with pytest.raises(UserError) as info:
        ds = open_dataset("voc", root, split, **kw)
        for i in range(len(ds)):
            ds.load_label(i)
    assert message in str(info.value) and "\n" not in str(info.value)
