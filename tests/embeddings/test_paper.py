"""The paper's fixed word2vec class vectors (resources/embeddings, Apache-2.0 Valeo)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.embeddings import UnknownWordError, get_embedder

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "embeddings"


def raw_row(filename, i):
    row = np.load(RESOURCES / filename)[i].astype(np.float64)
    return row / np.linalg.norm(row)


def test_resources_and_notice_ship_with_the_project():
    assert np.load(RESOURCES / "voc21_word2vec300.npy").shape == (21, 300)
    assert np.load(RESOURCES / "context60_word2vec300.npy").shape == (60, 300)
    notice = (RESOURCES / "NOTICE.md").read_text(encoding="utf-8")
    assert "Apache" in notice and "Valeo" in notice


@pytest.mark.parametrize("text, index", [
    ("background", 0), ("aeroplane", 1), ("airplane", 1), ("Dining Table", 11), ("diningtable", 11),
    ("potted plant", 16), ("pottedplant", 16), ("potted_plant", 16), ("tv/monitor", 20),
    ("tvmonitor", 20), ("TV", 20), ("motorcycle", 14),
])
def test_voc_lookup_normalises_names(text, index):
    emb = get_embedder("paper-voc")
    assert emb.dim == 300 and emb.name == "paper-voc"
    vector = emb.embed(text)
    assert vector.dtype == np.float32
    np.testing.assert_allclose(vector, raw_row("voc21_word2vec300.npy", index), atol=1e-6)


def test_context_table_covers_its_classes_in_order():
    emb = get_embedder("paper-context")
    assert len(emb.classes) == 60
    np.testing.assert_allclose(emb.embed("keyboard"), raw_row("context60_word2vec300.npy", 32), atol=1e-6)
    np.testing.assert_allclose(emb.embed("wood"), raw_row("context60_word2vec300.npy", 59), atol=1e-6)
    vectors = emb.embed_many(emb.classes)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_other_names_raise_listing_the_available_classes():
    emb = get_embedder("paper-voc")
    with pytest.raises(UnknownWordError) as info:
        emb.embed("giraffe")
    assert info.value.word == "giraffe"
    assert "tvmonitor" in str(info.value) and "aeroplane" in str(info.value)
    with pytest.raises(UnknownWordError) as info:
        emb.embed("sofaa")
    assert info.value.suggestions == ["sofa"]


def test_neighbors_search_the_class_table():
    emb = get_embedder("paper-voc")
    near = emb.neighbors("cat", n=3)
    assert len(near) == 3 and "cat" not in [w for w, _ in near]
    assert all(w in emb.classes for w, _ in near)


def test_concatenation_of_default_and_paper():
    both = get_embedder("default+paper-voc")
    glove, paper = get_embedder("default"), get_embedder("paper-voc")
    assert both.dim == 350 and both.name == "glove-6b-50d+paper-voc"
    assert get_embedder("default+paper-voc") is both
    vector = both.embed("potted plant")
    expected = np.concatenate([glove.embed("potted plant"), paper.embed("potted plant")]) / np.sqrt(2)
    np.testing.assert_allclose(vector, expected, atol=1e-6)
    explanation = both.explain("tvmonitor")
    assert explanation.tokens == ("tv", "monitor") and len(explanation.parts) == 2
    assert explanation.parts[1].tokens == ("tvmonitor",)
    near = both.neighbors("cat", n=2)
    assert [w for w, _ in near][0] == "dog"
    with pytest.raises(UnknownWordError):
        both.embed("quokka")  # GloVe knows it, the paper table does not
