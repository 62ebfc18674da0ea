"""Fixtures of the scale-out and speed commands: a few small photos, one torch thread per test.

Also makes ``cli_helpers`` importable (with --import-mode=importlib test folders are not packages).
Tests marked ``scale`` (1,000-image runs) are deselected unless ``-m`` names them:
``python -m pytest -m scale tests/cli`` runs them; nothing else is deselected.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

from core.device import torch_threads

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "samples"
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
SIDE = 128  # backbone input side in these tests: the real network, small images


def pytest_configure(config):
    config.addinivalue_line("markers", "scale: 1,000-image runs; deselected unless -m names 'scale'")


def pytest_collection_modifyitems(config, items):
    if "scale" in (config.getoption("markexpr") or ""):
        return
    dropped = [item for item in items if item.get_closest_marker("scale") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item.get_closest_marker("scale") is None]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread, as each torchrun rank gets (OMP_NUM_THREADS=1): in-process runs then
    compute bit-identical features to the ranks', and a shared 2-core machine is not oversubscribed."""
    with torch_threads(1):
        yield


@pytest.fixture
def photos(tmp_path) -> Path:
    """Four bundled photos, downscaled: enough for two shards of two images each."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("cat_chelsea", "coffee_cup", "astronaut", "wall_clock"):
        with Image.open(SAMPLES / f"{name}.jpg") as img:
            img = img.convert("RGB")
            img.thumbnail((SIDE, SIDE))
            img.save(folder / f"{name}.jpg", quality=92)
    return folder
