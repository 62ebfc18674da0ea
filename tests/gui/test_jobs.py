"""The controller's engine room (app/jobs.py) without a model: prediction cache, "found" flags, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from app.controller import Controller, ImageRecord, PredictionResult
from app.jobs import PREDICTION_CACHE_BYTES, one_line
from app.project import STATUS_AUTO
from core.errors import UserError


def _prediction(path: Path, side: int, value: int = 1, generation: int = 0) -> PredictionResult:
    return PredictionResult(path, np.full((side, side), value, np.uint8), np.ones((side, side), np.float32),
                            generation)


def test_prediction_cache_is_capped_in_bytes_and_marks_images_labelled(qapp, tmp_path):
    controller = Controller()
    paths = [tmp_path / f"{i}.jpg" for i in range(3)]
    controller.images = [ImageRecord(p) for p in paths]
    side = int((PREDICTION_CACHE_BYTES / 5 / 2) ** 0.5)     # each ≈ 0.4 of the cap
    for path in paths:
        controller._store_prediction(_prediction(path, side))
    assert list(controller._predictions) == paths[1:]          # the oldest went first
    assert [r.status for r in controller.images] == [STATUS_AUTO] * 3
    assert all(r.done_generation == 0 for r in controller.images)
    controller.shutdown()


def test_class_reports_need_a_current_prediction_and_read_all_cached_ones(qapp, tmp_path):
    controller = Controller()
    controller.class_list.add("cat")
    controller.class_list.add("dog")
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    controller.images = [ImageRecord(a), ImageRecord(b)]
    assert controller.class_reports() == {}
    controller._store_prediction(_prediction(a, 8, value=2, generation=0))
    controller.generation = 1
    assert controller.class_reports() == {}                    # nothing from the current model yet
    controller._store_prediction(_prediction(b, 8, value=0, generation=1))
    reports = controller.class_reports()
    assert reports[1].nowhere and reports[1].badge() == ("⚠ not found", "warn")
    assert (reports[2].images, reports[2].found) == (2, 1) and not reports[2].nowhere
    assert reports[2].here is None                             # no image is shown: no verdict "here"
    assert controller.images[0].status == STATUS_AUTO and controller.images[1].status == STATUS_AUTO
    controller.shutdown()


def test_one_line_names_bugs_but_not_user_mistakes():
    assert one_line(UserError("no such\nfile")) == "no such file"
    assert one_line(KeyError("x")) == "internal error (KeyError): 'x'"
