"""Tiny real word-vector files written by gensim itself, one per supported format.

The vectors are random but fixed (seeded); "cat" and "dog" are made close on purpose so that
neighbour tests have a known answer without a large corpus.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

WORDS = ["the", "cat", "dog", "sofa", "potted", "plant", "tv", "monitor", "Paris", "traffic_cone",
         "traffic", "cone", "chair", "table"]
DIM = 12

CORPUS = [
    "the cat sat on the sofa near the dog".split(),
    "the dog chased the cat around the potted plant".split(),
    "a potted plant stood next to the tv monitor".split(),
    "the cat and the dog slept under the table".split(),
    "a chair and a table and a sofa in the room".split(),
] * 20


@pytest.fixture(scope="session")
def small_kv():
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(WORDS), DIM)).astype(np.float32)
    vectors[WORDS.index("dog")] = vectors[WORDS.index("cat")] + 0.1 * rng.normal(size=DIM)
    kv = KeyedVectors(vector_size=DIM)
    kv.add_vectors(WORDS, vectors)
    return kv


@pytest.fixture(scope="session")
def vector_files(small_kv, tmp_path_factory) -> dict[str, Path]:
    """Paths of the same vectors as word2vec binary, word2vec text, GloVe text and gensim .kv."""
    root = tmp_path_factory.mktemp("vectors")
    files = {
        "word2vec-bin": root / "small_w2v.bin",
        "word2vec-text": root / "small_w2v.txt",
        "glove-text": root / "small_glove.txt",
        "gensim-kv": root / "small.kv",
    }
    small_kv.save_word2vec_format(str(files["word2vec-bin"]), binary=True)
    small_kv.save_word2vec_format(str(files["word2vec-text"]), binary=False)
    small_kv.save_word2vec_format(str(files["glove-text"]), binary=False, write_header=False)
    small_kv.save(str(files["gensim-kv"]))
    return files


@pytest.fixture(scope="session")
def fasttext_bin(tmp_path_factory) -> tuple[Path, object]:
    """A fastText .bin (with subword n-grams) trained by gensim on a tiny corpus, and its model."""
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    model = FastText(vector_size=16, window=3, min_count=1, epochs=5, workers=1, seed=1,
                     min_n=3, max_n=5, bucket=2000, sg=1)
    model.build_vocab(corpus_iterable=CORPUS)
    model.train(corpus_iterable=CORPUS, total_examples=len(CORPUS), epochs=model.epochs)
    path = tmp_path_factory.mktemp("fasttext") / "tiny.bin"
    save_facebook_model(model, str(path))
    return path, model


@pytest.fixture(scope="session")
def default_embedder():
    from core.embeddings import get_embedder

    return get_embedder("default")
