"""Importer for the reference ZS3Net release's checkpoints (``*.pth.tar`` with a ``state_dict``).

The reference DeepLabv3+ (derived from jfzhang95/pytorch-deeplab-xception) names its modules
``backbone.*`` (torchvision-like ResNet keys), ``aspp.aspp1..4.{atrous_conv,bn}``,
``aspp.global_avg_pool.{1,2}``, ``aspp.{conv1,bn1}``, ``decoder.{conv1,bn1}``,
``decoder.last_conv.{0,1,4,5}`` and the classifier ``decoder.pred_conv`` (``decoder.last_conv.8``
in the original jfzhang95 code). This module maps those names onto ``DeepLabV3Plus``; the
architectures are the same, so outputs are identical.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
from torch import Tensor

from core.checkpoint import numpy_safe_globals
from core.errors import UserError

log = logging.getLogger(__name__)

_FIXED = {
    "aspp.global_avg_pool.1.": "aspp.pool.1.",
    "aspp.global_avg_pool.2.": "aspp.pool.2.",
    "aspp.conv1.": "aspp.project.0.",
    "aspp.bn1.": "aspp.project.1.",
    "decoder.conv1.": "decoder.low.0.",
    "decoder.bn1.": "decoder.low.1.",
    "decoder.pred_conv.": "classifier.",
    "decoder.last_conv.8.": "classifier.",
}
_ASPP = re.compile(r"^aspp\.aspp([1-4])\.(atrous_conv|bn)\.(.+)$")
_LAST = re.compile(r"^decoder\.last_conv\.([0145])\.(.+)$")


def map_reference_key(key: str) -> str | None:
    """Our parameter name for one reference key, or None when the key is unknown."""
    for prefix in ("module.", "deeplab."):
        if key.startswith(prefix):
            key = key[len(prefix):]
    if key.startswith("backbone."):
        return key
    m = _ASPP.match(key)
    if m:
        return f"aspp.branches.{int(m.group(1)) - 1}.{0 if m.group(2) == 'atrous_conv' else 1}.{m.group(3)}"
    m = _LAST.match(key)
    if m:
        return f"decoder.fuse.{m.group(1)}.{m.group(2)}"
    for old, new in _FIXED.items():
        if key.startswith(old):
            return new + key[len(old):]
    return None


def _infer_backbone(state: dict[str, Tensor]) -> str:
    blocks3 = {int(k.split(".")[2]) for k in state if k.startswith("backbone.layer3.")}
    bottleneck = any(k.startswith("backbone.layer1.0.conv3.") for k in state)
    n = len(blocks3)
    table = {(True, 23): "resnet101", (True, 6): "resnet50", (True, 36): "resnet152",
             (False, 2): "resnet18", (False, 6): "resnet34"}
    try:
        return table[(bottleneck, n)]
    except KeyError:
        raise UserError(f"reference checkpoint has an unsupported backbone ({n} blocks in layer3)") from None


def convert_reference_state_dict(state: dict[str, Tensor]) -> tuple[dict, dict[str, Tensor]]:
    """(DeepLabConfig fields inferred from the weights, state dict in our key names)."""
    unknown, ours = [], {}
    for key, value in state.items():
        new = map_reference_key(key)
        if new is None:
            unknown.append(key)
        else:
            ours[new] = value
    if unknown:
        raise UserError(f"unknown keys in reference checkpoint: {', '.join(unknown[:5])}"
                        + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""))
    stripped = {k: v for k, v in ours.items()}
    if "classifier.weight" not in ours:
        raise UserError("reference checkpoint has no classifier (decoder.pred_conv) weights")
    config = {
        "num_classes": int(ours["classifier.weight"].shape[0]),
        "backbone": _infer_backbone(stripped),
        "image_pool_bn": "aspp.pool.2.weight" in ours,
    }
    return config, ours


def import_reference_state_dict(state: dict[str, Tensor], output_stride: int = 16, multi_grid=(1, 2, 4)):
    """Build a ``DeepLabV3Plus`` holding the reference weights (output stride is not in the weights)."""
    from core.models.deeplab import DeepLabV3Plus

    config, ours = convert_reference_state_dict(state)
    model = DeepLabV3Plus(output_stride=output_stride, multi_grid=multi_grid, **config)
    expected = model.state_dict()
    missing = [k for k in expected if k not in ours and not k.endswith("num_batches_tracked")]
    if missing:
        raise UserError(f"reference checkpoint lacks keys: {', '.join(missing[:5])}"
                        + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""))
    extra = [k for k in ours if k not in expected]
    if extra:
        raise UserError(f"unknown keys in reference checkpoint: {', '.join(extra[:5])}")
    wrong = [k for k, v in ours.items() if v.shape != expected[k].shape]
    if wrong:
        raise UserError(f"reference checkpoint tensor {wrong[0]} has shape {tuple(ours[wrong[0]].shape)}, "
                        f"expected {tuple(expected[wrong[0]].shape)}")
    model.load_state_dict(ours, strict=False)
    return model


def _safe_load(path: Path):
    """``torch.load`` without arbitrary code execution, allowing the NumPy scalars the release uses."""
    try:
        with torch.serialization.safe_globals(numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means we cannot use this file
        raise UserError(f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__})") from None


def load_reference_checkpoint(path, output_stride: int = 16):
    """Read a reference release file (e.g. ``deeplab_pascal_voc_02_unseen_GMMN_final.pth.tar``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"reference checkpoint not found: {path}")
    obj = _safe_load(path)
    state = obj.get("state_dict") if isinstance(obj, dict) and "state_dict" in obj else obj
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise UserError(f"{path} holds no state dict of the reference DeepLabv3+")
    model = import_reference_state_dict(state, output_stride=output_stride)
    log.info("imported reference checkpoint %s (%d classes)", path, model.num_classes)
    return model
