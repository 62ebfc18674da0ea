"""DeepLabv3+ on a torchvision ResNet, the segmentation network of ZS3Net.

``features(x)`` gives the 256-d decoder features at stride 4 (what the GMMN imitates and the final
1×1 classifier reads); ``classify`` is that classifier; ``forward`` = classify + bilinear upsampling.
The layout follows the reference code (multi-grid (1, 2, 4) dilations in the last stage, ASPP with
image pooling + BN, 48-channel low-level skip, two 3×3 convs, bilinear with ``align_corners=True``),
so the reference release's checkpoints import exactly (``core.reference_import``).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from core.errors import UserError

log = logging.getLogger(__name__)

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
FEATURE_DIM = 256


@dataclass
class DeepLabConfig:
    """Everything needed to rebuild the same network (stored in checkpoints)."""

    num_classes: int = 21
    backbone: str = "resnet101"
    output_stride: int = 16
    multi_grid: tuple = (1, 2, 4)
    image_pool_bn: bool = True

    def to_dict(self) -> dict:
        d = asdict(self)
        d["multi_grid"] = list(self.multi_grid) if self.multi_grid is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DeepLabConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if known.get("multi_grid") is not None:
            known["multi_grid"] = tuple(known["multi_grid"])
        return cls(**known)


def _conv_bn_relu(cin: int, cout: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    pad = 0 if kernel == 1 else dilation
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _dilate_stage(stage: nn.Sequential, dilations: Sequence[int]) -> None:
    """Turn a stride-2 ResNet stage into a stride-1 dilated one (works for Basic and Bottleneck blocks).

    Done by hand rather than with ``replace_stride_with_dilation`` so that BasicBlock backbones
    (fast CPU tests) work and every block gets exactly the reference's dilation (multi-grid).
    """
    for i, block in enumerate(stage):
        d = int(dilations[i % len(dilations)])
        for name, module in block.named_children():
            if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
                module.dilation = (d, d)
                module.padding = (d, d)
                module.stride = (1, 1)
            elif name == "downsample" and module is not None:
                module[0].stride = (1, 1)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1×1 + three dilated 3×3 + image pooling, projected to 256."""

    def __init__(self, cin: int, rates: Sequence[int], cout: int = FEATURE_DIM, image_pool_bn: bool = True) -> None:
        super().__init__()
        self.branches = nn.ModuleList([_conv_bn_relu(cin, cout, 1)] + [_conv_bn_relu(cin, cout, 3, r) for r in rates])
        pool: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False)]
        if image_pool_bn:
            pool.append(nn.BatchNorm2d(cout))
        pool.append(nn.ReLU(inplace=True))
        self.pool = nn.Sequential(*pool)
        n = len(self.branches) + 1
        self.project = nn.Sequential(
            nn.Conv2d(n * cout, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.Dropout(0.5)
        )

    def forward(self, x: Tensor) -> Tensor:
        outs = [branch(x) for branch in self.branches]
        pooled = self.pool(x)
        outs.append(pooled.expand(-1, -1, x.shape[2], x.shape[3]))  # = bilinear upsampling of a 1×1 map
        return self.project(torch.cat(outs, dim=1))


class Decoder(nn.Module):
    """Upsample ASPP output to stride 4, concatenate the 48-ch low-level skip, two 3×3 convs."""

    def __init__(self, low_channels: int, cin: int = FEATURE_DIM, cout: int = FEATURE_DIM) -> None:
        super().__init__()
        self.low = nn.Sequential(nn.Conv2d(low_channels, 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(
            nn.Conv2d(cin + 48, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.Dropout(0.1),
        )

    def forward(self, x: Tensor, low: Tensor) -> Tensor:
        low = self.low(low)
        x = F.interpolate(x, size=low.shape[2:], mode="bilinear", align_corners=True)
        return self.fuse(torch.cat([x, low], dim=1))


class SegHead(nn.Module):
    """What the ZS3Net steps use of a segmentation network, whatever its backbone: ``features(x)`` (the
    256-d decoder features the GMMN imitates), ``classify`` (the final 1×1 classifier that steps 3-4
    refit) and ``forward`` = classify + upsampling. Subclasses set ``aspp``, ``decoder``, ``classifier``
    and ``config`` and define ``features``."""

    @property
    def num_classes(self) -> int:
        return self.classifier.out_channels

    @property
    def feature_dim(self) -> int:
        return FEATURE_DIM

    def classify(self, features: Tensor) -> Tensor:
        """1×1 classifier over features: (B,256,h,w) -> (B,num_classes,h,w) logits at feature resolution."""
        return self.classifier(features)

    def upsample(self, logits: Tensor, size: Sequence[int]) -> Tensor:
        return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.upsample(self.classify(self.features(x)), x.shape[2:])

    def set_classifier(self, layer: nn.Linear | nn.Conv2d) -> None:
        """Replace the final classifier (e.g. with one retrained on generated features)."""
        if isinstance(layer, nn.Linear):
            layer = linear_to_conv1x1(layer)
        if layer.in_channels != FEATURE_DIM or layer.kernel_size != (1, 1):
            raise ValueError("classifier must be a 1×1 conv / linear layer over 256-d features")
        self.classifier = layer.to(self.aspp.project[0].weight.device)
        self.config.num_classes = layer.out_channels

    def _init_head(self, *extra: nn.Module) -> None:
        """Kaiming convolutions, unit batch norms: every module after the backbone (plus ``extra``)."""
        for module in [self.aspp, self.decoder, self.classifier, *extra]:
            for m in module.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)


class DeepLabV3Plus(SegHead):
    """DeepLabv3+ (output stride 16 or 8) over a torchvision ResNet."""

    def __init__(
        self,
        num_classes: int = 21,
        backbone: str = "resnet101",
        output_stride: int = 16,
        backbone_weights: str | Path | None = None,
        multi_grid: Sequence[int] | None = (1, 2, 4),
        image_pool_bn: bool = True,
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise UserError(f"unknown backbone {backbone!r}: choose one of {', '.join(BACKBONES)}")
        if output_stride not in (8, 16):
            raise UserError(f"output stride must be 8 or 16, got {output_stride}")
        self.config = DeepLabConfig(
            num_classes=int(num_classes), backbone=backbone, output_stride=int(output_stride),
            multi_grid=tuple(multi_grid) if multi_grid else None, image_pool_bn=bool(image_pool_bn),
        )
        net = getattr(torchvision.models, backbone)(weights=None)
        net.fc = nn.Identity()
        net.avgpool = nn.Identity()
        grid = self.config.multi_grid or (1,)
        if output_stride == 16:
            _dilate_stage(net.layer4, [2 * g for g in grid])
            rates = (6, 12, 18)
        else:
            _dilate_stage(net.layer3, [2])
            _dilate_stage(net.layer4, [4 * g for g in grid])
            rates = (12, 24, 36)
        self.backbone = net
        expansion = 4 if backbone in ("resnet50", "resnet101", "resnet152") else 1
        self.aspp = ASPP(512 * expansion, rates, image_pool_bn=image_pool_bn)
        self.decoder = Decoder(64 * expansion)
        self.classifier = nn.Conv2d(FEATURE_DIM, int(num_classes), 1)
        self._init_head()
        if backbone_weights is not None:
            load_backbone_weights(self.backbone, backbone_weights)

    def backbone_forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(stride-16/8 high-level map, stride-4 low-level map)."""
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        low = b.layer1(x)
        x = b.layer4(b.layer3(b.layer2(low)))
        return x, low

    def features(self, x: Tensor) -> Tensor:
        """(B,3,H,W) normalised images -> (B,256,⌈H/4⌉,⌈W/4⌉) decoder features (post-ReLU)."""
        high, low = self.backbone_forward(x)
        return self.decoder(self.aspp(high), low)


def linear_to_conv1x1(linear: nn.Linear, conv: nn.Conv2d | None = None) -> nn.Conv2d:
    """The same per-pixel classifier as a 1×1 convolution (how a segmentation head applies it).

    Copies into ``conv`` when given (shapes must match; a missing linear bias becomes 0), else into a
    new conv on the linear's device. The one Linear → conv loader of the project.
    """
    if conv is None:
        conv = nn.Conv2d(linear.in_features, linear.out_features, 1).to(linear.weight.device)
    if conv.kernel_size != (1, 1) or tuple(conv.weight.shape[:2]) != tuple(linear.weight.shape):
        raise ValueError(f"classifier is {tuple(conv.weight.shape)}, fitted linear is {tuple(linear.weight.shape)}")
    with torch.no_grad():
        conv.weight.copy_(linear.weight.detach().view_as(conv.weight).to(conv.weight))
        if conv.bias is not None and linear.bias is not None:
            conv.bias.copy_(linear.bias.detach().to(conv.bias))
        elif conv.bias is not None:
            conv.bias.zero_()
    return conv


def build_deeplab(config: DeepLabConfig | dict) -> DeepLabV3Plus:
    """Rebuild a network from its stored config (random weights; load a state dict afterwards)."""
    if isinstance(config, dict):
        config = DeepLabConfig.from_dict(config)
    return DeepLabV3Plus(
        num_classes=config.num_classes, backbone=config.backbone, output_stride=config.output_stride,
        multi_grid=config.multi_grid, image_pool_bn=config.image_pool_bn,
    )


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Load an ImageNet ResNet state dict (torchvision layout, ``fc.*`` ignored) from a local file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"backbone weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's wrong file
        raise UserError(f"{path} is not a PyTorch weights file ({type(exc).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} does not hold a ResNet state dict")
    cleaned = {}
    for key, value in state.items():
        for prefix in ("module.", "backbone."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        if not key.startswith("fc."):
            cleaned[key] = value
    expected = backbone.state_dict()
    missing = [k for k in expected if k not in cleaned and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in cleaned if k not in expected]
    if missing or unexpected:
        raise UserError(
            f"{path} does not match the backbone: {len(missing)} missing keys (e.g. {missing[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
    wrong = [k for k, v in cleaned.items() if v.shape != expected[k].shape]
    if wrong:
        raise UserError(f"{path} has wrong tensor shapes for the backbone, e.g. {wrong[0]}: is it another ResNet depth?")
    backbone.load_state_dict(cleaned, strict=False)
    log.info("loaded backbone weights from %s", path)
