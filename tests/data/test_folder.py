import numpy as np
import pytest
from PIL import Image

from core.data import Sample
from core.data.folder import FolderDataset
from core.errors import UserError


def test_samples_decode_to_the_written_arrays(tmp_path, build):
    root = build.make_folder(tmp_path / "ds", {"img2": [0, 1], "img10": [2, 255, 1], "img1": [1]})
    ds = FolderDataset(root)
    assert ds.names == ["img1", "img2", "img10"]  # natural order
    assert ds.class_names == ["background", "cat", "dog"]
    assert len(ds) == 3
    sample = ds[2]
    assert isinstance(sample, Sample) and sample.name == "img10"
    assert sample.image.dtype == np.uint8 and sample.image.shape == (12, 16, 3)
    np.testing.assert_array_equal(sample.image, build.blocky_image(12, 16, 301))  # PNG: lossless
    np.testing.assert_array_equal(sample.label, build.label_with(12, 16, [2, 255, 1]))
    np.testing.assert_array_equal(ds.load_label(0), build.label_with(12, 16, [1]))
    assert ds[-1].name == "img10"
    with pytest.raises(IndexError):
        ds[3]


def test_grey_masks_and_jpeg_images(tmp_path, build):
    root = build.make_folder(tmp_path / "ds", {"a": None}, suffix=".jpg")
    label = build.label_with(12, 16, [0, 2, 1, 255])
    build.write_grey_png(root / "SegmentationClass" / "a.png", label)
    sample = FolderDataset(root)[0]
    np.testing.assert_array_equal(sample.label, label)
    expected = np.asarray(Image.open(root / "JPEGImages" / "a.jpg").convert("RGB"))
    np.testing.assert_array_equal(sample.image, expected)
    assert np.abs(sample.image.astype(int) - build.blocky_image(12, 16, 300)).max() <= 8


def test_images_without_mask_are_unlabelled(tmp_path, build):
    root = build.make_folder(tmp_path / "ds", {"lab": [1, 2], "unlab": None}, size=(10, 14))
    ds = FolderDataset(root)
    assert ds.labelled_indices == [0]
    label = ds.load_label(1)
    assert label.shape == (10, 14) and label.dtype == np.uint8 and (label == 255).all()
    assert ds[1].label.shape == ds[1].image.shape[:2]


def test_split_file_selects_images_in_its_order(tmp_path, build):
    root = build.make_folder(tmp_path / "ds", {"a": [1], "b": [2], "c": None})
    build.write_lines(root / "ImageSets" / "Segmentation" / "train.txt", ["c", "a.png", ""])
    ds = FolderDataset(root, split="train")
    assert ds.names == ["c", "a"]
    np.testing.assert_array_equal(ds.load_label(1), build.label_with(12, 16, [1]))


def test_class_names_override_and_labelme_header(tmp_path, build):
    root = build.make_folder(tmp_path / "ds", {"a": [1]}, class_names=["__ignore__", "_background_", "cat"])
    assert FolderDataset(root).class_names == ["background", "cat"]
    assert FolderDataset(root, class_names=["Background", "x", "y"]).class_names == ["background", "x", "y"]


@pytest.mark.parametrize("case, message", [
    ("missing_root", "does not exist"),
    ("root_is_file", "not a folder"),
    ("no_jpegimages", "no JPEGImages/"),
    ("no_images", "no images"),
    ("no_class_names", "missing class_names.txt"),
    ("background_not_first", "must start with 'background'"),
    ("empty_split", "is empty"),
    ("missing_split", "no split list"),
    ("split_names_missing_image", "names image 'ghost'"),
    ("rgb_mask", "colour image, not an index mask"),
    ("value_out_of_range", "class index 7"),
    ("size_mismatch", "but its image is"),
    ("corrupt_mask", "not a readable PNG"),
])
def test_malformed_folders_give_one_line_user_errors(tmp_path, build, case, message):
    root = tmp_path / "ds"
    split = None
    index = 0
    if case == "missing_root":
        pass
    elif case == "root_is_file":
        root.write_text("x")
    elif case == "no_jpegimages":
        root.mkdir()
    elif case == "no_images":
        (root / "JPEGImages").mkdir(parents=True)
        build.write_lines(root / "class_names.txt", ["background", "cat"])
    else:
        build.make_folder(root, {"a": [0, 1]})
        if case == "no_class_names":
            (root / "class_names.txt").unlink()
        elif case == "background_not_first":
            build.write_lines(root / "class_names.txt", ["cat", "background"])
        elif case == "empty_split":
            build.write_lines(root / "ImageSets" / "Segmentation" / "train.txt", ["", "  "])
            split = "train"
        elif case == "missing_split":
            split = "val"
        elif case == "split_names_missing_image":
            build.write_lines(root / "ImageSets" / "Segmentation" / "train.txt", ["a", "ghost"])
            split = "train"
        elif case == "rgb_mask":
            Image.new("RGB", (16, 12), (128, 0, 0)).save(root / "SegmentationClass" / "a.png")
        elif case == "value_out_of_range":
            build.write_palette_png(root / "SegmentationClass" / "a.png", build.label_with(12, 16, [1, 7]))
        elif case == "size_mismatch":
            build.write_palette_png(root / "SegmentationClass" / "a.png", build.label_with(5, 5, [1]))
        elif case == "corrupt_mask":
            (root / "SegmentationClass" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(UserError) as info:
        ds = FolderDataset(root, split=split)
        ds[index]
    text = str(info.value)
    assert message in text and "\n" not in text
