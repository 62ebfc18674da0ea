"""Nearest known spellings of an unknown word, fast enough for a 400k-word vocabulary.

difflib over the whole vocabulary takes seconds; instead the candidates are first narrowed with
vectorised (pyarrow compute) filters — length within ±2 and the same first letter or the same
last two letters — and only those (at most a few thousand, most frequent first) go through
``difflib.SequenceMatcher``. The arrow arrays (~0.1–0.4 s for 400k words) are built by
``prepare()``, which the embedder calls while loading so that the first error is fast too.
"""
from __future__ import annotations

import difflib
import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_CANDIDATES = 4000  # most frequent candidates kept after the cheap filters
CUTOFF = 0.6


class SpellingIndex:
    """Suggests vocabulary words close to a misspelt one; vocabulary order = frequency order."""

    def __init__(self, words: Sequence[str], *, arrow_words=None, lower_case: bool = False) -> None:
        """``arrow_words``: the same words as a pyarrow string array when the caller has one (saves
        a conversion); ``lower_case``: the words are known to be case-folded already (GloVe)."""
        self._words = words
        self._arrow_words = arrow_words
        self._lower_case = lower_case
        self._lock = threading.Lock()
        self._built = False

    def prepare(self) -> None:
        """Build the filter arrays (idempotent, thread-safe)."""
        with self._lock:
            if self._built:
                return
            words = self._arrow_words
            if words is None:
                words = pa.array(list(self._words), type=pa.string())
            folded = words if self._lower_case else pc.utf8_lower(words)
            self._arrow_words = None
            self._folded = folded
            self._length = pc.utf8_length(folded)
            self._first = pc.utf8_slice_codeunits(folded, start=0, stop=1)
            self._last2 = pc.utf8_slice_codeunits(folded, start=-2)
            self._built = True

    def suggest(self, word: str, n: int = 5) -> list[str]:
        """Up to ``n`` known words most similar to ``word``, best first (frequent words win ties)."""
        return [w for w, _ in self.suggest_scored(word, n)]

    def suggest_scored(self, word: str, n: int = 5) -> list[tuple[str, float]]:
        """Like ``suggest`` with the difflib similarity ratio (0..1) of each suggestion."""
        word = word.casefold()
        if not word or not len(self._words) or n <= 0:
            return []
        self.prepare()
        size = len(word)
        close_length = pc.and_(pc.greater_equal(self._length, size - 2), pc.less_equal(self._length, size + 2))
        same_edges = pc.or_(pc.equal(self._first, word[:1]), pc.equal(self._last2, word[-2:]))
        mask = pc.and_(close_length, same_edges).to_numpy(zero_copy_only=False)
        candidates = np.flatnonzero(mask)[:MAX_CANDIDATES]
        texts = self._folded.take(pa.array(candidates)).to_pylist()
        matcher = difflib.SequenceMatcher(b=word, autojunk=False)
        scored: list[tuple[float, int, str]] = []
        for i, text in zip(candidates.tolist(), texts):
            matcher.set_seq1(text)
            if matcher.real_quick_ratio() < CUTOFF or matcher.quick_ratio() < CUTOFF:
                continue
            ratio = matcher.ratio()
            if ratio >= CUTOFF:
                scored.append((-ratio, i, text))
        scored.sort()
        out: list[tuple[str, float]] = []
        seen = {word}
        for negative_ratio, i, text in scored:
            if text in seen:
                continue
            seen.add(text)
            out.append((self._words[i], -negative_ratio))
            if len(out) == n:
                break
        return out
