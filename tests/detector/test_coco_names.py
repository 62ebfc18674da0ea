"""Typed names → COCO classes: labels as typed, WordNet synonyms, hyponyms, hypernyms, groups, plurals."""
from __future__ import annotations

import json

import pytest

from core.models.coco_names import COCO_CLASSES, TABLE, coco_classes


def names(typed: str) -> list[str]:
    return [COCO_CLASSES[i] for i in coco_classes(typed)]


def test_eighty_classes_in_the_model_order():
    assert len(COCO_CLASSES) == 80 and len(set(COCO_CLASSES)) == 80
    assert COCO_CLASSES[0] == "person" and COCO_CLASSES[15] == "cat" and COCO_CLASSES[79] == "toothbrush"
    assert json.loads(TABLE.read_text())["classes"] == list(COCO_CLASSES)


@pytest.mark.parametrize("typed, expected", [
    ("sofa", "couch"), ("couch", "couch"), ("motorbike", "motorcycle"), ("motorcycle", "motorcycle"),
    ("tvmonitor", "tv"), ("TV", "tv"), ("aeroplane", "airplane"), ("diningtable", "dining table"),
    ("dining-table", "dining table"), ("pottedplant", "potted plant"), ("potted plant", "potted plant"),
    ("person", "person"), ("people", "person"), ("man", "person"), ("woman", "person"), ("men", "person"),
    ("children", "person"), ("astronaut", "person"), ("puppy", "dog"), ("sedan", "car"), ("ship", "boat"),
    ("cats", "cat"), ("buses", "bus"), ("knives", "knife"), ("mobile phone", "cell phone"),
    ("doughnut", "donut"), ("Hot-Dog", "hot dog"), ("chair: wooden ones", "chair"), ("stop sign", "stop sign"),
])
def test_synonyms_hyponyms_and_plurals_reach_their_class(typed, expected):
    assert names(typed)[0] == expected


def test_a_coco_label_means_the_coco_thing_even_where_wordnet_reads_it_otherwise():
    assert names("mouse") == ["mouse"]      # WordNet's usual sense: the rodent
    assert names("toaster") == ["toaster"]  # WordNet's usual sense: a person proposing a toast


def test_a_word_the_imagenet_head_knows_is_not_read_as_a_figurative_person():
    assert names("tiger") == []  # WordNet's first "tiger" is a fierce person: not the person boxes
    assert names("boxer") == ["dog"]  # the ImageNet class is the dog breed
    assert names("printer") == []  # the machine, which COCO has no class for


def test_a_broad_name_reaches_the_classes_under_it_and_a_too_broad_one_none():
    animals = set(names("animal"))
    assert {"cat", "dog", "giraffe", "zebra", "bird"} <= animals and "person" not in animals
    assert {"chair", "couch", "bed"} <= set(names("furniture"))
    assert names("artifact") == [] and names("object") == []


@pytest.mark.parametrize("typed", ["sky", "tree", "grass", "building", "water", "quokka", "traffic cone", ""])
def test_names_outside_coco_reach_nothing(typed):
    assert coco_classes(typed) == []
