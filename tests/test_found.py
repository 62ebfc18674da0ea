"""What was found, per class and image, and names to try for a class found nowhere (Qt-free)."""
from __future__ import annotations

import numpy as np
import pytest

from core.found import (
    FOUND,
    LOW_CONFIDENCE,
    NOT_FOUND,
    FoundOptions,
    FoundTally,
    find_classes,
    find_in_prediction,
    suggest_names,
)
from core.session.types import Prediction
from core.session.wordnet_links import wordnet_links

NAMES = ["background", "cat", "speck", "unsure", "giraffe"]


def _map() -> tuple[np.ndarray, np.ndarray]:
    labels = np.zeros((100, 100), np.uint8)
    confidence = np.full((100, 100), 0.9, np.float32)
    labels[:30] = 1                          # cat: 30 % at 0.9
    labels[50, :10] = 2                      # speck: 0.1 % (under min_share) at 0.9
    labels[60:70] = 3                        # unsure: 10 % at 0.3
    confidence[60:70] = 0.3
    return labels, confidence


def test_each_class_gets_the_verdict_its_pixels_earn():
    labels, confidence = _map()
    findings = {f.name: f for f in find_classes(labels, confidence, NAMES)}
    assert [f.value for f in findings.values()] == [1, 2, 3, 4]          # background is not judged
    assert findings["cat"].status == FOUND and findings["cat"].share == pytest.approx(0.3)
    assert findings["cat"].mean_confidence == pytest.approx(0.9)
    assert findings["speck"].status == LOW_CONFIDENCE                      # too small
    assert findings["unsure"].status == LOW_CONFIDENCE                     # too unsure
    assert findings["giraffe"].status == NOT_FOUND and findings["giraffe"].share == 0


def test_the_thresholds_come_from_the_options():
    labels, confidence = _map()
    loose = FoundOptions(min_share=0.0005, min_confidence=0.25)
    findings = {f.name: f.status for f in find_classes(labels, confidence, NAMES, loose)}
    assert findings == {"cat": FOUND, "speck": FOUND, "unsure": FOUND, "giraffe": NOT_FOUND}


def test_a_large_map_is_read_on_a_sample_with_the_same_shares():
    labels = np.zeros((3000, 4000), np.uint8)
    labels[:, :1000] = 1
    confidence = np.ones(labels.shape, np.float32)
    finding = find_classes(labels, confidence, ["background", "sky"], FoundOptions(sample_pixels=10_000))[0]
    assert finding.status == FOUND and finding.share == pytest.approx(0.25, abs=0.01)


def test_a_session_prediction_is_read_with_its_own_class_names():
    labels, confidence = _map()
    findings = find_in_prediction(Prediction(labels, confidence, NAMES))
    assert [f.status for f in findings] == [FOUND, LOW_CONFIDENCE, LOW_CONFIDENCE, NOT_FOUND]


def test_the_tally_counts_images_per_verdict_and_says_it_in_one_line():
    labels, confidence = _map()
    tally = FoundTally(NAMES)
    tally.add(find_classes(labels, confidence, NAMES))
    tally.add(find_classes(np.zeros_like(labels), confidence, NAMES))       # only background
    cat = tally.classes["cat"]
    assert (cat.images, cat.found, cat.low_confidence, cat.not_found) == (2, 1, 0, 1)
    assert tally.classes["unsure"].nowhere and not cat.nowhere
    assert tally.lines()[0] == "cat: found in 1 of 2 images, low confidence in 0"
    assert tally.to_json()["classes"]["speck"] == {"images": 2, "found": 0, "low_confidence": 1, "not_found": 1,
                                        "suggestions": []}


def test_a_word_whose_other_sense_is_an_imagenet_class_is_offered_that_sense():
    links = wordnet_links()
    assert links.imagenet_classes("organ") is None            # its usual sense is the body part
    assert suggest_names("organ", links)[0] == "pipe organ"
    assert suggest_names("cat", links) == []                   # linked already: nothing to suggest
    assert suggest_names("organ", None) == []                  # no table, no suggestion


def test_word_vector_neighbours_that_link_are_offered_for_a_name_that_does_not():
    from core.embeddings import get_embedder

    links, embedder = wordnet_links(), get_embedder("default")
    assert links.imagenet_classes("girl") is None and links.imagenet_classes("person") is not None
    suggestions = suggest_names("girl", links, embedder)  # girl → woman → adult → person: too far up
    assert "person" in suggestions and len(suggestions) <= FoundOptions().max_suggestions
    assert all(links.imagenet_classes(s) is not None for s in suggestions)
    assert suggest_names("qzxvbn", links, embedder) == []      # unknown to the vectors: no crash


def test_the_tally_suggests_only_for_classes_found_nowhere():
    labels, confidence = _map()
    names = ["background", "cat", "organ"]
    labels[labels > 1] = 0
    tally = FoundTally(names)
    tally.add(find_classes(labels, confidence, names))
    tally.suggest(wordnet_links())
    assert tally.classes["cat"].suggestions == []
    assert tally.classes["organ"].suggestions == ["pipe organ"]
    assert tally.classes["organ"].line().endswith("; try: pipe organ")
