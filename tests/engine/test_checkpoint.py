"""Checkpoint round trip, wrong-file errors, and import of reference-release state dicts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.checkpoint import FORMAT_NAME, Checkpoint, feature_bank, load_checkpoint, save_checkpoint
from core.errors import UserError
from core.models.deeplab import DeepLabV3Plus
from core.models.gmmn import GMMN
from core.reference_import import (
    import_reference_state_dict,
    load_reference_checkpoint,
    map_reference_key,
)


def _randomise_bn(model):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
            m.weight.data.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    model = DeepLabV3Plus(num_classes=4, backbone="resnet18").eval()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        _randomise_bn(model)
        for p in model.parameters():  # weights no fresh seeded build can reproduce: loading must copy them
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


def _make_checkpoint(model, n_rows=300):
    gmmn = GMMN(embed_dim=5, feat_dim=256, noise_dim=3, hidden_dim=8)
    feats = torch.rand(n_rows, 256) * 4
    labels = torch.arange(n_rows) % 3
    labels[:7] = 255
    return Checkpoint(
        model_kind="deeplabv3plus", model_config=model.config.to_dict(), model_state=model.state_dict(),
        class_names=["background", "cat", "dog", "cow"], seen_class_names=["background", "cat", "dog"],
        embedding_spec={"name": "test-vectors", "dim": 5}, class_embeddings=torch.randn(4, 5),
        gmmn_kind="gmmn", gmmn_config=gmmn.config(), gmmn_state=gmmn.state_dict(),
        bank_features=feats, bank_labels=labels, meta={"note": "unit test", "miou": np.float64(0.25)},
    ), gmmn


def test_round_trip(tmp_path, small_model):
    ck, gmmn = _make_checkpoint(small_model)
    path = save_checkpoint(tmp_path / "m.zs3.pt", ck, bank_per_class=40)
    assert not list(tmp_path.glob(".*.tmp"))
    back = load_checkpoint(path)
    assert back.class_names == ck.class_names and back.seen_ids == [0, 1, 2]
    assert back.embedding_spec == {"name": "test-vectors", "dim": 5}
    assert torch.equal(back.class_embeddings, ck.class_embeddings)
    assert back.meta == {"note": "unit test", "miou": 0.25}
    # feature bank: bounded per class, float32 and exact, no 255 rows, rows are real rows of the input
    assert back.bank_features.dtype == torch.float32
    rows = {tuple(r) for r in ck.bank_features.tolist()}
    assert all(tuple(r) in rows for r in back.bank_features.tolist())
    assert torch.bincount(back.bank_labels).tolist() == [40, 40, 40]
    x = torch.rand(1, 3, 65, 65)
    model = back.build_model().eval()
    with torch.no_grad():
        assert torch.equal(model(x), small_model(x))
    g2 = back.build_gmmn()
    e, n = torch.randn(2, 5), torch.rand(2, 3)
    assert torch.equal(g2(e, n), gmmn.eval()(e, n))


def test_from_models_helper(tmp_path, small_model):
    gmmn = GMMN(embed_dim=5, noise_dim=3, hidden_dim=8)
    ck = Checkpoint.from_models(small_model, ["background", "a", "b", "c"], ["background", "a"], {"name": "x"},
                                torch.randn(4, 5), gmmn=gmmn)
    back = load_checkpoint(save_checkpoint(tmp_path / "h.pt", ck))
    assert back.gmmn_kind == "gmmn" and back.model_config["backbone"] == "resnet18"
    assert back.build_gmmn().config() == gmmn.config()


def test_feature_bank_keeps_small_classes_whole():
    labels = torch.tensor([0] * 10 + [1] * 3 + [255] * 4)
    feats = torch.arange(17.0).unsqueeze(1).repeat(1, 2)
    f, l = feature_bank(feats, labels, per_class=5)
    assert torch.bincount(l).tolist() == [5, 3]
    assert set(f[l == 1, 0].tolist()) == {10.0, 11.0, 12.0}


def test_float16_bank_of_an_older_file_loads_as_float32(tmp_path, small_model):
    ck, _ = _make_checkpoint(small_model, n_rows=30)
    path = save_checkpoint(tmp_path / "old.pt", ck)
    payload = torch.load(path, weights_only=False)  # our own file: meta holds a NumPy scalar
    payload["feature_bank"]["features"] = payload["feature_bank"]["features"].half()  # as written before
    torch.save(payload, path)
    back = load_checkpoint(path)
    assert back.bank_features.dtype == torch.float32
    assert torch.equal(back.bank_features, payload["feature_bank"]["features"].float())


def test_wrong_files(tmp_path, small_model):
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(UserError, match="not a zs3-annotator checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(UserError, match="not a zs3-annotator checkpoint"):
        load_checkpoint(other)
    future = tmp_path / "future.pt"
    torch.save({"format": FORMAT_NAME, "version": 99}, future)
    with pytest.raises(UserError, match="version 99"):
        load_checkpoint(future)
    ref = tmp_path / "ref.pth.tar"
    torch.save({"state_dict": {"aspp.conv1.weight": torch.zeros(1)}, "epoch": 3}, ref)
    with pytest.raises(UserError, match="reference ZS3Net checkpoint"):
        load_checkpoint(ref)
    with pytest.raises(UserError) as info:
        load_checkpoint(junk)
    assert "\n" not in str(info.value)


# --- reference import ----------------------------------------------------------------------------
# Reference names written out by hand from the reference code's module layout (not derived from our
# mapping), so the test checks the mapping against an independent description.
def _to_reference_names(state):
    ref = {}
    aspp = {f"aspp.branches.{i}.{j}.": f"aspp.aspp{i + 1}.{'atrous_conv' if j == 0 else 'bn'}."
            for i in range(4) for j in range(2)}
    table = {
        **aspp,
        "aspp.pool.1.": "aspp.global_avg_pool.1.", "aspp.pool.2.": "aspp.global_avg_pool.2.",
        "aspp.project.0.": "aspp.conv1.", "aspp.project.1.": "aspp.bn1.",
        "decoder.low.0.": "decoder.conv1.", "decoder.low.1.": "decoder.bn1.",
        "decoder.fuse.0.": "decoder.last_conv.0.", "decoder.fuse.1.": "decoder.last_conv.1.",
        "decoder.fuse.4.": "decoder.last_conv.4.", "decoder.fuse.5.": "decoder.last_conv.5.",
        "classifier.": "decoder.pred_conv.",
    }
    for key, value in state.items():
        if key.startswith("backbone."):
            ref[key] = value.clone()
            continue
        for ours, theirs in table.items():
            if key.startswith(ours):
                ref[theirs + key[len(ours):]] = value.clone()
                break
        else:
            raise AssertionError(f"test table misses {key}")
    return ref


def test_reference_import_reproduces_outputs(tmp_path, small_model):
    ref_state = _to_reference_names(small_model.state_dict())
    assert "aspp.aspp2.atrous_conv.weight" in ref_state and "decoder.last_conv.4.weight" in ref_state
    path = tmp_path / "deeplab_pascal_voc_02_unseen_GMMN_final.pth.tar"
    # as the release saves it: DataParallel prefix, optimizer state, best_pred as a NumPy scalar
    torch.save({"epoch": 10, "state_dict": {"module." + k: v for k, v in ref_state.items()},
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.007}]}, "best_pred": np.float64(0.5)}, path)
    model = load_reference_checkpoint(path).eval()
    assert model.config.backbone == "resnet18" and model.num_classes == 4
    x = torch.rand(2, 3, 65, 65)
    torch.manual_seed(0)
    independent = DeepLabV3Plus(num_classes=4, backbone="resnet18").eval()  # same architecture, own weights
    with torch.no_grad():
        assert torch.equal(model(x), small_model(x))
        assert not torch.allclose(independent(x), small_model(x), atol=1e-3)
        independent.load_state_dict(small_model.state_dict())
        assert torch.equal(model(x), independent(x))


def test_reference_import_errors(small_model):
    ref_state = _to_reference_names(small_model.state_dict())
    bad = dict(ref_state)
    bad["decoder.extra_head.weight"] = torch.zeros(1)
    with pytest.raises(UserError, match="decoder.extra_head.weight"):
        import_reference_state_dict(bad)
    missing = dict(ref_state)
    del missing["aspp.aspp3.bn.running_var"]
    with pytest.raises(UserError, match="aspp.branches.2.1.running_var"):
        import_reference_state_dict(missing)
    assert map_reference_key("decoder.last_conv.8.weight") == "classifier.weight"  # jfzhang95 layout


def test_reference_file_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_reference_checkpoint(tmp_path / "nope.pth.tar")
    junk = tmp_path / "junk.pth.tar"
    junk.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(UserError, match="not a readable PyTorch checkpoint"):
        load_reference_checkpoint(junk)
    empty = tmp_path / "empty.pth.tar"
    torch.save({"epoch": 1}, empty)
    with pytest.raises(UserError, match="no state dict"):
        load_reference_checkpoint(empty)


def test_reference_resnet101_key_names_all_map():
    model = DeepLabV3Plus(num_classes=21)
    ref_names = _to_reference_names({k: torch.empty(0) for k in model.state_dict()})
    ours = set(model.state_dict())
    assert {map_reference_key(k) for k in ref_names} == ours
    assert "backbone.layer4.2.conv3.weight" in ref_names


def test_graph_gmmn_and_model_free_checkpoint_round_trip(tmp_path):
    from core.models.graph_context import GraphContextGMMN

    net = GraphContextGMMN(embed_dim=3, feat_dim=6, noise_dim=2, hidden_dim=8).eval()
    path = save_checkpoint(
        tmp_path / "gc.pt", model_kind="efficientnet-lite2", model_config={"name": "default"}, model_state=None,
        class_names=["background", "grass", "cow"], seen_class_names=["background", "grass"],
        embedding_spec={"name": "glove"}, class_embeddings=torch.randn(3, 3),
        gmmn_kind="graph_gmmn", gmmn_config=net.config(), gmmn_state=net.state_dict(),
    )
    back = load_checkpoint(path)
    assert back.bank_features is None and back.model_state is None
    g2 = back.build_gmmn()
    adj = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    e, n = torch.randn(2, 3), torch.rand(2, 2)
    assert torch.equal(g2(e, adj, n), net(e, adj, n))
    with pytest.raises(UserError, match="cannot build"):
        back.build_model()
