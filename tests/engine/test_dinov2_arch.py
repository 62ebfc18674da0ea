"""`--arch dinov2-s14`: DINOv2 ViT-S/14 under a DeepLabv3+-style head, through every training stage."""
from __future__ import annotations

import pytest
import torch

from core.checkpoint import load_checkpoint
from core.cli.main import main
from core.data.synthetic import write_synthetic_folder
from core.errors import UserError
from core.models.dinov2_deeplab import DinoDeepLab


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_real_weights_load_into_the_segmentation_model():
    from core.models.dinov2 import load_dinov2

    shared = load_dinov2().state_dict()
    model = DinoDeepLab(4, pretrained=True)
    state = model.backbone.state_dict()
    assert state and not any(k.startswith("saliency_head.") for k in state)
    assert all(torch.equal(v, shared[k]) for k, v in state.items())
    random = DinoDeepLab(4, pretrained=False).backbone.state_dict()
    assert not torch.equal(random["blocks.0.qkv.weight"], state["blocks.0.qkv.weight"])
    # frozen by default: no gradient, and train() leaves the backbone in eval mode
    model.train()
    assert not model.backbone.training and model.decoder.training
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_features_classify_split_and_shapes():
    torch.manual_seed(0)
    model = DinoDeepLab(5, pretrained=False).eval()
    x = torch.randn(2, 3, 45, 50)
    with torch.no_grad():
        feats = model.features(x)
        assert feats.shape == (2, 256, 12, 13) and bool((feats >= 0).all())
        assert torch.allclose(model(x), model.upsample(model.classify(feats), (45, 50)))
    assert model(x).shape == (2, 5, 45, 50)


def test_cli_stages_with_dinov2_arch(tmp_path, capsys):
    """seg → gmmn → retrain → self-train → evaluate on --arch dinov2-s14 (random ViT for speed); the arch
    is recorded, the frozen backbone never moves, another --arch is refused in one line."""
    folder = write_synthetic_folder(tmp_path / "data", {"train": 6, "val": 3}, size=42, seed=3)
    data = ["--dataset", "folder", "--root", str(folder), "--device", "cpu"]
    seg, gm, zs, st = (str(tmp_path / n) for n in ("seg.pth", "gmmn.pth", "zs3.pth", "st.pth"))
    torch.manual_seed(0)
    code, _, err = _run(["train", "seg", *data, "--unseen", "blue", "--arch", "dinov2-s14", "--backbone-weights",
                         "none", "--iterations", "2", "--batch-size", "2", "--crop-size", "42", "--base-size", "42",
                         "--out", seg], capsys)
    assert code == 0, err
    ck = load_checkpoint(seg)
    assert ck.model_kind == "dinov2_deeplab" and ck.meta["arch"] == "dinov2-s14" and ck.meta["backbone_init"] == "none"
    torch.manual_seed(0)  # the same draws as the command's: its untrained network
    fresh = DinoDeepLab(len(ck.class_names), pretrained=False).state_dict()
    assert torch.equal(ck.model_state["backbone.blocks.3.fc1.weight"], fresh["backbone.blocks.3.fc1.weight"])
    assert not torch.equal(ck.model_state["stem.0.weight"], fresh["stem.0.weight"])

    code, _, err = _run(["train", "gmmn", "--model", seg, *data, "--arch", "deeplabv3plus-r101", "--out", gm], capsys)
    assert code == 2 and "dinov2-s14" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(["train", "gmmn", "--model", seg, *data, "--arch", "dinov2-s14", "--steps", "2",
                         "--max-per-class", "50", "--out", gm], capsys)
    assert code == 0, err
    assert load_checkpoint(gm).bank_features.shape[1] == 256
    assert _run(["train", "retrain", "--model", gm, "--out", zs, "--device", "cpu"], capsys)[0] == 0
    before, after = load_checkpoint(gm).model_state, load_checkpoint(zs).model_state
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])
    assert torch.equal(before["aspp.project.0.weight"], after["aspp.project.0.weight"])
    assert _run(["train", "self-train", "--model", zs, *data, "--out", st], capsys)[0] == 0
    code, out, err = _run(["evaluate", "--model", st, *data, "--split", "val", "--arch", "dinov2-s14"], capsys)
    assert code == 0 and "hIoU" in out, err
    code, _, err = _run(["evaluate", "--model", st, *data, "--split", "val", "--arch", "deeplabv3plus-r101"], capsys)
    assert code == 2 and "holds a dinov2-s14 network" in err


@pytest.mark.parametrize("extra, message", [(["--backbone", "resnet18"], "--backbone resnet18"),
                                            (["--backbone-weights", "imagenet"], "dinov2 or none")])
def test_dinov2_arch_refuses_resnet_options(tmp_path, capsys, extra, message):
    folder = write_synthetic_folder(tmp_path / "data", {"train": 2}, size=28, seed=1)
    code, _, err = _run(["train", "seg", "--dataset", "folder", "--root", str(folder), "--unseen", "blue",
                         "--arch", "dinov2-s14", *extra, "--out", str(tmp_path / "s.pth")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.pth").exists()


def test_resnet_checkpoint_records_its_arch_and_refuses_dinov2(tmp_path, capsys):
    folder = write_synthetic_folder(tmp_path / "data", {"train": 4}, size=33, seed=1)
    data = ["--dataset", "folder", "--root", str(folder), "--device", "cpu"]
    seg = str(tmp_path / "seg.pth")
    code, _, err = _run(["train", "seg", *data, "--unseen", "blue", "--backbone", "resnet18", "--backbone-weights",
                         "none", "--iterations", "1", "--batch-size", "2", "--crop-size", "33", "--base-size", "33",
                         "--out", seg], capsys)
    assert code == 0, err
    assert load_checkpoint(seg).meta["arch"] == "deeplabv3plus-r18"
    code, _, err = _run(["train", "gmmn", "--model", seg, *data, "--arch", "dinov2-s14", "--out",
                         str(tmp_path / "g.pth")], capsys)
    assert code == 2 and "holds a deeplabv3plus-r18 network, not --arch dinov2-s14" in err


def test_checkpoint_of_a_dinov2_network_round_trips(tmp_path):
    from core.checkpoint import Checkpoint, save_checkpoint

    torch.manual_seed(1)
    model = DinoDeepLab(3, pretrained=False).eval()
    ck = Checkpoint.from_models(model, ["background", "a", "b"], ["background", "a"], {"name": "x"}, torch.randn(3, 4))
    back = load_checkpoint(save_checkpoint(tmp_path / "d.pt", ck))
    assert back.model_kind == "dinov2_deeplab"
    x = torch.randn(1, 3, 30, 44)
    with torch.no_grad():
        assert torch.equal(back.build_model().eval()(x), model(x))
    back.model_state.pop("stem.0.weight")
    with pytest.raises(UserError, match="do not fit"):
        back.build_model()
