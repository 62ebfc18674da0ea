"""Phrase rules: how free-text class names become vocabulary tokens.

Users type "potted plant", "pottedplant", "tv/monitor", "Traffic cone". The rules here are
pure functions of the text and a vocabulary membership test, so that the path
text → tokens is the same for every word-vector source and can be shown to the user.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable

from core.errors import UserError

# Separators between words of a class name: whitespace, hyphen, underscore, slash (and commas).
_SEPARATORS = re.compile(r"[\s\-_/,;]+")
# Punctuation stripped from both ends of a word ("cone." → "cone", "(tv)" → "tv").
_EDGE_PUNCT = "\"'`.()[]{}!?*"

MAX_GLUED_LENGTH = 40  # longer tokens are not split (quadratic search, and never a class name)
MIN_PIECE = 2          # pieces of a glued name are at least two letters ("tv", not "t")
MAX_PIECES = 3         # "bedclothes" = 2, "tvmonitorstand" = 3; more is a random decomposition
SPLIT_MAX_RANK = 100_000       # pieces must be among the 100k most frequent words (not "nt", "raf")
SHORT_PIECE_MAX_RANK = 2_000   # two-letter pieces only when very common ("tv", not "pl" or "gi")
THREE_PIECE_MAX_RANK = 20_000  # three-letter pieces only when common ("pot", "bed", not "aro")


def parse_class_spec(text: str) -> tuple[str, str | None]:
    """Split ``"quokka: small wallaby"`` into ``("quokka", "small wallaby")``.

    The description, when present, replaces the name for embedding; the name stays the label
    the user sees. Without a colon (or with an empty description) the description is ``None``.
    """
    if not isinstance(text, str):
        raise UserError(f"a class name must be text, got {type(text).__name__}")
    name, sep, description = text.partition(":")
    name = " ".join(name.split())
    description = " ".join(description.split()) if sep else ""
    if not name:
        raise UserError(f"empty class name in {text!r}")
    return name, (description or None)


def split_words(text: str) -> list[str]:
    """Case-fold and split a phrase on spaces, ``-``, ``_`` and ``/`` (edge punctuation dropped)."""
    words = []
    for raw in _SEPARATORS.split(text.casefold()):
        word = raw.strip(_EDGE_PUNCT)
        if word:
            words.append(word)
    return words


def split_glued(
    word: str,
    rank: Callable[[str], int | None],
    *,
    min_piece: int = MIN_PIECE,
    max_pieces: int = MAX_PIECES,
    max_rank: int = SPLIT_MAX_RANK,
    short_max_rank: int = SHORT_PIECE_MAX_RANK,
    three_max_rank: int = THREE_PIECE_MAX_RANK,
) -> list[str] | None:
    """Split a glued name into vocabulary words: "pottedplant" → ["potted", "plant"].

    ``rank(piece)`` returns the piece's frequency rank in the vocabulary (0 = most frequent) or
    ``None`` when it is unknown. The split with the fewest pieces wins, ties going to the one with
    the more frequent words (smaller sum of log-ranks). Returns ``None`` when no split into at
    least two known pieces exists. Rare vocabulary entries (rank >= ``max_rank``) and rare
    two- or three-letter entries (rank >= ``short_max_rank`` / ``three_max_rank``) are not used as
    pieces: large vocabularies
    hold junk like "pl" and "nt" that would turn a typo ("pottedplnt") into nonsense. Callers try
    the whole word first, so a word that exists ("aeroplane") is never split.
    """
    n = len(word)
    if n < 2 * min_piece or n > MAX_GLUED_LENGTH:
        return None
    # best[i] = (pieces, cost, split) for word[:i]
    best: list[tuple[int, float, list[str]] | None] = [None] * (n + 1)
    best[0] = (0, 0.0, [])
    for end in range(min_piece, n + 1):
        for start in range(0, end - min_piece + 1):
            prev = best[start]
            if prev is None:
                continue
            piece = word[start:end]
            r = rank(piece)
            limit = short_max_rank if len(piece) < 3 else three_max_rank if len(piece) == 3 else max_rank
            if r is None or r >= min(limit, max_rank):
                continue
            candidate = (prev[0] + 1, prev[1] + math.log1p(r), prev[2] + [piece])
            current = best[end]
            if current is None or candidate[:2] < current[:2]:
                best[end] = candidate
    result = best[n]
    if result is None or not 2 <= result[0] <= max_pieces:
        return None
    return result[2]
