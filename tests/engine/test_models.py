"""DeepLabv3+ (resnet18 at 65×65 for speed) and backbone weight loading."""
from __future__ import annotations

import pytest
import torch
import torchvision

from core.errors import UserError
from core.models.deeplab import DeepLabV3Plus, build_deeplab


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return DeepLabV3Plus(num_classes=5, backbone="resnet18", output_stride=16).eval()


def test_shapes_features_classify_forward(small):
    x = torch.randn(2, 3, 65, 65)
    with torch.no_grad():
        f = small.features(x)
        logits = small.classify(f)
        out = small(x)
    assert f.shape == (2, 256, 17, 17)
    assert (f >= 0).all()  # post-ReLU features, like the GMMN output
    assert logits.shape == (2, 5, 17, 17)
    assert out.shape == (2, 5, 65, 65)
    assert torch.allclose(out, small.upsample(logits, (65, 65)))


def test_output_stride_8_and_multigrid_dilations():
    net = DeepLabV3Plus(num_classes=3, backbone="resnet18", output_stride=8).eval()
    high, low = net.backbone_forward(torch.randn(1, 3, 65, 65))
    assert high.shape[-1] == 9 and low.shape[-1] == 17
    assert net.backbone.layer4[1].conv2.dilation == (8, 8)  # 4 × grid 2
    assert net.aspp.branches[1][0].dilation == (12, 12)
    net16 = DeepLabV3Plus(num_classes=3, backbone="resnet18")
    assert [b.conv2.dilation[0] for b in net16.backbone.layer4] == [2, 4]


def test_gradients_flow_to_backbone():
    net = DeepLabV3Plus(num_classes=3, backbone="resnet18").train()
    out = net(torch.randn(2, 3, 65, 65))
    loss = torch.nn.functional.cross_entropy(out, torch.randint(0, 3, (2, 65, 65)))
    loss.backward()
    assert net.backbone.conv1.weight.grad.abs().sum() > 0
    assert net.classifier.weight.grad.abs().sum() > 0


def test_resnet101_builds_with_reference_layout():
    net = DeepLabV3Plus(num_classes=21)
    assert [b.conv2.dilation[0] for b in net.backbone.layer4] == [2, 4, 8]
    assert net.aspp.branches[0][0].in_channels == 2048 and net.decoder.low[0].in_channels == 256
    assert sum(p.numel() for p in net.parameters()) > 50e6


def test_set_classifier_and_rebuild_from_config(small):
    lin = torch.nn.Linear(256, 7)
    net = build_deeplab(small.config.to_dict())
    net.load_state_dict(small.state_dict())
    net.eval()
    net.set_classifier(lin)
    assert net.num_classes == 7 and net.config.num_classes == 7
    f = torch.rand(1, 256, 3, 3)
    with torch.no_grad():
        ref = lin(f.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        assert torch.allclose(net.classify(f), ref, atol=1e-5)


def test_backbone_weights_file(tmp_path):
    src = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(src.state_dict(), path)
    net = DeepLabV3Plus(num_classes=2, backbone="resnet18", backbone_weights=path)
    assert torch.equal(net.backbone.layer3[0].conv1.weight, src.layer3[0].conv1.weight)
    with pytest.raises(UserError, match="not found"):
        DeepLabV3Plus(num_classes=2, backbone="resnet18", backbone_weights=tmp_path / "none.pth")
    bad = tmp_path / "bad.pth"
    bad.write_text("hello")
    with pytest.raises(UserError, match="not a PyTorch"):
        DeepLabV3Plus(num_classes=2, backbone="resnet18", backbone_weights=bad)
    other = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), other)
    with pytest.raises(UserError, match="does not match"):
        DeepLabV3Plus(num_classes=2, backbone="resnet18", backbone_weights=other)
    with pytest.raises(UserError, match="unknown backbone"):
        DeepLabV3Plus(backbone="vgg")


# --- graph context -------------------------------------------------------------------------------
import numpy as np  # noqa: E402

from core.models.graph_context import (  # noqa: E402
    GraphContextGMMN,
    class_adjacency,
    normalize_adjacency,
    present_classes,
)


def test_class_adjacency_by_hand():
    lm = np.array([
        [0, 0, 1, 1],
        [0, 255, 1, 1],
        [2, 2, 3, 3],
    ], dtype=np.uint8)
    a = class_adjacency(lm, 5)
    expected = torch.zeros(5, 5)
    for i, j in [(0, 1), (0, 2), (1, 3), (2, 3)]:  # 255 separates nothing; diagonals never touch
        expected[i, j] = expected[j, i] = 1
    assert torch.equal(a, expected)
    assert present_classes(lm, 5) == [0, 1, 2, 3]
    assert torch.equal(class_adjacency(torch.from_numpy(lm), 5), expected)


def test_normalized_adjacency_is_symmetric_with_self_loops():
    a = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    n = normalize_adjacency(a)
    assert torch.allclose(n, torch.full((2, 2), 0.5))


def _chain(n):
    a = torch.zeros(n, n)
    for i in range(n - 1):
        a[i, i + 1] = a[i + 1, i] = 1
    return a


def test_graph_gmmn_shapes_gradient_and_neighbourhood():
    torch.manual_seed(0)
    net = GraphContextGMMN(embed_dim=6, feat_dim=8, noise_dim=4, hidden_dim=16, output_relu=False).eval()
    emb = torch.randn(4, 6)
    adj = _chain(4)  # 0 - 1 - 2 - 3
    noise = torch.rand(4, 4)
    out = net(emb, adj, noise)
    assert out.shape == (4, 8)
    assert net(emb, adj, n_samples=5).shape == (5, 4, 8)
    changed = emb.clone()
    changed[1] += 1.0  # a neighbour of node 0
    out_n = net(emb.clone().copy_(changed), adj, noise)
    assert not torch.allclose(out_n[0], out[0])
    far = emb.clone()
    far[3] += 1.0  # three hops away: out of reach of two graph convolutions
    out_far = net(far, adj, noise)
    assert torch.allclose(out_far[0], out[0], atol=1e-6)
    assert not torch.allclose(out_far[2], out[2])
    # removing the edge 0-1 changes node 0
    cut = adj.clone()
    cut[0, 1] = cut[1, 0] = 0
    assert not torch.allclose(net(emb, cut, noise)[0], out[0])
    net.train()
    net(emb, adj, n_samples=3).sum().backward()
    assert net.gc1.weight.grad.abs().sum() > 0 and net.gc2.weight.grad.abs().sum() > 0
