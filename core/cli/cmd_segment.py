"""`zs3 segment`: pre-label a folder of images for the classes you name, unseen classes included.

Runs the same ``Session`` as the GUI: labels from ``--labels`` (a VOC-style folder) make their
classes seen; every other class is unseen and learnt from its name. Output goes through the
``core.masks`` exporter: atomic per-image files, resumable (images already written are skipped
unless ``--overwrite``), so Ctrl-C never leaves a half-written file.
"""
from __future__ import annotations

import argparse
import sys
import time


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
    parser.add_argument("--model", default="default", help="default (offline EfficientNet-Lite2) or a checkpoint PATH")
    parser.add_argument("--out", default="zs3_out", metavar="DIR", help="output folder (default: %(default)s)")
    parser.add_argument("--format", default="voc", help="comma-separated: voc,coco,labelme,yolo,binary (default: voc)")
    parser.add_argument("--min-confidence", type=float, default=None, metavar="F",
                        help="pixels below this confidence are written as 255 (ignore)")
    parser.add_argument("--self-train", action="store_true", help="one round of ZS3Net self-training first")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs instead of resuming")
    parser.add_argument("--embeddings", default="default", metavar="SPEC", help="word vectors (default: GloVe 6B 50-d)")
    parser.add_argument("--input-side", type=int, default=512, help=argparse.SUPPRESS)  # speed knob for tests
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


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from core.atomic import ensure_writable_dir
    from core.errors import UserError
    from core.images import list_images, load_image
    from core.masks import ExportItem, ExportOptions, Exporter, import_voc_folder
    from core.masks.provenance import Provenance

    from core.embeddings import get_embedder

    classes = split_classes(args.classes)
    embedder = get_embedder(args.embeddings)
    for name in classes:
        embedder.embed(name)  # an unknown word fails now, before any model is loaded
    if args.labels and not Path(args.labels).is_dir():
        raise UserError(f"no such labels folder: {args.labels}")
    images = list_images(args.inputs)
    if not images:
        raise UserError(f"no images found in {', '.join(args.inputs)}")
    if args.min_confidence is not None and not 0.0 <= args.min_confidence <= 1.0:
        raise UserError(f"--min-confidence must be between 0 and 1, not {args.min_confidence:g}")
    options = ExportOptions(formats=tuple(args.format.split(",")), overwrite=args.overwrite,
                            min_confidence=args.min_confidence)
    options.checked_formats()
    ensure_writable_dir(args.out)
    if args.model != "default" and not Path(args.model).is_file():
        raise UserError(f"no such model file: {args.model} (use --model default or a checkpoint path)")
    if args.model != "default":
        from core.checkpoint import load_checkpoint

        load_checkpoint(args.model)  # a wrong file fails here, before anything is written
    bar = ProgressBar()
    t0 = time.perf_counter()

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
    exporter = Exporter(args.out, names, options, Provenance(
        model=args.model, embeddings=embedder.name, seen_classes=seen,
        extra={"self_train": bool(args.self_train), "min_confidence": args.min_confidence},
    ))
    todo = [p for p in images if args.overwrite or not exporter.is_done(p)]
    skipped = len(images) - len(todo)
    unreadable: list[str] = []
    if todo:  # the model loads only when something is left to do: a finished run resumes at once
        from core.session import Session, SessionConfig

        session = Session(model=args.model, device=args.device, embeddings=args.embeddings,
                          config=SessionConfig(input_side=args.input_side))
        session.set_classes(names)
        session.add_images(images)
        for path, mask in labelled.items():
            session.add_labels(path, mask, source="labels")
        session.fit(progress=lambda f, m: bar(0.2 * f, m))
        if args.self_train:
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
                known = labelled.get(path)
                if known is not None:  # real labels win over the prediction, as in the GUI; 255 = predict
                    has_label = known != 255
                    labels = np.where(has_label, known, labels).astype(np.uint8)
                    confidence = np.where(has_label, np.float32(1.0), confidence).astype(np.float32)
                exporter.add(ExportItem(path, labels, confidence))
                bar(start + (1 - start) * (i + 1) / len(todo), f"{i + 1}/{len(todo)} {path.name}")
        except KeyboardInterrupt:  # Ctrl-C: aggregate files (annotations.json, …) cover what was written
            exporter.close()
            raise
    summary = exporter.close()
    bar.done()
    print(
        f"wrote {summary.added} image(s) to {summary.out_dir} ({', '.join(summary.formats)}); "
        f"{skipped} already done; {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    if unreadable:
        raise UserError(f"{len(unreadable)} image(s) could not be read and were skipped: {', '.join(unreadable)}")
    return 0
