"""What a ``Session`` records: a label map as painted (in the class list of its time), and one fit.

Kept apart from ``session.py`` so that the engine's file holds behaviour, not its records.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.session.types import FitReport


@dataclass
class LabelEntry:
    mask: np.ndarray  # H×W uint8 in the class list ``names``
    names: tuple
    source: str


@dataclass
class Fitted:
    version: int
    classes: tuple
    classifier: torch.nn.Linear
    report: FitReport
    prior_rows: tuple  # prior rows per class id in this fit
    relevance: torch.Tensor | None = None  # (C-1, 1000) the classes' ImageNet relevance (box veto)

    @property
    def prior_classes(self) -> frozenset:
        """Class ids with prior rows in this fit."""
        return frozenset(c for c, n in enumerate(self.prior_rows) if n)
