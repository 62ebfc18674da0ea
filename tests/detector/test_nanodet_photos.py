"""The real NanoDet on the project's own photos (tuning set only; the held-out VOC photos are never used)."""
from __future__ import annotations

import numpy as np
from detector_helpers import eval_photo, iou, mask_bbox

from core.models.coco_names import COCO_CLASSES, coco_classes
from core.models.nanodet import DetectorConfig, detections_by_name

VOC_PERSON, VOC_CAT = 15, 8  # resources/eval/class_names.txt


def test_astronaut_person_box_matches_her_mask(nanodet):
    dets = nanodet.detect(eval_photo("astronaut")).only(coco_classes("person"))
    assert len(dets) >= 1
    truth = mask_bbox("astronaut", VOC_PERSON)
    assert iou(dets.boxes[0], truth) >= 0.5
    assert dets.scores[0] >= 0.5


def test_cat_photo_gives_a_cat_on_the_cat(nanodet):
    dets = nanodet.detect(eval_photo("cat_chelsea"))
    cats = dets.only(coco_classes("cat"))
    assert len(cats) >= 1
    assert iou(cats.boxes[0], mask_bbox("cat_chelsea", VOC_CAT)) >= 0.5
    assert "giraffe" not in {COCO_CLASSES[c] for c in dets.classes}


def test_boxes_follow_the_image_for_any_aspect_ratio(nanodet):
    """The same photo stretched to twice its width: the person box stretches with it."""
    import cv2

    photo = eval_photo("astronaut")
    wide = cv2.resize(photo, (photo.shape[1] * 2, photo.shape[0]), interpolation=cv2.INTER_LINEAR)
    square = nanodet.detect(photo).only([0]).boxes[0]
    stretched = nanodet.detect(wide).only([0]).boxes[0]
    expected = square * np.array([2, 1, 2, 1], np.float32)
    assert iou(stretched, expected) >= 0.8
    assert stretched[2] > photo.shape[1]  # in the wide image's own pixels


def test_a_higher_threshold_keeps_a_subset(nanodet):
    photo = eval_photo("voc_2011_003078")
    low = nanodet.detect(photo, DetectorConfig(score_threshold=0.3))
    high = nanodet.detect(photo, DetectorConfig(score_threshold=0.6))
    assert len(high) < len(low)
    assert (high.scores >= 0.6).all() and (low.scores >= 0.3).all()
    assert list(low.scores) == sorted(low.scores, reverse=True)


def test_typed_names_get_the_boxes_of_their_coco_classes(nanodet):
    dets = nanodet.detect(eval_photo("voc_2011_003078"))
    found = detections_by_name(dets, ["people", "diningtable", "sofa", "sky"])
    assert len(found["people"]) >= 2 and set(found["people"].classes) == {0}
    assert len(found["diningtable"]) >= 1 and set(found["diningtable"].classes) == {60}
    assert len(found["sky"]) == 0  # no COCO class: no boxes, no error
