"""`zs3 segment`: success, resume, --labels, and one-line errors with exit 2 for bad input."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from core.cli.main import main
from core.masks import read_label_png, write_label_png

FAST = ["--input-side", "192", "--device", "cpu"]


def run(capsys, *argv):
    code = main(["segment", *argv, *FAST])
    err = capsys.readouterr().err
    return code, err


def test_segment_zero_labels_then_resume(small_images, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run(capsys, str(small_images / "cat_chelsea.jpg"), str(small_images / "coffee_cup.jpg"),
                    "--classes", "cat,cup", "--out", str(out), "--format", "voc,coco")
    assert code == 0, err
    assert "%" in err  # progress bar on stderr
    mask = read_label_png(out / "SegmentationClass" / "cat_chelsea.png")
    with Image.open(small_images / "cat_chelsea.jpg") as img:
        assert mask.shape == (img.height, img.width)
    h, w = mask.shape
    assert (mask[int(0.3 * h): int(0.7 * h), int(0.35 * w): int(0.65 * w)] == 1).mean() > 0.3
    assert (out / "class_names.txt").read_text().split() == ["background", "cat", "cup"]
    assert (out / "annotations.json").is_file() or any(out.glob("*.json"))
    before = (out / "SegmentationClass" / "cat_chelsea.png").stat().st_mtime_ns

    code, err = run(capsys, str(small_images / "cat_chelsea.jpg"), str(small_images / "coffee_cup.jpg"),
                    "--classes", "cat,cup", "--out", str(out), "--format", "voc,coco")
    assert code == 0, err
    assert "wrote 0 image(s)" in err and "2 already done" in err
    assert (out / "SegmentationClass" / "cat_chelsea.png").stat().st_mtime_ns == before
    assert not [p for p in out.rglob("*.tmp")]


def test_segment_with_labels_folder(small_images, tmp_path, capsys):
    labels = tmp_path / "labels"
    (labels / "SegmentationClass").mkdir(parents=True)
    (labels / "class_names.txt").write_text("background\nperson\ncat\n")
    with Image.open(small_images / "cat_chelsea.jpg") as img:
        h, w = img.height, img.width
    m = np.zeros((h, w), np.uint8)
    m[int(0.1 * h): int(0.9 * h), int(0.25 * w): int(0.75 * w)] = 2  # "cat" in that folder's list
    write_label_png(labels / "SegmentationClass" / "cat_chelsea.png", m)
    out = tmp_path / "out"
    code, err = run(capsys, str(small_images), "--classes", "cat,cup", "--labels", str(labels), "--out", str(out),
                    "--min-confidence", "0.2")
    assert code == 0, err
    assert sorted(p.name for p in (out / "SegmentationClass").glob("*.png")) == [
        "astronaut.png", "cat_chelsea.png", "coffee_cup.png"]
    got = read_label_png(out / "SegmentationClass" / "cat_chelsea.png")
    assert (got[m == 2] == 1).mean() > 0.6


def _one_line_error(code, err):
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error" in lines[0]
    return lines[0]


def test_bad_inputs_exit_2(small_images, tmp_path, capsys):
    img = str(small_images / "cat_chelsea.jpg")
    line = _one_line_error(*run(capsys, img, "--classes", "cat,qwzxvbn", "--out", str(tmp_path / "a")))
    assert "qwzxvbn" in line
    line = _one_line_error(*run(capsys, str(tmp_path / "missing.jpg"), "--classes", "cat", "--out", str(tmp_path / "b")))
    assert "missing.jpg" in line
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _one_line_error(*run(capsys, img, "--classes", "cat", "--out", str(blocker / "sub")))
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        _one_line_error(*run(capsys, img, "--classes", "cat", "--out", str(ro)))
    bad_ckpt = tmp_path / "model.pth"
    bad_ckpt.write_bytes(b"not a checkpoint")
    _one_line_error(*run(capsys, img, "--classes", "cat", "--model", str(bad_ckpt), "--out", str(tmp_path / "c")))
    _one_line_error(*run(capsys, img, "--classes", "cat", "--model", str(tmp_path / "nope.pth"), "--out", str(tmp_path / "c")))
    _one_line_error(*run(capsys, img, "--classes", " , ", "--out", str(tmp_path / "d")))
    _one_line_error(*run(capsys, img, "--classes", "cat", "--format", "tiff", "--out", str(tmp_path / "e")))
    line = _one_line_error(*run(capsys, img, "--classes", "cat", "--min-confidence", "2", "--out", str(tmp_path / "f")))
    assert "--min-confidence" in line


@pytest.mark.parametrize("kind", ["empty", "corrupt"])
def test_bad_image_exit_2(kind, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    if kind == "empty":
        (folder / "scan.png").write_bytes(b"")
    else:
        (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    line = _one_line_error(*run(capsys, str(folder), "--classes", "cat", "--out", str(tmp_path / "out")))
    assert ("empty file" in line) if kind == "empty" else ("not a readable image" in line)
    assert not list((tmp_path / "out").rglob("*.png"))


def test_segment_labels_win_over_prediction(small_images, tmp_path, capsys):
    """An image with real labels exports those labels exactly (names matched loosely: tv/monitor =
    tvmonitor); pixels of a class not asked for are left to the prediction, never forced to background."""
    labels = tmp_path / "labels"
    (labels / "SegmentationClass").mkdir(parents=True)
    (labels / "class_names.txt").write_text("background\nCat\ntv/monitor\nPotted_Plant\n")
    with Image.open(small_images / "cat_chelsea.jpg") as img:
        h, w = img.height, img.width
    m = np.zeros((h, w), np.uint8)
    m[: h // 4] = 2          # tv/monitor, asked for as "tvmonitor"
    m[h // 4: h // 2] = 1    # Cat
    m[h // 2:] = 3           # Potted_Plant: not asked for -> ignored, prediction decides
    m[:, :4] = 255
    write_label_png(labels / "SegmentationClass" / "cat_chelsea.png", m)
    out = tmp_path / "out"
    code, err = run(capsys, str(small_images / "cat_chelsea.jpg"), "--classes", "cat,tvmonitor",
                    "--labels", str(labels), "--out", str(out), "--min-confidence", "0.99")
    assert code == 0, err
    got = read_label_png(out / "SegmentationClass" / "cat_chelsea.png")
    assert (got[: h // 4, 4:] == 2).all()
    assert (got[h // 4: h // 2, 4:] == 1).all()


def test_one_unreadable_image_does_not_stop_the_folder(small_images, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(small_images / "cat_chelsea.jpg", folder / "a_cat.jpg")
    (folder / "b_scan.png").write_text("notes, not a picture")
    shutil.copy(small_images / "coffee_cup.jpg", folder / "c_cup.jpg")
    out = tmp_path / "out"
    code, err = run(capsys, str(folder), "--classes", "cat,cup", "--out", str(out))
    assert code == 2
    assert "skipped b_scan.png" in err and "not a readable image" in err
    assert err.strip().splitlines()[-1].startswith("zs3 segment: error: 1 image(s) could not be read")
    assert sorted(p.name for p in (out / "SegmentationClass").iterdir()) == ["a_cat.png", "c_cup.png"]


def test_ctrl_c_keeps_complete_files_and_an_annotations_json_of_them(small_images, tmp_path, capsys, monkeypatch):
    from pycocotools.coco import COCO

    from core.session import Session

    real_predict = Session.predict
    calls = []

    def interrupted_on_second_image(self, image, *args, **kwargs):
        calls.append(image)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_predict(self, image, *args, **kwargs)

    monkeypatch.setattr(Session, "predict", interrupted_on_second_image)
    out = tmp_path / "out"
    code, err = run(capsys, str(small_images), "--classes", "cat,cup", "--out", str(out), "--format", "voc,coco")
    assert code == 130 and "interrupted" in err
    written = sorted(p.name for p in (out / "SegmentationClass").iterdir())
    assert len(written) == 1
    coco = COCO(str(out / "annotations.json"))
    assert [img["file_name"] for img in coco.dataset["images"]] == [written[0].replace(".png", ".jpg")]
    assert not [p for p in out.rglob("*.tmp")]
