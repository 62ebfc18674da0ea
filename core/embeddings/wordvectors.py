"""Class names embedded as the mean of word vectors from a gensim ``KeyedVectors``.

Rules (see ``phrases``): case-fold, split on separators, keep a word the vocabulary holds,
otherwise split a glued name into known words ("pottedplant" → potted + plant) unless it is a
near-miss of one known word ("kangaro" is a typo of "kangaroo", not kan + garo), otherwise use
fastText subword n-grams when the file has them, otherwise fail with ``UnknownWordError``. Each
word vector is scaled to unit length before averaging, so a frequent word with a large GloVe norm
does not drown the other words of the phrase; the mean is normalised again.
"""
from __future__ import annotations

import threading

import numpy as np

from core.embeddings.base import Embedder, Explanation, top_k, unit
from core.embeddings.errors import UnknownWordError
from core.embeddings.phrases import parse_class_spec, split_glued, split_words
from core.embeddings.suggest import SpellingIndex
from core.errors import UserError

GLUED_MEMO_SIZE = 10_000
TYPO_RATIO = 0.9  # a glued name this similar to one known word is a misspelling, not a compound


class WordVectorEmbedder(Embedder):
    """Embedder over a word-vector table (GloVe, word2vec, fastText)."""

    def __init__(self, kv, *, name: str, spec: str, subword: bool = False,
                 arrow_words=None, lower_case: bool = False) -> None:
        self._kv = kv
        self._index: dict[str, int] = kv.key_to_index
        self._keys: list[str] = kv.index_to_key
        self._vectors = kv.vectors
        self.name = name
        self.spec = spec
        self.dim = int(self._vectors.shape[1])
        self.subword = subword
        self._spelling = SpellingIndex(self._keys, arrow_words=arrow_words, lower_case=lower_case)
        self._spelling.prepare()  # part of the one-time load, so that the first typo answers fast
        self._norms: np.ndarray | None = None
        self._norms_lock = threading.Lock()
        self._glued: dict[str, list[str] | None] = {}  # word → pieces; a plain dict is thread-safe here

    @property
    def vocabulary_size(self) -> int:
        return len(self._keys)

    # -- lookup -------------------------------------------------------------------------------
    def _key(self, word: str) -> str | None:
        """The vocabulary entry for a case-folded word: exact, else Capitalised / UPPER (word2vec
        files are case-sensitive and hold "Paris", not "paris")."""
        for candidate in (word, word.capitalize(), word.upper()):
            if candidate in self._index:
                return candidate
        return None

    def _rank(self, piece: str) -> int | None:
        key = self._key(piece)
        return None if key is None else self._index[key]

    def _word_vector(self, key: str) -> np.ndarray | None:
        v = np.asarray(self._vectors[self._index[key]], dtype=np.float32)
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 and np.isfinite(norm) else None

    def _subword_vector(self, word: str) -> np.ndarray | None:
        if not self.subword:
            return None
        v = np.asarray(self._kv.get_vector(word), dtype=np.float32)
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 and np.isfinite(norm) else None

    # -- the path text → tokens → vector --------------------------------------------------------
    def explain(self, text: str, *, strict: bool = True) -> Explanation:
        name, description = parse_class_spec(text)
        body = description or name
        words = split_words(body)
        if not words:
            raise UserError(f"no words to embed in {text!r}")
        tokens: list[str] = []
        found: list[bool] = []
        keys: list[str | None] = []
        notes: list[str] = []
        vectors: list[np.ndarray] = []
        unknown: list[str] = []

        phrase_key = self._key("_".join(words)) if len(words) > 1 else None
        if phrase_key is not None:  # word2vec phrase entries such as "traffic_cone"
            words = ["_".join(words)]
            notes.append(f"phrase entry {phrase_key!r}")
        for word in words:
            key = self._key(word)
            if key is not None:
                v = self._word_vector(key)
                if v is not None:
                    tokens.append(word); found.append(True); keys.append(key); vectors.append(v)
                    continue
            pieces = self._glued_pieces(word)
            if pieces:
                piece_vectors = [self._word_vector(self._key(p)) for p in pieces]
                if all(pv is not None for pv in piece_vectors):
                    notes.append(f"{word!r} split into {' + '.join(pieces)}")
                    for p, pv in zip(pieces, piece_vectors):
                        tokens.append(p); found.append(True); keys.append(self._key(p)); vectors.append(pv)
                    continue
            v = self._subword_vector(word)
            tokens.append(word); found.append(False); keys.append(None)
            if v is not None:
                notes.append(f"{word!r} not in vocabulary: vector from character n-grams")
                vectors.append(v)
            else:
                unknown.append(word)

        vector = None
        if unknown:
            if strict:
                raise UnknownWordError(
                    unknown[0], self._spelling.suggest(unknown[0]), text=text, source=self.name
                )
        else:
            vector = unit(np.mean(vectors, axis=0))
        return Explanation(
            text=text, tokens=tuple(tokens), found=tuple(found), vector=vector,
            embedded_text=body, keys=tuple(keys), notes=tuple(notes), source=self.name,
        )

    def _glued_pieces(self, word: str) -> list[str] | None:
        """Known-word pieces of a glued name, or None; memoised (the typo check costs ~0.1 s)."""
        if word in self._glued:
            return self._glued[word]
        pieces = split_glued(word, self._rank)
        if pieces and self._is_typo(word):
            pieces = None  # "kangaro" is a typo of "kangaroo", not "kan" + "garo"
        if len(self._glued) < GLUED_MEMO_SIZE:
            self._glued[word] = pieces
        return pieces

    def _is_typo(self, word: str) -> bool:
        """True when ``word`` is one small edit away from a known word (difflib ratio >= 0.9)."""
        closest = self._spelling.suggest_scored(word, 1)
        return bool(closest) and closest[0][1] >= TYPO_RATIO

    def suggest(self, word: str, n: int = 5) -> list[str]:
        """Nearest known spellings of ``word`` (what ``UnknownWordError.suggestions`` holds)."""
        return self._spelling.suggest(word, n)

    # -- neighbours ------------------------------------------------------------------------------
    def _row_norms(self) -> np.ndarray:
        with self._norms_lock:
            if self._norms is None:
                norms = np.empty(len(self._keys), dtype=np.float32)
                step = 65536  # chunks keep a memory-mapped table from being copied whole
                for start in range(0, len(norms), step):
                    block = np.asarray(self._vectors[start:start + step], dtype=np.float32)
                    norms[start:start + step] = np.linalg.norm(block, axis=1)
                norms[~(norms > 0)] = np.inf  # zero rows never come out as neighbours
                self._norms = norms
            return self._norms

    def _nearest(self, vector: np.ndarray, n: int, exclude: set[str]) -> list[tuple[str, float]]:
        scores = (np.asarray(self._vectors, dtype=np.float32) @ vector) / self._row_norms()
        return top_k(scores, self._keys, n, exclude)
