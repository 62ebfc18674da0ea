"""Tell the user what was found: per class and image "found", "low confidence" or "not found", a
tally over images, and names that would reach ImageNet classes for a class found nowhere (issue 11).

Why: a typed name that the model cannot place silently becomes 0 % of every image, and the user
only sees "labelled". The rules are plain counts over the prediction (labels + max-softmax
confidence), so the GUI, ``zs3 segment`` and tests read the same verdict:

- **found**: the class covers at least ``min_share`` of the image with a mean confidence of at
  least ``min_confidence`` over its pixels;
- **low confidence**: it has pixels, but too few or too unsure for the above;
- **not found**: no pixel of the image (of the sample read, see ``sample_pixels``) has it.

Suggestions for a name found nowhere that WordNet does not link to ImageNet
(:mod:`core.session.wordnet_links`): first its other senses that are ImageNet classes, by a lemma
that means only that sense ("mouse" → "computer mouse"); then the word vectors' nearest words that
do link ("puppy" → "dog", "man" → "person"), which are related words rather than synonyms, so they
are offered, never applied.

It lives beside, not inside, ``core/session``: importing that package loads torch, and the GUI
judges its cached predictions in its own thread before any model is needed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from core.errors import UserError

FOUND = "found"
LOW_CONFIDENCE = "low confidence"
NOT_FOUND = "not found"
STATES = (FOUND, LOW_CONFIDENCE, NOT_FOUND)


@dataclass(frozen=True)
class FoundOptions:
    """The thresholds of the verdicts (set by hand, not tuned on the evaluation photos)."""

    min_share: float = 0.002        # found: at least 0.2 % of the image (a 45×45 object in 1000×1000) ...
    min_confidence: float = 0.5     # ... at a mean max-softmax confidence of at least this
    sample_pixels: int = 1_000_000  # a larger map is read every k-th row and column (k² × this ≥ its size)
    suggest_min_cosine: float = 0.75  # word-vector neighbours below this are unrelated words
    max_suggestions: int = 3


@dataclass(frozen=True)
class ClassFinding:
    """One class in one image."""

    name: str
    value: int                # label value (1…n; 0 is background)
    status: str               # FOUND | LOW_CONFIDENCE | NOT_FOUND
    share: float              # fraction of the image's pixels
    mean_confidence: float    # over its pixels (0 when it has none)


def find_classes(labels: np.ndarray, confidence: np.ndarray, class_names: Sequence[str],
                 options: FoundOptions = FoundOptions()) -> list[ClassFinding]:
    """The verdict of every class but background (``class_names[0]``) in one predicted image."""
    labels, confidence = np.asarray(labels), np.asarray(confidence)
    if labels.shape != confidence.shape:
        raise ValueError(f"labels {labels.shape} and confidence {confidence.shape} differ in shape")
    step = max(1, int(np.ceil((labels.size / options.sample_pixels) ** 0.5)))
    sample = labels[::step, ::step].ravel()
    counts = np.bincount(sample, minlength=256)
    sums = np.bincount(sample, weights=confidence[::step, ::step].ravel().astype(np.float64), minlength=256)
    findings = []
    for value, name in enumerate(class_names[1:], start=1):
        count = int(counts[value])
        share = count / max(1, sample.size)
        mean = float(sums[value] / count) if count else 0.0
        if count == 0:
            status = NOT_FOUND
        elif share >= options.min_share and mean >= options.min_confidence:
            status = FOUND
        else:
            status = LOW_CONFIDENCE
        findings.append(ClassFinding(name, value, status, share, mean))
    return findings


def find_in_prediction(prediction, options: FoundOptions = FoundOptions()) -> list[ClassFinding]:
    """:func:`find_classes` of a session ``Prediction`` (labels, confidence, class_names)."""
    return find_classes(prediction.labels, prediction.confidence, prediction.class_names, options)


@dataclass
class ClassTally:
    """One class over the images seen so far; ``suggestions`` only for a name found nowhere."""

    name: str
    images: int = 0
    found: int = 0
    low_confidence: int = 0
    suggestions: list[str] = field(default_factory=list)

    @property
    def not_found(self) -> int:
        return self.images - self.found - self.low_confidence

    @property
    def nowhere(self) -> bool:
        """Found (confidently) in no image."""
        return self.images > 0 and self.found == 0

    def line(self) -> str:
        text = (f"{self.name}: found in {self.found} of {self.images} image{'s' if self.images != 1 else ''}, "
                f"low confidence in {self.low_confidence}")
        if self.suggestions:
            text += f"; try: {', '.join(self.suggestions)}"
        return text

    def to_json(self) -> dict:
        return {"images": self.images, "found": self.found, "low_confidence": self.low_confidence,
                "not_found": self.not_found, "suggestions": list(self.suggestions)}


class FoundTally:
    """Verdicts summed over images, per class name (what ``zs3 segment`` prints at the end)."""

    def __init__(self, class_names: Sequence[str]) -> None:
        self.classes = {name: ClassTally(name) for name in class_names[1:]}

    def add(self, findings: Sequence[ClassFinding]) -> None:
        for finding in findings:
            tally = self.classes.setdefault(finding.name, ClassTally(finding.name))
            tally.images += 1
            tally.found += finding.status == FOUND
            tally.low_confidence += finding.status == LOW_CONFIDENCE

    def suggest(self, links=None, embedder=None, options: FoundOptions = FoundOptions()) -> None:
        """Fill ``suggestions`` of every class found nowhere (see :func:`suggest_names`)."""
        for tally in self.classes.values():
            tally.suggestions = suggest_names(tally.name, links, embedder, options) if tally.nowhere else []

    def lines(self) -> list[str]:
        return [tally.line() for tally in self.classes.values()]

    def to_json(self, options: FoundOptions = FoundOptions()) -> dict:
        return {"thresholds": {"min_share": options.min_share, "min_confidence": options.min_confidence},
                "classes": {name: tally.to_json() for name, tally in self.classes.items()}}

    def report(self, embedder=None, json_path=None, stream=None) -> None:
        """The end of a ``zs3 segment`` run: suggestions, one line per class on ``stream`` (stderr,
        with the run's other messages), and the same as JSON in ``json_path`` when given."""
        import json
        import sys

        from core.atomic import atomic_write_text
        from core.session.wordnet_links import wordnet_links

        self.suggest(wordnet_links(), embedder)
        for line in self.lines():
            print(line, file=stream or sys.stderr)
        if json_path:
            atomic_write_text(json_path, json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")


def suggest_names(name: str, links=None, embedder=None, options: FoundOptions = FoundOptions()) -> list[str]:
    """Names that reach ImageNet classes through WordNet, for a ``name`` that does not (else []).

    ``links``: :class:`core.session.wordnet_links.WordNetLinks` (None: no suggestions);
    ``embedder``: the session's word vectors, for the neighbour words (None: senses only).
    """
    if links is None or links.imagenet_classes(name) is not None:
        return []
    key = _key(name)
    found: list[str] = []

    def offer(word: str) -> None:
        word = word.replace("_", " ")
        if _key(word) != key and _key(word).rstrip("s") not in {_key(w).rstrip("s") for w in found}:
            found.append(word)

    for sense in links.senses(name):  # other senses of the same word that ImageNet shows
        if isinstance(sense, str) and sense.isdigit():
            lemma = next((w for w in links.synsets[sense]["lemmas"] if links.synset(w) == sense and _key(w) != key), None)
            if lemma is not None:
                offer(lemma)
    if embedder is not None:
        try:
            neighbours = embedder.neighbors(name, 100)
        except UserError:  # a word the vectors do not know: the senses are all there is
            neighbours = []
        for word, cosine in neighbours:
            if cosine >= options.suggest_min_cosine and links.imagenet_classes(word) is not None:
                offer(word)
    return found[: options.max_suggestions]


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())
