import numpy as np
import pytest
from PIL import Image

from core.data import DATASET_KINDS, open_dataset
from core.data.context import PascalContext
from core.data.folder import FolderDataset
from core.data.voc import VOCSegmentation
from core.errors import UserError


def test_kinds_open_the_right_reader(tmp_path, build):
    build.make_voc(tmp_path / "voc", {"t": [0, 1]}, {"v": [0, 2]})
    build.make_folder(tmp_path / "f", {"a": [1]})
    build.make_context(tmp_path / "ctx", {"c": np.full((4, 4), 65, np.uint16)}, {"d": np.zeros((4, 4), np.uint16)})
    assert set(DATASET_KINDS) >= {"voc", "voc_aug", "context", "folder"}
    assert isinstance(open_dataset("voc", tmp_path / "voc", "val"), VOCSegmentation)
    assert isinstance(open_dataset("VOC2012", tmp_path / "voc", "train"), VOCSegmentation)
    assert isinstance(open_dataset("folder", tmp_path / "f", None), FolderDataset)
    ctx = open_dataset("pascal-context", tmp_path / "ctx", "train", num_classes=59)
    assert isinstance(ctx, PascalContext) and (ctx.load_label(0) == 14).all()


def test_transform_is_applied(tmp_path, build):
    build.make_folder(tmp_path / "f", {"a": [1]})
    ds = open_dataset("folder", tmp_path / "f", transform=lambda s: (s.name, s.label.sum()))
    assert ds[0] == ("a", 12 * 16)


@pytest.mark.parametrize("kind, root, message", [
    ("coco", ".", "unknown dataset kind"),
    ("voc", "missing", "does not exist"),
    ("context", "", "no dataset folder"),
    ("voc_aug", "voc", "needs the SBD folder"),
])
def test_registry_errors(tmp_path, build, kind, root, message):
    build.make_voc(tmp_path / "voc", {"t": [0, 1]}, {"v": [0, 2]})
    with pytest.raises(UserError, match=message):
        open_dataset(kind, tmp_path / root if root else root, "train")


def test_unlabelled_rotated_image_gets_a_label_of_the_displayed_size(tmp_path, build):
    root = build.make_folder(tmp_path / "f", {"a": [1]})
    img = Image.fromarray(build.blocky_image(10, 30, 1))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90°: displayed as 30 high, 10 wide
    img.save(root / "JPEGImages" / "b.jpg", exif=exif)
    ds = FolderDataset(root)
    sample = ds[ds.names.index("b")]
    assert sample.image.shape == (30, 10, 3) and sample.label.shape == (30, 10) and (sample.label == 255).all()
