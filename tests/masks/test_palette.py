"""VOC palette PNGs: the colour map, and indices that survive Pillow exactly."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from PIL import Image

from core.errors import UserError
from core.masks import read_label_png, voc_colormap, write_label_png

from masks_helpers import FAST, label_maps


def test_colormap_is_the_voc_one():
    cmap = voc_colormap()
    assert cmap.shape == (256, 3) and cmap.dtype == np.uint8
    # Entries every VOC user knows: background, aeroplane, person, tvmonitor, the cream "void" border.
    assert cmap[0].tolist() == [0, 0, 0]
    assert cmap[1].tolist() == [128, 0, 0]
    assert cmap[15].tolist() == [192, 128, 128]
    assert cmap[20].tolist() == [0, 64, 128]
    assert cmap[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in cmap}) == 256
    assert voc_colormap(21).tolist() == cmap[:21].tolist()


def test_the_pillow13_remapping_case_round_trips(tmp_path):
    labels = np.array([[0, 2, 5, 255]], dtype=np.uint8)
    path = write_label_png(tmp_path / "m.png", labels)
    with Image.open(path) as image:
        assert image.mode == "P"
        assert np.array(image).tolist() == labels.tolist()


def test_every_value_and_the_full_palette_survive(tmp_path):
    labels = np.random.default_rng(0).permutation(256).astype(np.uint8).reshape(16, 16)
    path = write_label_png(tmp_path / "all.png", labels)
    with Image.open(path) as image:
        assert image.mode == "P"
        palette = np.array(image.getpalette()[: 256 * 3], dtype=np.uint8).reshape(256, 3)
        assert np.array_equal(palette, voc_colormap())
        assert np.array_equal(np.array(image), labels)
    assert np.array_equal(read_label_png(path), labels)


@FAST
@given(labels=label_maps(list(range(256)), max_side=20))
def test_random_maps_round_trip(labels, tmp_path_factory):
    path = write_label_png(tmp_path_factory.mktemp("png") / "m.png", labels)
    assert np.array_equal(read_label_png(path), labels)
    with Image.open(path) as image:
        assert image.mode == "P" and np.array_equal(np.array(image), labels)


def test_reads_grey_and_voc_coloured_pngs(tmp_path):
    labels = np.array([[0, 1, 15], [255, 20, 0]], dtype=np.uint8)
    Image.fromarray(labels).save(tmp_path / "grey.png")
    Image.fromarray(voc_colormap()[labels]).save(tmp_path / "rgb.png")
    assert np.array_equal(read_label_png(tmp_path / "grey.png"), labels)
    assert np.array_equal(read_label_png(tmp_path / "rgb.png"), labels)
    Image.fromarray(labels.astype(np.uint16)).save(tmp_path / "grey16.png")
    assert np.array_equal(read_label_png(tmp_path / "grey16.png"), labels)


def test_unknown_colour_and_missing_file_are_user_errors(tmp_path):
    Image.fromarray(np.full((2, 2, 3), 7, dtype=np.uint8)).save(tmp_path / "odd.png")
    with pytest.raises(UserError, match="not in the VOC colour map"):
        read_label_png(tmp_path / "odd.png")
    with pytest.raises(UserError, match="no such label file"):
        read_label_png(tmp_path / "missing.png")
