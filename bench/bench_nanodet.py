"""Seconds per image of the NanoDet COCO box detector on the CPU (``core/models/nanodet.py``). Prints one JSON object.

What is timed: ``NanoDet.detect`` on each bundled photo of ``resources/samples`` (decode the photo
beforehand; resize, graph, decoding and NMS inside), after one warm-up call, ``--repeats`` times, at 1
and at 2 torch threads. Also the load time (graph JSON, weights, checksum). Without the model files
the JSON says ``"available": false`` with the reason, and nothing is timed.
Run: ``python bench/bench_nanodet.py [--repeats 3]``
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from core.device import torch_threads
    from core.images import list_images, load_image
    from core.models.coco_names import COCO_CLASSES
    from core.models.nanodet import NanoDet
    from core.models.nanodet_files import nanodet_status

    ok, message = nanodet_status()
    if not ok:
        print(json.dumps({"available": False, "reason": message}))
        return 0
    start = time.perf_counter()
    detector = NanoDet(device="cpu")
    load_s = time.perf_counter() - start
    photos = {p.name: load_image(p) for p in list_images([ROOT / "resources" / "samples"])}
    result: dict = {"available": True, "images": len(photos), "repeats": args.repeats, "load_s": round(load_s, 3)}
    for threads in (1, 2):
        with torch_threads(threads):
            detector.detect(next(iter(photos.values())))  # warm-up
            times = []
            for _ in range(args.repeats):
                for photo in photos.values():
                    t = time.perf_counter()
                    detector.detect(photo)
                    times.append(time.perf_counter() - t)
        result[f"s_per_image_{threads}_thread"] = {"median": round(statistics.median(times), 3),
                                                    "mean": round(statistics.fmean(times), 3)}
    result["top_detection"] = {}
    for name, photo in photos.items():
        dets = detector.detect(photo)
        result["top_detection"][name] = (f"{COCO_CLASSES[dets.classes[0]]} {dets.scores[0]:.2f}" if len(dets)
                                         else None)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
