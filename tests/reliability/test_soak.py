"""Soak: a long scripted session through the core ``Session`` API (no GUI) must stay healthy.

500 brush-like label edits across 50 tiny images and 200 class-list edits, with the refits and
predictions the GUI would ask for in between. Memory (RSS), threads and open files are measured
after a warm-up and at the end; each must stay flat. Run it alone with
``pytest -m slow tests/reliability/test_soak.py`` (it also runs in the default suite: < 60 s).
"""
from __future__ import annotations

import gc
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

STROKES = 500
IMAGES = 50
CLASS_EDITS = 200
REFIT_EVERY = 25           # strokes (and class edits) between two refits, as a GUI debounce would
SIDE = 32                  # tiny images: the soak is about leaks, not about speed
RSS_GROWTH_LIMIT_MB = 40   # after warm-up; a leak of one feature map or mask per stroke exceeds it
CLASS_POOL = ["cat", "dog", "person", "car", "tree", "cup", "chair", "bird"]


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def health() -> dict[str, float]:
    gc.collect()
    return {
        "rss_mb": rss_mb(),
        "python_threads": threading.active_count(),
        "os_threads": len(os.listdir("/proc/self/task")),
        "open_files": len(os.listdir("/proc/self/fd")),
    }


def tiny_images(folder: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(IMAGES):
        rgb = np.full((SIDE, SIDE, 3), rng.integers(20, 80), np.uint8)
        y, x = rng.integers(0, SIDE // 2, size=2)
        rgb[y: y + SIDE // 2, x: x + SIDE // 2] = rng.integers(120, 250, size=3)
        path = folder / f"img{i:02d}.png"
        Image.fromarray(rgb).save(path)
        paths.append(path)
    return paths


def stroke(mask: np.ndarray, rng: np.random.Generator, n_classes: int) -> None:
    """A round dab of a random class (or the eraser) at a random place, as one brush stroke."""
    cy, cx = rng.integers(0, SIDE, size=2)
    yy, xx = np.ogrid[:SIDE, :SIDE]
    value = 255 if rng.random() < 0.1 else int(rng.integers(0, n_classes))
    mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= 16] = value


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_long_session_keeps_memory_threads_and_files_flat(tmp_path):
    from core.session import Session, SessionConfig

    paths = tiny_images(tmp_path)
    cfg = SessionConfig(input_side=64, gmmn_finetune_steps=5, generated_per_class=50, rows_per_class=100,
                        classifier_iter=10, prior_images=4)
    session = Session(model="default", device="cpu", config=cfg)
    session.add_images(paths)
    classes = ["background", "cat", "dog"]
    session.set_classes(classes)
    masks = {p: np.full((SIDE, SIDE), 255, np.uint8) for p in paths}
    rng = np.random.default_rng(1)
    class_edits = 0
    warm: dict[str, float] = {}
    for step in range(STROKES):
        image = paths[step % IMAGES]
        stroke(masks[image], rng, len(classes))
        session.add_labels(image, masks[image], source="user")
        if step % (STROKES // CLASS_EDITS) == 0 and class_edits < CLASS_EDITS:
            old, classes = classes, _edit_classes(classes, rng)
            lut = _relabel(old, classes)  # painted masks follow their class names, as in the GUI
            masks = {p: lut[m] for p, m in masks.items()}
            session.set_classes(classes)
            class_edits += 1
        if step % REFIT_EVERY == REFIT_EVERY - 1:
            session.fit()
            assert session.predict(image).labels.shape == (SIDE, SIDE)
        if step == 100:
            warm = health()  # caches, allocator pools and worker threads have reached their size
    while class_edits < CLASS_EDITS:
        classes = _edit_classes(classes, rng)
        session.set_classes(classes)
        class_edits += 1
    session.fit()
    end = health()
    assert class_edits == CLASS_EDITS
    assert end["rss_mb"] - warm["rss_mb"] <= RSS_GROWTH_LIMIT_MB, (warm, end)
    assert end["python_threads"] <= warm["python_threads"], (warm, end)
    assert end["os_threads"] <= warm["os_threads"], (warm, end)
    assert end["open_files"] <= warm["open_files"], (warm, end)


def _relabel(old: list[str], new: list[str]) -> np.ndarray:
    lut = np.full(256, 255, np.uint8)
    for i, name in enumerate(old):
        if name in new:
            lut[i] = new.index(name)
    return lut


def _edit_classes(classes: list[str], rng: np.random.Generator) -> list[str]:
    """Add, remove or swap one class name, as a user editing the class panel would."""
    names = classes[1:]
    unused = [n for n in CLASS_POOL if n not in names]
    action = rng.integers(0, 3)
    if action == 0 and unused and len(names) < 5:
        names = [*names, unused[int(rng.integers(len(unused)))]]
    elif action == 1 and len(names) > 1:
        names = [n for i, n in enumerate(names) if i != int(rng.integers(len(names)))]
    elif unused:
        names = [*names[:-1], unused[int(rng.integers(len(unused)))]]
    return ["background", *names]
