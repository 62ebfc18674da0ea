"""``prior.yield_to_paint``: the prior's cells of a labelled image give way to the user's paint."""
from __future__ import annotations

import numpy as np
import torch

from core.constants import IGNORE
from core.session.prior import yield_to_paint

CELL = 10  # full-resolution pixels per grid cell in these tests


def _prior() -> torch.Tensor:
    """A 6 × 8 grid: background, a "vase" region (class 1, 2 × 3 cells), a "cat" region (class 2) apart."""
    lab = torch.zeros(6, 8, dtype=torch.long)
    lab[1:3, 1:4] = 1
    lab[3:5, 5:8] = 2
    lab[0, 7] = IGNORE
    return lab


def _paint(cells: list[tuple[int, int, int]]) -> np.ndarray:
    """A full-resolution paint mask with one small dot (4 × 4 px) in each listed (row, col, class) cell."""
    painted = np.full((6 * CELL, 8 * CELL), IGNORE, np.uint8)
    for r, c, cls in cells:
        painted[r * CELL + 3:r * CELL + 7, c * CELL + 3:c * CELL + 7] = cls
    return painted


def test_no_paint_or_agreeing_paint_changes_nothing():
    lab = _prior()
    assert torch.equal(yield_to_paint(lab, None), lab)
    assert torch.equal(yield_to_paint(lab, _paint([(1, 1, 1), (4, 6, 2), (5, 0, 0)])), lab)


def test_an_object_painted_on_another_objects_region_takes_the_whole_region():
    lab = _prior()
    out = yield_to_paint(lab, _paint([(1, 2, 3)]))  # class 3 ("apple") painted on the vase
    assert (out[1:3, 1:4] == IGNORE).all()  # the whole vase region: it was the apple
    assert torch.equal(out[3:5, 5:8], lab[3:5, 5:8]) and (out[lab == 0] == 0).all()  # the rest stays
    assert lab[1, 2] == 1  # the input is not modified


def test_background_painted_on_an_object_drops_only_the_painted_cells():
    lab = _prior()
    out = yield_to_paint(lab, _paint([(3, 5, 0)]))  # background at the cat region's corner
    assert out[3, 5] == IGNORE
    changed = out != lab
    assert changed.sum() == 1  # the rest of the cat stays: the prior spilled, it did not invent the cat


def test_an_object_painted_on_background_cells_drops_those_cells_only():
    lab = _prior()
    out = yield_to_paint(lab, _paint([(0, 0, 2), (5, 2, 1)]))
    assert out[0, 0] == IGNORE and out[5, 2] == IGNORE and (out != lab).sum() == 2


def test_painted_cells_are_the_cells_an_area_resize_gives_a_share_of_the_paint():
    """The painted pixels' own cells equal the reference — a full-resolution mask per class, area-resized
    to the grid, > 0 — on grids that divide the photo unevenly, dots to strokes. (A grid finer than the
    photo, which no backbone makes, takes the cells each pixel's span covers; OpenCV's area resize turns
    bilinear there and shares a pixel with its neighbours' cells too.)"""
    import cv2

    from core.session.prior import painted_cells

    rng = np.random.default_rng(0)
    for (H, W), (h, w) in (((97, 131), (7, 10)), ((60, 80), (6, 8)), ((37, 29), (37, 29)), ((518, 389), (37, 28))):
        painted = np.full((H, W), IGNORE, np.uint8)
        for _ in range(6):
            y, x = rng.integers(0, H), rng.integers(0, W)
            painted[y:y + rng.integers(1, 6), x:x + rng.integers(1, 9)] = rng.integers(0, 4)
        got = painted_cells(painted, (h, w))
        for c in range(4):
            ref = cv2.resize((painted == c).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
            assert np.array_equal(got.get(c, np.zeros((h, w), bool)), ref), ((H, W), (h, w), c)
    assert painted_cells(np.full((9, 9), IGNORE, np.uint8), (3, 3)) == {}
    one = np.full((2, 2), IGNORE, np.uint8)
    one[1, 0] = 5
    assert np.argwhere(painted_cells(one, (4, 4))[5]).tolist() == [[2, 0], [2, 1], [3, 0], [3, 1]]
