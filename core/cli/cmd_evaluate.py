"""``zs3 evaluate``: generalised zero-shot scores of a checkpoint (or the default model) on a dataset.

    zs3 evaluate --model zs3net.pth --dataset voc --root VOC --split val [--json scores.json]
    zs3 evaluate --model default [--root LABELLED_FOLDER] --unseen "cow,motorbike" [--json FILE]

Without ``--root`` the default model is scored on the tuning part (resources/eval) and, once fetched
(resources/eval/fetch_heldout.py), the held-out part; each table splits the classes by zero-label
source (ImageNet head, COCO detector, both, or the GMMN alone) and ablates each source.

Prints per-class IoU and PA / MA / mIoU for seen, unseen and all classes plus the harmonic mean
(hIoU): one confusion matrix over the whole set, arg-max over all classes, 255 ignored.
"""
from __future__ import annotations

import argparse
import json
import math

from core.cli.cmd_train import ARCHS

def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="seen / unseen / harmonic mIoU of a model on a dataset",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a checkpoint of `zs3 train`, 'default' or 'efficientnet'")
    p.add_argument("--dataset", choices=("voc", "voc_aug", "context", "folder"), default=None)
    p.add_argument("--root", default=None, help="dataset folder")
    p.add_argument("--sbd-root", default=None)
    p.add_argument("--split", default="val")
    p.add_argument("--unseen", default=None, help='unseen class names (default: those of the checkpoint)')
    p.add_argument("--arch", choices=ARCHS, default=None,
                   help="refuse a checkpoint of another network (default: whatever --model holds)")
    p.add_argument("--json", default=None, help="also write the scores as JSON")
    p.add_argument("--settings", default=None,
                   help="default model: comma-separated settings to run (default: all; 'unseen' alone is "
                        "the zero-label check, a minute instead of half an hour)")
    p.add_argument("--part", default=None, choices=("tuning", "tuning-extra", "held-out"),
                   help="default model without --root: score this part only (default: every fetched part)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.set_defaults(func=run)


def _clean(obj):
    """NaN → None so the JSON is strict."""
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _pct(v) -> str:
    return "     –" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:6.2f}"


def _print_default(result: dict) -> None:
    """One line per setting of ``evaluate_default``'s result: seen / unseen / h mIoU, then the mean IoU
    of the classes of each zero-label source (ImageNet head, COCO detector, both, GMMN only)."""
    from core.session.evaluation import SOURCES

    sources = [s for s in SOURCES if s in result.get("sources", {}).values()]
    print(f"{'setting':<24} seen%  unseen%    hIoU%" + "".join(f"{s + '%':>15}" for s in sources))
    for name, scores in result.items():
        if isinstance(scores, dict) and "seen_miou" in scores:
            by = scores.get("by_source", {})
            print(f"{name:<24}{_pct(scores.get('seen_miou'))}  {_pct(scores.get('unseen_miou'))}  "
                  f"{_pct(scores.get('hiou'))}" + "".join(f"{_pct(by.get(s)):>15}" for s in sources))
    print("sources: " + ", ".join(f"{c} = {s}" for c, s in result.get("sources", {}).items()))
    zero = result.get("unseen", {}).get("presence")
    if zero:  # issue 11's criteria, zero labels
        print(f"zero labels: a present class found (>= 25 % of its pixels) in {_pct(zero['found_rate']).strip()} % "
              f"of {zero['present_pairs']} (photo, class) pairs ({_pct(zero.get('found_clear')).strip()} % of the "
              f"{zero.get('clear_pairs')} clearly in the photo, >= 32 x 32 px); an absent class under 2 % of the photo in "
              f"{_pct(zero['clean_rate']).strip()} % of {zero['absent_pairs']}")
        if zero.get("missed"):
            print("not found: " + ", ".join(f"{m['class']} in {m['image']} ({100 * m['recall']:.0f} %)"
                                            for m in zero["missed"]))
    absent = result.get("unseen_absent", {})
    if absent.get("presence"):  # the same, with everyday names no photo holds typed too
        spilled = {n: k for n, k in absent.get("absent_names", {}).items() if k}
        print(f"with {len(absent.get('absent_names', {}))} absent everyday names typed too: an absent class under 2 % "
              f"in {_pct(absent['presence']['clean_rate']).strip()} % of {absent['presence']['absent_pairs']} pairs"
              + ("; over 2 %: " + ", ".join(f"{n} on {k}" for n, k in spilled.items()) if spilled else ""))


def _default_parts(root, only: str | None = None) -> list:
    """(part name, folder) to evaluate: ``--root``, or the shipped tuning part, then the second tuning part
    and the held-out part where they are fetched; ``only``: that part alone (an error when not fetched)."""
    from pathlib import Path

    from core.errors import UserError
    from core.session.evaluation import DEFAULT_EVAL, HELDOUT_EVAL, TUNING_EXTRA

    if root:
        if only:
            raise UserError("--part chooses one of the shipped evaluation parts: drop it with --root")
        return [(Path(root).name, Path(root))]
    parts = [] if only not in (None, "tuning") else [("tuning", DEFAULT_EVAL)]
    for name, folder, script in (("tuning-extra", TUNING_EXTRA, "fetch_tuning.py"),
                                 ("held-out", HELDOUT_EVAL, "fetch_heldout.py")):
        if only not in (None, name):
            continue
        if (folder / "class_names.txt").is_file():
            parts.append((name, folder))
        elif only:
            raise UserError(f"the {name} part is not fetched ({folder}): python resources/eval/{script}")
        else:
            print(f"{name} part not fetched ({folder}): python resources/eval/{script}")
    return parts


def _settings(text: str | None) -> tuple:
    """``--settings`` as a tuple of ``evaluation.SETTINGS`` (all of them when not given)."""
    from core.errors import UserError
    from core.session.evaluation import SETTINGS

    if text is None:
        return SETTINGS
    chosen = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in chosen if s not in SETTINGS]
    if unknown or not chosen:
        what = f"unknown evaluation setting {unknown[0]!r}" if unknown else "--settings is empty"
        raise UserError(f"{what}; choose from {', '.join(SETTINGS)}")
    return chosen


def run(args) -> int:
    from pathlib import Path

    from core.atomic import atomic_write_text, ensure_writable_dir
    from core.errors import UserError

    if args.json:  # an unwritable --json fails now, not after minutes of evaluation
        ensure_writable_dir(Path(args.json).parent)
        if Path(args.json).is_dir():
            raise UserError(f"--json {args.json} is a folder: name a file, e.g. scores.json")
    from core.session.backbones import MODEL_NAMES

    if args.model in MODEL_NAMES:
        try:
            from core.session.evaluation import evaluate_default
        except ImportError:
            raise UserError("evaluating the default model needs core.session.evaluation, which is not installed") from None
        if args.dataset not in (None, "folder"):
            raise UserError(f"--model default evaluates a labelled folder (--root, default resources/eval), "
                            f"not --dataset {args.dataset}: train a checkpoint with `zs3 train` for that")
        unseen = [n.strip() for n in (args.unseen or "").split(",") if n.strip()]
        settings = _settings(args.settings)
        parts = _default_parts(args.root, args.part)
        results = {}
        for part, folder in parts:
            print(f"== {part}: {folder}")
            results[part] = evaluate_default(folder, unseen, device=args.device, model=args.model, settings=settings)
            _print_default(results[part])
        if args.json:  # --root: that folder's result; otherwise one result per part
            payload = results[parts[0][0]] if args.root else results
            atomic_write_text(args.json, json.dumps(_clean(payload), indent=1, default=float) + "\n")
            print(f"wrote {args.json}")
        return 0

    from core.checkpoint import load_checkpoint
    from core.data.registry import open_dataset
    from core.device import resolve_device
    from core.metrics import format_table
    from core.zs3 import pipeline as P
    from core.zs3 import steps_io

    if not args.dataset or not args.root:
        raise UserError("--dataset and --root are required to evaluate a checkpoint")
    if args.settings or args.part:
        raise UserError(f"--{'settings' if args.settings else 'part'} is for --model default: a checkpoint is "
                        "scored on --dataset with its own seen / unseen split")
    ck = load_checkpoint(args.model)
    steps_io.check_arch(ck, args.model, args.arch)
    kw = {"sbd_root": args.sbd_root} if args.dataset == "voc_aug" and args.sbd_root else {}
    dataset = open_dataset(args.dataset, args.root, args.split, **kw)
    if list(ck.class_names) != list(dataset.class_names):
        raise UserError(f"the checkpoint knows {len(ck.class_names)} classes, the dataset has "
                        f"{len(dataset.class_names)}: evaluate on the dataset it was trained for")
    names = list(ck.class_names)
    if args.unseen:
        from core.data.splits import class_ids

        unseen_ids = class_ids([n for n in args.unseen.split(",") if n.strip()], names)
    else:
        unseen_ids = [names.index(n) for n in steps_io.unseen_of(ck)]
    seen_ids = [i for i in range(len(names)) if i not in unseen_ids]
    device = resolve_device(args.device)
    model = steps_io.model_from_checkpoint(ck).to(device)
    scores = P.evaluate(model, dataset, seen_ids, unseen_ids, batch_size=args.batch_size, workers=args.workers,
                        device=device)
    print(format_table(scores, names))
    if args.json:
        payload = _clean({
            "model": str(args.model), "stage": ck.meta.get("stage"), "dataset": args.dataset,
            "split": args.split, "images": len(dataset), "class_names": names,
            "unseen_classes": [names[i] for i in unseen_ids],
            "seen_miou": scores["seen"]["miou"], "unseen_miou": scores["unseen"]["miou"], "hiou": scores["hiou"],
            "scores": scores,
            "per_class_iou": {names[i]: v for i, v in enumerate(scores["iou"])},
        })
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
