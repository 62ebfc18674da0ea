"""``zs3 bench annotate``: the simulated annotator (``core.session.annotate``) on a VOC-style folder.

Prints and writes ``{"miou_by_dots": {"0": …, "1": …, "2": …, "4": …, "8": …, "16": …},
"per_class_by_dots": {…}, "seconds_per_round": …, "model": …}``. With several ``--seeds`` (the
session's seed: which rows and GMMN samples a fit draws) the figures are the means over the seeds and
``by_seed`` keeps each run: on a few photos one seed's 8-dot value moves by several points.
"""
from __future__ import annotations

import json


def add_parser(kinds) -> None:
    p = kinds.add_parser("annotate", help="simulated annotator: mIoU after 0/1/2/4/8/16 corrective dots per image",
                         description=__doc__)
    p.add_argument("--data", required=True,
                   help="VOC-style folder: JPEGImages/, SegmentationClass/*.png, class_names.txt (background first)")
    p.add_argument("--classes", default=None, help='comma-separated class names (default: every class in the folder)')
    p.add_argument("--model", default="default", help="default (DINOv2), efficientnet, or a checkpoint .pth")
    p.add_argument("--radius", type=int, default=8, help="dot radius in pixels (default 8)")
    p.add_argument("--rounds", type=int, default=16, help="dots per image (default 16)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--seeds", default="0", help="comma-separated session seeds; several = the mean (docs use 0,1,2)")
    p.add_argument("--json", default=None, help="write the result here")
    p.set_defaults(func=run)


def run(args) -> int:
    from core.atomic import atomic_write_text, ensure_writable_dir
    from core.device import resolve_device
    from core.errors import UserError
    from core.session.annotate import AnnotateConfig, run_annotate

    if args.radius < 1 or args.rounds < 0:
        raise UserError("--radius must be ≥ 1 and --rounds ≥ 0")
    resolve_device(args.device)  # a wrong device fails before minutes of work
    if args.json:
        from pathlib import Path

        ensure_writable_dir(Path(args.json).resolve().parent)
    classes = None
    if args.classes:
        classes = [c.strip() for c in args.classes.split(",") if c.strip()]
        if not classes:
            raise UserError("--classes is empty")
    try:
        seeds = [int(v) for v in args.seeds.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--seeds takes comma-separated integers, not {args.seeds!r}") from None
    if not seeds:
        raise UserError("--seeds is empty")
    from core.session import SessionConfig

    runs = [run_annotate(args.data, classes, model=args.model, device=args.device,
                         config=AnnotateConfig(radius=args.radius, rounds=args.rounds),
                         session_config=SessionConfig(seed=seed)) for seed in seeds]
    result = runs[0] if len(runs) == 1 else mean_of_runs(runs, seeds)
    text = json.dumps(result, indent=1) + "\n"
    if args.json:
        atomic_write_text(args.json, text)
    print(json.dumps({k: result[k] for k in ("model", "miou_by_dots", "seconds_per_round")}, indent=1))
    return 0


def mean_of_runs(runs: list, seeds: list) -> dict:
    """One result whose figures are the means of ``runs`` (same folder and protocol), each run kept."""
    def mean(values):
        return round(sum(values) / len(values), 4)

    out = dict(runs[0])
    out["miou_by_dots"] = {k: mean([r["miou_by_dots"][k] for r in runs]) for k in runs[0]["miou_by_dots"]}
    out["per_class_by_dots"] = {k: {c: mean([r["per_class_by_dots"][k][c] for r in runs]) for c in v}
                                for k, v in runs[0]["per_class_by_dots"].items()}
    out["seconds_per_round"] = mean([r["seconds_per_round"] for r in runs])
    out["seeds"] = list(seeds)
    out["by_seed"] = {str(s): r["miou_by_dots"] for s, r in zip(seeds, runs)}
    return out
