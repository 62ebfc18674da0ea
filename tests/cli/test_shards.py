"""`zs3 segment --shard I/N` and `zs3 merge`: disjoint shards whose merge equals one unsharded run."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.cli.main import main
from core.cli.shards import Shard, parse_shard, shard_of
from core.errors import UserError
from core.masks import read_label_png, write_label_png
from cli_helpers import assert_same_outputs, listing

FAST = ["--input-side", "128", "--device", "cpu", "--classes", "cat,cup", "--format", "voc,coco"]


def segment(capsys, *argv):
    code = main(["segment", *argv, *FAST])
    return code, capsys.readouterr().err


def one_line_error(code, err) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "error" in lines[0], err
    return lines[0]


def test_shards_are_disjoint_cover_everything_and_ignore_argument_order(tmp_path):
    paths = [tmp_path / f"img{i}.jpg" for i in range(7)]
    for count in (1, 2, 3, 7, 9):
        parts = [shard_of(paths, Shard(i, count)) for i in range(count)]
        assert sorted(p for part in parts for p in part) == sorted(paths)
        assert sum(len(part) for part in parts) == len(paths)
        reordered = [shard_of(list(reversed(paths)), Shard(i, count)) for i in range(count)]
        assert [set(p) for p in reordered] == [set(p) for p in parts]
    assert [len(shard_of(paths, Shard(i, 3))) for i in range(3)] == [3, 2, 2]


@pytest.mark.parametrize("text", ["2/2", "-1/3", "0/0", "1", "a/b", "1/2/3", ""])
def test_bad_shard_spec_is_a_user_error(text):
    with pytest.raises(UserError, match="--shard"):
        parse_shard(text)


def test_bad_shard_on_the_command_line_exits_2_before_any_model(photos, tmp_path, capsys):
    line = one_line_error(*segment(capsys, str(photos), "--shard", "4/4", "--out", str(tmp_path / "o")))
    assert "between 0 and 3" in line
    assert not (tmp_path / "o").exists() or not listing(tmp_path / "o")


def test_two_shards_merged_equal_one_run(photos, tmp_path, capsys):
    single, merged = tmp_path / "single", tmp_path / "merged"
    code, err = segment(capsys, str(photos), "--out", str(single))
    assert code == 0, err
    shard_dirs = []
    for i in range(2):
        out = tmp_path / f"shard{i}"
        code, err = segment(capsys, str(photos), "--shard", f"{i}/2", "--out", str(out))
        assert code == 0, err
        shard_dirs.append(out)
    stems = [sorted(p.stem for p in (d / "SegmentationClass").glob("*.png")) for d in shard_dirs]
    assert stems[0] and stems[1] and not set(stems[0]) & set(stems[1])
    assert len(json.loads((shard_dirs[0] / "annotations.json").read_text())["images"]) == len(stems[0])

    assert main(["merge", *map(str, shard_dirs), "--out", str(merged)]) == 0
    assert "4 image(s)" in capsys.readouterr().err
    assert_same_outputs(merged, single)
    doc = json.loads((merged / "annotations.json").read_text())
    assert [a["id"] for a in doc["annotations"]] == list(range(1, len(doc["annotations"]) + 1))

    # merging again changes nothing; a resumed segment into the merged folder finds everything done
    assert main(["merge", *map(str, shard_dirs), "--out", str(merged)]) == 0
    assert_same_outputs(merged, single)
    code, err = segment(capsys, str(photos), "--out", str(merged))
    assert code == 0 and "4 already done" in err


def test_merge_refuses_shards_that_do_not_belong_together(photos, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert segment(capsys, str(photos), "--shard", "0/2", "--out", str(a))[0] == 0
    code = main(["segment", str(photos), "--shard", "1/2", "--out", str(b), "--input-side", "128",
                 "--device", "cpu", "--classes", "cat,person", "--format", "voc,coco"])
    assert code == 0
    capsys.readouterr()
    line = one_line_error(main(["merge", str(a), str(b), "--out", str(tmp_path / "m")]), capsys.readouterr().err)
    assert "different classes" in line
    assert not (tmp_path / "m" / "SegmentationClass").exists()

    # the same image name in two shards with different masks: refused before anything is copied
    clash = tmp_path / "clash"
    shutil.copytree(a, clash)
    png = sorted((clash / "SegmentationClass").glob("*.png"))[0]
    mask = read_label_png(png)
    write_label_png(png, np.where(mask == 1, 2, 1).astype(np.uint8))
    assert png.read_bytes() != (a / "SegmentationClass" / png.name).read_bytes()
    line = one_line_error(main(["merge", str(a), str(clash), "--out", str(tmp_path / "m2")]), capsys.readouterr().err)
    assert "same name" in line and not (tmp_path / "m2" / "SegmentationClass").exists()

    line = one_line_error(main(["merge", str(a), str(tmp_path / "nowhere"), "--out", str(tmp_path / "m3")]),
                          capsys.readouterr().err)
    assert "nowhere" in line
    line = one_line_error(main(["merge", str(a), str(photos), "--out", str(tmp_path / "m4")]), capsys.readouterr().err)
    assert "not a finished" in line


def test_two_inputs_with_one_name_are_refused_before_any_work(photos, tmp_path, capsys):
    """They would land in different shards and overwrite each other's masks without a word."""
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(photos / "astronaut.jpg", other / "cat_chelsea.jpg")
    line = one_line_error(*segment(capsys, str(photos), str(other), "--shard", "1/2", "--out", str(tmp_path / "o")))
    assert "both named 'cat_chelsea'" in line
    assert not (tmp_path / "o" / "SegmentationClass").exists()
