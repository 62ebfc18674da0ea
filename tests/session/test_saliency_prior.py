"""DINOv2's saliency head read from cached features, and the prior's unsure cells that it turns into
background (``PriorConfig.saliency_background``)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "resources" / "eval"


def test_saliency_is_higher_on_the_cat_than_around_it(make_session):
    session = make_session()
    feats = session.features(EVAL / "JPEGImages" / "cat_chelsea.jpg")
    sal = session.backbone.saliency(feats)
    assert tuple(sal.shape) == tuple(feats.features.shape[-2:])
    assert float(sal.min()) >= 0.0 and float(sal.max()) <= 1.0
    gt = np.asarray(Image.open(EVAL / "SegmentationClass" / "cat_chelsea.png").resize(tuple(sal.shape[::-1]), Image.NEAREST))
    cat = sal.numpy()[gt == 8]  # VOC index of cat
    other = sal.numpy()[gt == 0]
    assert cat.mean() > other.mean() + 0.2


def test_low_saliency_unsure_cells_become_background_rows(make_session):
    from core.session.prior import PriorConfig

    session = make_session()
    session.add_images([EVAL / "JPEGImages" / "wall_clock.jpg"])
    session.set_classes(["background", "clock"])  # around the clock the head is unsure: neither clock nor nothing
    off = replace(session.config, prior=PriorConfig(saliency_background=0.0))
    on = replace(session.config, prior=PriorConfig(saliency_background=0.5))
    rows = {}
    for name, cfg in (("off", off), ("on", on)):
        session.config = cfg
        session._version += 1
        rows[name] = session.fit().prior_rows
    assert rows["on"] > rows["off"]


def test_the_heads_cells_of_a_name_shrink_to_the_salient_object(make_session):
    """``PriorConfig.head_saliency``: the head's stride-32 "rocket" cells spill over the night sky;
    gated by DINOv2's saliency they shrink, and a larger share of them lies on the rocket."""
    import torch

    from core.constants import IGNORE
    from core.session.box_prior import BoxPrior
    from core.session.prior import PriorConfig, image_prior_labels

    session = make_session()
    photo = EVAL / "JPEGImages" / "rocket_launch.jpg"
    feats = session.features(photo)
    classes = ["background", "rocket"]
    prior = session._prior_model()
    relevance = prior.relevance(torch.from_numpy(session._embed_all(classes[1:])), PriorConfig(), classes[1:])
    grid = tuple(feats.features.shape[-2:])
    gt = np.asarray(Image.open(EVAL / "SegmentationClass" / photo.with_suffix(".png").name).resize(grid[::-1], Image.NEAREST))
    near = np.asarray(Image.fromarray(((gt > 0) & (gt != IGNORE)).astype(np.uint8) * 255).resize(grid[::-1]).convert("L")) > 0
    cells = {}
    for gate in (0.0, 0.3):
        cfg = PriorConfig(head_saliency=gate, detector=False)
        lab = image_prior_labels(prior, relevance, feats, classes, cfg, BoxPrior(), "k", session.backbone.saliency)
        cells[gate] = (lab == 1).numpy()
    assert 0 < cells[0.3].sum() < cells[0.0].sum() / 2
    on_rocket = {g: (c & near).sum() / c.sum() for g, c in cells.items()}
    assert on_rocket[0.3] > 2 * on_rocket[0.0]


def test_a_labelled_image_keeps_the_priors_pixels_of_the_classes_not_painted(make_session):
    """``SessionConfig.prior_unlabelled_images`` False (the default): a dot of background on the only
    photo takes the prior's background rows away, not its cat rows; True: the photo gives none."""
    session = make_session()
    photo = EVAL / "JPEGImages" / "cat_chelsea.jpg"
    session.add_images([photo])
    session.set_classes(["background", "cat"])
    h, w = session.features(photo).image_size
    dot = np.full((h, w), 255, np.uint8)
    dot[5:15, 5:15] = 0  # background, top-left corner
    session.add_labels(photo, dot)
    report = session.fit()
    assert report.prior_rows > 0 and "cat" not in report.seen
    session.config = replace(session.config, prior_unlabelled_images=True)
    session.forget_fit()
    assert session.fit().prior_rows == 0


def test_saliency_is_computed_once_per_image_across_class_changes(make_session):
    """Every fit after a class change reads the saliency of each prior image: the session keeps it."""
    session = make_session()
    session.add_images([EVAL / "JPEGImages" / "cat_chelsea.jpg", EVAL / "JPEGImages" / "rocket_launch.jpg"])
    calls = []
    compute = session.backbone.saliency
    session.backbone.saliency = lambda feats: calls.append(1) or compute(feats)
    for names in (["background", "cat"], ["background", "cat", "rocket"], ["background", "rocket"]):
        session.set_classes(names)
        assert session.fit().prior_rows > 0
    assert len(calls) == 2
