"""Class-name matching: the CLI rule (case, spaces, _ and / ignored), unmatched → 255."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import UserError
from core.masks import match_class_names, normalize_class_name


def test_normalize_follows_the_cli_rule():
    assert normalize_class_name("tvmonitor") == normalize_class_name("tv/monitor")
    assert normalize_class_name("Potted_Plant") == normalize_class_name("potted plant")
    assert normalize_class_name("_background_") == "background"
    assert normalize_class_name("quokka: small wallaby") == "quokka"
    assert normalize_class_name("cat") != normalize_class_name("cats")


def test_lut_maps_by_name_and_ignores_the_rest():
    source = ["background", "aeroplane", "cat", "tvmonitor", "pottedplant"]
    target = ["background", "tv/monitor", "Cat", "potted plant"]
    lut = match_class_names(source, target)
    assert lut.shape == (256,) and lut.dtype == np.uint8
    assert lut[:5].tolist() == [0, 255, 2, 1, 3]
    assert lut[255] == 255
    assert (lut[5:] == 255).all()  # indices past the source list are not classes
    mask = np.array([[0, 1, 2], [3, 4, 255]], dtype=np.uint8)
    assert lut[mask].tolist() == [[0, 255, 2], [1, 3, 255]]


def test_target_with_two_names_for_one_class_is_a_user_error():
    with pytest.raises(UserError, match="same class"):
        match_class_names(["background"], ["background", "tvmonitor", "TV monitor"])
