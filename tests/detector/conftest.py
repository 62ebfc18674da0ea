"""Fixtures for the COCO box detector; makes ``detector_helpers`` importable (importlib mode)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.device import torch_threads

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: the machine's 2 cores are shared; two threads oversubscribe them."""
    with torch_threads(1):
        yield


@pytest.fixture
def nanodet():
    """The real detector from the install cache; skipped (with why) when it is not installed."""
    from core.models.nanodet import NanoDet
    from core.models.nanodet_files import nanodet_status

    ok, message = nanodet_status()
    if not ok:
        pytest.skip(message)
    return NanoDet(device="cpu")
