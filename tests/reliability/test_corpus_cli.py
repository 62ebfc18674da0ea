"""The corpus through `zs3 segment`: each case handled, or refused in one line with exit 2, and
no output that existed before is damaged. Cases are batched into few runs (each loads the model)."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.cli.main import main
from core.masks import read_label_png
from make_corpus import (BLOCK, H, NON_UTF8_NAME, TOO_LONG_NAME, W, make_checkpoints, make_images,
                         make_label_folders)

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--input-side", "96", "--device", "cpu"]


def segment(capsys, *argv) -> tuple[int, list[str]]:
    """Run `zs3 segment` in this process; return the exit status and the non-progress stderr lines."""
    sys.stderr.reconfigure(errors="backslashreplace")  # as Python's own stderr: a non-UTF-8 name prints
    code = main(["segment", *map(str, argv), *FAST])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip() and not line.startswith("[")]


def one_line_refusal(code: int, lines: list[str]) -> str:
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("zs3 segment: error: "), lines
    return lines[0]


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def corpus(tmp_path):
    images = tmp_path / "images"
    return images, {case.name: case for case in make_images(images)}


def test_whole_image_corpus_in_one_run(corpus, tmp_path, capsys):
    """Odd images are segmented at their displayed size; bad ones are skipped by name; exit 2 at the end."""
    images, cases = corpus
    (images / TOO_LONG_NAME).unlink()  # refused for the whole run: its own test below
    out = tmp_path / "out"
    code, lines = segment(capsys, images, "--classes", "cat", "--out", out, "--format", "voc,coco,labelme")
    refused = sorted(c.name for c in cases.values() if not c.opens)
    assert code == 2
    assert lines[-1] == (f"zs3 segment: error: {len(refused)} image(s) could not be read and were skipped: "
                         f"{', '.join(refused)}")
    opened = [c for c in cases.values() if c.opens and c.name != TOO_LONG_NAME]
    for case in opened:
        stem = Path(case.name).stem
        assert read_label_png(out / "SegmentationClass" / f"{stem}.png").shape == case.shown, case.name
        json.loads((out / "labelme" / f"{stem}.json").read_text(encoding="utf-8"))
    coco = json.loads((out / "annotations.json").read_text(encoding="utf-8"))
    assert sorted(im["file_name"] for im in coco["images"]) == sorted(c.name for c in opened)
    provenance = json.loads((out / "zs3_provenance.json").read_text(encoding="utf-8"))  # valid UTF-8 JSON
    assert NON_UTF8_NAME in [im["file_name"] for im in provenance["images"]]  # reads back to the same name
    assert b"caf\xe9_latin1.png" in os.listdir(os.fsencode(out / "SegmentationClass"))  # the same bytes
    for case in refused:
        assert not (out / "SegmentationClass" / f"{Path(case).stem}.png").exists()
    assert leftovers(out) == []


def test_a_name_too_long_for_the_outputs_is_refused_before_anything_is_written(corpus, tmp_path, capsys):
    images, _ = corpus
    out = tmp_path / "out"
    line = one_line_refusal(*segment(capsys, images / TOO_LONG_NAME, "--classes", "cat", "--out", out))
    assert "too long" in line and "255" in line
    assert not (out / "SegmentationClass").exists()


def test_label_folders(corpus, tmp_path, capsys, caplog):
    """Wrong size and the unrotated mask of a rotated photo are refused; unknown indices are ignored;
    a mask drawn on the photo as shown is used as is."""
    images, _ = corpus
    labels = make_label_folders(tmp_path / "labels")
    plain, rotated = images / "plain.jpg", images / "exif_rotated.jpg"
    for bad in ("wrong_size", "rotated_as_stored"):
        out = tmp_path / bad
        line = one_line_refusal(*segment(capsys, plain, rotated, "--classes", "cat", "--labels", labels[bad],
                                         "--out", out))
        assert "does not match the size" in line
        assert not (out / "SegmentationClass").exists()

    out = tmp_path / "as_shown"
    code, lines = segment(capsys, plain, rotated, "--classes", "cat", "--labels", labels["rotated_as_shown"],
                          "--out", out)
    assert code == 0, lines
    mask = read_label_png(out / "SegmentationClass" / "exif_rotated.png")
    stored = np.zeros((H, W), bool)
    stored[BLOCK] = True
    drawn = np.rot90(stored, k=-1)  # where the label was painted on the photo as shown
    assert mask.shape == (W, H) and (mask[drawn] == 1).all()

    out = tmp_path / "unknown"
    code, lines = segment(capsys, plain, "--classes", "cat", "--labels", labels["unknown_index"],
                          "--min-confidence", "0.999", "--out", out)
    assert code == 0, lines
    mask = read_label_png(out / "SegmentationClass" / "plain.png")
    assert (mask[BLOCK] == 1).all()  # the real label
    assert set(np.unique(mask)) <= {0, 1, 255}  # index 7 means nothing here: ignored, with a warning
    assert "class index 7 beyond class_names.txt" in caplog.text


def test_bad_models_and_class_lists_are_refused_and_write_nothing(corpus, tmp_path, capsys):
    images, _ = corpus
    plain = images / "plain.jpg"
    out = tmp_path / "out"
    for name, path in make_checkpoints(tmp_path / "models").items():
        line = one_line_refusal(*segment(capsys, plain, "--classes", "cat", "--model", path, "--out", out))
        assert path.name in line and "checkpoint" in line, name
    for classes, words in [("cat,zzqxjw", "zzqxjw"), ("", "empty"), (" , ", "empty"),
                           ("background", "only background")]:
        line = one_line_refusal(*segment(capsys, plain, "--classes", classes, "--out", out))
        assert words in line
    assert not out.exists() or snapshot(out) == {}


def _earlier_run(images: Path, out: Path, capsys) -> dict[Path, bytes]:
    code, lines = segment(capsys, images / "plain.jpg", "--classes", "cat", "--out", out, "--format", "voc,coco")
    assert code == 0, lines
    return snapshot(out)


class _FillingDisk:
    """Stands in for ``os.fdopen``: its files take ``room`` bytes in all, then fail with ENOSPC."""

    def __init__(self, real_fdopen, room: int):
        self.real_fdopen, self.room = real_fdopen, room

    def __call__(self, fd, *args, **kwargs):
        disk = self
        handle = self.real_fdopen(fd, *args, **kwargs)

        class Limited:
            def __getattr__(self, name):
                return getattr(handle, name)

            def __enter__(self):
                handle.__enter__()
                return self

            def __exit__(self, *exc):
                return handle.__exit__(*exc)

            def write(self, data):
                disk.room -= len(data)
                if disk.room < 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return handle.write(data)

        return Limited()


def test_full_disk_leaves_earlier_output_intact_and_resumes(corpus, tmp_path, capsys, monkeypatch):
    images, _ = corpus
    out = tmp_path / "out"
    before = _earlier_run(images, out, capsys)
    more = [images / n for n in ("plain.jpg", "grey.png", "cmyk.jpg", "rgba.png")]

    monkeypatch.setattr(os, "fdopen", _FillingDisk(os.fdopen, room=3000))  # fills during the 2nd new image
    line = one_line_refusal(*segment(capsys, *more, "--classes", "cat", "--out", out, "--format", "voc,coco"))
    monkeypatch.undo()
    assert "No space left on device" in line and "nothing was half-written" in line
    after = snapshot(out)
    assert {p: after.get(p) for p in before} == before  # every earlier file byte for byte
    assert leftovers(out) == []
    for png in (out / "SegmentationClass").glob("*.png"):
        read_label_png(png)  # what the full disk let through is complete
    assert 1 < len(list((out / "SegmentationClass").glob("*.png"))) < len(more)  # failed midway

    code, lines = segment(capsys, *more, "--classes", "cat", "--out", out, "--format", "voc,coco")
    assert code == 0, lines  # space freed: the same command finishes the job
    assert sorted(p.stem for p in (out / "SegmentationClass").glob("*.png")) == sorted(p.stem for p in more)
    assert len(json.loads((out / "annotations.json").read_text())["images"]) == len(more)


def test_read_only_output_folder(corpus, tmp_path, capsys, monkeypatch):
    """A real read-only folder when not root; as root (CI containers) the medium refuses the write."""
    images, _ = corpus
    out = tmp_path / "out"
    before = _earlier_run(images, out, capsys)
    argv = [images / "plain.jpg", images / "grey.png", "--classes", "cat", "--out", out, "--format", "voc,coco"]
    if os.geteuid() != 0:
        for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
            folder.chmod(0o555)
        try:
            line = one_line_refusal(*segment(capsys, *argv))
        finally:
            for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
                folder.chmod(0o755)
        assert "not writable" in line or "Permission denied" in line
    else:
        import tempfile

        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(tempfile, "mkstemp", read_only)
        line = one_line_refusal(*segment(capsys, *argv))
        monkeypatch.undo()
        assert "Read-only file system" in line
    assert snapshot(out) == before


def test_real_process_prints_no_traceback_and_no_warning(corpus, tmp_path):
    """A real `python -m core.cli.main` process, as a user's terminal shows it: Pillow's own
    decompression-bomb warning and Python tracebacks never reach stderr."""
    images, _ = corpus
    done = subprocess.run([sys.executable, "-m", "core.cli.main", "segment", str(images / "bomb.png"),
                           str(images / "huge.png"), str(images / NON_UTF8_NAME), str(images / "broken_exif.jpg"),
                           "--classes", "cat",
                           "--out", str(tmp_path / "out"), *FAST],
                          capture_output=True, text=True, errors="backslashreplace",
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "zs3 segment: error: 2 image(s) could not be read and were skipped: bomb.png, huge.png")
    assert b"caf\xe9_latin1.png" in os.listdir(os.fsencode(tmp_path / "out" / "SegmentationClass"))
