"""Concatenation of two (or more) sources, e.g. "default+my_vectors.bin".

Each part's vector is unit length, so the concatenation scaled by 1/sqrt(k) is unit length too and
its cosine with another concatenation is the mean of the parts' cosines: no part dominates
because its table happens to have larger norms or more dimensions.
"""
from __future__ import annotations

import numpy as np

from core.embeddings.base import Embedder, Explanation, unit
from core.errors import UserError

CANDIDATES_PER_PART = 50


class ConcatEmbedder(Embedder):
    """Embeds a text with every part and concatenates the unit vectors (renormalised)."""

    def __init__(self, parts: list[Embedder], spec: str) -> None:
        if len(parts) < 2:
            raise UserError("a concatenation needs at least two embedding sources")
        self.parts = tuple(parts)
        self.name = "+".join(p.name for p in parts)
        self.spec = spec
        self.dim = sum(p.dim for p in parts)
        self.has_vocabulary = any(p.has_vocabulary for p in parts)

    def explain(self, text: str, *, strict: bool = True) -> Explanation:
        explanations = [p.explain(text, strict=strict) for p in self.parts]
        first = explanations[0]
        vector = None
        if all(e.vector is not None for e in explanations):
            vector = unit(np.concatenate([e.vector for e in explanations]))
        return Explanation(
            text=text, tokens=first.tokens, found=first.found, vector=vector,
            embedded_text=first.embedded_text, keys=first.keys,
            notes=tuple(n for e in explanations for n in e.notes), source=self.name,
            parts=tuple(explanations),
        )

    def _nearest(self, vector: np.ndarray, n: int, exclude: set[str]) -> list[tuple[str, float]]:
        """Approximate: candidates are each vocabulary part's own nearest words to its slice of
        the query; they are then scored exactly on the full concatenated vector."""
        candidates: list[str] = []
        offset = 0
        for part in self.parts:
            piece = vector[offset:offset + part.dim]
            offset += part.dim
            if not part.has_vocabulary or not np.any(piece):
                continue
            k = max(CANDIDATES_PER_PART, 10 * n)
            for word, _ in part._nearest(unit(piece), k, exclude):
                if word not in candidates:
                    candidates.append(word)
        if not candidates:
            return super()._nearest(vector, n, exclude)
        scored = []
        for word in candidates:
            try:
                scored.append((word, float(self.embed(word) @ vector)))
            except UserError:
                continue  # a word only one part knows cannot be a neighbour of the concatenation
        scored.sort(key=lambda item: -item[1])
        return scored[:n]
