"""Helpers shared by the masks tests (imported by name: conftest.py puts this folder on sys.path)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"

#: 255 names: every value 0..254 is a class, 255 is ignore (the most an 8-bit map can carry).
ALL_CLASSES = ["background"] + [f"class {i}" for i in range(1, 255)]
FEW_CLASSES = ["background", "cat", "tv/monitor", "potted plant", "person"]

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def label_maps(values: list[int], max_side: int = 24) -> st.SearchStrategy[np.ndarray]:
    """Random label maps: per-pixel noise (many tiny parts) or upsampled blocks (large parts, holes)."""
    shapes = st.tuples(st.integers(1, max_side), st.integers(1, max_side))
    noise = hnp.arrays(np.uint8, shapes, elements=st.sampled_from(values))

    @st.composite
    def blocky(draw):
        small = draw(hnp.arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=st.sampled_from(values)))
        factor = draw(st.integers(1, 4))
        return np.kron(small, np.ones((factor, factor), dtype=np.uint8))

    return st.one_of(noise, blocky())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def leftovers(folder: Path) -> list[Path]:
    """Temporary files that core.atomic would leave if it failed to clean up."""
    return [Path(root) / f for root, _, files in os.walk(folder) for f in files if f.endswith(".tmp")]
