"""`zs3 train seg → gmmn → retrain → self-train` and `zs3 evaluate` on a tiny synthetic folder dataset."""
from __future__ import annotations

import json

import pytest
import torch

from core.checkpoint import load_checkpoint
from core.cli.main import main
from core.data.folder import FolderDataset
from core.data.synthetic import SYNTHETIC_CLASSES, write_synthetic_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    return write_synthetic_folder(root / "data", {"train": 20, "val": 8}, size=48, seed=2)


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_synthetic_folder_reads_back(folder):
    data = FolderDataset(folder, "val")
    assert data.class_names == SYNTHETIC_CLASSES
    assert len(data) == 8
    sample = data[0]
    assert sample.image.shape == (48, 48, 3) and sample.label.shape == (48, 48)
    assert set(map(int, sample.label.ravel())) <= set(range(len(SYNTHETIC_CLASSES)))


def test_cli_stages_and_evaluate(folder, tmp_path, capsys):
    data = ["--dataset", "folder", "--root", str(folder), "--device", "cpu"]
    seg, gm, zs, st = (str(tmp_path / n) for n in ("seg.pth", "gmmn.pth", "zs3.pth", "st.pth"))
    code, out, err = _run(["train", "seg", *data, "--unseen", "chartreuse,blue", "--backbone", "tiny",
                           "--iterations", "2", "--batch-size", "4", "--crop-size", "48", "--base-size", "48",
                           "--out", seg], capsys)
    assert code == 0, err
    ck = load_checkpoint(seg)
    assert ck.meta["stage"] == "seg" and ck.meta["unseen"] == ["chartreuse", "blue"]
    assert "chartreuse" not in ck.seen_class_names and len(ck.seen_class_names) == len(SYNTHETIC_CLASSES) - 2
    assert ck.class_embeddings.shape == (len(SYNTHETIC_CLASSES), 64)  # from the folder's class_embeddings.npy

    code, out, err = _run(["train", "gmmn", "--model", seg, *data, "--steps", "3", "--max-per-class", "100",
                           "--out", gm], capsys)
    assert code == 0, err
    ck = load_checkpoint(gm)
    assert ck.meta["stage"] == "gmmn" and ck.build_gmmn() is not None
    unseen_ids = [SYNTHETIC_CLASSES.index("chartreuse"), SYNTHETIC_CLASSES.index("blue")]
    assert ck.bank_features.dtype == torch.float16 and not torch.isin(ck.bank_labels, torch.tensor(unseen_ids)).any()

    code, out, err = _run(["train", "retrain", "--model", gm, "--out", zs, "--device", "cpu"], capsys)
    assert code == 0, err
    before, after = load_checkpoint(gm).model_state, load_checkpoint(zs).model_state
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])
    assert torch.equal(before["head.0.weight"], after["head.0.weight"])  # only the classifier changes

    code, out, err = _run(["train", "self-train", "--model", zs, *data, "--percent", "50", "--out", st], capsys)
    assert code == 0, err
    assert load_checkpoint(st).meta["self_train"]["percent"] == 50

    js = tmp_path / "scores.json"
    code, out, err = _run(["evaluate", "--model", st, *data, "--split", "val", "--json", str(js)], capsys)
    assert code == 0, err
    assert "hIoU" in out and "chartreuse" in out and "unseen" in out
    scores = json.loads(js.read_text())
    assert scores["unseen_classes"] == ["chartreuse", "blue"]
    assert scores["images"] == 8
    for key in ("seen_miou", "unseen_miou", "hiou"):
        assert scores[key] is None or 0.0 <= scores[key] <= 1.0
    assert set(scores["scores"]) >= {"seen", "unseen", "all", "hiou"}
    assert 0.0 <= scores["scores"]["seen"]["pa"] <= 1.0


def test_missing_dataset_folder_is_one_line_error(tmp_path, capsys):
    code, out, err = _run(["train", "seg", "--dataset", "folder", "--root", str(tmp_path / "nope"),
                           "--unseen", "blue", "--backbone", "tiny", "--out", str(tmp_path / "x.pth")], capsys)
    assert code == 2
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.pth").exists()


def test_wrong_checkpoint_is_one_line_error(folder, tmp_path, capsys):
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"not a checkpoint")
    code, out, err = _run(["evaluate", "--model", str(bogus), "--dataset", "folder", "--root", str(folder)], capsys)
    assert code == 2 and "not a zs3-annotator checkpoint" in err and len(err.strip().splitlines()) == 1
    code, out, err = _run(["train", "retrain", "--model", str(tmp_path / "missing.pth"), "--out",
                           str(tmp_path / "o.pth")], capsys)
    assert code == 2 and "not found" in err


def test_stage_order_is_checked(folder, tmp_path, capsys):
    seg = str(tmp_path / "seg.pth")
    code, _, err = _run(["train", "seg", "--dataset", "folder", "--root", str(folder), "--unseen", "blue",
                         "--backbone", "tiny", "--iterations", "1", "--batch-size", "2", "--crop-size", "48",
                         "--base-size", "48", "--device", "cpu", "--out", seg], capsys)
    assert code == 0, err
    code, _, err = _run(["train", "retrain", "--model", seg, "--out", str(tmp_path / "r.pth")], capsys)
    assert code == 2 and "seg checkpoint" in err


def test_unknown_unseen_class_is_user_error(folder, tmp_path, capsys):
    code, _, err = _run(["train", "seg", "--dataset", "folder", "--root", str(folder), "--unseen", "giraffe",
                         "--backbone", "tiny", "--out", str(tmp_path / "x.pth")], capsys)
    assert code == 2 and "giraffe" in err


def test_cli_defaults_are_the_papers():
    from core.cli import cmd_train
    from core.zs3 import pipeline as P
    from core.zs3.generation import GMMNTrainConfig
    from core.zs3.self_training import PAPER_PERCENT

    seg = P.SegTrainConfig()
    assert cmd_train.SEG_DEFAULTS == {k: getattr(seg, k) for k in cmd_train.SEG_DEFAULTS}
    assert (seg.lr, seg.momentum, seg.weight_decay, seg.poly_power) == (7e-3, 0.9, 5e-4, 0.9)
    g = GMMNTrainConfig()
    assert cmd_train.GMMN_DEFAULTS == {k: getattr(g, k) for k in cmd_train.GMMN_DEFAULTS}
    assert (g.lr, g.per_class, tuple(g.sigmas)) == (2e-4, 128, (2.0, 5.0, 10.0, 20.0, 40.0, 80.0))
    assert cmd_train.FEATURES_PER_CLASS == P.FeatureConfig().max_per_class == P.SelfTrainConfig().max_per_class
    assert PAPER_PERCENT["voc"] == 25.0 and PAPER_PERCENT["context"] == 75.0


def test_cli_graph_context_path_end_to_end(folder, tmp_path, capsys):
    """seg → gmmn --graph-context → retrain → self-train → evaluate, with the GC generator throughout."""
    from core.models.graph_context import GraphContextGMMN
    from core.zs3 import steps_io

    data = ["--dataset", "folder", "--root", str(folder), "--device", "cpu"]
    seg, gm, zs, st = (str(tmp_path / n) for n in ("seg.pth", "gc.pth", "zs3gc.pth", "stgc.pth"))
    code, _, err = _run(["train", "seg", *data, "--unseen", "chartreuse,blue", "--backbone", "tiny",
                         "--iterations", "2", "--batch-size", "4", "--crop-size", "48", "--base-size", "48",
                         "--out", seg], capsys)
    assert code == 0, err
    code, out, err = _run(["train", "gmmn", "--model", seg, *data, "--steps", "3", "--max-per-class", "100",
                           "--graph-context", "--scenes-per-step", "2", "--out", gm], capsys)
    assert code == 0, err
    ck = load_checkpoint(gm)
    assert ck.meta["gmmn_config"]["scenes_per_step"] == 2
    unseen_ids = [SYNTHETIC_CLASSES.index("chartreuse"), SYNTHETIC_CLASSES.index("blue")]
    assert ck.gmmn_kind == "graph_gmmn" and isinstance(ck.build_gmmn(), GraphContextGMMN)
    assert ck.meta["gmmn_kind"] == "graph_gmmn"
    contexts = steps_io.contexts_of(ck)
    assert contexts and all(not set(ids) & set(unseen_ids) for ids, _ in contexts)  # seen-only graphs
    assert not torch.isin(ck.bank_labels, torch.tensor(unseen_ids)).any()

    code, out, err = _run(["train", "retrain", "--model", gm, "--out", zs, "--device", "cpu"], capsys)
    assert code == 0, err
    assert "graph context" in out
    ck_zs = load_checkpoint(zs)
    assert ck_zs.gmmn_kind == "graph_gmmn" and ck_zs.meta["graph_contexts"] == ck.meta["graph_contexts"]
    before, after = ck.model_state, ck_zs.model_state
    assert not torch.equal(before["classifier.weight"][unseen_ids], after["classifier.weight"][unseen_ids])
    assert torch.equal(before["head.0.weight"], after["head.0.weight"])

    code, out, err = _run(["train", "self-train", "--model", zs, *data, "--percent", "50", "--out", st], capsys)
    assert code == 0, err
    assert load_checkpoint(st).gmmn_kind == "graph_gmmn"

    js = tmp_path / "scores_gc.json"
    code, out, err = _run(["evaluate", "--model", st, *data, "--split", "val", "--json", str(js)], capsys)
    assert code == 0, err
    scores = json.loads(js.read_text())
    assert scores["unseen_classes"] == ["chartreuse", "blue"] and scores["images"] == 8
    for key in ("seen_miou", "unseen_miou", "hiou"):
        assert scores[key] is None or 0.0 <= scores[key] <= 1.0


def test_graph_checkpoint_without_contexts_is_one_line_error(folder, tmp_path, capsys):
    from core.checkpoint import save_checkpoint

    data = ["--dataset", "folder", "--root", str(folder), "--device", "cpu"]
    seg, gm = str(tmp_path / "seg.pth"), str(tmp_path / "gc.pth")
    assert _run(["train", "seg", *data, "--unseen", "blue", "--backbone", "tiny", "--iterations", "1",
                 "--batch-size", "2", "--crop-size", "48", "--base-size", "48", "--out", seg], capsys)[0] == 0
    assert _run(["train", "gmmn", "--model", seg, *data, "--steps", "1", "--max-per-class", "50",
                 "--graph-context", "--out", gm], capsys)[0] == 0
    ck = load_checkpoint(gm)
    del ck.meta["graph_contexts"]
    save_checkpoint(gm, ck)
    code, _, err = _run(["train", "retrain", "--model", gm, "--out", str(tmp_path / "r.pth")], capsys)
    assert code == 2 and "context graphs" in err and len(err.strip().splitlines()) == 1
