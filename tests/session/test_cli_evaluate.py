"""`zs3 evaluate --model default` end to end through the CLI entry point, on a two-image eval folder."""
from __future__ import annotations

import json
import math

from core.cli.main import main


def test_cli_evaluate_default_writes_per_class_and_seen_unseen(tmp_path, capsys, eval_pair):
    folder = eval_pair
    out = tmp_path / "scores.json"
    code = main(["evaluate", "--model", "default", "--root", str(folder), "--unseen", "cup", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "unseen" in printed and f"wrote {out}" in printed
    res = json.loads(out.read_text())
    assert res["classes"] == ["background", "cat", "cup"] and res["unseen_names"] == ["cup"]
    for setting in ("seen", "unseen", "unseen_partial", "unseen_no_gmmn", "conse_direct"):
        scores = res[setting]
        assert set(scores["per_class"]) == {"background", "cat", "cup"}
        assert all(0.0 <= v <= 1.0 for v in scores["per_class"].values() if not math.isnan(v))
        for key in ("seen_miou", "unseen_miou", "miou", "hiou"):
            assert key in scores
    assert 2 in res["seen"]["unseen_ids"]  # "cup" stays unseen with labels on the other image
    assert res["unseen"]["seen_ids"] == [0] and res["unseen"]["unseen_ids"] == [1, 2]
    assert res["unseen"]["per_class"]["cat"] > 0.3  # zero labels: the cat is found
    # classes[2::2] = ["cup"] gets no prior pixels: without a GMMN it is never predicted.
    assert res["prior_skipped"] == ["cup"]
    assert res["unseen_partial_no_gmmn"]["per_class"]["cup"] == 0.0
    # each class's zero-label source, the per-source means and the ablations of each source
    from core.models.nanodet_files import nanodet_status

    detector = nanodet_status()[0]
    assert res["sources"] == ({"cat": "imagenet+coco", "cup": "coco"} if detector else {"cat": "imagenet", "cup": "gmmn"})
    unseen = res["unseen"]
    for src, mean in unseen["by_source"].items():
        assert mean == sum(unseen["per_class"][c] for c, s in res["sources"].items() if s == src) / list(
            res["sources"].values()).count(src)
    assert "unseen_no_detector" in res and "unseen_no_imagenet" in res
    if detector:  # cup: no WordNet link to ImageNet, a COCO class: without the detector only the GMMN is left
        assert unseen["per_class"]["cup"] > res["unseen_no_detector"]["per_class"]["cup"]
    assert "imagenet" in printed.split("sources:")[0]


def test_cli_evaluate_default_scores_both_parts_when_the_held_out_part_is_fetched(tmp_path, monkeypatch, eval_pair):
    from core.cli import cmd_evaluate
    from core.session import evaluation

    monkeypatch.setattr(evaluation, "HELDOUT_EVAL", tmp_path / "missing")
    monkeypatch.setattr(evaluation, "TUNING_EXTRA", tmp_path / "missing-too")
    assert [name for name, _ in cmd_evaluate._default_parts(None)] == ["tuning"]
    monkeypatch.setattr(evaluation, "HELDOUT_EVAL", eval_pair)
    assert cmd_evaluate._default_parts(None) == [("tuning", evaluation.DEFAULT_EVAL), ("held-out", eval_pair)]
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "class_names.txt").write_text("background\ncat\n")
    monkeypatch.setattr(evaluation, "TUNING_EXTRA", extra)
    assert [name for name, _ in cmd_evaluate._default_parts(None)] == ["tuning", "tuning-extra", "held-out"]
    assert cmd_evaluate._default_parts(str(eval_pair)) == [(eval_pair.name, eval_pair)]


def test_cli_evaluate_bad_json_or_device_fails_before_any_work(tmp_path, capsys):
    """An unwritable --json (its parent is a file) is a one-line error at once, and --device cuda on a
    machine without CUDA is refused, not silently run on the CPU."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["evaluate", "--model", "default", "--json", str(blocker / "scores.json")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "error" in err
    import torch

    if not torch.cuda.is_available():
        code = main(["evaluate", "--model", "default", "--device", "cuda"])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1


def test_cli_evaluate_default_refuses_a_dataset_kind_it_cannot_use(capsys):
    code = main(["evaluate", "--model", "default", "--dataset", "voc", "--root", "nowhere"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--dataset voc" in err


def test_cli_evaluate_runs_only_the_settings_and_part_asked_for(tmp_path, capsys, monkeypatch, eval_pair):
    """--settings unseen: the zero-label check alone, its missed pairs printed; --part: one shipped part."""
    from core.cli import cmd_evaluate
    from core.session import evaluation

    out = tmp_path / "scores.json"
    assert main(["evaluate", "--model", "default", "--root", str(eval_pair), "--settings", "unseen,unseen",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [k for k in res if k in evaluation.SETTINGS] == ["unseen"]
    presence = res["unseen"]["presence"]
    assert presence["present_pairs"] == 2 and {m["class"] for m in presence["missed"]} <= {"cat", "cup"}
    assert "zero labels: a present class found" in capsys.readouterr().out

    for bad, message in ((["--settings", "unseen,sen"], "unknown evaluation setting 'sen'"),
                         (["--settings", ","], "--settings is empty"),
                         (["--part", "held-out"], "--part chooses one of the shipped")):
        assert main(["evaluate", "--model", "default", "--root", str(eval_pair), *bad]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1

    monkeypatch.setattr(evaluation, "HELDOUT_EVAL", eval_pair)
    monkeypatch.setattr(evaluation, "TUNING_EXTRA", tmp_path / "missing")
    assert cmd_evaluate._default_parts(None, "held-out") == [("held-out", eval_pair)]
    assert cmd_evaluate._default_parts(None, "tuning") == [("tuning", evaluation.DEFAULT_EVAL)]
    import pytest

    from core.errors import UserError

    with pytest.raises(UserError, match=r"not fetched .*fetch_tuning\.py"):
        cmd_evaluate._default_parts(None, "tuning-extra")
