"""The feature grid's ceiling: the mIoU a perfect classifier on the grid would reach, after upsampling.

Why: the default model decides one class per 14-px cell of the 518-px guide and upsamples those scores
(``prediction.full_probabilities``). However good the knowledge, a class narrower than a cell or a
boundary inside one is lost there, so this bounds every zero-label and annotator figure of a part, and
tells whether a change of upsampler or of input side can move it. Each photo's ground truth becomes the
classes' pixel shares per cell (an area resize of each class's mask, unlabelled pixels left out), their
logs the grid's logits; the usual upsampling turns them into labels at the photo's size, scored against
the same ground truth.

Prints JSON. Run: ``python bench/bench_grid_ceiling.py [--parts tuning,tuning-extra] [--input-side 518]``
(``held-out`` too, for a report; decisions use the tuning parts, ``resources/eval/README.md``).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The upsamplers compared: the default's guided filter, and plain bilinear interpolation of the logits.
UPSAMPLERS = {"guided": True, "bilinear": False}


def grid_logits_of_truth(gt, grid_hw: tuple, num_classes: int):
    """(C, h, w) logits of a perfect grid classifier: log of each class's share of a cell's labelled pixels."""
    import cv2
    import numpy as np
    import torch

    from core.constants import IGNORE

    h, w = grid_hw
    shares = [cv2.resize((gt == c).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
              for c in range(num_classes)]  # c < num_classes ≤ IGNORE: unlabelled pixels are in no share
    total = cv2.resize((gt != IGNORE).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    frac = np.stack(shares) / np.maximum(total, 1e-6)[None]
    return torch.from_numpy(np.log(frac + 1e-3).astype(np.float32))


def ceiling(folder: Path, input_side: int | None) -> dict:
    from dataclasses import replace

    from core.metrics import ConfusionMatrix
    from core.session import Session, SessionConfig
    from core.session.evaluation import load_labelled_folder
    from core.session.prediction import full_probabilities

    classes, gts = load_labelled_folder(folder)
    config = SessionConfig(input_side=input_side)
    session = Session(model="default", config=config)
    matrices = {name: ConfusionMatrix(len(classes)) for name in UPSAMPLERS}
    for path, gt in gts:
        feats = session.features(path)
        logits = grid_logits_of_truth(gt, tuple(feats.features.shape[-2:]), len(classes))
        for name, edge in UPSAMPLERS.items():
            labels = full_probabilities(logits, feats, replace(config, edge_refine=edge)).argmax(0).numpy()
            matrices[name].update(labels, gt)
    out = {"photos": len(gts), "classes": len(classes), "grid": list(feats.features.shape[-2:])}
    for name, cm in matrices.items():
        scores = cm.scores([0], list(range(1, len(classes))))
        out[name] = {"miou": scores["all"]["miou"], "typed_miou": scores["unseen"]["miou"],
                     "background_iou": scores["iou"][0]}
    return out


def main(argv=None) -> int:
    from core.session.evaluation import DEFAULT_EVAL, HELDOUT_EVAL, TUNING_EXTRA

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="tuning,tuning-extra")
    parser.add_argument("--input-side", type=int, default=None, help="the backbone's input side (default 518)")
    args = parser.parse_args(argv)
    folders = {"tuning": DEFAULT_EVAL, "tuning-extra": TUNING_EXTRA, "held-out": HELDOUT_EVAL}
    result = {"machine": platform.node(), "input_side": args.input_side or 518, "parts": {}}
    for part in [p.strip() for p in args.parts.split(",") if p.strip()]:
        if part not in folders:
            raise SystemExit(f"unknown part {part!r}: choose from {', '.join(folders)}")
        if not (folders[part] / "class_names.txt").is_file():
            raise SystemExit(f"{part} part not fetched: see resources/eval/README.md")
        result["parts"][part] = ceiling(folders[part], args.input_side)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
