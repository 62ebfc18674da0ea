"""The batched GMMN step vs a per-class loop on one device, for several rows per class (prints JSON).

Same step as ``zs3 bench speed`` (``core.cli.bench_speed.gmmn_steps``: 20 classes, the default model's
feature and word-vector sizes); on a GPU the loop pays a kernel launch per class and per kernel term.

    python bench/bench_gpu_gmmn.py --device cuda
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--rows", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    import torch

    from core.cli.bench_speed import gmmn_steps
    from core.device import resolve_device
    from core.models.dinov2 import DIM

    dev = resolve_device(args.device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    rows = {str(n): gmmn_steps(DIM, 50, dev, args.repeats, sync, n) for n in args.rows}
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(json.dumps({"benchmark": "gmmn_step_batched_vs_loop", "device": name, "torch": torch.__version__,
                      "by_rows_per_class": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
