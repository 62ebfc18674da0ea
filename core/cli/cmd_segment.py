"""`zs3 segment`: pre-label a folder of images for the classes you name, unseen classes included.

Runs the same ``Session`` as the GUI: labels from ``--labels`` (a VOC-style folder) make their
classes seen; every other class is unseen and learnt from its name. Output goes through the
``core.masks`` exporter: atomic per-image files, resumable (images already written are skipped
unless ``--overwrite``), so Ctrl-C never leaves a half-written file.

Large folders: ``--shard I/N`` does one disjoint part of the input (``zs3 merge`` joins the parts'
folders), and ``torchrun --nproc_per_node G -m core.cli.main segment …`` runs one shard per rank into
one folder, rank 0 writing the set-level files once every rank is done (``core/cli/shards.py``).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="pre-label images for the named classes (no labels needed)",
        description=(
            "Segment every image of INPUT (files or folders) into the classes of --classes. Classes with "
            "labelled pixels in --labels are seen; the others are unseen and learnt from their names."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument("--classes", required=True,
                        help='comma-separated class names, e.g. "person,sofa" or "quokka: small wallaby,tree" '
                             "(background is added first)")
    parser.add_argument("--labels", metavar="VOC_DIR",
                        help="VOC-style folder (SegmentationClass/*.png + class_names.txt) of real labels; "
                             "classes matched by name, others ignored")
    parser.add_argument("--model", default="default",
                        help="default (offline DINOv2 ViT-S/14), efficientnet (the previous default) or a checkpoint PATH")
    parser.add_argument("--out", default="zs3_out", metavar="DIR", help="output folder (default: %(default)s)")
    parser.add_argument("--format", default="voc", help="comma-separated: voc,coco,labelme,yolo,binary (default: voc)")
    parser.add_argument("--min-confidence", type=float, default=None, metavar="F",
                        help="pixels below this confidence are written as 255 (ignore)")
    parser.add_argument("--self-train", action="store_true", help="one round of ZS3Net self-training first")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs instead of resuming")
    parser.add_argument("--embeddings", default="default", metavar="SPEC", help="word vectors (default: GloVe 6B 50-d)")
    parser.add_argument("--shard", metavar="I/N", default=None,
                        help="do only shard I of N (counted from 0): every N-th image by sorted path, for job "
                             "arrays; join the shards' output folders with `zs3 merge`. Under torchrun each rank "
                             "takes its shard by itself. With --self-train a shard's pseudo-labels come from its "
                             "own images")
    parser.add_argument("--found-json", metavar="FILE", default=None,
                        help="also write the per-class summary printed at the end (found / low confidence / "
                             "not found in how many images, names to try) as JSON")
    parser.add_argument("--input-side", type=int, default=None, help=argparse.SUPPRESS)  # speed knob for tests
    parser.set_defaults(func=run)


def split_classes(text: str) -> list[str]:
    from core.errors import UserError

    names = [" ".join(part.split()) for part in text.split(",")]
    names = [n for n in names if n]
    if not names:
        raise UserError("--classes is empty: name at least one class, e.g. --classes cat,person")
    return names


class ProgressBar:
    """A plain-text progress line on stderr (rewritten in place on a terminal, one line per step otherwise)."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = ""

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        filled = int(round(self.width * fraction))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}% {message}"
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(len(self._last)))
        elif line.split("%")[0] != self._last.split("%")[0]:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._last = line[:120]

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class _Quiet:
    """The progress bar of a torchrun rank other than 0: one bar per job, not one per process."""

    def __call__(self, fraction: float, message: str) -> None:
        pass

    def done(self) -> None:
        pass


# Cache of the session inside `zs3 segment`: every image is predicted once, so the cache only has
# to keep the fit's images (up to SessionConfig.prior_images = 24, read first, predicted first)
# until their own prediction: 24 x ~1.3 MB for the DINOv2 default (features, ImageNet logits, guide;
# 2.6 MB for efficientnet at 512 px). A bigger cache would only
# make the process grow for its first few hundred images of a large folder.
SEGMENT_CACHE_BYTES = 64 * 2**20


# glibc serves a freed large block's size from its heap from then on (its mmap threshold adapts
# upwards), and a heap fragmented by per-image buffers of changing sizes keeps growing: measured on
# 320-px images, RSS rose from 1.5 GB after 100 images to 2.1 GB after 1,000. A fixed threshold
# keeps every buffer of this size or more in its own mapping, returned to the system when freed:
# then flat at 1.4 GB.
MMAP_THRESHOLD_BYTES = 256 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h


def _return_freed_buffers_to_the_system() -> None:
    """Fix glibc's mmap threshold (no-op elsewhere: other C libraries do not adapt it)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version"):
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except OSError:
        pass


@dataclass
class _Plan:
    """Everything checked before any model loads or any file is written."""

    names: list[str]
    images: list[Path]
    labelled: dict
    seen: list[str]
    embedder_name: str
    options: object


def _plan(args: argparse.Namespace) -> _Plan:
    import numpy as np

    from core.atomic import ensure_writable_dir
    from core.cli.shards import check_unique_stems
    from core.embeddings import get_embedder
    from core.errors import UserError
    from core.images import list_images, load_image
    from core.masks import ExportOptions, import_voc_folder

    classes = split_classes(args.classes)
    embedder = get_embedder(args.embeddings)
    for name in classes:
        embedder.embed(name)  # an unknown word fails now, before any model is loaded
    if args.labels and not Path(args.labels).is_dir():
        raise UserError(f"no such labels folder: {args.labels}")
    images = list_images(args.inputs)
    if not images:
        raise UserError(f"no images found in {', '.join(args.inputs)}")
    check_unique_stems(images)
    if args.min_confidence is not None and not 0.0 <= args.min_confidence <= 1.0:
        raise UserError(f"--min-confidence must be between 0 and 1, not {args.min_confidence:g}")
    options = ExportOptions(formats=tuple(args.format.split(",")), overwrite=args.overwrite,
                            min_confidence=args.min_confidence)
    options.checked_formats()
    ensure_writable_dir(args.out)
    from core.session.backbones import MODEL_NAMES

    if args.model not in MODEL_NAMES and not Path(args.model).is_file():
        raise UserError(f"no such model file: {args.model} (use --model default, efficientnet or a checkpoint path)")
    if args.model not in MODEL_NAMES:
        from core.checkpoint import load_checkpoint

        load_checkpoint(args.model)  # a wrong file fails here, before anything is written
    names = ["background", *[n for n in classes if n.split(":")[0].strip().lower() != "background"]]
    if len(set(names)) != len(names):
        raise UserError("--classes lists a class twice")
    if len(names) < 2:
        raise UserError("--classes names only background: name at least one class to find, e.g. --classes cat")
    by_stem = {p.stem: p for p in images}
    labelled: dict = {}
    if args.labels:
        for stem, mask in import_voc_folder(args.labels, names).items():
            path = by_stem.get(stem)
            if path is None:
                continue
            if mask.shape != load_image(path).shape[:2]:
                raise UserError(f"label mask {stem}.png does not match the size of {path.name}")
            labelled[path] = mask
        if not labelled:
            raise UserError(f"no mask in {args.labels} matches an input image by file name")
    seen = sorted({names[int(v)] for m in labelled.values() for v in np.unique(m) if v != 255})
    return _Plan(names, images, labelled, seen, embedder.name, options)


def run(args: argparse.Namespace) -> int:
    from core.cli.shards import join_ranks, leave, parse_shard

    requested = parse_shard(args.shard) if args.shard else None
    plan = _plan(args)
    shard = join_ranks(requested)
    try:
        return _segment(args, plan, shard)
    finally:
        leave(shard)


def _open_exporter(args, plan: _Plan, shard):
    """Rank 0 prepares the output folder (clash checks, fresh records) before any other rank opens
    it, so that no rank discards records another one has already written."""
    from core.cli.shards import meet
    from core.masks import Exporter
    from core.masks.provenance import Provenance

    def make():
        return Exporter(args.out, plan.names, plan.options, Provenance(
            model=args.model, embeddings=plan.embedder_name, seen_classes=plan.seen,
            extra={"self_train": bool(args.self_train), "min_confidence": args.min_confidence},
        ))

    if shard.ranks and not shard.is_main:
        meet(shard)
    exporter = make()
    if shard.ranks and shard.is_main:
        meet(shard)
    return exporter


def _segment(args, plan: _Plan, shard) -> int:
    import numpy as np

    from core.cli.shards import cuda_device_for, meet, shard_of
    from core.errors import UserError
    from core.masks import ExportItem
    from core.found import FoundTally, find_classes

    t0 = time.perf_counter()
    found = FoundTally(plan.names)  # per class: in how many of this run's images it was found
    _return_freed_buffers_to_the_system()
    bar = ProgressBar() if shard.is_main or not shard.ranks else _Quiet()
    exporter = _open_exporter(args, plan, shard)
    mine = shard_of(plan.images, shard)
    todo = [p for p in mine if args.overwrite or not exporter.is_done(p)]
    skipped = len(mine) - len(todo)
    unreadable: list[str] = []
    if todo:  # the model loads only when something is left to do: a finished run resumes at once
        from core.session import Session, SessionConfig

        # Every shard fits on the whole input (the prior's images, every label), as one process
        # would: a shard's masks are then exactly those of an unsharded run.
        session = Session(model=args.model, device=cuda_device_for(shard, args.device), embeddings=args.embeddings,
                          cache_bytes=SEGMENT_CACHE_BYTES, config=SessionConfig(input_side=args.input_side))
        session.set_classes(plan.names)
        session.add_images(plan.images)
        for path, mask in plan.labelled.items():
            session.add_labels(path, mask, source="labels")
        session.fit(progress=lambda f, m: bar(0.2 * f, m))
        if args.self_train:  # pseudo-labels from this shard's images only (see --shard's help)
            session.self_train(images=todo, progress=lambda f, m: bar(0.2 + 0.2 * f, m))
        start = 0.4 if args.self_train else 0.2
        try:
            for i, path in enumerate(todo):
                try:
                    pred = session.predict(path)
                except UserError as exc:  # one unreadable file must not stop the rest of the folder
                    unreadable.append(path.name)
                    print(f"\nzs3 segment: skipped {path.name}: {exc}", file=sys.stderr)
                    continue
                labels, confidence = pred.labels, pred.confidence
                known = plan.labelled.get(path)
                if known is not None:  # real labels win over the prediction, as in the GUI; 255 = predict
                    has_label = known != 255
                    labels = np.where(has_label, known, labels).astype(np.uint8)
                    confidence = np.where(has_label, np.float32(1.0), confidence).astype(np.float32)
                exporter.add(ExportItem(path, labels, confidence))
                found.add(find_classes(labels, confidence, plan.names))
                bar(start + (1 - start) * (i + 1) / len(todo), f"{i + 1}/{len(todo)} {path.name}")
        except KeyboardInterrupt:  # Ctrl-C: aggregate files (annotations.json, …) cover what was written
            if shard.is_main:
                exporter.close()
            raise
    meet(shard)  # under torchrun: every rank's images are written before rank 0 writes the set files
    where = f" ({shard.label})" if shard.count > 1 else ""
    if shard.is_main or not shard.ranks:
        summary = exporter.close()
        bar.done()
        if todo:  # what was found in the images this process segmented, one line per class
            found.report(session.embedder, args.found_json)
        total = f"; {summary.images} image(s) in the set" if shard.ranks else ""
        print(f"wrote {summary.added} image(s) to {summary.out_dir} ({', '.join(summary.formats)}){where}; "
              f"{skipped} already done{total}; {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    else:
        print(f"wrote {len(todo) - len(unreadable)} image(s){where}; {skipped} already done; "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if unreadable:
        raise UserError(f"{len(unreadable)} image(s) could not be read and were skipped: {', '.join(unreadable)}")
    return 0
