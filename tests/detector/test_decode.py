"""Box decoding on hand-made network outputs with known answers (no model files needed)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.models.nanodet import INPUT_SIZE, REG_MAX, STRIDES, DetectorConfig, decode, expected_distances

PEAK = 40.0  # a logit this far above the others makes the softmax one-hot to float precision


def empty_levels() -> dict:
    levels = {}
    for s in STRIDES:
        cells = (INPUT_SIZE // s) ** 2
        levels[s] = (torch.zeros(cells, 80), torch.zeros(cells, 4 * (REG_MAX + 1)))
    return levels


def put(levels, stride, row, col, cls, score, bins):
    """One confident cell: class score and a peaked distance distribution (left, top, right, bottom)."""
    n = INPUT_SIZE // stride
    cell = row * n + col
    scores, logits = levels[stride]
    scores[cell, cls] = score
    for side, b in enumerate(bins):
        logits[cell, side * (REG_MAX + 1) + b] = PEAK


def test_one_cell_decodes_to_its_known_box_in_image_pixels():
    levels = empty_levels()
    put(levels, 16, row=5, col=7, cls=3, score=0.9, bins=(2, 3, 4, 1))
    # centre (7.5·16, 5.5·16) = (120, 88); sides 2, 3, 4, 1 strides → (88, 40, 184, 104) at 416²;
    # the image is 832 wide and 208 high, so x doubles and y halves
    dets = decode(levels, image_hw=(208, 832), config=DetectorConfig(score_threshold=0.5))
    assert len(dets) == 1
    np.testing.assert_allclose(dets.boxes[0], [176, 20, 368, 52], atol=1e-3)
    assert dets.classes[0] == 3 and dets.scores[0] == pytest.approx(0.9)


def test_distance_is_the_distribution_mean():
    logits = torch.full((1, 4 * (REG_MAX + 1)), -PEAK)
    logits[0, 2] = logits[0, 3] = 0.0  # left side: half on bin 2, half on bin 3
    logits[0, (REG_MAX + 1) + REG_MAX] = 0.0  # top side: all on the last bin
    d = expected_distances(logits)[0]
    assert d[0].item() == pytest.approx(2.5, abs=1e-4)
    assert d[1].item() == pytest.approx(REG_MAX, abs=1e-4)


def test_nms_is_per_class_and_the_threshold_drops_weak_cells():
    levels = empty_levels()
    put(levels, 8, row=20, col=20, cls=0, score=0.8, bins=(4, 4, 4, 4))
    put(levels, 8, row=20, col=21, cls=0, score=0.7, bins=(4, 4, 4, 4))  # same class, overlaps: suppressed
    put(levels, 8, row=20, col=21, cls=56, score=0.6, bins=(4, 4, 4, 4))  # other class, same place: kept
    put(levels, 32, row=2, col=2, cls=15, score=0.2, bins=(1, 1, 1, 1))  # under the threshold
    dets = decode(levels, image_hw=(INPUT_SIZE, INPUT_SIZE), config=DetectorConfig(score_threshold=0.3))
    assert sorted(dets.classes.tolist()) == [0, 56]
    assert dets.scores.tolist() == pytest.approx([0.8, 0.6])
    assert len(dets.only([56])) == 1 and len(dets.only([15])) == 0


def test_boxes_are_clipped_to_the_image():
    levels = empty_levels()
    put(levels, 32, row=0, col=0, cls=2, score=0.9, bins=(REG_MAX, REG_MAX, 1, 1))
    dets = decode(levels, image_hw=(100, 300))
    assert dets.boxes[0, 0] == 0 and dets.boxes[0, 1] == 0
    assert dets.boxes[0, 2] == pytest.approx((16 + 32) * 300 / INPUT_SIZE)


def test_class_nms_keeps_what_torchvision_batched_nms_keeps():
    """The decoder's own NMS (no torchvision import on the default path) against torchvision's, on
    random boxes of five classes, overlaps of every degree and ties in score."""
    from torchvision.ops import batched_nms

    from core.models.nanodet import class_nms

    gen = torch.Generator().manual_seed(0)
    for n in (0, 1, 7, 60, 250):
        xy = torch.rand(n, 2, generator=gen) * 300
        boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=gen) * 80], 1)
        scores = (torch.rand(n, generator=gen) * 10).round() / 10  # ties: order by index, as torchvision
        classes = torch.randint(0, 5, (n,), generator=gen)
        for iou in (0.3, 0.6):
            assert torch.equal(class_nms(boxes, scores, classes, iou), batched_nms(boxes, scores, classes, iou))


def test_class_nms_never_suppresses_across_classes():
    from core.models.nanodet import class_nms

    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]])
    keep = class_nms(boxes, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 1, 0]), 0.6)
    assert keep.tolist() == [0, 1]  # the third box is the first's class and overlaps it by 0.81
