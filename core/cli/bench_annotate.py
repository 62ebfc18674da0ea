"""``zs3 bench annotate``: the simulated annotator (``core.session.annotate``) on a VOC-style folder.

Prints and writes ``{"miou_by_dots": {"0": …, "1": …, "2": …, "4": …, "8": …, "16": …},
"per_class_by_dots": {…}, "seconds_per_round": …, "model": …}``.
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
    result = run_annotate(args.data, classes, model=args.model, device=args.device,
                          config=AnnotateConfig(radius=args.radius, rounds=args.rounds))
    text = json.dumps(result, indent=1) + "\n"
    if args.json:
        atomic_write_text(args.json, text)
    print(json.dumps({k: result[k] for k in ("model", "miou_by_dots", "seconds_per_round")}, indent=1))
    return 0
