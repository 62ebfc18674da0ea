"""``zs3 bench synthetic|speed``: benchmarks that print (and optionally write) one JSON.

``speed`` (``core/cli/bench_speed.py``): features, refit, cached prediction, ``zs3 segment``
throughput, batched vs looped GMMN step and peak memory, each with its same-run baseline.

``synthetic``: the synthetic zero-shot benchmark (known answer, CPU, minutes). Trains a small segmentation network on the seen classes of procedurally generated scenes, then the
GMMN, the retrained classifier (ZS3Net), self-training (ZS3Net+ST) and the no-generation baseline,
and prints / writes ``{"zs3net": {"seen_miou", "unseen_miou", "hiou"}, "zs3net_st": {…}, "baseline": {…}}``.
"""
from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks that print JSON", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = parser.add_subparsers(dest="bench", metavar="BENCH")
    kinds.required = True
    p = kinds.add_parser("synthetic", help="zero-shot benchmark on synthetic scenes (CPU, minutes)")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run of well under a minute")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--backbone", default="tiny", help="tiny (default) or resnet18 (DeepLabv3+, GPU advised)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--graph-context", action="store_true",
                   help="use the graph-context generator (ZS3Net-GC) instead of the plain GMMN")
    p.add_argument("--gmmn-steps", type=int, default=None,
                   help="generator training steps (default: the config's; 4000 suits --graph-context)")
    p.add_argument("--solver", default="lbfgs", metavar="lbfgs|sgd[,…]",
                   help="classifier solver(s) of steps 3-4; several (comma-separated) share steps 1-2 and are "
                        "all reported under by_solver, the first also at the top level (default lbfgs)")
    p.set_defaults(func=run)
    from core.cli import bench_annotate

    bench_annotate.add_parser(kinds)

    s = kinds.add_parser("speed", help="speed of features, refit, prediction, segment and the GMMN step (JSON)")
    s.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    s.add_argument("--model", default="default", help="default, efficientnet (today's default) or a checkpoint PATH")
    s.add_argument("--images", type=int, default=16, metavar="N", help="images of the `zs3 segment` run (default 16)")
    s.add_argument("--repeats", type=int, default=5, help="timed repeats per figure; the median is reported")
    s.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's own)")
    s.add_argument("--quick", action="store_true", help="smoke run: 2 images, 1 repeat, 128-px input, 16 GMMN rows per class "
                        "(checks the command, not the targets)")
    s.add_argument("--json", default=None, metavar="FILE", help="also write the JSON here")
    s.set_defaults(func=run_speed)


def run_speed(args) -> int:
    from core.atomic import atomic_write_text
    from core.cli.bench_speed import run_speed as measure
    from core.errors import UserError

    if args.images < 1 or args.repeats < 1:
        raise UserError("--images and --repeats must be at least 1")
    if args.quick:
        result = measure(args.model, args.device, n_images=2, repeats=1, threads=args.threads, side=128,
                         gmmn_rows=16)
    else:
        result = measure(args.model, args.device, n_images=args.images, repeats=args.repeats, threads=args.threads)
    text = json.dumps(result, indent=2) + "\n"
    if args.json:
        atomic_write_text(args.json, text)
    print(text, end="")
    return 0


def _solvers(text: str) -> tuple:
    from core.errors import UserError
    from core.zs3.classifier import SOLVERS

    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    bad = [n for n in names if n not in SOLVERS]
    if not names or bad:
        raise UserError(f"--solver: {', '.join(bad) or 'nothing given'}; choose from {', '.join(SOLVERS)}")
    return names


def run(args) -> int:
    from core.atomic import atomic_write_text
    from core.zs3.steps_synthetic import SyntheticBenchConfig, run_synthetic_benchmark

    config = SyntheticBenchConfig.quick() if args.quick else SyntheticBenchConfig()
    config.seed = args.seed
    config.threads = args.threads
    config.backbone = args.backbone
    config.graph_context = args.graph_context
    if args.gmmn_steps is not None:
        config.gmmn_steps = args.gmmn_steps
    config.solvers = _solvers(args.solver)
    result = run_synthetic_benchmark(config, device=args.device)
    text = json.dumps(result, indent=2) + "\n"
    if args.json:
        atomic_write_text(args.json, text)
    summary = {k: {m: result[k][m] for m in ("seen_miou", "unseen_miou", "hiou")}
               for k in ("baseline", "zs3net", "zs3net_st")}
    print(json.dumps(summary, indent=2))
    return 0
