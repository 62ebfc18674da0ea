"""Throughput of our DeepLabv3+ next to torchvision's bare DeepLabv3-ResNet101, in one run.

Prints one JSON object. On CUDA both run under bf16 autocast + channels-last + inference mode;
the target is ours/torchvision ≥ 0.9 at 513×513, batch 16 (torchvision's model runs at output
stride 8, ours at the paper's 16 unless --output-stride 8).

    python bench/bench_gpu_deeplab.py                       # CUDA defaults
    python bench/bench_gpu_deeplab.py --device cpu --batch 1 --size 257 --iters 2
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _measure(model, x, iters: int, warmup: int, device) -> dict:
    import torch

    from core.device import inference_context

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with inference_context(device):
        for _ in range(warmup):
            model(x)
        sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            out = model(x)
        sync()
        dt = time.perf_counter() - t0
    if isinstance(out, dict):
        out = out["out"]
    return {
        "seconds": dt,
        "images_per_s": x.shape[0] * iters / dt,
        "ms_per_batch": 1000 * dt / iters,
        "out_shape": list(out.shape),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=513)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=None, help="default: 5 on CUDA, 1 on CPU")
    parser.add_argument("--backbone", default="resnet101")
    parser.add_argument("--output-stride", type=int, default=16)
    parser.add_argument("--num-classes", type=int, default=21)
    args = parser.parse_args(argv)

    import torch
    import torchvision

    from core.device import prepare_model, resolve_device
    from core.models.deeplab import DeepLabV3Plus

    device = resolve_device(args.device)
    if args.warmup is None:
        args.warmup = 5 if device.type == "cuda" else 1
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True

    ours = prepare_model(DeepLabV3Plus(args.num_classes, backbone=args.backbone,
                                       output_stride=args.output_stride).eval(), device)
    ours_res = _measure(ours, x, args.iters, args.warmup, device)
    del ours
    if device.type == "cuda":
        torch.cuda.empty_cache()
    tv = torchvision.models.segmentation.deeplabv3_resnet101(
        weights=None, weights_backbone=None, num_classes=args.num_classes, aux_loss=False).eval()
    tv = prepare_model(tv, device)
    tv_res = _measure(tv, x, args.iters, args.warmup, device)

    result = {
        "benchmark": "deeplabv3plus_throughput",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "device_type": device.type,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "size": args.size,
        "iters": args.iters,
        "precision": "bf16-autocast+channels_last" if device.type == "cuda" else "fp32",
        "ours": {"model": f"DeepLabV3Plus-{args.backbone}-os{args.output_stride}", **ours_res},
        "torchvision": {"model": "deeplabv3_resnet101-os8", **tv_res},
        "ratio_ours_over_torchvision": ours_res["images_per_s"] / tv_res["images_per_s"],
        "target_ratio": 0.9,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
