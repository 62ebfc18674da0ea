"""`zs3 segment` ends with what was found per class, and --found-json keeps the same summary."""
from __future__ import annotations

import json

from core.cli.main import main

FAST = ["--input-side", "192", "--device", "cpu"]


def test_segment_prints_and_writes_what_was_found_per_class(small_images, tmp_path, capsys):
    out, summary = tmp_path / "out", tmp_path / "found.json"
    code = main(["segment", str(small_images / "cat_chelsea.jpg"), str(small_images / "coffee_cup.jpg"),
                 "--classes", "cat,organ", "--out", str(out), "--found-json", str(summary), *FAST])
    err = capsys.readouterr().err
    assert code == 0, err
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["thresholds"] == {"min_share": 0.002, "min_confidence": 0.5}
    cat, organ = doc["classes"]["cat"], doc["classes"]["organ"]
    assert cat["images"] == organ["images"] == 2
    assert cat["found"] >= 1 and cat["suggestions"] == []            # the cat photo shows a cat
    assert cat["found"] + cat["low_confidence"] + cat["not_found"] == 2
    # "organ" reaches no ImageNet class in its usual sense (the body part): found nowhere, it is offered
    # the sense that does; found somewhere, it needs no suggestion.
    if organ["found"] == 0:
        assert organ["suggestions"][0] == "pipe organ"
    else:
        assert organ["suggestions"] == []
    line = f"cat: found in {cat['found']} of 2 images, low confidence in {cat['low_confidence']}"
    assert line in err.splitlines()
    assert any(row.startswith("organ: found in ") for row in err.splitlines())


def test_no_summary_file_when_everything_was_already_done(small_images, tmp_path, capsys):
    out, summary = tmp_path / "out", tmp_path / "found.json"
    args = ["segment", str(small_images / "cat_chelsea.jpg"), "--classes", "cat", "--out", str(out), *FAST]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--found-json", str(summary)]) == 0
    assert "found in" not in capsys.readouterr().err and not summary.exists()
