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
    assert ck.bank_features.dtype == torch.float32 and not torch.isin(ck.bank_labels, torch.tensor(unseen_ids)).any()

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
    assert cmd_train.FEATURES_PER_CLASS == P.FeatureConfig().max_per_class
    from core.checkpoint import DEFAULT_BANK_PER_CLASS
    from core.zs3.classifier import ClassifierTrainConfig

    clf = ClassifierTrainConfig()
    assert cmd_train.BANK_PER_CLASS == DEFAULT_BANK_PER_CLASS
    assert cmd_train.CLASSIFIER_DEFAULTS == {k: getattr(clf, k) for k in cmd_train.CLASSIFIER_DEFAULTS}
    assert P.SelfTrainConfig().max_per_class == clf.max_per_class
    assert PAPER_PERCENT["voc"] == 25.0 and PAPER_PERCENT["context"] == 75.0
    from core.zs3 import steps_io
    from core.zs3.classifier import SOLVERS

    assert cmd_train.ARCHS == steps_io.ARCHS and cmd_train.ARCHS[0] == steps_io.DEFAULT_ARCH
    assert cmd_train.SOLVERS == SOLVERS


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


def test_caps_are_honoured_or_refused(folder, tmp_path, capsys):
    """No flag that silently does nothing: the bank keeps what was asked; more than the classifier uses is refused."""
    data = ["--dataset", "folder", "--root", str(folder), "--device", "cpu"]
    seg, gm = str(tmp_path / "seg.pth"), str(tmp_path / "gmmn.pth")
    assert _run(["train", "seg", *data, "--unseen", "blue", "--backbone", "tiny", "--iterations", "1",
                 "--batch-size", "2", "--crop-size", "48", "--base-size", "48", "--out", seg], capsys)[0] == 0
    code, _, err = _run(["train", "gmmn", "--model", seg, *data, "--steps", "1", "--max-per-class", "50",
                         "--bank-per-class", "80", "--out", gm], capsys)
    assert code == 2 and "--bank-per-class" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(["train", "gmmn", "--model", seg, *data, "--steps", "1", "--max-per-class", "60",
                         "--bank-per-class", "30", "--kernel", "variance", "--out", gm], capsys)
    assert code == 0, err
    ck = load_checkpoint(gm)
    counts = torch.bincount(ck.bank_labels)
    assert int(counts.max()) == 30 and ck.meta["bank_per_class"] == 30  # what was asked, not the 2,000 default
    assert ck.meta["gmmn_config"]["kernel"] == "variance"
    zs = str(tmp_path / "zs.pth")
    code, _, err = _run(["train", "retrain", "--model", gm, "--n-generated", "500", "--rows-per-class", "400",
                         "--out", zs], capsys)
    assert code == 2 and "400 rows per class" in err and not (tmp_path / "zs.pth").exists()
    code, _, err = _run(["train", "retrain", "--model", gm, "--n-generated", "300", "--rows-per-class", "400",
                         "--unseen-weight", "3", "--solver", "sgd", "--sgd-epochs", "2", "--out", zs], capsys)
    assert code == 0, err
    recorded = load_checkpoint(zs).meta["classifier_config"]
    assert (recorded["unseen_weight"], recorded["solver"], recorded["sgd_epochs"]) == (3.0, "sgd", 2)
    code, _, err = _run(["train", "self-train", "--model", zs, *data, "--max-per-class", "2000",
                         "--out", str(tmp_path / "st.pth")], capsys)
    assert code == 2 and "1500 rows per class" in err


def test_backbone_weights_choices_are_explicit_and_offline(tmp_path, monkeypatch):
    """imagenet-wo-pascal (the paper's default) and imagenet are read from disk or refused in one line."""
    from core.errors import UserError
    from core.zs3 import steps_io

    monkeypatch.setenv(steps_io.BACKBONE_DIR_ENV, str(tmp_path / "backbones"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    assert steps_io.resolve_backbone_weights(None, "tiny") == (None, "none")
    with pytest.raises(UserError, match="resnet18_imagenet_wo_pascal.pth"):
        steps_io.resolve_backbone_weights(None, "resnet18")  # default: the paper's, not random
    with pytest.raises(UserError, match="local cache"):
        steps_io.resolve_backbone_weights("imagenet", "resnet18")
    with pytest.raises(UserError, match="neither a file"):
        steps_io.resolve_backbone_weights("imagenet-typo", "resnet18")
    with pytest.raises(UserError, match="tiny"):
        steps_io.resolve_backbone_weights("imagenet", "tiny")
    assert steps_io.resolve_backbone_weights("none", "resnet18") == (None, "none")
    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    (tmp_path / "backbones").mkdir()
    torch.save(reference.state_dict(), tmp_path / "backbones" / "resnet18_imagenet_wo_pascal.pth")
    path, init = steps_io.resolve_backbone_weights(None, "resnet18")
    assert init == "imagenet-wo-pascal" and path.is_file()
    model = steps_io.build_model("resnet18", 4)
    assert torch.equal(model.backbone.conv1.weight, reference.conv1.weight)  # the file's weights, loaded
