"""Which images the zero-label prior reads (``prior.prior_order``), and a photo beyond them that shows
a class the fit has no rows of (``Session._view``)."""
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.session.prior import prior_order


def _key(p) -> str:
    return str(Path(p).resolve())


def test_labelled_then_viewed_then_folder_order_up_to_the_cap(tmp_path):
    images = [tmp_path / f"{i}.jpg" for i in range(6)]
    known = {_key(p) for p in images}
    labelled = {_key(images[4]): None}
    viewed = [_key(images[5]), _key(images[3])]  # most recent last
    assert prior_order(images, labelled, viewed, 4, True, known) == [images[4], images[3], images[5], images[0]]
    assert prior_order(images, labelled, viewed, 10, False, known) == [images[3], images[5], images[0], images[1], images[2]]
    assert prior_order(images, {}, [], 2, True, known) == images[:2]
    assert prior_order(images, {}, [_key(tmp_path / "gone.jpg")], 2, True, known) == images[:2]  # removed since


def test_a_photo_beyond_the_prior_cap_that_shows_an_unread_class_is_read_when_shown(make_session, small_images):
    """prior_images = 1: the prior reads the astronaut only, where there is no cat. Shown the cat photo,
    whose own prior cells are cat, the session refits with it and finds the cat; the coffee cup photo
    brings no class the fit lacks, so showing it refits nothing."""
    session = make_session()
    session.config = replace(session.config, prior_images=1)
    session.add_images([small_images / n for n in ("astronaut.jpg", "cat_chelsea.jpg", "coffee_cup.jpg")])
    session.set_classes(["cat"])
    before = session.fit()
    assert before.prior_rows > 0 and 1 not in session._fitted.prior_classes  # no cat rows from the astronaut
    labels = session.predict(small_images / "cat_chelsea.jpg").labels
    assert 1 in session._fitted.prior_classes
    assert np.mean(labels == 1) > 0.4
    fitted = session._fitted
    session.predict(small_images / "coffee_cup.jpg")
    assert session._fitted is fitted  # nothing new there: no refit
    session.forget_fit()  # e.g. between an evaluation's settings: what earlier predictions showed is forgotten
    session.fit()
    assert 1 not in session._fitted.prior_classes


def test_a_photo_beyond_the_cap_joins_when_its_cells_of_a_class_outnumber_the_fits_rows(make_session, small_images):
    """A class the fit has a few (false) prior rows of is still read from the photo that shows it: the
    cat photo joins while the fit holds fewer cat rows than its own cat cells, not when it holds more."""
    session = make_session()
    session.config = replace(session.config, prior_images=1)
    session.add_images([small_images / n for n in ("astronaut.jpg", "cat_chelsea.jpg")])
    session.set_classes(["cat"])
    session.fit()
    fitted = session._fitted
    cat = small_images / "cat_chelsea.jpg"
    many = replace(fitted, prior_rows=(fitted.prior_rows[0], 100_000))
    assert not session._view(cat, many) and session._viewed == []
    few = replace(fitted, prior_rows=(fitted.prior_rows[0], 3))
    assert session._view(cat, few) and len(session._viewed) == 1
