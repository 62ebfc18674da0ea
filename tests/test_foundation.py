"""Foundation pieces every room relies on: image loading rules, atomic writes, the CLI entry."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import core
from core.atomic import atomic_open, atomic_write_text, ensure_writable_dir
from core.cli.main import main
from core.errors import UserError
from core.images import list_images, load_image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"


def test_samples_are_real_photos_with_a_licence():
    photos = list_images([SAMPLES])
    assert len(photos) >= 6
    for photo in photos:
        rgb = load_image(photo)
        assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
        assert rgb.std() > 10, f"{photo.name} looks blank"
    licence = (SAMPLES / "LICENSE.md").read_text()
    for photo in photos:
        assert photo.name in licence


def test_list_images_sorts_naturally_and_rejects_non_images(tmp_path):
    for name in ["img10.png", "img2.png", "img1.png", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images([tmp_path])] == ["img1.png", "img2.png", "img10.png"]
    with pytest.raises(UserError, match="not an image"):
        list_images([tmp_path / "notes.txt"])
    with pytest.raises(UserError, match="no such file"):
        list_images([tmp_path / "missing"])


def test_load_image_rejects_corrupt_empty_and_huge(tmp_path):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(UserError, match="not a readable image"):
        load_image(corrupt)

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty file"):
        load_image(empty)

    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(big)
    with pytest.raises(UserError, match="too large"):
        load_image(big, max_pixels=5000)

    grey = tmp_path / "grey.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(grey)
    assert load_image(grey).shape == (8, 8, 3)


def test_atomic_write_leaves_old_file_and_no_temp_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "first")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as handle:
            handle.write("half of the sec")
            raise RuntimeError("interrupted")
    assert target.read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_unwritable_folder_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError):
        ensure_writable_dir(blocker / "sub")


def test_cli_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert core.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("embed", "segment", "train", "evaluate", "bench"):
        assert command in out


def test_console_script_reports_version():
    out = subprocess.run([sys.executable, "-m", "core.cli.main", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.startswith("zs3-annotator ")


def test_atomic_write_gives_new_files_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    target = tmp_path / "shared.txt"
    atomic_write_text(target, "x")
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    os.chmod(target, 0o640)
    atomic_write_text(target, "y")
    assert target.stat().st_mode & 0o777 == 0o640


def test_atomic_write_of_the_longest_name_and_of_a_name_too_long(tmp_path):
    """The temporary sibling of a 255-byte name must still fit; a longer name is one user error."""
    longest = tmp_path / ("é" * 125 + ".txt")  # 254 bytes
    atomic_write_text(longest, "kept")
    assert longest.read_text() == "kept" and sorted(p.name for p in tmp_path.iterdir()) == [longest.name]
    with pytest.raises(UserError, match="too long"):
        atomic_write_text(tmp_path / ("x" * 256), "never")
    assert sorted(p.name for p in tmp_path.iterdir()) == [longest.name]


def test_a_full_disk_is_a_user_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    import errno
    import os

    target = tmp_path / "out.txt"
    atomic_write_text(target, "first")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(UserError, match="No space left on device"):
        atomic_write_text(target, "second, longer than the first")
    monkeypatch.undo()
    assert target.read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
