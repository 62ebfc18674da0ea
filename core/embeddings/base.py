"""What every embedding source offers: ``embed``, ``embed_many``, ``explain``, ``neighbors``.

Sources differ (a word-vector table, the paper's fixed class table, a sentence encoder, a
concatenation of two), but callers — the session, the GUI's class list, ``zs3 embed`` — only use
this interface. ``explain`` is the one real method; ``embed`` is ``explain(...).vector`` so the
path text → tokens → vector that the user can inspect is exactly the one used for training.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from core.errors import UserError


@dataclass(frozen=True, eq=False)  # eq would compare numpy arrays element-wise
class Explanation:
    """How one input text became a vector.

    ``tokens[i]`` is a word that was looked up, ``found[i]`` whether the source's vocabulary holds
    it (a fastText subword vector counts as not found but still has a vector). ``vector`` is the
    L2-normalised float32 result, or ``None`` (only with ``strict=False``) when a word is unknown.
    ``embedded_text`` is what was embedded: the description of ``"quokka: small wallaby"``.
    ``keys`` are the vocabulary entries used (``None`` where none), ``parts`` the per-source
    explanations of a concatenation.
    """

    text: str
    tokens: tuple[str, ...]
    found: tuple[bool, ...]
    vector: np.ndarray | None
    embedded_text: str = ""
    keys: tuple[str | None, ...] = ()
    notes: tuple[str, ...] = ()
    source: str = ""
    parts: tuple["Explanation", ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.vector is not None


def unit(vector: np.ndarray) -> np.ndarray:
    """float32 copy scaled to unit L2 norm; a zero vector is a bug upstream, never returned."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("cannot normalise a zero or non-finite vector")
    return (v / norm).astype(np.float32, copy=False)


class Embedder(ABC):
    """Base of all embedding sources. Instances are immutable after loading and thread-safe."""

    #: short stable name of the source ("glove-6b-50d", "paper-voc", a file name, "a+b")
    name: str
    #: canonical spec it was loaded from (resolved path for files), the cache key
    spec: str
    #: vector length
    dim: int
    #: whether ``neighbors`` can search a vocabulary
    has_vocabulary: bool = True

    @abstractmethod
    def explain(self, text: str, *, strict: bool = True) -> Explanation:
        """Tokens, lookup results and vector of ``text``; raises ``UnknownWordError`` when strict."""

    def embed(self, text: str) -> np.ndarray:
        """(dim,) float32 unit vector of a class name, phrase or ``"name: description"``."""
        vector = self.explain(text, strict=True).vector
        assert vector is not None
        return vector

    def embed_many(self, texts: Iterable[str]) -> np.ndarray:
        """(n, dim) float32, one unit row per text; the first unknown word raises."""
        rows = [self.embed(t) for t in texts]
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def neighbors(self, query: str | np.ndarray, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` vocabulary entries closest (cosine) to a text or a (dim,) vector.

        For a text, the words it was built from are left out (as gensim's ``most_similar``).
        """
        if n < 0:
            raise UserError(f"number of neighbours must be >= 0, got {n}")
        if isinstance(query, str):
            explanation = self.explain(query, strict=True)
            vector = explanation.vector
            exclude = {k for k in explanation.keys if k is not None}
        else:
            vector = unit(np.asarray(query, dtype=np.float32))
            exclude = set()
            if vector.shape != (self.dim,):
                raise UserError(f"a {self.name} query vector must have {self.dim} values, got {vector.shape[0]}")
        if n == 0:
            return []
        return self._nearest(vector, n, exclude)

    def _nearest(self, vector: np.ndarray, n: int, exclude: set[str]) -> list[tuple[str, float]]:
        raise UserError(f"the {self.name} embeddings have no vocabulary to search for neighbours")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} dim={self.dim}>"


def top_k(scores: np.ndarray, labels, k: int, exclude: set[str]) -> list[tuple[str, float]]:
    """Highest ``k`` scores with their labels, skipping excluded labels."""
    k_plus = min(len(scores), k + len(exclude))
    if k_plus <= 0:
        return []
    idx = np.argpartition(-scores, k_plus - 1)[:k_plus]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    out = []
    for i in idx.tolist():
        label = labels[i]
        if label in exclude:
            continue
        out.append((label, float(scores[i])))
        if len(out) == k:
            break
    return out
