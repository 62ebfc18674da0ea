"""Without the model files the detector says so in one line, and nothing crashes."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.models import nanodet_files
from core.models.nanodet import NanoDet, shared_nanodet


def test_missing_files_say_not_available(tmp_path, monkeypatch):
    monkeypatch.setenv(nanodet_files.MODEL_DIR_ENV, str(tmp_path))
    ok, message = nanodet_files.nanodet_status()
    assert not ok
    assert "not available" in message and "fetch_nanodet.py" in message and "\n" not in message
    assert shared_nanodet() is None
    with pytest.raises(FileNotFoundError, match="not available"):
        NanoDet(tmp_path)


def test_a_damaged_weight_file_is_refused(nanodet, tmp_path):
    source = nanodet_files.model_dir()
    shutil.copy(source / "nanodet.json", tmp_path / "nanodet.json")
    data = bytearray((source / "nanodet.bin").read_bytes())
    data[1000] ^= 0xFF
    (tmp_path / "nanodet.bin").write_bytes(bytes(data))
    assert nanodet_files.nanodet_status(tmp_path)[0]  # present…
    with pytest.raises(ValueError, match="damaged"):
        NanoDet(tmp_path)  # …but never loaded


def test_shared_detector_is_loaded_once_when_installed(nanodet):
    first = shared_nanodet()
    assert first is not None and shared_nanodet() is first
    dets = first.detect(np.zeros((64, 96, 3), np.uint8))
    assert len(dets) == 0  # a black frame holds nothing
