"""Confusion matrix and ZS3 scores against a hand-computed example."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.metrics import ConfusionMatrix, format_table

# Ground truth / prediction of 10 pixels, 4 classes (3 never appears anywhere), one ignored pixel.
TARGET = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 255])
PRED = np.array([0, 0, 1, 1, 1, 2, 0, 2, 1, 2])
# Hand count, rows = gt, cols = pred:
#        p0 p1 p2 p3
# gt0  [ 2, 1, 0, 0]
# gt1  [ 1, 2, 1, 0]
# gt2  [ 0, 1, 1, 0]
# gt3  [ 0, 0, 0, 0]
EXPECTED = np.array([[2, 1, 0, 0], [1, 2, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])


def test_matrix_matches_hand_count_numpy_and_torch():
    cm = ConfusionMatrix(4)
    cm.update(PRED.reshape(2, 5), TARGET.reshape(2, 5))
    np.testing.assert_array_equal(cm.matrix, EXPECTED)
    cm2 = ConfusionMatrix(4)
    cm2.update(torch.from_numpy(PRED[:5]), torch.from_numpy(TARGET[:5]).to(torch.uint8))
    cm2.update(torch.from_numpy(PRED[5:]), torch.from_numpy(TARGET[5:]))
    np.testing.assert_array_equal(cm2.matrix, EXPECTED)


def test_scores_by_hand():
    cm = ConfusionMatrix(4)
    cm.update(PRED, TARGET)
    s = cm.scores(seen_ids=[0, 1], unseen_ids=[2, 3])
    # IoU: c0 = 2/(3+3-2)=1/2, c1 = 2/(4+4-2)=1/3, c2 = 1/(2+2-1)=1/3, c3 undefined
    iou = [1 / 2, 1 / 3, 1 / 3]
    np.testing.assert_allclose(s["iou"][:3], iou)
    assert math.isnan(s["iou"][3])
    # acc: c0 2/3, c1 2/4, c2 1/2
    np.testing.assert_allclose(s["acc"][:3], [2 / 3, 1 / 2, 1 / 2])
    assert s["seen"]["pa"] == pytest.approx(4 / 7)
    assert s["seen"]["ma"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert s["seen"]["miou"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert s["unseen"]["pa"] == pytest.approx(1 / 2)
    assert s["unseen"]["ma"] == pytest.approx(1 / 2)  # class 3 (NaN) left out
    assert s["unseen"]["miou"] == pytest.approx(1 / 3)
    assert s["all"]["pa"] == pytest.approx(5 / 9)
    assert s["all"]["miou"] == pytest.approx(np.mean(iou))
    S, U = (1 / 2 + 1 / 3) / 2, 1 / 3
    assert s["hiou"] == pytest.approx(2 * S * U / (S + U))


def test_out_of_range_prediction_counts_as_miss():
    cm = ConfusionMatrix(2)
    cm.update(np.array([0, 255, 1]), np.array([0, 0, 1]))
    np.testing.assert_array_equal(cm.matrix, [[1, 0], [0, 1]])
    s = cm.scores([0], [1])
    assert s["iou"][0] == pytest.approx(1 / 2)
    assert s["seen"]["pa"] == pytest.approx(1 / 2)


def test_hiou_zero_and_nan_cases():
    cm = ConfusionMatrix(3)
    cm.update(np.array([1, 0]), np.array([0, 1]))  # everything wrong
    assert cm.scores([0], [1])["hiou"] == 0.0
    assert math.isnan(cm.scores([0], [2])["hiou"])  # class 2 never occurs: unseen mIoU undefined


def test_merge_and_format_table():
    a, b = ConfusionMatrix(4), ConfusionMatrix(4)
    a.update(PRED[:4], TARGET[:4])
    b.update(PRED[4:], TARGET[4:])
    a.merge(b)
    np.testing.assert_array_equal(a.matrix, EXPECTED)
    text = format_table(a.scores([0, 1], [2, 3]), ["background", "cat", "cow", "sofa"])
    assert "cow" in text and "*" in text and "hIoU" in text
    assert " 50.00" in text  # background IoU
    with pytest.raises(ValueError):
        a.update(np.zeros(3), np.zeros(4))
