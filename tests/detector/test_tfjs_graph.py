"""The TF.js graph interpreter on tiny hand-made graphs, against plain torch (no model files needed)."""
from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from core.models.tfjs_graph import TfjsGraph, read_weights


def s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def ints(*values) -> dict:
    return {"list": {"i": [str(v) for v in values]}}


def conv_node(name, x, w, stride=1):
    return {"name": name, "op": "Conv2D", "input": [x, w], "attr": {
        "data_format": s("NHWC"), "padding": s("VALID"), "strides": ints(1, stride, stride, 1),
        "dilations": ints(1, 1, 1, 1), "explicit_paddings": {"list": {}}}}


def graph(nodes, weights) -> TfjsGraph:
    consts = [{"name": k, "op": "Const"} for k in weights]
    return TfjsGraph({"node": [{"name": "x", "op": "Placeholder"}, *consts, *nodes]}, weights)


def test_grouped_strided_conv_pad_leaky_concat_split_match_torch():
    rng = np.random.default_rng(0)
    w_full = rng.normal(size=(3, 3, 4, 6)).astype(np.float32)    # HWIO
    w_group = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)   # 2 groups of 2 input channels
    weights = {"perm": np.array([0, 2, 3, 1], np.int32), "pads": np.array([[0, 0], [1, 1], [2, 0], [0, 0]], np.int32),
               "wf": w_full, "wg": w_group, "axis": np.array(3, np.int32), "sizes": np.array([3, -1], np.int32)}
    nodes = [
        {"name": "nhwc", "op": "Transpose", "input": ["x", "perm"]},
        {"name": "pad", "op": "Pad", "input": ["nhwc", "pads"]},
        conv_node("c1", "pad", "wf", stride=2),
        conv_node("c2", "pad", "wg"),
        {"name": "act", "op": "LeakyRelu", "input": ["c1"], "attr": {"alpha": {"f": 0.1}}},
        {"name": "cat", "op": "ConcatV2", "input": ["act", "act", "axis"]},
        {"name": "split", "op": "SplitV", "input": ["cat", "sizes", "axis"]},
    ]
    x = torch.randn(1, 4, 9, 8)
    g = graph(nodes, weights)
    c1, c2, part0, part1 = g.run({"x": x}, ["c1", "c2", "split", "split:1"])
    padded = F.pad(x, [2, 0, 1, 1])  # W gets (2, 0), H gets (1, 1)
    ref1 = F.conv2d(padded, torch.from_numpy(w_full).permute(3, 2, 0, 1), stride=2).permute(0, 2, 3, 1)
    ref2 = F.conv2d(padded, torch.from_numpy(w_group).permute(3, 2, 0, 1), groups=2).permute(0, 2, 3, 1)
    torch.testing.assert_close(c1, ref1, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(c2, ref2, rtol=1e-4, atol=1e-4)
    assert part0.shape[-1] == 3 and part1.shape[-1] == 9
    torch.testing.assert_close(part0, F.leaky_relu(ref1, 0.1)[..., :3])


def test_resize_is_half_pixel_bilinear_and_reshape_shape_comes_from_sparse_to_dense():
    weights = {"size": np.array([6, 4], np.int32), "idx": np.zeros((0, 1), np.int32),
               "n": np.array([2], np.int32), "vals": np.zeros((0,), np.int32), "zero": np.array(0, np.int32),
               "base": np.array([1, -1], np.int32)}
    nodes = [
        {"name": "up", "op": "ResizeBilinear", "input": ["x", "size"],
         "attr": {"half_pixel_centers": {"b": True}, "align_corners": {"b": False}}},
        {"name": "dense", "op": "SparseToDense", "input": ["idx", "n", "vals", "zero"]},
        {"name": "shape", "op": "AddV2", "input": ["base", "dense"]},
        {"name": "flat", "op": "Reshape", "input": ["up", "shape"]},
    ]
    x = torch.randn(1, 3, 2, 5)  # NHWC
    up, flat = graph(nodes, weights).run({"x": x}, ["up", "flat"])
    ref = F.interpolate(x.permute(0, 3, 1, 2), size=(6, 4), mode="bilinear", align_corners=False)
    torch.testing.assert_close(up, ref.permute(0, 2, 3, 1))
    assert flat.shape == (1, 6 * 4 * 5)


def test_unknown_ops_and_layouts_are_refused_at_load():
    with pytest.raises(ValueError, match="op Softmax is not supported"):
        graph([{"name": "y", "op": "Softmax", "input": ["x"]}], {})
    nchw = conv_node("c", "x", "w")
    nchw["attr"]["data_format"] = s("NCHW")
    with pytest.raises(ValueError, match="NHWC"):
        graph([nchw], {"w": np.zeros((1, 1, 1, 1), np.float32)})


def test_float16_weights_are_read_and_a_short_file_is_refused(tmp_path):
    values = np.arange(6, dtype=np.float16).reshape(2, 3)
    (tmp_path / "w.bin").write_bytes(values.tobytes() + np.array([7], np.int32).tobytes())
    manifest = [{"paths": ["w.bin"], "weights": [
        {"name": "a", "shape": [2, 3], "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "b", "shape": [], "dtype": "int32"}]}]
    out = read_weights(manifest, tmp_path)
    assert out["a"].dtype == np.float32 and out["a"].tolist() == values.astype(np.float32).tolist()
    assert int(out["b"]) == 7
    (tmp_path / "w.bin").write_bytes(values.tobytes())
    with pytest.raises(ValueError, match="too short"):
        read_weights(manifest, tmp_path)
