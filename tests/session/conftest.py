"""Shared fixtures: small copies of the bundled photos and one session (real weights, real GloVe)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.device import torch_threads

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "samples"
SIDE = 192  # backbone input side for tests: real network, small images


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op thread: on this shared 2-core machine two threads oversubscribe the cores and the
    same work runs up to 10x slower (measured: one GMMN step 1.1 s with 2 threads, 0.09 s with 1)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def small_images(tmp_path_factory) -> Path:
    """cat_chelsea, coffee_cup, astronaut downscaled into a temp folder."""
    folder = tmp_path_factory.mktemp("imgs")
    for name in ("cat_chelsea", "coffee_cup", "astronaut"):
        with Image.open(SAMPLES / f"{name}.jpg") as img:
            img = img.convert("RGB")
            img.thumbnail((SIDE, SIDE))
            img.save(folder / f"{name}.jpg", quality=92)
    return folder


@pytest.fixture(scope="session")
def make_session():
    from core.session import Session, SessionConfig

    def make(**kw):
        cfg = SessionConfig(input_side=SIDE, gmmn_steps=60, generated_per_class=200, rows_per_class=400,
                            classifier_iter=30)
        return Session(model="default", device="cpu", config=cfg, **kw)

    return make


def box_mask(shape, box, cls, background=0) -> np.ndarray:
    """Background everywhere except ``cls`` in box (y0, x0, y1, x1) given as fractions."""
    h, w = shape
    m = np.full((h, w), background, dtype=np.uint8)
    y0, x0, y1, x1 = box
    m[int(y0 * h): int(y1 * h), int(x0 * w): int(x1 * w)] = cls
    return m


@pytest.fixture
def eval_pair(tmp_path) -> Path:
    """A two-image copy of the shipped eval folder (cat_chelsea, coffee_cup) for fast evaluations."""
    eval_root = ROOT / "resources" / "eval"
    folder = tmp_path / "eval"
    (folder / "JPEGImages").mkdir(parents=True)
    (folder / "SegmentationClass").mkdir()
    shutil.copy(eval_root / "class_names.txt", folder)
    for stem in ("cat_chelsea", "coffee_cup"):
        shutil.copy(eval_root / "JPEGImages" / f"{stem}.jpg", folder / "JPEGImages")
        shutil.copy(eval_root / "SegmentationClass" / f"{stem}.png", folder / "SegmentationClass")
    return folder
