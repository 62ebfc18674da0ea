"""Session speed on this machine: features per 512-px image, refit after a class change, predict from cache.

Targets (laptop CPU): features <= 0.5 s, refit <= 1 s, predict from cache <= 0.1 s. Prints JSON.
Run: ``python bench/bench_session.py [--device cpu] [--repeat 3]``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import torch

    from core.images import load_image
    from core.session import Session

    samples = ROOT / "resources" / "samples"
    images = sorted(samples.glob("*.jpg"))
    t0 = time.perf_counter()
    s = Session(model="default", device=args.device)
    load_s = time.perf_counter() - t0
    s.add_images(images)

    # Features: a fresh extraction per 512-px image (cache bypassed), after one warm-up.
    arrays = [load_image(p) for p in images]
    s.backbone.extract(arrays[0])
    feat_times = []
    for a in arrays[: max(args.repeat, 3)]:
        t = time.perf_counter()
        s.backbone.extract(a)
        feat_times.append(time.perf_counter() - t)

    s.set_classes(["background", "cat", "person"])
    cat = samples / "cat_chelsea.jpg"
    h, w = load_image(cat).shape[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[int(0.05 * h):, : int(0.9 * w)] = 1
    s.add_labels(cat, mask)
    t = time.perf_counter()
    first = s.fit()
    first_fit_s = time.perf_counter() - t

    refit = []
    for i, extra in enumerate(["cup", "clock", "rocket", "bottle", "chair"][: max(args.repeat, 3)]):
        s.set_classes(["background", "cat", "person", extra])
        t = time.perf_counter()
        rep = s.fit()
        refit.append(time.perf_counter() - t)

    s.predict(cat)
    pred = []
    for _ in range(max(args.repeat, 3)):
        t = time.perf_counter()
        s.predict(cat)
        pred.append(time.perf_counter() - t)

    print(json.dumps({
        "machine": f"{platform.machine()} {torch.get_num_threads()} torch threads, device {s.device}",
        "model_load_s": round(load_s, 3),
        "features_s_per_512px_image": round(statistics.median(feat_times), 3),
        "first_fit_s_incl_gmmn_and_features": round(first_fit_s, 3),
        "refit_s_after_class_change": round(statistics.median(refit), 3),
        "refit_gmmn_retrained": rep.gmmn_trained,
        "refit_timings": {k: round(v, 3) for k, v in rep.timings.items()},
        "predict_from_cache_s": round(statistics.median(pred), 3),
        "targets": {"features_s": 0.5, "refit_s": 1.0, "predict_s": 0.1},
    }, indent=1))


if __name__ == "__main__":
    main()
