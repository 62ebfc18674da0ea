"""User files in every supported format, written by gensim and read back through the service."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from core.embeddings import UnknownWordError, get_embedder
from core.embeddings.sources import detect_format, load_file
from core.errors import UserError

FORMATS = ["word2vec-bin", "word2vec-text", "glove-text", "gensim-kv"]


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("kind", FORMATS)
def test_format_is_detected(vector_files, kind):
    assert detect_format(vector_files[kind]) == kind


@pytest.mark.parametrize("kind", FORMATS)
def test_file_vectors_round_trip(vector_files, small_kv, kind):
    emb = get_embedder(str(vector_files[kind]))
    assert emb.dim == small_kv.vector_size
    assert emb.name == vector_files[kind].name
    assert emb.vocabulary_size == len(small_kv.index_to_key)
    np.testing.assert_allclose(emb.embed("cat"), unit(small_kv["cat"]), atol=1e-5)
    expected = unit(unit(small_kv["potted"]) + unit(small_kv["plant"]))
    np.testing.assert_allclose(emb.embed("pottedplant"), expected, atol=1e-5)
    assert emb.explain("tvmonitor").tokens == ("tv", "monitor")
    cat, dog, sofa = emb.embed_many(["cat", "dog", "sofa"])
    assert cat @ dog > cat @ sofa
    assert emb.neighbors("cat", n=1)[0][0] == "dog"


def test_case_sensitive_vocabulary_and_phrase_entries(vector_files, small_kv):
    emb = get_embedder(str(vector_files["word2vec-bin"]))
    explanation = emb.explain("paris")
    assert explanation.keys == ("Paris",) and explanation.found == (True,)
    np.testing.assert_allclose(explanation.vector, unit(small_kv["Paris"]), atol=1e-5)
    # word2vec files carry phrases as one entry: "traffic_cone" is preferred over traffic + cone
    assert emb.explain("Traffic cone").keys == ("traffic_cone",)


def test_unknown_word_in_a_file_suggests_spellings(vector_files):
    emb = get_embedder(str(vector_files["glove-text"]))
    with pytest.raises(UnknownWordError) as info:
        emb.embed("the sofaa")
    assert info.value.word == "sofaa"
    assert info.value.suggestions[0] == "sofa"


def test_fasttext_bin_uses_subwords_for_unknown_words(fasttext_bin):
    path, model = fasttext_bin
    assert detect_format(path) == "fasttext-bin"
    emb = get_embedder(str(path))
    assert emb.dim == 16 and emb.subword
    np.testing.assert_allclose(emb.embed("cat"), unit(model.wv["cat"]), atol=1e-4)
    explanation = emb.explain("catzilla")
    assert explanation.tokens == ("catzilla",) and explanation.found == (False,)
    np.testing.assert_allclose(explanation.vector, unit(model.wv["catzilla"]), atol=1e-4)
    assert any("n-grams" in note for note in explanation.notes)


def test_same_file_is_loaded_once_across_threads(vector_files):
    results = []
    spec = str(vector_files["word2vec-text"])
    threads = [threading.Thread(target=lambda: results.append(get_embedder(spec))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r is results[0] for r in results)


def test_unreadable_files_are_user_errors(tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(UserError):
        load_file(garbage)
    broken = tmp_path / "broken.txt"
    broken.write_text("cat 0.1 oops\ndog 0.2 0.3\n", encoding="utf-8")
    with pytest.raises(UserError, match="broken.txt"):
        load_file(broken)
    with pytest.raises(UserError, match="not found"):
        load_file(tmp_path / "missing.txt")
    words_only = tmp_path / "notes.txt"  # plain text, no numbers: must not load as 0-d vectors
    words_only.write_text("hello\n", encoding="utf-8")
    with pytest.raises(UserError, match="notes.txt"):
        load_file(words_only)
