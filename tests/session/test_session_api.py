"""Session contract: classes, labels, seen/unseen, prediction, cancellation, cache cap, threads."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from core.embeddings import UnknownWordError
from core.errors import CancelledError, UserError
from core.images import load_image
from core.session import ClassStatus, FitReport, Prediction
from core.session.cache import FeatureCache

from .conftest import box_mask


@pytest.fixture
def session(make_session, small_images):
    """A fresh session per test: each test sets its own classes and labels, in any order or alone."""
    s = make_session()
    s.add_images([small_images])
    return s


def label_the_cat(session, small_images) -> np.ndarray:
    """Class 1 on a box over the cat of cat_chelsea.jpg, background around it, the left tenth unlabelled."""
    cat = small_images / "cat_chelsea.jpg"
    h, w = load_image(cat).shape[:2]
    mask = box_mask((h, w), (0.1, 0.25, 0.9, 0.75), 1)
    mask[:, : w // 10] = 255
    session.add_labels(cat, mask)
    return mask


def test_classes_background_first_and_unknown_word_changes_nothing(session):
    session.set_classes(["cat", "background", "person"])
    assert session.classes == ["background", "cat", "person"]
    with pytest.raises(UnknownWordError):
        session.set_classes(["cat", "qwzxvbn"])
    assert session.classes == ["background", "cat", "person"]
    with pytest.raises(UserError):
        session.check_class_name("qwzxvbn")
    assert session.check_class_name("quokka: small wallaby").shape == (session.embedder.dim,)
    with pytest.raises(UserError):
        session.set_classes(["cat", "cat"])


def test_add_images_returns_only_new(session, small_images):
    assert [p.name for p in session.images] == ["astronaut.jpg", "cat_chelsea.jpg", "coffee_cup.jpg"]
    assert session.add_images([small_images / "cat_chelsea.jpg"]) == []


def test_labels_make_a_class_seen_and_survive_renames(session, small_images):
    session.set_classes(["cat", "person"])
    status = session.class_status()
    assert all(isinstance(s, ClassStatus) for s in status)
    assert [s.seen for s in status] == [False, False, False]
    cat = small_images / "cat_chelsea.jpg"
    h, w = load_image(cat).shape[:2]
    mask = label_the_cat(session, small_images)
    status = {s.name: s for s in session.class_status()}
    assert status["cat"].seen and status["cat"].labelled_pixels == int((mask == 1).sum())
    assert status["background"].seen and not status["person"].seen
    # Reordering / adding classes remaps labels by name; a removed class becomes unlabelled.
    session.set_classes(["person", "dog", "cat"])
    remapped = session.labels(cat)
    assert remapped[mask == 1].tolist() == [3] * int((mask == 1).sum())
    session.set_classes(["person", "dog"])
    assert (session.labels(cat)[mask == 1] == 255).all()
    session.set_classes(["cat", "person"])
    assert np.array_equal(session.labels(cat), mask)
    with pytest.raises(UserError):
        session.add_labels(cat, np.full((h, w), 7, np.uint8))


def test_fit_and_predict_with_labels(session, small_images):
    session.set_classes(["cat", "person"])
    label_the_cat(session, small_images)
    report = session.fit()
    assert isinstance(report, FitReport)
    assert set(report.seen) == {"background", "cat"} and report.unseen == ["person"]
    pred = session.predict(small_images / "cat_chelsea.jpg")
    assert isinstance(pred, Prediction)
    img = load_image(small_images / "cat_chelsea.jpg")
    assert pred.labels.shape == img.shape[:2] and pred.labels.dtype == np.uint8
    assert pred.confidence.dtype == np.float32 and 0 <= pred.confidence.min() and pred.confidence.max() <= 1.0001
    assert pred.class_names == ["background", "cat", "person"]
    h, w = pred.labels.shape
    centre = pred.labels[int(0.3 * h): int(0.7 * h), int(0.35 * w): int(0.65 * w)]
    assert (centre == 1).mean() > 0.5
    # A name change keeps the seen set: the GMMN trained for it is reused. (Names of things in none of
    # the photos, so that neither the ImageNet head nor the COCO detector supplies their pixels.)
    session.set_classes(["cat", "volcano"])
    first = session.fit()
    assert first.generated == ["volcano"]
    session.set_classes(["cat", "geyser"])
    second = session.fit()
    assert second.generated == ["geyser"] and second.gmmn_trained is False


def test_cancel_raises(session):
    session.set_classes(["cat", "spaceman"])
    event = threading.Event()
    event.set()
    with pytest.raises(CancelledError):
        session.fit(cancel=event)

    # Cancelled from inside, after some progress.
    event = threading.Event()
    session.set_classes(["cat", "rocket"])
    with pytest.raises(CancelledError):
        session.fit(progress=lambda f, m: event.set(), cancel=event)


def test_predict_is_safe_while_a_fit_runs(session, small_images):
    session.set_classes(["cat", "person"])
    session.fit()
    errors = []
    started = threading.Event()

    def worker():
        try:
            session.set_classes(["cat", "person", "cup"])
            session.fit(progress=lambda f, m: started.set())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    started.wait(60)
    results = []
    for _ in range(3):
        results.append(session.predict(small_images / "coffee_cup.jpg"))
        session.class_status()
    t.join(120)
    assert not errors
    for pred in results:
        assert pred.labels.max() < len(pred.class_names)
    assert session.predict(small_images / "coffee_cup.jpg").class_names == ["background", "cat", "person", "cup"]


def test_feature_cache_byte_cap(session, make_session, small_images):
    class Blob:
        def __init__(self, n):
            self.nbytes = n

    cache = FeatureCache(100)
    for i in range(10):
        cache.put(i, Blob(30))
        assert cache.nbytes <= 100
    assert len(cache) == 3 and cache.get(0) is None and cache.get(9) is not None
    cache.put("huge", Blob(1000))
    assert "huge" not in cache

    one = session.features(small_images / "cat_chelsea.jpg")
    s2 = make_session(cache_bytes=int(one.nbytes * 1.5))  # room for one image's features only
    for p in sorted(small_images.glob("*.jpg")):
        s2.features(p)
        assert s2.cache.nbytes <= s2.cache.max_bytes
    assert len(s2.cache) == 1
    s2.cache.max_bytes = 1  # smaller than one image: nothing may stay cached
    s2.cache.clear()
    s2.features(small_images / "cat_chelsea.jpg")
    assert len(s2.cache) == 0 and s2.cache.nbytes == 0


def test_zero_labels_finds_the_cat(make_session, small_images):
    s = make_session()
    s.add_images([small_images])
    s.set_classes(["cat", "person"])
    cat = s.predict(small_images / "cat_chelsea.jpg").labels
    cup = s.predict(small_images / "coffee_cup.jpg").labels
    h, w = cat.shape
    centre = cat[int(0.3 * h): int(0.7 * h), int(0.35 * w): int(0.65 * w)]
    assert (centre == 1).mean() > 0.3
    assert (cat == 1).mean() > (cup == 1).mean()
    report = s.self_train(percent=50)
    assert report.pseudo_rows >= 0 and s.predict(small_images / "cat_chelsea.jpg").labels.shape == (h, w)


def test_one_unreadable_image_does_not_stop_the_fit(make_session, small_images, tmp_path):
    """A text file named .png in the folder: the zero-label fit skips it; only predicting it is an error."""
    bad = tmp_path / "notes.png"
    bad.write_text("notes, not a picture")
    s = make_session()
    s.add_images([bad, small_images / "cat_chelsea.jpg"])
    s.set_classes(["cat"])
    pred = s.predict(small_images / "cat_chelsea.jpg")
    assert pred.labels.shape == load_image(small_images / "cat_chelsea.jpg").shape[:2]
    assert (pred.labels == 1).any()
    with pytest.raises(UserError, match="notes.png"):
        s.predict(bad)


def test_a_refit_after_new_labels_is_anchored_to_the_last_fit_unless_forgotten(make_session, small_images):
    """After new labels the classifier is pulled towards the previous fit (``classifier_anchor``); after
    ``forget_fit`` the next fit starts from scratch and equals a fresh session's."""
    def probabilities(s):
        return s.probabilities(small_images / "cat_chelsea.jpg", full_size=False)

    def fitted_with(s, first_labels: bool):
        s.add_images([small_images])
        s.set_classes(["cat", "cup"])
        if first_labels:
            label_the_cat(s, small_images)
            s.fit()
            s.clear_labels()
        cup = small_images / "coffee_cup.jpg"
        h, w = load_image(cup).shape[:2]
        s.add_labels(cup, box_mask((h, w), (0.1, 0.3, 0.6, 0.7), 2))
        return s

    fresh = probabilities(fitted_with(make_session(), False))
    anchored_session = fitted_with(make_session(), True)
    anchored = probabilities(anchored_session)
    assert (anchored - fresh).abs().max() > 0.05  # the cat fit still pulls on the refit
    anchored_session.forget_fit()
    assert torch.allclose(probabilities(anchored_session), fresh, atol=1e-4)
