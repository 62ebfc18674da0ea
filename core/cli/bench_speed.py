"""``zs3 bench speed``: how fast a typed name becomes a mask, and how fast a folder is pre-labelled.

One JSON for one model on one device. Every figure is a median of repeats after a warm-up, and
comes with the same-run figure it should be read against (``baseline_<key>``) where one exists, so
that a slow or busy machine shows up in both instead of in a verdict:

- ``features_s``: backbone features of one 512-px photo (cache bypassed); baseline: the bare
  network forward on the same input tensor (DINOv2: the ViT without the ImageNet head; EfficientNet:
  no hypercolumn, no projection; no copy back).
- ``refit_s``: fit after a class-name change (the GUI's "typed a name" path).
- ``predict_cached_s``: a prediction whose features are cached; baseline: the same 1×1 classifier,
  upsampling and arg-max done directly on the cached tensor.
- ``segment_images_per_s``: a real ``zs3 segment`` run on a folder of photos in a fresh process, end to
  end (interpreter start, imports, model load, fit, JPEG decode and PNG writing included);
  ``segment_in_process_images_per_s``: the same run inside the benchmark's process, warm (what this key
  measured before 2026-12-02); baseline: 1 / (features_s + predict_cached_s), the compute alone.
- ``gmmn_step_batched_ms`` / ``gmmn_step_loop_ms``: one GMMN training step for 20 classes, with all
  classes in one batched MMD (``core.models.gmmn.mmd_loss`` over (C, n, F)) and with a Python loop
  over the classes; both give the same gradient (``gmmn_step_same_gradient``).
"""
from __future__ import annotations

import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
GMMN_CLASSES = 20
CPU_TARGETS = {"features_s": 0.8, "refit_s": 1.0, "predict_cached_s": 0.15, "segment_images_per_s": 1.0,
               "gmmn_speedup": 10.0}


def session_model(name: str) -> str:
    """The ``Session(model=…)`` value for a benchmark ``--model`` (alias or checkpoint path)."""
    from core.errors import UserError
    from core.session.backbones import MODEL_NAMES

    if name in MODEL_NAMES:
        return name
    if not Path(name).is_file():
        raise UserError(f"no such model: {name} (use {', '.join(MODEL_NAMES)} or a checkpoint path)")
    return name


def _median_time(fn, repeats: int, sync) -> float:
    fn()  # warm-up: first calls pay allocation and lazy initialisation
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _photo_512(path: Path) -> np.ndarray:
    """A sample photo with its longest side at 512 px (the size the targets are stated for)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        scale = 512 / max(img.size)
        return np.array(img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR))


def _features(session, photo: np.ndarray, repeats: int, sync) -> dict:
    from core.device import inference_context
    from core.models.hypercolumn import resize_for_network

    backbone = session.backbone
    out = {"features_s": _median_time(lambda: backbone.extract(photo), repeats, sync)}
    net = getattr(backbone, "net", None)
    if net is not None:
        import torch

        if hasattr(backbone, "forward_batch"):  # DINOv2: the ViT alone, without the ImageNet head
            from core.models.dino_features import network_input

            x, net = network_input(photo, backbone.input_side), backbone.forward_batch
        else:
            x = resize_for_network(photo, backbone.input_side)
        x = x.to(torch.device(session.device))
        if x.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)

        def bare():
            with inference_context(x.device):
                net(x)

        out["baseline_features_s"] = _median_time(bare, repeats, sync)
    return out


def _session_figures(session, photos: list[Path], repeats: int, sync) -> dict:
    """refit after class changes and predictions from cache, on the sample photos (zero labels)."""
    import torch
    from torch.nn import functional as F

    session.add_images(photos)
    session.set_classes(["background", "cat", "person"])
    session.fit()  # features of every photo cached here
    extras = ["cup", "giraffe", "rocket", "quokka", "chair", "clock", "car"][: max(repeats, 2)]
    refits = []
    for extra in extras:
        session.set_classes(["background", "cat", "person", extra])
        t = time.perf_counter()
        session.fit()
        refits.append(time.perf_counter() - t)
    image = photos[0]
    predict = _median_time(lambda: session.predict(image), repeats, sync)
    cached = session.features(image)
    feats, size = cached.features.float(), cached.image_size
    w, b = torch.randn(len(session.classes), feats.shape[0]), torch.zeros(len(session.classes))  # values do not matter

    def bare():
        with torch.inference_mode():
            logits = torch.einsum("fhw,cf->chw", feats, w) + b[:, None, None]
            F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)[0].softmax(0).max(0)

    return {"refit_s": statistics.median(refits), "refit_max_s": max(refits),
            "predict_cached_s": predict, "baseline_predict_cached_s": _median_time(bare, repeats, sync)}


def _segment_folder(model: str, device: str, n_images: int, side: int | None) -> dict:
    """A real ``zs3 segment`` run on ``n_images`` copies of the sample photos, twice: in a fresh process,
    as a user runs it (interpreter start, imports, model and word-vector loads included: the figure the
    target is about), and in this process, whose models and imports are warm by now."""
    import subprocess

    from core.cli.main import main

    samples = sorted(SAMPLES.glob("*.jpg"))
    out: dict = {"segment_images": n_images}
    with tempfile.TemporaryDirectory(prefix="zs3-bench-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for i in range(n_images):
            shutil.copy(samples[i % len(samples)], folder / f"img{i:04d}.jpg")
        for key, fresh in (("segment", True), ("segment_in_process", False)):
            dest = Path(tmp) / key
            argv = ["segment", str(folder), "--classes", "cat,person,cup", "--out", str(dest),
                    "--model", model, "--device", device, *(["--input-side", str(side)] if side else [])]
            t = time.perf_counter()
            if fresh:
                code = subprocess.run([sys.executable, "-c", "import sys; from core.cli.main import main; "
                                       "sys.exit(main(sys.argv[1:]))", *argv], cwd=SAMPLES.parents[1],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
            else:
                code = main(argv)
            seconds = time.perf_counter() - t
            written = len(list((dest / "SegmentationClass").glob("*.png")))
            if code != 0 or written != n_images:
                raise RuntimeError(f"zs3 segment failed during the benchmark (exit {code}, {written}/{n_images} masks)")
            out.update({f"{key}_s": seconds, f"{key}_images_per_s": n_images / seconds})
    return out


def gmmn_steps(feat_dim: int, embed_dim: int, device, repeats: int, sync, per_class: int) -> dict:
    """One GMMN training step for GMMN_CLASSES classes of ``per_class`` rows each: batched MMD vs a
    per-class loop (same gradient). The loop pays Python and dispatch overhead per class; with many
    rows per class both are bound by the same kernel arithmetic on a CPU, so the gap narrows."""
    import torch

    from core.models.gmmn import GMMN, mmd_loss

    gen = torch.Generator().manual_seed(0)
    c, n = GMMN_CLASSES, int(per_class)
    real = torch.rand(c, n, feat_dim, generator=gen).to(device)
    emb = torch.nn.functional.normalize(torch.randn(c, embed_dim, generator=gen), dim=1).to(device)
    emb_rows = emb.repeat_interleave(n, dim=0)
    gmmn = GMMN(embed_dim, feat_dim=feat_dim).to(device)
    noise = gmmn.sample_noise(c * n, generator=None).to(device)
    optimizer = torch.optim.Adam(gmmn.parameters(), lr=2e-4)

    def batched(step: bool = True):
        fake = gmmn(emb_rows, noise).view(c, n, -1)
        loss = mmd_loss(real, fake)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step:
            optimizer.step()

    def loop(step: bool = True):
        optimizer.zero_grad(set_to_none=True)
        for k in range(c):
            fake = gmmn(emb_rows[k * n:(k + 1) * n], noise[k * n:(k + 1) * n])
            (mmd_loss(real[k:k + 1], fake[None]) / c).backward()
        if step:
            optimizer.step()

    gmmn.eval()  # same noise, no dropout: both variants must give the same gradient
    batched(step=False)
    g_batched = [p.grad.clone() for p in gmmn.parameters()]
    loop(step=False)
    same = all(torch.allclose(a, p.grad, rtol=1e-3, atol=1e-6) for a, p in zip(g_batched, gmmn.parameters()))
    gmmn.train()
    t_batched = _median_time(batched, repeats, sync)
    t_loop = _median_time(loop, repeats, sync)
    return {"gmmn_step_batched_ms": 1000 * t_batched, "gmmn_step_loop_ms": 1000 * t_loop,
            "gmmn_speedup": t_loop / t_batched, "gmmn_step_same_gradient": bool(same),
            "gmmn_classes": c, "gmmn_rows_per_class": n}


def run_speed(model: str = "default", device: str = "cpu", n_images: int = 16, repeats: int = 5,
              threads: int = 0, side: int | None = None, gmmn_rows: int | None = None) -> dict:
    """Every figure of the module docstring, as one flat dict (seconds unless the key says otherwise)."""
    import torch

    from core.device import resolve_device
    from core.embeddings import get_embedder
    from core.session import Session, SessionConfig

    if threads > 0:
        torch.set_num_threads(threads)
    target = session_model(model)
    dev = resolve_device(device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    photos = sorted(SAMPLES.glob("*.jpg"))
    t = time.perf_counter()
    session = Session(model=target, device=str(dev), config=SessionConfig(input_side=side))
    result: dict = {"model_load_s": time.perf_counter() - t}
    result.update(_features(session, _photo_512(photos[0]), repeats, sync))
    result.update(_session_figures(session, photos, repeats, sync))
    embed_dim = get_embedder("default").dim
    feat_dim = session.backbone.feat_dim
    side = session.backbone.input_side  # the backbone's own default when none was asked for
    del session
    # The session trains its GMMN inside a fit, with SessionConfig.fit_threads torch threads and
    # SessionConfig.gmmn_per_class rows per class: the same step here, unless told otherwise.
    config = SessionConfig()
    fit_threads = config.fit_threads if dev.type == "cpu" else 0
    from core.device import cpu_bf16, torch_threads

    with torch_threads(fit_threads):
        result.update(gmmn_steps(feat_dim, embed_dim, dev, max(repeats, 5), sync, gmmn_rows or config.gmmn_per_class))
    result["gmmn_threads"] = fit_threads or torch.get_num_threads()
    result.update(_segment_folder(target, str(dev), n_images, side))
    result["baseline_segment_images_per_s"] = 1.0 / (result["features_s"] + result["predict_cached_s"])
    result = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}
    result.update({
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device": str(dev),
        "model": model,
        "input_side": side,
        "torch_threads": torch.get_num_threads(),
        "machine": {"cpus": os.cpu_count(), "arch": platform.machine(), "platform": platform.platform(),
                    "python": sys.version.split()[0], "torch": torch.__version__,
                    "loadavg_1m": round(os.getloadavg()[0], 2),
                    "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
                    "cpu_bf16": dev.type == "cpu" and cpu_bf16()},
        "targets_cpu_2_cores": CPU_TARGETS,
    })
    return result
