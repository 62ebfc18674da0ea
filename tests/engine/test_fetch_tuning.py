"""The second tuning part's builder (resources/eval/fetch_tuning.py) offline: hand specs become class
maps with the shipped part's conventions, and every spec names a class of its list."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "resources" / "eval" / "fetch_tuning.py"


@pytest.fixture()
def ft(monkeypatch):
    spec = importlib.util.spec_from_file_location("fetch_tuning_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_a_class_overrides_an_earlier_ignore_a_later_ignore_wins_and_outlines_are_banded(ft):
    rgb = np.full((60, 80, 3), 120, np.uint8)
    parts = [(None, "rect", (0.0, 0.0, 0.5, 0.5)), ("person", "rect", (0.1, 0.1, 0.4, 0.4)),
             ("ball", "ellipse", (0.55, 0.45, 0.95, 0.95)), (None, "rect", (0.9, 0.9, 1.0, 1.0))]
    labels = ft.labels_of(rgb, parts)
    person, ball = ft.CLASSES.index("person"), ft.CLASSES.index("ball")
    assert labels[15, 20] == person  # inside the person rect, past the band
    assert labels[2, 2] == 255  # the first ignore, where no class came after it
    assert labels[39, 60] == ball and labels[58, 78] == 255  # the later ignore wins over background
    assert labels[6, 20] == 255  # within 3 px of the person's outline
    assert labels[50, 10] == 0


def test_every_spec_uses_a_listed_class_and_a_known_region_kind(ft):
    for stem, (name, parts) in ft.SPECS.items():
        assert stem.startswith("opencv_") and "." in name
        for cls, kind, _ in parts:
            assert cls is None or cls in ft.CLASSES
            assert kind in ("rect", "ellipse", "poly", "polycut", "grabcut")
    assert ft.tuning("opencv_vtest") and ft.tuning(sorted(ft.fetch_heldout.TUNING_STEMS)[0])
    assert not ft.tuning("pet_pug_188")
