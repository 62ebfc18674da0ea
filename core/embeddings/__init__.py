"""Class name → vector: the embedding service the engine, the session, the GUI and the CLI share.

>>> from core.embeddings import get_embedder
>>> emb = get_embedder("default")      # GloVe 6B 50-d, offline; cached per process
>>> emb.embed("potted plant").shape
(50,)

Sources: ``default``, ``paper-voc``, ``paper-context``, ``minilm`` (optional), a word-vector file
(word2vec binary/text, GloVe text, fastText .bin, gensim .kv), or ``A+B`` to concatenate.
"""
from core.embeddings.base import Embedder, Explanation
from core.embeddings.errors import UnknownWordError
from core.embeddings.phrases import parse_class_spec, split_words
from core.embeddings.service import NAMED_SOURCES, clear_cache, get_embedder, parse_spec

__all__ = [
    "Embedder",
    "Explanation",
    "NAMED_SOURCES",
    "UnknownWordError",
    "clear_cache",
    "get_embedder",
    "parse_class_spec",
    "parse_spec",
    "split_words",
]
