"""Dense multi-scale "hypercolumn" features from EfficientNet-Lite2: the default model's pixel features.

Why this shape:
- Taps at strides 4, 8, 16, 32 and the 1280-d head: early stages give edges and colour (sharp
  boundaries), late ones give semantics (what the object is). Everything is brought to stride 8
  (stride 4 average-pooled, coarser ones bilinearly upsampled): 64×64 positions for a 512-px image,
  fine enough for masks and small enough to cache (256 ch × float16 = 2 MiB per image).
- Each stage is L2-normalised over channels and weighted, so no stage dominates by raw magnitude.
- A fixed linear projection (PCA fitted once on the bundled photos, shipped in
  ``resources/default_model/hypercolumn_pca.npz``) reduces to 256-d and scales the result so that
  typical distances between pixels of different classes lie inside the GMMN's MMD bandwidths
  (σ = 2…80): the scale is chosen so that the RMS feature norm is ``TARGET_RMS_NORM``. Without the
  shipped file a seeded random orthogonal projection is used (same dimension, same scale rule).
- The ImageNet classifier applied at every head position gives dense scores over 1,000 named
  classes (the zero-label prior, see ``core.session.prior``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from core.models.efficientnet_lite import TAP_CHANNELS, HEAD_CH, EfficientNetLite2, load_efficientnet_lite2

log = logging.getLogger(__name__)

FEATURE_DIM = 256
FEATURE_STRIDE = 8
#: Longest image side fed to the network; features are at 1/8 of it.
INPUT_SIDE = 512
TARGET_RMS_NORM = 16.0
STAGE_KEYS = (4, 8, 16, 32, "head")
STAGE_WEIGHTS = {4: 0.6, 8: 0.8, 16: 1.0, 32: 1.0, "head": 1.2}
RAW_DIM = sum(TAP_CHANNELS.values()) + HEAD_CH
PCA_FILE = Path(__file__).resolve().parents[2] / "resources" / "default_model" / "hypercolumn_pca.npz"


@dataclass
class DenseFeatures:
    """What the backbone returns for one image (CPU tensors, float16 to keep the cache small)."""

    features: torch.Tensor  # (F, h, w) at the backbone's stride of the resized input
    imagenet_logits: torch.Tensor | None  # (1000, h32, w32) or None for backbones without it
    image_size: tuple  # (H, W) of the original image
    # (h', w', 3) uint8: the image at network resolution, the guide of edge-aware upsampling (or None)
    guide: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        n = self.features.numel() * self.features.element_size()
        if self.imagenet_logits is not None:
            n += self.imagenet_logits.numel() * self.imagenet_logits.element_size()
        if self.guide is not None:
            n += self.guide.nbytes
        return n


def resize_for_network(image: np.ndarray, side: int = INPUT_SIDE) -> torch.Tensor:
    """H×W×3 uint8 -> (1,3,h,w) float in 0..255 with the longest side ``side`` (aspect kept)."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    h, w = image.shape[:2]
    scale = side / max(h, w)
    nh, nw = max(8, round(h * scale)), max(8, round(w * scale))
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=scale < 1)
    return x


class HypercolumnBackbone:
    """EfficientNet-Lite2 ImageNet -> 256-d dense features at stride 8 + dense ImageNet logits."""

    name = "efficientnet-lite2-hypercolumn"
    feat_dim = FEATURE_DIM
    stride = FEATURE_STRIDE
    has_imagenet = True

    def __init__(self, device: torch.device | str = "cpu", projection: str | Path | None = PCA_FILE,
                 input_side: int = INPUT_SIDE):
        from core.device import prepare_model

        self.device = torch.device(device)
        self.input_side = int(input_side)
        if self.input_side != INPUT_SIDE:
            self.name = f"{self.name}@{self.input_side}"
        self.net: EfficientNetLite2 = prepare_model(load_efficientnet_lite2(), self.device)
        mean, proj = _load_projection(projection)
        self.mean = mean.to(self.device)
        self.proj = proj.to(self.device)  # (RAW_DIM, FEATURE_DIM), scale folded in

    def raw_hypercolumn(self, stages: dict) -> torch.Tensor:
        """Stage maps -> (B, RAW_DIM, h8, w8) normalised, weighted, concatenated (before projection)."""
        ref = stages[8]
        size = ref.shape[-2:]
        parts = []
        for key in STAGE_KEYS:
            x = stages[key].float()
            if x.shape[-2:] != size:
                if x.shape[-2] > size[0]:
                    x = F.adaptive_avg_pool2d(x, size)
                else:
                    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            parts.append(F.normalize(x, dim=1) * STAGE_WEIGHTS[key])
        return torch.cat(parts, dim=1)

    def project(self, raw: torch.Tensor) -> torch.Tensor:
        b, c, h, w = raw.shape
        flat = raw.permute(0, 2, 3, 1).reshape(-1, c)
        out = (flat - self.mean) @ self.proj
        return out.reshape(b, h, w, -1).permute(0, 3, 1, 2)

    def extract(self, image: np.ndarray) -> DenseFeatures:
        """One H×W×3 uint8 image -> DenseFeatures (computed under inference mode)."""
        from core.device import inference_context

        x = resize_for_network(image, self.input_side).to(self.device)
        with inference_context(self.device):
            stages = self.net.forward_stages(self.net.normalize(x))
            feats = self.project(self.raw_hypercolumn(stages))[0]
            logits = self.net.dense_logits(stages["head"].float())[0]
        return DenseFeatures(
            features=feats.float().to("cpu", torch.float16),
            imagenet_logits=logits.float().to("cpu", torch.float16),
            image_size=tuple(image.shape[:2]),
        )


def _load_projection(path) -> tuple[torch.Tensor, torch.Tensor]:
    if path is not None and Path(path).is_file():
        data = np.load(path)
        mean, proj = data["mean"].astype(np.float32), data["proj"].astype(np.float32)
        if mean.shape == (RAW_DIM,) and proj.shape == (RAW_DIM, FEATURE_DIM):
            return torch.from_numpy(mean), torch.from_numpy(proj)
        log.warning("ignoring %s: shapes %s %s do not match this backbone", path, mean.shape, proj.shape)
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(RAW_DIM, FEATURE_DIM, generator=gen))
    # A unit-norm hypercolumn per stage has squared norm sum(w^2); random projection keeps ~F/RAW of it.
    raw_sq = sum(w * w for w in STAGE_WEIGHTS.values()) * FEATURE_DIM / RAW_DIM
    return torch.zeros(RAW_DIM), q * (TARGET_RMS_NORM / np.sqrt(raw_sq))


def fit_projection(raw_rows: np.ndarray, dim: int = FEATURE_DIM, target_rms: float = TARGET_RMS_NORM):
    """PCA on raw hypercolumn rows (N, RAW_DIM) -> (mean, proj) with the RMS norm scaled to target."""
    mean = raw_rows.mean(0)
    centered = raw_rows - mean
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    proj = vt[:dim].T
    rms = np.sqrt(((centered @ proj) ** 2).sum(1).mean())
    return mean.astype(np.float32), (proj * (target_rms / rms)).astype(np.float32)
