"""The GMMN shipped with the default model: zero-label generation, no GMMN training on a class change."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.images import load_image
from core.models.dinov2 import DIM
from core.session.backbones import SHIPPED, load_default_gmmn, shipped_gmmn_file

DEFAULT_GMMN_FILE = shipped_gmmn_file("dinov2-s14")  # the default model's generator

from .conftest import box_mask


def test_shipped_file_is_small_and_matches_the_default_model():
    assert DEFAULT_GMMN_FILE.is_file() and DEFAULT_GMMN_FILE.stat().st_size < 3 * 2**20
    data = torch.load(DEFAULT_GMMN_FILE, map_location="cpu", weights_only=True)
    assert len(data["classes"]) >= 20  # many named classes, not a handful
    gmmn = load_default_gmmn(DEFAULT_GMMN_FILE, data["embedder"], data["backbone"] + "@192")
    assert gmmn is not None and gmmn.feat_dim == DIM and gmmn.embed_dim == 50
    assert load_default_gmmn(DEFAULT_GMMN_FILE, "some-other-vectors", data["backbone"]) is None


@pytest.fixture
def session(make_session, small_images):
    """A fresh session per test: no test sees another's classes, labels or config."""
    s = make_session()
    s.add_images([small_images])
    return s


def test_zero_labels_class_without_prior_pixels_is_generated(session, small_images):
    # "cat" gets no prior pixels here: only the shipped GMMN can give it features.
    session.config.prior_skip = ("cat",)
    try:
        session.set_classes(["cat", "cup"])
        report = session.fit()
    finally:
        session.config.prior_skip = ()
    assert report.seen == [] and "cat" in report.generated and report.generated_rows > 0
    assert report.gmmn_trained is False  # zero labels: the shipped GMMN is used as it is
    cat = session.predict(small_images / "cat_chelsea.jpg").labels
    assert (cat == 1).any()  # the generated class is really predicted
    # Without a shipped GMMN the same class gets no features at all.
    session.config.prior_skip, session.config.gmmn_file = ("cat",), None
    try:
        session.set_classes(["cat", "cup", "person"])
        bare = session.fit()
    finally:
        session.config.prior_skip, session.config.gmmn_file = (), SHIPPED
    assert bare.generated == [] and bare.generated_rows == 0


def test_class_name_change_never_trains_a_gmmn(session, small_images):
    session.set_classes(["cat", "person"])
    cat = small_images / "cat_chelsea.jpg"
    h, w = load_image(cat).shape[:2]
    session.add_labels(cat, box_mask((h, w), (0.1, 0.25, 0.9, 0.75), 1))
    session.config.prior_skip = ("person",)  # "person" must come from the GMMN
    try:
        first = session.fit()  # new labels: the shipped GMMN is fine-tuned (bounded steps), once
    finally:
        session.config.prior_skip = ()
    assert first.gmmn_trained is True and first.seen == ["background", "cat"] and first.generated == ["person"]
    for name in ("astronaut", "galaxy", "rocket"):
        session.set_classes(["cat", name])
        report = session.fit()
        assert report.gmmn_trained is False
        assert name in report.generated or report.prior_rows > 0
    session.clear_labels()
    assert session.fit().gmmn_trained is False  # zero labels again: the shipped GMMN, no training


def test_generated_features_follow_the_dropout_option(session):
    session.set_classes(["cat", "cup"])
    gmmn = session._gmmns.base()
    draws = {}
    for dropout in (False, True):
        session.config.gmmn_dropout = dropout
        a, ya = session._gmmns.generate(gmmn, session._class_vectors, [0, 1])
        b, _ = session._gmmns.generate(gmmn, session._class_vectors, [0, 1])
        assert a.shape == (2 * session.config.generated_per_class, DIM) and ya.tolist().count(1) == len(ya) // 2
        assert torch.equal(a, b)  # seeded: the same features for the same classes
        assert np.isfinite(a.numpy()).all()
        draws[dropout] = a[ya == 1]
    assert not torch.equal(draws[False], draws[True])
    # dropout on samples the spread the MMD fitted (ADR 0003); eval mode is narrower
    assert draws[True].std(0).mean() > draws[False].std(0).mean()


def test_without_a_shipped_gmmn_labels_train_one_lazily(make_session, small_images):
    s = make_session()
    s.config.gmmn_file = None  # as with word vectors the shipped GMMN was not trained for
    s.add_images([small_images])
    s.set_classes(["cat", "person"])
    cat = small_images / "cat_chelsea.jpg"
    h, w = load_image(cat).shape[:2]
    s.add_labels(cat, box_mask((h, w), (0.1, 0.25, 0.9, 0.75), 1))
    assert s.fit().gmmn_trained is False  # "person" has prior pixels: nothing to generate, nothing trained
    s.config.prior_skip = ("person",)
    s.set_classes(["cat", "person", "cup"])
    report = s.fit()
    assert report.gmmn_trained is True and "person" in report.generated
    s.set_classes(["cat", "person", "clock"])
    assert s.fit().gmmn_trained is False  # reused until the labels change
