"""``load_reduced``: the quick JPEG preview a viewer shows before ``load_image``'s full pixels."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from core.errors import UserError
from core.images import load_image, load_reduced

H, W = 480, 640


def _picture() -> np.ndarray:
    """Large flat blocks (JPEG keeps them) placed so that every turn and mirror looks different."""
    rgb = np.full((H, W, 3), 50, np.uint8)
    rgb[40:200, 80:360] = (220, 220, 220)
    rgb[300:460, 480:620] = (30, 200, 40)
    rgb[:96, :96] = (230, 30, 30)
    return rgb


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_preview_is_the_full_image_reduced_in_every_exif_orientation(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(_picture()).save(path, exif=exif, quality=95)
    full = load_image(path)
    reduced = load_reduced(path, min_side=100)   # 640 / 4 = 160 ≥ 100 > 640 / 8
    assert reduced is not None and reduced.factor == 4
    assert reduced.shape == full.shape[:2]
    assert reduced.rgb.shape == (full.shape[0] // 4, full.shape[1] // 4, 3)
    expected = cv2.resize(full, reduced.rgb.shape[1::-1], interpolation=cv2.INTER_AREA)
    error = np.abs(reduced.rgb.astype(int) - expected).mean()
    wrong_turn = np.abs(reduced.rgb.astype(int) - np.flip(expected, axis=(0, 1))).mean()
    assert error < 4 < wrong_turn


def test_no_preview_for_a_png_or_a_photo_too_small_to_reduce(tmp_path):
    Image.fromarray(_picture()).save(tmp_path / "a.png")
    Image.fromarray(_picture()).save(tmp_path / "a.jpg")
    assert load_reduced(tmp_path / "a.png", min_side=100) is None
    assert load_reduced(tmp_path / "a.jpg", min_side=400) is None     # 640 / 2 = 320 < 400
    assert load_reduced(tmp_path / "a.jpg", min_side=300).factor == 2


def test_a_damaged_jpeg_is_refused_in_one_line(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.fromarray(_picture()).save(path)
    path.write_bytes(path.read_bytes()[:600])
    with pytest.raises(UserError, match="cut.jpg is not a readable image") as info:
        load_reduced(path, min_side=100)
    assert "\n" not in str(info.value)
