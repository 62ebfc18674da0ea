"""Plain result types of the session API (no torch in them: the GUI and CLI read them directly)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ClassStatus:
    """One class of the session: seen = it has labelled pixels (real features), else unseen (GMMN)."""

    name: str
    index: int
    seen: bool
    labelled_pixels: int


@dataclass
class FitReport:
    """What a fit did: which classes were learnt from real pixels, which from their name only."""

    seconds: float
    seen: list[str]
    unseen: list[str]
    gmmn_trained: bool = False
    generated: list[str] = field(default_factory=list)  # classes learnt from GMMN features only
    real_rows: int = 0
    prior_rows: int = 0
    pseudo_rows: int = 0
    generated_rows: int = 0
    timings: dict = field(default_factory=dict)


@dataclass
class Prediction:
    """A label map (H×W uint8 class indices) with per-pixel confidence (max softmax probability)."""

    labels: np.ndarray
    confidence: np.ndarray
    class_names: list[str]
