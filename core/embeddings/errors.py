"""The one error the embedding service raises for words it cannot turn into a vector.

A silent zero vector for an unknown class name would train a generator on noise without any
warning, so every lookup that fails raises this instead, naming the word and offering the
nearest spellings the source knows.
"""
from __future__ import annotations

from collections.abc import Sequence

from core.errors import UserError


class UnknownWordError(UserError):
    """A class name (or one word of it) that the chosen embedding source cannot embed.

    ``word`` is the offending word, ``suggestions`` the nearest known spellings (may be empty),
    ``text`` the whole input it came from, ``source`` the embedder's name.
    """

    def __init__(
        self,
        word: str,
        suggestions: Sequence[str] = (),
        *,
        text: str | None = None,
        source: str = "",
        hint: str | None = None,
    ) -> None:
        self.word = word
        self.suggestions = list(suggestions)
        self.text = text if text is not None else word
        self.source = source
        where = f" in {self.text!r}" if self.text != word else ""
        vocab = f" {source}" if source else ""
        message = f"unknown word {word!r}{where}: not in the{vocab} vocabulary"
        if self.suggestions:
            message += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        else:
            message += "; no similar known word."
        message += " " + (hint if hint is not None else
                          f"Or describe the class with known words: '{word}: a few known words'.")
        super().__init__(" ".join(message.split()))
