"""Detector boxes merged into the zero-label prior: the merge rules on known answers, then the real
NanoDet on a real photo."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.constants import IGNORE
from core.models.nanodet import Detections
from core.session.box_prior import BoxPrior, HeadView
from core.session.prior import PriorConfig

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["background", "person", "cat"]  # person and cat are COCO classes
#: Each rule off; the tests switch on the one they check.
PLAIN = PriorConfig(detector_score=0.4, detector_exclusive=False, detector_defers=False, detector_background=False,
                    veto_kin=0, feature_cut=False)


class _Boxes:
    """A detector that reports fixed boxes (COCO ids: person 0, cat 15)."""

    def __init__(self, boxes, scores, classes):
        self.dets = Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32),
                               np.asarray(classes, np.int64))

    def detect(self, image, config):
        return self.dets


def _square_photo() -> np.ndarray:
    """A bright square on a dark textured ground, 224×224: GrabCut separates it from its box."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 40, (224, 224, 3), dtype=np.uint8)
    img[64:160, 64:160] = rng.integers(200, 255, (96, 96, 3), dtype=np.uint8)
    return img


def _head(grid, cat_score, classify=None) -> HeadView:
    """The head's view: typed classes 1 (person) and 2 (cat) scored on the grid, sure of *something*
    everywhere (top 0.6); the cat's ImageNet relevance (WordNet: the cat classes) for the crop."""
    from core.session.wordnet_links import wordnet_links

    relevance = torch.zeros(2, 1000)
    relevance[1, wordnet_links().imagenet_classes("cat")] = 1.0
    scores = torch.stack([torch.zeros(grid), torch.full(grid, cat_score)])
    return HeadView(scores, torch.full(grid, 0.6), relevance, classify)


def _prior_labels(grid=16) -> torch.Tensor:
    lab = torch.full((grid, grid), IGNORE, dtype=torch.long)
    lab[:2, :] = 1  # the ImageNet head called the top rows "person" (clothes-like texture, say)
    lab[-2:, :] = 0
    return lab


def test_a_cut_box_labels_the_object_cells_and_nothing_else():
    boxes = BoxPrior(detector=_Boxes([[48, 48, 176, 176]], [0.9], [0]))
    out = boxes.refine("a", _square_photo(), _prior_labels(), CLASSES, PLAIN)
    inner = out[5:9, 5:9]  # cells well inside the bright square (cells of 14 px)
    assert (inner == 1).all()
    assert (out[12:14, :] != 1).all() and (out[:, :3][2:-2] == IGNORE).all()
    assert (out[:2, :] == 1).all()  # not exclusive: the head's person pixels stay


def test_exclusive_drops_the_heads_pixels_outside_the_boxes_and_low_scores_are_ignored():
    photo, lab = _square_photo(), _prior_labels()
    boxes = BoxPrior(detector=_Boxes([[48, 48, 176, 176], [0, 0, 224, 224]], [0.9, 0.2], [0, 15]))
    out = boxes.refine("a", photo, lab, CLASSES, replace(PLAIN, detector_exclusive=True))
    assert (out[:2, :] == IGNORE).all()  # person head pixels outside the person box: dropped
    assert (out == 2).sum() == 0  # the 0.2 cat box is below the threshold
    off = boxes.refine("a", photo, lab, CLASSES, PriorConfig(detector=False))
    assert torch.equal(off, lab)


def test_defers_keeps_the_heads_other_classes_and_background_fills_outside_the_boxes():
    photo, lab = _square_photo(), _prior_labels()
    lab[6, 6] = 2  # the head is sure this cell is a cat
    boxes = BoxPrior(detector=_Boxes([[48, 48, 176, 176]], [0.9], [0]))
    cfg = replace(PLAIN, detector_defers=True, detector_background=True)
    out = boxes.refine("a", photo, lab, CLASSES, cfg)
    assert out[6, 6] == 2 and out[7, 7] == 1
    assert (out[2, :] == 0).all() and (out[3:13, :3] == 0).all()  # unsure cells in no box became background
    assert (out[:2, :] == 0).all()  # ... as did the head's person cells outside every person box
    assert boxes.refine("a", photo, lab, CLASSES, replace(cfg, detector_defers=False))[6, 6] == 1


def test_a_box_the_head_contradicts_is_dropped_only_where_the_head_knows_the_class():
    """detector_head_veto: a "cat" box where the ImageNet head, which knows cats, sees something else is
    dropped; a "pottedplant" box (no WordNet link to ImageNet: the head cannot judge) is kept."""
    photo, lab = _square_photo(), _prior_labels()
    cfg = replace(PLAIN, detector_head_veto=0.05, detector_crop_veto=0.0)
    cat_box = BoxPrior(detector=_Boxes([[48, 48, 176, 176]], [0.9], [15]))
    agreed = cat_box.refine("a", photo, lab, CLASSES, cfg, _head(lab.shape, 0.5))
    contradicted = cat_box.refine("a", photo, lab, CLASSES, cfg, _head(lab.shape, 0.01))
    assert (agreed[5:9, 5:9] == 2).all() and not (contradicted == 2).any()
    assert (cat_box.refine("a", photo, lab, CLASSES, replace(cfg, detector_head_veto=0.0), _head(lab.shape, 0.01))[5:9, 5:9] == 2).all()
    plant_box = BoxPrior(detector=_Boxes([[48, 48, 176, 176]], [0.9], [58]))  # COCO 58: potted plant
    plants = plant_box.refine("a", photo, lab, ["background", "person", "pottedplant"], cfg, _head(lab.shape, 0.0))
    assert (plants[5:9, 5:9] == 2).all()


def test_extent_is_the_union_of_the_accepted_boxes_cells():
    """detector_clip's extent: a class's cells are those its kept boxes touch; a vetoed or a
    low-scoring box gives none, and a class without a kept box is absent."""
    photo, cfg = _square_photo(), replace(PLAIN, detector_head_veto=0.05, detector_crop_veto=0.0)
    boxes = BoxPrior(detector=_Boxes([[0, 0, 56, 56], [168, 168, 224, 224], [48, 48, 176, 176], [0, 168, 56, 224]],
                                     [0.9, 0.8, 0.9, 0.2], [0, 0, 15, 0]))
    seen = _head((16, 16), 0.01)
    seen = HeadView(torch.stack([torch.full((16, 16), 0.5), seen.scores[1]]), seen.top, seen.relevance)  # a person
    extent = boxes.extent("a", photo, (16, 16), CLASSES, cfg, seen)
    assert set(extent) == {1}  # the cat box is vetoed (the head sees no cat), the 0.2 box is too weak
    assert extent[1][:4, :4].all() and extent[1][12:, 12:].all()
    assert extent[1].sum() == 32 and not extent[1][12:, :4].any()
    kept = boxes.extent("a", photo, (16, 16), CLASSES, cfg, HeadView(torch.full((2, 16, 16), 0.5), seen.top, seen.relevance))
    assert kept[2][3:13, 3:13].all() and kept[2].sum() == 100 and kept[1].sum() == 32  # cells of 14 px


def test_an_unpainted_class_is_predicted_only_inside_its_boxes():
    """detector_clip on a real photo: with a (fake) person box over the left half of the astronaut, the
    zero-label "person" stays in it (the classifier alone spreads it to the right half); once the user
    paints person the class is theirs and is no longer clipped."""
    from core.session import Session, SessionConfig

    photo = ROOT / "resources" / "samples" / "astronaut.jpg"
    classes = ["background", "person"]

    def person_outside(clip: bool, dot: bool = False) -> int:
        session = Session(model="default", device="cpu", config=SessionConfig(prior=PriorConfig(detector_clip=clip)))
        session._boxes = BoxPrior(detector=_Boxes([[0, 0, 259, 518]], [0.9], [0]))
        session.add_images([photo])
        session.set_classes(classes)
        if dot:
            mask = np.full((512, 512), IGNORE, np.uint8)
            mask[200:215, 330:345] = 1  # the astronaut's arm, right of the box
            session.add_labels(photo, mask)
        labels = session.predict(photo).labels
        return int((labels[:, 280:] == 1).sum())

    assert person_outside(clip=False) > 2000
    assert person_outside(clip=True) == 0
    assert person_outside(clip=True, dot=True) > 2000


def test_the_boxs_crop_overrules_the_cells_that_cannot_resolve_it():
    """detector_crop_veto: where the photo's cells contradict a "cat" box, the box is still kept when the
    head, classifying the box's own crop, sees a cat there; dropped when the crop contradicts it too.
    The crop is classified once per (image, box)."""
    photo, lab = _square_photo(), _prior_labels()
    cfg = replace(PLAIN, detector_head_veto=0.05, detector_crop_veto=0.2)
    calls = []

    def classify(p_cat):
        def run(image, boxes):
            calls.append([tuple(b) for b in boxes])
            probs = torch.zeros(len(boxes), 1000)
            probs[:, 285] = p_cat  # ImageNet 285: Egyptian cat
            probs[:, 0] = 1 - p_cat  # 0: tench
            return probs
        return run

    def refine(p_cat):
        box = BoxPrior(detector=_Boxes([[48, 48, 176, 176]], [0.9], [15]))
        out = box.refine("a", photo, lab, CLASSES, cfg, _head(lab.shape, 0.01, classify(p_cat)))
        box.refine("a", photo, lab, CLASSES, cfg, _head(lab.shape, 0.01, classify(p_cat)))  # cached crop
        return out

    assert (refine(0.9)[5:9, 5:9] == 2).all()  # the crop sees a cat: kept
    assert not (refine(0.1) == 2).any()  # the crop sees a tench, 9 times a cat: dropped
    assert calls == [[(48, 48, 176, 176)]] * 2


def test_a_box_of_an_animal_name_whose_crop_is_another_animal_is_dropped():
    """detector_animal_veto: the cells agree with a "dog" box (the summed veto keeps it), but the crop is
    an Egyptian cat more likely than all 118 dog breeds together: dropped; kept when the breeds together
    win, when the crop's top class is no animal, or with the rule off. A "person" box (not an animal
    name) is never judged by it."""
    from core.session.wordnet_links import wordnet_links

    photo, lab = _square_photo(), _prior_labels()
    dogs = wordnet_links().imagenet_classes("dog")
    classes = ["background", "person", "dog"]
    relevance = torch.zeros(2, 1000)
    relevance[1, dogs] = 1.0

    def classify(top_class, top_p):
        def run(image, boxes):
            probs = torch.zeros(len(boxes), 1000)
            probs[:, dogs] = 0.002  # 118 breeds: 0.236 together, none of them near the top
            probs[:, top_class] = top_p
            return probs
        return run

    def kept(coco, top_class, top_p, cfg=replace(PLAIN, detector_head_veto=0.05)) -> bool:
        head = HeadView(torch.full((2, *lab.shape), 0.5), torch.full(lab.shape, 0.6), relevance,
                        classify(top_class, top_p))
        box = BoxPrior(detector=_Boxes([[48, 48, 176, 176]], [0.9], [coco]))
        return bool(box.accepted("a", photo, lab.shape, classes, cfg, head))

    assert not kept(16, 285, 0.3)  # COCO 16 "dog"; ImageNet 285 Egyptian cat
    assert kept(16, 285, 0.2)  # the breeds together are more likely than the cat
    assert kept(16, 409, 0.9)  # an analog clock: no animal, the rule says nothing
    assert kept(16, 285, 0.3, replace(PLAIN, detector_head_veto=0.05, detector_animal_veto=False))
    assert not kept(16, 285, 0.3, replace(PLAIN, detector_head_veto=0.0))  # the animal rule stands alone
    assert kept(0, 285, 0.3)  # COCO 0 "person": not an animal name


def test_a_box_whose_crop_is_a_near_kind_of_its_name_is_kept():
    """veto_kin: the cells and the crop both contradict a "chair" box, but the crop's top class is the
    dining table, which WordNet puts with ImageNet's chairs under furniture (22 classes): kept. A "cat"
    box whose crop is a badger (one synset: carnivore, 158 classes) is dropped all the same, and with
    the rule off the chair box is dropped too."""
    from core.models.efficientnet_lite import imagenet_class_names
    from core.session.wordnet_links import wordnet_links

    photo, lab = _square_photo(), _prior_labels()
    names = imagenet_class_names()
    links = wordnet_links()
    assert links.kin_size(links.imagenet_classes("chair"), names.index("dining table")) == 22

    def kept(name, coco, crop_class, cfg=replace(PLAIN, detector_head_veto=0.05, veto_kin=25)) -> bool:
        relevance = torch.zeros(2, 1000)
        relevance[1, links.imagenet_classes(name)] = 1.0

        def classify(image, boxes):
            probs = torch.full((len(boxes), 1000), 0.0005)
            probs[:, names.index(crop_class)] = 0.5
            return probs

        head = HeadView(torch.full((2, *lab.shape), 0.001), torch.full(lab.shape, 0.6), relevance, classify)
        box = BoxPrior(detector=_Boxes([[48, 48, 176, 176]], [0.9], [coco]))
        return bool(box.accepted("a", photo, lab.shape, ["background", "person", name], cfg, head))

    assert kept("chair", 56, "dining table")  # COCO 56: chair
    assert not kept("chair", 56, "dining table", replace(PLAIN, detector_head_veto=0.05, veto_kin=0))
    assert not kept("chair", 56, "tench")
    assert not kept("cat", 15, "badger")


def test_an_empty_cut_falls_back_to_the_box_cells_unlike_their_surroundings(monkeypatch):
    """feature_cut: where GrabCut finds nothing in a box (forced here), the box's feature cells unlike the
    ring around them become the class's cells — on the real photo and its real DINOv2 features, mostly
    the cup's; off, or without the features, the box teaches nothing."""
    import core.object_cut
    from PIL import Image

    from core.masks import read_label_png
    from core.session import Session

    path = ROOT / "resources" / "eval" / "JPEGImages" / "coffee_cup.jpg"
    feats = Session(model="default", device="cpu").features(path)
    rgb = feats.guide
    grid = tuple(feats.features.shape[-2:])
    truth = read_label_png(ROOT / "resources" / "eval" / "SegmentationClass" / "coffee_cup.png") == 21
    truth = np.asarray(Image.fromarray(truth).resize((rgb.shape[1], rgb.shape[0]), Image.NEAREST))
    ys, xs = np.nonzero(truth)
    truth_cells = torch.from_numpy(np.asarray(Image.fromarray(truth.astype(np.float32)).resize(
        (grid[1], grid[0]), Image.BOX)) > 0.5)
    monkeypatch.setattr(core.object_cut, "grabcut_box", lambda image, box, **kw: np.zeros(image.shape[:2], bool))
    classes, lab = ["background", "cup"], torch.full(grid, IGNORE, dtype=torch.long)
    on = replace(PLAIN, feature_cut=True)

    def cup_cells(cfg, features=feats.features) -> torch.Tensor:
        boxes = BoxPrior(detector=_Boxes([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], [0.9], [41]))
        return boxes.refine("cup", rgb, lab, classes, cfg, features=features) == 1

    cells = cup_cells(on)
    assert cells.sum() >= 0.5 * truth_cells.sum() and (cells & truth_cells).sum() >= 0.7 * cells.sum()
    assert not cup_cells(PLAIN).any() and not cup_cells(on, None).any()


def test_real_detector_boxes_the_cat_as_a_dog_and_the_head_drops_that_box():
    """The sample cat: NanoDet boxes it as "dog" (0.42) above "cat" (0.38); with both names typed only
    the cat box is kept."""
    from core.models.nanodet_files import nanodet_status
    from core.session import Session

    ok, why = nanodet_status()
    if not ok:
        pytest.skip(why)
    photo = ROOT / "resources" / "samples" / "cat_chelsea.jpg"
    session = Session(model="default", device="cpu")
    session.add_images([photo])
    classes = ["background", "cat", "dog"]
    session.set_classes(classes)
    fitted = session._current(None, None)
    feats = session.features(photo)
    from core.session.prior import head_view

    def kept(cfg) -> set:
        head = head_view(fitted.relevance, feats, cfg, session.backbone.classify_boxes)[1]
        grid = tuple(feats.features.shape[-2:])
        return {classes[c] for _, c, _, _ in session._boxes.accepted("cat", feats.guide, grid, classes, cfg, head)}

    assert kept(PriorConfig()) == {"cat"}
    assert kept(PriorConfig(detector_animal_veto=False)) == {"cat", "dog"}


def test_real_detector_finds_the_people_of_the_voc_photo():
    from core.models.nanodet_files import nanodet_status
    from core.session import Session

    ok, why = nanodet_status()
    if not ok:
        pytest.skip(why)
    photo = ROOT / "resources" / "eval" / "JPEGImages" / "voc_2011_003078.jpg"
    session = Session(model="default", device="cpu")
    feats = session.features(photo)
    grid = tuple(feats.features.shape[-2:])
    lab = torch.full(grid, IGNORE, dtype=torch.long)
    out = session._boxes.refine("voc", feats.guide, lab, ["background", "person", "sofa"], PriorConfig())
    from PIL import Image

    gt = np.asarray(Image.open(ROOT / "resources" / "eval" / "SegmentationClass" / "voc_2011_003078.png"))
    small = np.asarray(Image.fromarray(gt).resize(grid[::-1], Image.NEAREST))
    person = (out == 1).numpy()
    assert person.sum() > 20
    assert (small[person] == 15).mean() > 0.7  # most person cells are on the people (VOC id 15)


def test_an_empty_cut_falls_back_to_the_salient_object(monkeypatch):
    """salient_cut (an option): where GrabCut finds nothing in a box (forced here), U²-Netp's object of
    the box's crop becomes the class's cells — the cup's, on the real photo; off (the default), or
    without the U²-Netp wheel, the box teaches nothing."""
    import core.object_cut
    from PIL import Image

    from core.masks import read_label_png
    from core.models import u2netp

    rgb = np.asarray(Image.open(ROOT / "resources" / "eval" / "JPEGImages" / "coffee_cup.jpg").convert("RGB"))
    truth = read_label_png(ROOT / "resources" / "eval" / "SegmentationClass" / "coffee_cup.png") == 21
    ys, xs = np.nonzero(truth)
    grid = (rgb.shape[0] // 14, rgb.shape[1] // 14)
    monkeypatch.setattr(core.object_cut, "grabcut_box", lambda image, box, **kw: np.zeros(image.shape[:2], bool))
    classes, lab = ["background", "cup"], torch.full(grid, IGNORE, dtype=torch.long)

    on = replace(PLAIN, salient_cut=True)

    def cup_cells(cfg) -> torch.Tensor:
        boxes = BoxPrior(detector=_Boxes([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], [0.9], [41]))
        return boxes.refine("cup", rgb, lab, classes, cfg) == 1

    cells = cup_cells(on)
    truth_cells = torch.from_numpy(truth[: grid[0] * 14, : grid[1] * 14].reshape(grid[0], 14, grid[1], 14).mean((1, 3)) > 0.5)
    assert cells.sum() >= 0.6 * truth_cells.sum() and (cells & truth_cells).sum() >= 0.8 * cells.sum()
    assert not cup_cells(PLAIN).any()  # off by default (ADR 0013)
    monkeypatch.setattr(u2netp, "shared_u2netp", lambda device="cpu": None)
    assert not cup_cells(on).any()


def test_a_small_box_enlarged_before_its_cut_keeps_the_object_an_unenlarged_one_loses():
    """The retry of an empty cut (CUT_UPSCALE): in the shipped VOC dinner photo the box of a diner
    half hidden at the back (64 × 81 px) cuts to nothing at its own size, and to the diner enlarged."""
    from PIL import Image

    from core.masks import read_label_png
    from core.object_cut import grabcut_box
    from core.session.box_prior import CUT_ITERATIONS, CUT_RETRY_SIDE, CUT_SIDE, CUT_UPSCALE

    folder = ROOT / "resources" / "eval"
    photo = np.array(Image.open(folder / "JPEGImages" / "voc_2011_003078.jpg").convert("RGB"))
    gt = read_label_png(folder / "SegmentationClass" / "voc_2011_003078.png")
    for cls, box in ((15, (42, 37, 106, 118)),):  # person
        x0, y0, x1, y1 = box
        truth = np.zeros(gt.shape, bool)
        truth[y0:y1, x0:x1] = gt[y0:y1, x0:x1] == cls
        plain = grabcut_box(photo, box, side=CUT_SIDE, iterations=CUT_ITERATIONS)
        enlarged = grabcut_box(photo, box, side=CUT_RETRY_SIDE, iterations=CUT_ITERATIONS, upscale=CUT_UPSCALE)
        assert not plain.any()
        assert (enlarged & truth).sum() / (enlarged | truth).sum() > 0.3


def test_a_photos_boxes_cut_on_threads_equal_their_cuts_one_by_one():
    """``BoxPrior.cuts`` cuts a photo's boxes side by side: each cut is what ``cut`` alone gives (GrabCut
    is seeded per call, and its seed is per thread), in the boxes' order."""
    from core.images import load_image

    photo = load_image(ROOT / "resources" / "samples" / "voc_dining_room.jpg")
    h, w = photo.shape[:2]
    boxes = [(0, 0, w // 2, h // 2), (w // 4, h // 4, 3 * w // 4, 3 * h // 4), (w // 2, h // 3, w, h), (0, h // 2, w // 3, h)]
    grid = (h // 14, w // 14)
    together = BoxPrior(detector=_Boxes([], [], [])).cuts("p", photo, boxes, grid)
    alone = [BoxPrior(detector=_Boxes([], [], [])).cut("p", photo, box, grid) for box in boxes]
    assert len(together) == len(boxes) and any(c.any() for c in alone)
    for a, b in zip(together, alone):
        np.testing.assert_array_equal(a, b)
