"""Predicting one large photo (8000×6000 by default): peak memory and seconds, untiled vs band by band.

Why: ``Session.predict`` used to upsample every class's probabilities to the photo before its argmax,
a (C, H, W) float tensor (1.9 GB for 11 classes at 48 Mpx); it now builds the labels and confidence
band by band (``core.models.tiled_output``). "untiled" reruns the former code (``probabilities`` at
full size, then ``max``); "tiled" is ``predict``. Each variant runs in its own process, on a synthetic
photo saved as a JPEG; the features are computed by the fit first, so the figures are the prediction's
own: seconds, and the process's peak RSS during the prediction (the kernel's high-water mark is reset
just before it, where Linux allows; else the peak since start, flagged).
Prints JSON. Run: ``python bench/bench_large_image.py [--size 8000x6000] [--classes 11] [--device cpu]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAMES = ["person", "dog", "cat", "car", "tree", "sky", "road", "building", "grass", "water", "boat",
         "horse", "chair", "table", "bird", "bus", "train", "sofa", "bottle"]
VARIANTS = ("untiled", "tiled")


def _synthetic_photo(path: Path, width: int, height: int, classes: int):
    """Graded background and blocks of colour: real edges, deterministic. Returns the user's strokes: a
    patch inside each block painted with a class (1..classes-1 in turn), so the prediction has many classes."""
    import numpy as np
    from PIL import Image

    from core.constants import IGNORE

    rng = np.random.default_rng(0)
    yy = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    xx = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    img = np.empty((height, width, 3), np.uint8)
    strokes = np.full((height, width), IGNORE, np.uint8)
    img[..., 0] = 60 + 120 * yy
    img[..., 1] = 110 + 60 * xx
    img[..., 2] = 220 - 150 * yy
    bh, bw = height // 5, width // 6
    for k in range(8):
        y0, x0 = int(rng.integers(0, height - bh)), int(rng.integers(0, width - bw))
        img[y0:y0 + bh, x0:x0 + bw] = rng.integers(0, 244, 3)
        strokes[y0 + bh // 3:y0 + bh // 2, x0 + bw // 3:x0 + bw // 2] = 1 + k % (classes - 1)
    strokes[: height // 40, : width // 8] = 0  # a background stroke
    img += rng.integers(0, 12, (height, 1, 1), dtype=np.uint8)  # row noise: texture without a 48-Mpx draw
    Image.fromarray(img).save(path, quality=90)
    return strokes


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ≥ 4.0: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    import resource

    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(args) -> dict:
    import numpy as np
    import torch

    from core.constants import IGNORE
    from core.session import Session

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="zs3-large-") as tmp:
        path = Path(tmp) / "large.jpg"
        strokes = _synthetic_photo(path, width, height, args.classes)
        session = Session(model="default", device=args.device)
        session.add_images([path])
        session.set_classes(["background", *NAMES[: args.classes - 1]])
        session.add_labels(path, strokes)
        del strokes
        session.fit()  # features of the photo (decoded once) cached here

        def untiled():  # predict as it was: the (C, H, W) tensor, its max, the painted pixels on top
            probs = session.probabilities(path)
            conf, labels = probs.max(0)
            labels, conf = labels.numpy().astype(np.uint8), conf.numpy().astype(np.float32)
            painted = session.labels(path)
            mine = painted != IGNORE
            labels[mine] = painted[mine]
            conf[mine] = 1.0
            return labels, conf

        def tiled():
            pred = session.predict(path)
            return pred.labels, pred.confidence

        run = untiled if args.variant == "untiled" else tiled
        rss_before = _status_mb("VmRSS")
        peak_before = _peak_mb()
        reset = _reset_peak()
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            labels, conf = run()
            times.append(time.perf_counter() - t)
        peak = _peak_mb()
        return {
            "variant": args.variant, "size": f"{width}x{height}", "classes": args.classes, "device": args.device,
            "predict_s": statistics.median(times), "predict_max_s": max(times),
            "peak_rss_during_predict_mb": round(peak, 1), "rss_before_predict_mb": round(rss_before or 0, 1),
            "peak_rss_before_predict_mb": round(peak_before, 1), "peak_reset": reset,
            "classes_in_labels": int(len(np.unique(labels))), "mean_confidence": float(conf.mean()),
            "torch_threads": torch.get_num_threads(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="8000x6000", help="WIDTHxHEIGHT of the synthetic photo")
    parser.add_argument("--classes", type=int, default=11, help=f"classes incl. background (≤ {len(NAMES) + 1})")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    parser.add_argument("--variant", choices=VARIANTS, help="run one variant in this process (used by the parent)")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(_child(args)))
        return
    result: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                "loadavg_1m": os.getloadavg()[0]}}
    for variant in VARIANTS:
        command = [sys.executable, __file__, "--variant", variant, "--size", args.size, "--classes",
                   str(args.classes), "--device", args.device, "--repeat", str(args.repeat), "--threads", str(args.threads)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            result[variant] = {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
            continue
        result[variant] = json.loads(done.stdout.strip().splitlines()[-1])
    result["machine"]["loadavg_1m_end"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
