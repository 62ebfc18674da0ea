"""The class panel says what the model found: found / low confidence / not here on the image shown,
"not found" for a class found nowhere, with names to try that add the class when clicked (issue 11)."""
from __future__ import annotations

import numpy as np

from app.controller import PredictionResult

from .conftest import WAIT_MS, add_class, wait_idle


def _store(controller, index: int, labels: np.ndarray, confidence: np.ndarray) -> None:
    path = controller.images[index].path
    controller._store_prediction(PredictionResult(path, labels, confidence, controller.generation))


def _badges(window) -> dict[str, tuple[str, str]]:
    panel = window.class_panel
    rows = [panel.list.itemWidget(panel.list.item(i)) for i in range(panel.list.count())]
    return {row.name_label.text(): (row.badge.text(), row.badge.toolTip()) for row in rows}


def test_badges_follow_what_was_found_on_each_image_and_overall(qtbot, labelled):
    window, controller = labelled, labelled.controller
    add_class(qtbot, window, "organ")
    wait_idle(qtbot, controller)
    h, w = window.canvas.image_shape
    labels = np.zeros((h, w), np.uint8)
    labels[: h // 2] = 1                                  # cat: half the image, sure
    labels[h - 1, :2] = 2                                 # organ: two pixels
    _store(controller, 0, labels, np.full((h, w), 0.9, np.float32))
    second = controller.images[1].path
    from core.images import displayed_size

    _store(controller, 1, np.zeros(displayed_size(second), np.uint8), np.ones(displayed_size(second), np.float32))
    window._refresh_classes()
    badges = _badges(window)
    assert badges["cat"][0] == "found" and "mean confidence 0.90" in badges["cat"][1]
    assert badges["organ"][0] == "low conf." and "This image: low confidence" in badges["organ"][1]

    assert controller.set_current(1)                      # cat found elsewhere, not on this image
    badges = _badges(window)
    assert badges["cat"][0] == "not here" and "found in 1 of 2" in badges["cat"][1]


def test_a_class_found_nowhere_offers_names_that_add_it_when_clicked(qtbot, labelled):
    window, controller = labelled, labelled.controller
    add_class(qtbot, window, "organ")
    wait_idle(qtbot, controller)
    h, w = window.canvas.image_shape
    controller._predictions.clear()                       # only the predictions below count
    _store(controller, 0, np.ones((h, w), np.uint8), np.full((h, w), 0.9, np.float32))
    window._refresh_classes()
    badge, tip = _badges(window)["organ"]
    assert badge == "not here" and "so far" in tip          # one photo of three judged: no warning yet
    from core.images import displayed_size

    for index in range(1, len(controller.images)):       # the rest of the folder: no organ either
        size = displayed_size(controller.images[index].path)
        _store(controller, index, np.ones(size, np.uint8), np.full(size, 0.9, np.float32))
    window._refresh_classes()
    assert _badges(window)["organ"][0] == "⚠ not found"
    qtbot.waitUntil(lambda: "organ" in controller.suggestions, timeout=WAIT_MS)
    assert controller.suggestions["organ"][0] == "pipe organ"   # its other WordNet sense
    message = window.class_panel.message
    assert message.isVisible() and 'href="pipe organ"' in message.text()
    assert "Names that reach ImageNet classes: pipe organ" in _badges(window)["organ"][1]
    message.linkActivated.emit("pipe organ")          # what a click on the link does
    qtbot.waitUntil(lambda: "pipe organ" in controller.classes, timeout=WAIT_MS)
