"""``zs3-gui IMAGE --classes … --screenshot FILE --quit``: labels the image, saves the window, exits 0."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_screenshot_run_saves_the_window_and_writes_nothing_else(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    with Image.open(ROOT / "resources" / "samples" / "cat_chelsea.jpg") as image:
        image = image.convert("RGB")
        image.thumbnail((160, 160))
        image.save(folder / "cat.jpg")
    shot = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path / "home"))
    out = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), str(folder), "--classes", "cat", "--device", "cpu",
         "--screenshot", str(shot), "--quit", "--size", "1000x700"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    with Image.open(shot) as picture:
        assert picture.size == (1000, 700)
        colours = picture.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # a real window, not a blank frame
    # A scripted run does not write a project into the image folder.
    assert sorted(p.name for p in folder.iterdir()) == ["cat.jpg"]
