"""Phrase rules as pure functions: class spec parsing, word splitting, glued-name splitting."""
from __future__ import annotations

import pytest

from core.embeddings import parse_class_spec, split_words
from core.embeddings.phrases import split_glued
from core.errors import UserError

VOCAB = ["the", "plant", "table", "tv", "potted", "monitor", "dining", "pot", "ted", "pl", "aeroplane",
         "aero", "plane", "nt"]
RANK = {w: i for i, w in enumerate(VOCAB)}


def test_parse_class_spec_with_and_without_description():
    assert parse_class_spec("quokka: small wallaby") == ("quokka", "small wallaby")
    assert parse_class_spec("  Potted   plant ") == ("Potted plant", None)
    assert parse_class_spec("quokka:") == ("quokka", None)
    assert parse_class_spec("a:b:c") == ("a", "b:c")


@pytest.mark.parametrize("bad", ["", "   ", ": description only"])
def test_parse_class_spec_rejects_empty_names(bad):
    with pytest.raises(UserError):
        parse_class_spec(bad)


@pytest.mark.parametrize("text, words", [
    ("potted plant", ["potted", "plant"]),
    ("tv/monitor", ["tv", "monitor"]),
    ("Traffic cone", ["traffic", "cone"]),
    ("dining_table", ["dining", "table"]),
    ("t-shirt", ["t", "shirt"]),
    ("  (TV) / Monitor. ", ["tv", "monitor"]),
])
def test_split_words_casefolds_and_splits_on_separators(text, words):
    assert split_words(text) == words


def test_split_glued_prefers_fewest_pieces_then_frequent_words():
    rank = RANK.get
    assert split_glued("pottedplant", rank, max_rank=100, short_max_rank=100) == ["potted", "plant"]
    assert split_glued("tvmonitor", rank, max_rank=100, short_max_rank=100) == ["tv", "monitor"]
    assert split_glued("diningtable", rank) == ["dining", "table"]
    assert split_glued("quokka", rank) is None
    assert split_glued("plant", rank) is None  # one piece is not a split


def test_split_glued_skips_rare_and_rare_short_pieces():
    # "pl" and "nt" exist but are rarer than short_max_rank allows → no nonsense split of a typo
    assert split_glued("pottedplnt", RANK.get, short_max_rank=3) is None
    assert split_glued("tvmonitor", RANK.get, short_max_rank=4) == ["tv", "monitor"]
    assert split_glued("tvmonitor", RANK.get, short_max_rank=3) is None
    assert split_glued("pottedplant", RANK.get, max_rank=3) is None
