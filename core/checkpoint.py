"""The tool's checkpoint format: one ``torch.save`` dict that carries everything a trained model needs.

A checkpoint lets a user add class names later without the training data: besides the segmentation
network it holds the seen class names, the embedding spec and matrix used, the trained GMMN and a
bounded bank of real seen-class features (float32 like the generated rows they are mixed with in
retraining, at most ``bank_per_class`` rows per class; files written before stored float16 and load
as float32).

Layout (``format`` = ``FORMAT_NAME``, ``version`` = ``FORMAT_VERSION``); only plain containers,
strings, numbers and tensors, so it loads with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from torch import Tensor

from core.atomic import atomic_open
from core.constants import IGNORE
from core.errors import UserError

log = logging.getLogger(__name__)

FORMAT_NAME = "zs3-annotator-checkpoint"
FORMAT_VERSION = 1
DEFAULT_BANK_PER_CLASS = 2000


@dataclass
class Checkpoint:
    """In-memory form of a checkpoint. Tensors are CPU tensors after loading."""

    model_kind: str  # "deeplabv3plus" (core.models.deeplab) or another backbone family's name
    model_config: dict
    model_state: dict | None
    class_names: list[str]  # all classes the classifier knows, "background" first
    seen_class_names: list[str]  # the classes with real training labels
    embedding_spec: dict  # how the class embeddings were made (e.g. {"name": "glove-6b-50d"})
    class_embeddings: Tensor | None = None  # (len(class_names), E) float32
    gmmn_kind: str | None = None  # "gmmn" or "graph_gmmn"
    gmmn_config: dict | None = None
    gmmn_state: dict | None = None
    bank_features: Tensor | None = None  # (N, F) float32, real features of seen classes
    bank_labels: Tensor | None = None  # (N,) int64, indices into class_names
    meta: dict = field(default_factory=dict)  # free-form: training options, metrics, dates

    @classmethod
    def from_models(cls, model, class_names, seen_class_names, embedding_spec: dict, class_embeddings: Tensor,
                    gmmn=None, bank_features: Tensor | None = None, bank_labels: Tensor | None = None,
                    meta: dict | None = None) -> "Checkpoint":
        """Convenience: a checkpoint of a ``DeepLabV3Plus`` or ``DinoDeepLab`` and (optionally) its GMMN or
        graph GMMN."""
        gmmn_kind = None
        if gmmn is not None:
            from core.models.graph_context import GraphContextGMMN

            gmmn_kind = "graph_gmmn" if isinstance(gmmn, GraphContextGMMN) else "gmmn"
        return cls(
            model_kind=getattr(model, "checkpoint_kind", "deeplabv3plus"), model_config=model.config.to_dict(),
            model_state=model.state_dict(),
            class_names=list(class_names), seen_class_names=list(seen_class_names),
            embedding_spec=dict(embedding_spec), class_embeddings=class_embeddings,
            gmmn_kind=gmmn_kind, gmmn_config=None if gmmn is None else gmmn.config(),
            gmmn_state=None if gmmn is None else gmmn.state_dict(),
            bank_features=bank_features, bank_labels=bank_labels, meta=dict(meta or {}),
        )

    @property
    def seen_ids(self) -> list[int]:
        return [self.class_names.index(n) for n in self.seen_class_names if n in self.class_names]

    def build_model(self):
        """The segmentation network with its weights (kinds ``deeplabv3plus`` and ``dinov2_deeplab``)."""
        if self.model_kind == "deeplabv3plus":
            from core.models.deeplab import build_deeplab as build
        elif self.model_kind == "dinov2_deeplab":
            from core.models.dinov2_deeplab import build_dino_deeplab as build
        else:
            raise UserError(f"this checkpoint holds a {self.model_kind!r} model, which this loader cannot build")
        model = build(self.model_config)
        if self.model_state is not None:
            try:
                model.load_state_dict(self.model_state)
            except RuntimeError as exc:
                first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
                raise UserError(f"the checkpoint's {self.model_kind} weights do not fit the network it names "
                                f"({first[:160]})") from None
        return model

    def build_gmmn(self):
        """The trained feature generator, in eval mode, or None when the checkpoint has none."""
        if self.gmmn_state is None or self.gmmn_config is None:
            return None
        if self.gmmn_kind == "graph_gmmn":
            from core.models.graph_context import GraphContextGMMN as cls
        else:
            from core.models.gmmn import GMMN as cls
        net = cls(**self.gmmn_config)
        net.load_state_dict(self.gmmn_state)
        return net.eval()


def feature_bank(features: Tensor, labels: Tensor, per_class: int = DEFAULT_BANK_PER_CLASS, seed: int = 0
                 ) -> tuple[Tensor, Tensor]:
    """A seeded random subsample of at most ``per_class`` rows per class; 255 rows dropped; float32."""
    from core.zs3.sampling import capped_subsample

    labels = labels.long().cpu()
    features = features.detach().cpu()
    keep = labels != IGNORE
    features, labels = features[keep], labels[keep]
    if labels.numel() == 0:
        return torch.zeros(0, features.shape[1], dtype=torch.float32), torch.zeros(0, dtype=torch.long)
    gen = torch.Generator().manual_seed(int(seed))
    idx = capped_subsample(labels, int(per_class), gen)
    idx = idx.sort().values
    return features[idx].float(), labels[idx]


def numpy_safe_globals() -> list:
    """NumPy scalar/dtype types that reference checkpoints pickle (e.g. ``best_pred`` as np.float64)."""
    import numpy as np

    allowed: list = [np.dtype]
    for name in ("numpy.core.multiarray", "numpy._core.multiarray"):
        try:
            module = __import__(name, fromlist=["scalar"])
            allowed.append(module.scalar)
        except (ImportError, AttributeError):
            pass
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return allowed


def _cpu_state(state: dict | None) -> dict | None:
    if state is None:
        return None
    return {k: v.detach().cpu() for k, v in state.items()}


def save_checkpoint(path, checkpoint: Checkpoint | None = None, *, bank_per_class: int = DEFAULT_BANK_PER_CLASS,
                    **fields_) -> Path:
    """Write ``checkpoint`` (or a ``Checkpoint(**fields_)``) atomically to ``path``; returns the path.

    The feature bank is cut to ``bank_per_class`` rows per class and stored as float32.
    """
    if checkpoint is None:
        checkpoint = Checkpoint(**fields_)
    elif fields_:
        raise TypeError("pass either a Checkpoint or its fields, not both")
    ck = checkpoint
    bank_f = bank_l = None
    if ck.bank_features is not None and ck.bank_labels is not None:
        bank_f, bank_l = feature_bank(ck.bank_features, ck.bank_labels, bank_per_class)
    if ck.class_embeddings is not None and ck.class_embeddings.shape[0] != len(ck.class_names):
        raise ValueError("class_embeddings must have one row per class name")
    payload = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "model": {
            "kind": ck.model_kind,
            "config": ck.model_config.to_dict() if hasattr(ck.model_config, "to_dict") else dict(ck.model_config),
            "state_dict": _cpu_state(ck.model_state),
        },
        "classes": {"all": list(ck.class_names), "seen": list(ck.seen_class_names)},
        "embeddings": {
            "spec": dict(ck.embedding_spec),
            "matrix": None if ck.class_embeddings is None else ck.class_embeddings.detach().cpu().float(),
        },
        "gmmn": None if ck.gmmn_state is None else {
            "kind": ck.gmmn_kind or "gmmn", "config": dict(ck.gmmn_config or {}), "state_dict": _cpu_state(ck.gmmn_state),
        },
        "feature_bank": None if bank_f is None else {"features": bank_f, "labels": bank_l},
        "meta": dict(ck.meta),
    }
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        torch.save(payload, handle)
    log.info("saved checkpoint %s", path)
    return path


def load_checkpoint(path, map_location="cpu") -> Checkpoint:
    """Read a checkpoint; a missing, foreign or wrong-version file is a one-line ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(numpy_safe_globals()):  # meta may hold NumPy scalars
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever the reason, the file is not ours
        raise UserError(f"{path} is not a zs3-annotator checkpoint (unreadable: {type(exc).__name__})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
        if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict) and any(
            str(k).startswith(("aspp.", "module.aspp.")) for k in obj["state_dict"]
        ):
            raise UserError(f"{path} is a reference ZS3Net checkpoint, not ours: import it with core.reference_import")
        raise UserError(f"{path} is not a zs3-annotator checkpoint")
    version = obj.get("version")
    if version != FORMAT_VERSION:
        raise UserError(f"{path} has checkpoint format version {version}; this tool reads version {FORMAT_VERSION}")
    try:
        model, classes, emb = obj["model"], obj["classes"], obj["embeddings"]
        gmmn, bank = obj.get("gmmn"), obj.get("feature_bank")
        return Checkpoint(
            model_kind=model["kind"],
            model_config=model["config"],
            model_state=model["state_dict"],
            class_names=list(classes["all"]),
            seen_class_names=list(classes["seen"]),
            embedding_spec=emb["spec"],
            class_embeddings=emb["matrix"],
            gmmn_kind=None if gmmn is None else gmmn["kind"],
            gmmn_config=None if gmmn is None else gmmn["config"],
            gmmn_state=None if gmmn is None else gmmn["state_dict"],
            bank_features=None if bank is None else bank["features"].float(),  # float16 before 2026-11-30
            bank_labels=None if bank is None else bank["labels"],
            meta=obj.get("meta", {}),
        )
    except (KeyError, TypeError) as exc:
        raise UserError(f"{path} is a damaged zs3-annotator checkpoint (missing {exc})") from None


CHECKPOINT_FIELDS = tuple(f.name for f in fields(Checkpoint))
