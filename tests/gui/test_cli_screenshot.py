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


@pytest.mark.slow
@pytest.mark.parametrize("mistake", ["missing folder", "unknown word"])
def test_scripted_run_reports_a_mistake_on_stderr(tmp_path, mistake):
    """With --screenshot --quit nobody reads the window: the mistake is one stderr line and exit 2."""
    folder = tmp_path / "images"
    folder.mkdir()
    with Image.open(ROOT / "resources" / "samples" / "cat_chelsea.jpg") as image:
        image = image.convert("RGB")
        image.thumbnail((96, 96))
        image.save(folder / "cat.jpg")
    path, classes, expected = ((str(tmp_path / "nowhere"), "cat", "nowhere") if mistake == "missing folder"
                               else (str(folder), "cat,qwzxvbn", "qwzxvbn"))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path / "home"))
    out = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), path, "--classes", classes, "--device", "cpu",
         "--screenshot", str(tmp_path / "shot.png"), "--quit", "--size", "800x600"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("zs3-gui: error:")]
    assert len(errors) == 1 and expected in errors[0]
    assert "Traceback" not in out.stderr
