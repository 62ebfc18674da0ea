"""A 1,000-image `zs3 segment` run keeps its peak RSS within 10 % of the peak after its first 100 images.

Deselected by default (minutes of CPU; 14 min on the shared 2-core machine); run it with:
    python -m pytest -m scale -s tests/cli/test_memory_scale.py
Measured before the fix in ``cmd_segment`` (glibc's adaptive mmap threshold): 1,544 MB after 100
images, 2,064 MB after 1,000; after it, the test passes.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
N_IMAGES, FIRST, SIDE = 1000, 100, 320
# A 320-px image's features take about 1 MB, so the segment command's feature cache is full well
# before the 100th image: what grows after that is a leak, not the cache filling up.
RUNNER = (
    "import resource, sys\n"
    "from core.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)\n"
    "sys.exit(code)\n"
)


def synthetic_folder(folder: Path, n: int) -> None:
    """Random coloured rectangles on a random background, as JPEGs: distinct, cheap, decodable."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        image = np.empty((SIDE, SIDE, 3), np.uint8)
        image[:] = rng.integers(0, 256, 3)
        for _ in range(3):
            y, x = rng.integers(0, SIDE - 40, 2)
            h, w = rng.integers(20, SIDE // 2, 2)
            image[y:y + h, x:x + w] = rng.integers(0, 256, 3)
        Image.fromarray(image).save(folder / f"synthetic_{i:04d}.jpg", quality=85)


def high_water_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@pytest.mark.slow
@pytest.mark.scale
def test_thousand_images_keep_memory_flat(tmp_path):
    if not Path("/proc/self/status").is_file():
        pytest.skip("needs /proc to read the process's peak memory while it runs")
    images, out = tmp_path / "images", tmp_path / "out"
    synthetic_folder(images, N_IMAGES)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "segment", str(images), "--classes", "cat,car,person", "--out", str(out),
         "--device", "cpu", "--input-side", str(SIDE)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    masks = out / "SegmentationClass"
    peak_at_first = None
    while proc.poll() is None:
        if peak_at_first is None and masks.is_dir() and sum(1 for _ in os.scandir(masks)) >= FIRST:
            peak_at_first = high_water_kb(proc.pid)
        time.sleep(0.1)
    stdout = proc.stdout.read()
    assert proc.returncode == 0, stdout[-2000:]
    assert len(list(masks.glob("*.png"))) == N_IMAGES
    final_peak = int(next(line for line in stdout.splitlines() if line.startswith("PEAK_KB")).split()[1])
    assert peak_at_first is not None
    print(f"peak RSS: {peak_at_first / 1024:.0f} MB after {FIRST} images, {final_peak / 1024:.0f} MB after {N_IMAGES}")
    assert final_peak <= 1.10 * peak_at_first, (
        f"peak RSS grew from {peak_at_first / 1024:.0f} MB after {FIRST} images to {final_peak / 1024:.0f} MB "
        f"after {N_IMAGES}")
