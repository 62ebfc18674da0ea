"""The install step: never fails the install, refuses anything but the pinned files, is idempotent."""
from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from core.models import nanodet_files

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "resources" / "default_model" / "fetch_nanodet.py"


def run_script(*args, env_path: str | None = None):
    import os

    env = dict(os.environ)
    if env_path is not None:
        env["PATH"] = env_path
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_without_npm_it_prints_one_line_and_succeeds(tmp_path):
    dest = tmp_path / "cache"
    run = run_script("--dest", str(dest), env_path=str(tmp_path / "no-bin"))
    assert run.returncode == 0
    assert run.stdout.strip().splitlines() == [run.stdout.strip()] and "npm not found" in run.stdout
    assert not (dest / "nanodet.bin").exists()


def test_a_tarball_that_is_not_the_pinned_package_is_refused(tmp_path):
    fake = tmp_path / "human-models.tgz"
    with tarfile.open(fake, "w:gz") as tar:
        data = b"{}"
        info = tarfile.TarInfo("package/models/nanodet.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    dest = tmp_path / "cache"
    run = run_script("--dest", str(dest), "--tarball", str(fake))
    assert run.returncode == 0 and "pinned integrity" in run.stdout
    assert not (dest / "nanodet.json").exists()


def test_an_installed_copy_is_left_alone(nanodet, tmp_path):
    dest = tmp_path / "cache"
    dest.mkdir()
    for name in ("nanodet.json", "nanodet.bin", "LICENSE-human-models"):
        shutil.copy(nanodet_files.model_dir() / name, dest / name)
    before = (dest / "nanodet.bin").stat().st_mtime_ns
    run = run_script("--dest", str(dest), env_path=str(tmp_path / "no-bin"))  # no npm needed
    assert run.returncode == 0 and "already installed" in run.stdout
    assert (dest / "nanodet.bin").stat().st_mtime_ns == before
