"""Every image of the corpus through ``load_image``: how each odd file is shown, how each bad one is refused."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import UserError
from core.images import ALPHA_BACKGROUND, displayed_size, load_image, to_uint8
from make_corpus import BLOCK, H, W, make_images


@pytest.fixture
def corpus(tmp_path):
    return tmp_path, {case.name: case for case in make_images(tmp_path)}


def test_every_case_opens_at_its_displayed_size_or_is_refused_in_one_line(corpus):
    folder, cases = corpus
    for case in cases.values():
        if case.opens:
            rgb = load_image(folder / case.name)
            assert rgb.shape == (*case.shown, 3) and rgb.dtype == np.uint8, case.name
            assert displayed_size(folder / case.name) == case.shown, case.name
        else:
            with pytest.raises(UserError) as info:
                load_image(folder / case.name)
            message = str(info.value)
            assert case.refusal.lower() in message.lower() and "\n" not in message, message
            assert message.startswith(case.name), message


@pytest.mark.parametrize("name", ["grey16.png", "grey16_tiff.tif", "float32.tif"])
def test_deep_images_are_stretched_by_percentiles_not_min_max(corpus, name):
    """Block 5000, background 1000, one pixel 65535: min–max would show the block at 8 % grey."""
    folder, _ = corpus
    grey = load_image(folder / name)[:, :, 0]
    assert (grey[BLOCK] >= 250).all()
    background = np.ones((H, W), bool)
    background[BLOCK] = False
    background[:2, :2] = background[0, W - 1] = background[H - 1, 0] = False  # the odd pixels
    assert (grey[background] <= 5).all()


def test_float_no_data_values_show_black(corpus):
    folder, _ = corpus
    grey = load_image(folder / "float32.tif")[:, :, 0]
    assert grey[0, 0] == 0 and grey[0, 1] == 0 and grey[1, 0] == 0  # NaN, +inf, -inf


def test_to_uint8_rules():
    flat = np.full((4, 4), 700, np.uint16)
    assert (to_uint8(flat) == 0).all()
    sparse = np.zeros((100, 100), np.float32)
    sparse[:2, :2] = 3.0  # 0.04 % of the pixels: percentiles are both 0, the full range keeps them
    out = to_uint8(sparse)
    assert out[0, 0] == 255 and out[50, 50] == 0
    assert (to_uint8(np.full((3, 3), np.nan, np.float32)) == 0).all()


def test_transparent_pixels_show_over_white(corpus):
    folder, _ = corpus
    rgba = load_image(folder / "rgba.png")
    assert (rgba[:, W // 2:] == ALPHA_BACKGROUND).all()  # stored black, shown white
    assert (rgba[BLOCK][:, : W // 2 - BLOCK[1].start] == 220).all()
    palette = load_image(folder / "palette.png")
    assert (palette[:, -4:] == ALPHA_BACKGROUND).all()  # transparent index stored green
    assert (palette[BLOCK] == 220).all()


def test_colour_survives_cmyk_and_sixteen_bit_rgb(corpus):
    folder, _ = corpus
    for name in ("cmyk.jpg", "rgb48.png"):
        rgb = load_image(folder / name).astype(int)
        assert rgb[1, 1, 0] > 180 and rgb[1, 1, 1] < 80 and rgb[1, 1, 2] < 80, name  # the red corner
        assert abs(rgb[16, 24] - 220).max() <= 8, name


def test_exif_rotation_is_applied(corpus):
    """Orientation 6: the stored top-left corner is shown top-right, and the picture is tall."""
    folder, _ = corpus
    rgb = load_image(folder / "exif_rotated.jpg")
    assert rgb.shape[:2] == (W, H)
    assert rgb[1, H - 2, 0] > 180 and rgb[1, H - 2, 1] < 80  # red, top-right
    assert rgb[1, 1, 0] < 80  # not at the top-left


def test_a_bomb_is_refused_before_its_pixels_are_decoded(corpus):
    folder, _ = corpus
    with pytest.raises(UserError, match="too large"):
        load_image(folder / "huge.png")  # 9000×8000 in the header, no pixel data at all behind it
    with pytest.raises(UserError, match="9000×8000"):
        displayed_size(folder / "huge.png")  # the header alone says so, as load_image would


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_turned_as_pillow_turns_it(tmp_path, orientation):
    from PIL import Image, ImageOps

    from make_corpus import block_picture

    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(block_picture()).save(path, exif=exif)
    with Image.open(path) as img:
        expected = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    assert np.array_equal(load_image(path), expected)
    assert displayed_size(path) == expected.shape[:2]
    assert expected.shape[:2] == ((W, H) if orientation >= 5 else (H, W))
