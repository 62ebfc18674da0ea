"""Procedurally generated zero-shot scenes whose class embeddings really describe their appearance.

Why this exists: the VOC / Context benchmarks need gigabytes of data and GPU days. To check that
the whole ZS3Net pipeline works (and to measure it on a CPU) we need a problem with a known answer
where zero-shot transfer is *possible*: an unseen class must be describable from the seen ones.

Classes: background + 12 object classes, one per hue of a 30° colour wheel (red, orange, yellow,
chartreuse, …, rose). The class embedding is a fixed random projection (64-d) of the smooth hue
encoding ``[cos kθ, sin kθ for k = 1, 2, 3; background]`` plus a small fixed noise, L2-normalised:
like a word vector it is informative (neighbouring hues have similar vectors) but not clean. Images
are rendered from the same attribute: a grey, low-saturation cloudy background plus 1–4 objects of
the class hue (jitter ±4°), with nuisance attributes drawn per object — shape (ellipse, rectangle,
triangle), size, position, saturation, brightness, surface texture (flat, stripes, dots) — and pixel
noise. The unseen classes (``chartreuse``, ``violet``, then ``orange``, ``spring``) are mid-hues: their
colour is the RGB average of their two seen neighbours (pure primaries/secondaries sit at corners of
the RGB hue hexagon and are not interpolable), so a feature generator trained on the seen classes can
interpolate them: a non-trivial but attainable answer.
(A first design with hue × texture conjunction classes was tried and dropped: the segmentation net
collapses an unseen conjunction onto its seen sibling, and no generator can undo that.)

Everything is deterministic: image ``i`` of a dataset is drawn from ``numpy.random.default_rng((seed,
split_offset, i))``. :func:`write_synthetic_folder` writes the same scenes as a ``FolderDataset``
folder (``JPEGImages/*.png``, ``SegmentationClass/*.png``, ``class_names.txt``,
``ImageSets/Segmentation/<split>.txt``) plus ``class_embeddings.npy``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from core.data import Sample

log = logging.getLogger(__name__)


HUE_NAMES: tuple[str, ...] = ("red", "orange", "yellow", "chartreuse", "green", "spring", "cyan", "azure",
                              "blue", "violet", "magenta", "rose")
HUES: dict[str, float] = {name: i / len(HUE_NAMES) for i, name in enumerate(HUE_NAMES)}
HUE_JITTER = 0.012  # ±4.3°, a third of the gap between neighbouring hues
TEXTURES: tuple[str, ...] = ("flat", "stripes", "dots")
SHAPES: tuple[str, ...] = ("ellipse", "rectangle", "triangle")

#: background first, then the hues in wheel order
SYNTHETIC_CLASSES: list[str] = ["background", *HUE_NAMES]

#: Held-out classes of the benchmark, in the order they are added (first K form the K-unseen split).
SYNTHETIC_UNSEEN_ORDER: list[str] = ["chartreuse", "violet", "orange", "spring"]

_SPLIT_OFFSETS = {"train": 0, "val": 1, "test": 2, "unlabelled": 3}


def synthetic_unseen(k: int = 2) -> list[str]:
    """The first ``k`` held-out synthetic classes (k in 0..4; no two are neighbours on the wheel)."""
    if not 0 <= int(k) <= len(SYNTHETIC_UNSEEN_ORDER):
        raise ValueError(f"k must be in 0..{len(SYNTHETIC_UNSEEN_ORDER)}")
    return list(SYNTHETIC_UNSEEN_ORDER[: int(k)])


def class_attributes() -> np.ndarray:
    """(C, 7) attribute vectors: ``[cos kθ, sin kθ for k=1..3]`` of the hue θ, then a background flag."""
    rows = [np.array([0.0] * 6 + [1.0], dtype=np.float32)]
    for hue in HUES.values():
        a = 2 * np.pi * hue
        rows.append(np.array([np.cos(a), np.sin(a), np.cos(2 * a), np.sin(2 * a), np.cos(3 * a), np.sin(3 * a), 0.0],
                             dtype=np.float32))
    return np.stack(rows)


def class_embeddings(dim: int = 64, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """(C, dim) float32 unit vectors: fixed random projection of the attributes + small fixed noise."""
    attrs = class_attributes()
    rng = np.random.default_rng((seed, 7919))
    projection = rng.standard_normal((attrs.shape[1], dim)).astype(np.float32) / np.sqrt(attrs.shape[1])
    emb = attrs @ projection
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    emb = emb + noise * rng.standard_normal(emb.shape).astype(np.float32) / np.sqrt(dim)
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)


def _hsv_to_rgb(h: np.ndarray | float, s: np.ndarray | float, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV → RGB in [0, 1]; ``v`` sets the output shape (…, 3)."""
    h = np.broadcast_to(np.asarray(h, dtype=np.float32), v.shape) % 1.0
    s = np.broadcast_to(np.asarray(s, dtype=np.float32), v.shape)
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p = v * (1 - s)
    q = v * (1 - s * f)
    t = v * (1 - s * (1 - f))
    choices_r = [v, q, p, p, t, v]
    choices_g = [t, v, v, q, p, p]
    choices_b = [p, p, t, v, v, q]
    r = np.choose(i, choices_r)
    g = np.choose(i, choices_g)
    b = np.choose(i, choices_b)
    return np.stack([r, g, b], axis=-1)


def _shape_mask(rng: np.random.Generator, size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    extent = rng.uniform(0.16, 0.34) * size  # half-size in pixels
    cy, cx = rng.uniform(0.15, 0.85, size=2) * size
    aspect = rng.uniform(0.7, 1.4)
    ry, rx = extent * aspect, extent / aspect
    if shape == "ellipse":
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    if shape == "rectangle":
        angle = rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        w = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        return (np.abs(u) <= rx) & (np.abs(w) <= ry)
    # triangle: intersection of three half-planes around the centre
    angle0 = rng.uniform(0, 2 * np.pi)
    mask = np.ones_like(yy, dtype=bool)
    radius = 0.55 * (rx + ry)
    for k in range(3):
        a = angle0 + 2 * np.pi * k / 3
        mask &= (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a) <= radius * 0.5
    return mask


def render_scene(rng: np.random.Generator, size: int, object_ids: Sequence[int] | None = None,
                 max_objects: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (image H×W×3 uint8, label H×W uint8). ``object_ids`` forces the object classes."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # background: grey clouds (low-res noise, bilinearly upsampled), low saturation, any tint
    coarse = rng.uniform(0.0, 1.0, size=(6, 6)).astype(np.float32)
    pos = np.linspace(0, 5, size, dtype=np.float32)
    i0 = np.floor(pos).astype(int).clip(0, 4)
    frac = pos - i0
    rows = coarse[i0] * (1 - frac)[:, None] + coarse[i0 + 1] * frac[:, None]
    clouds = rows[:, i0] * (1 - frac)[None, :] + rows[:, i0 + 1] * frac[None, :]
    value = (rng.uniform(0.35, 0.65) + 0.25 * (clouds - 0.5)).astype(np.float32)
    image = _hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.0, 0.15), value)
    label = np.zeros((size, size), dtype=np.uint8)

    num_objects = len(SYNTHETIC_CLASSES) - 1
    if object_ids is None:
        count = int(rng.integers(1, max_objects + 1))
        object_ids = [int(c) for c in rng.integers(1, num_objects + 1, size=count)]
    for cls in object_ids:
        hue_name = SYNTHETIC_CLASSES[cls]
        texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
        mask = _shape_mask(rng, size, yy, xx)
        if not mask.any():
            continue
        hue = HUES[hue_name] + rng.uniform(-HUE_JITTER, HUE_JITTER)
        v = np.full(mask.shape, rng.uniform(0.7, 1.0), dtype=np.float32)
        period = rng.uniform(5.0, 8.0)
        phase = rng.uniform(0, period)
        if texture == "stripes":
            a = rng.uniform(0, np.pi)
            coord = xx * np.cos(a) + yy * np.sin(a) + phase
            v = v * np.where((coord % period) < period / 2, 1.0, 0.35).astype(np.float32)
        elif texture == "dots":
            cy = (yy + phase) % period - period / 2
            cx = (xx + phase) % period - period / 2
            v = v * np.where(cy * cy + cx * cx < (period * 0.3) ** 2, 0.3, 1.0).astype(np.float32)
        colour = _hsv_to_rgb(hue, rng.uniform(0.65, 1.0), v)
        image[mask] = colour[mask]
        label[mask] = cls
    image = image + rng.normal(0.0, 0.03, size=image.shape).astype(np.float32)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), label


@dataclass
class SyntheticConfig:
    """Size and seed of a synthetic split."""

    num_images: int = 200
    size: int = 64
    seed: int = 0
    split: str = "train"
    max_objects: int = 4
    embed_dim: int = 64
    embed_noise: float = 0.1


class SyntheticScenes:
    """A dataset of :func:`render_scene` scenes with the same interface as the real readers.

    ``class_names``, ``names``, ``len``, ``load_image(i)``, ``load_label(i)`` (cheap: renders once and
    caches the label), ``load_sample(i)``, ``dataset[i]`` → :class:`Sample` (through ``transform``),
    plus ``class_embeddings`` (C, E) and ``attributes`` (C, 6).
    """

    kind = "synthetic"

    def __init__(self, num_images: int = 200, size: int = 64, seed: int = 0, split: str = "train",
                 transform: Callable[[Sample], Any] | None = None, max_objects: int = 4,
                 embed_dim: int = 64, embed_noise: float = 0.1) -> None:
        if split not in _SPLIT_OFFSETS:
            raise ValueError(f"split must be one of {sorted(_SPLIT_OFFSETS)}")
        self.num_images = int(num_images)
        self.size = int(size)
        self.seed = int(seed)
        self.split = split
        self.transform = transform
        self.max_objects = int(max_objects)
        self.class_names = list(SYNTHETIC_CLASSES)
        self.names = [f"{split}_{i:05d}" for i in range(self.num_images)]
        self.class_embeddings = class_embeddings(embed_dim, embed_noise, seed=0)
        self.attributes = class_attributes()
        self.root = Path(f"<synthetic seed={seed}>")
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.num_images

    def _render(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        cached = self._cache.get(index)
        if cached is None:
            rng = np.random.default_rng((self.seed, _SPLIT_OFFSETS[self.split], index))
            cached = render_scene(rng, self.size, max_objects=self.max_objects)
            if len(self._cache) < 4096:  # 64×64 scenes: ≤ 64 MB
                self._cache[index] = cached
        return cached

    def _check(self, index: int) -> int:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        return index

    def load_image(self, index: int) -> np.ndarray:
        return self._render(self._check(index))[0].copy()

    def load_label(self, index: int) -> np.ndarray:
        return self._render(self._check(index))[1].copy()

    def load_sample(self, index: int) -> Sample:
        index = self._check(index)
        image, label = self._render(index)
        return Sample(image=image.copy(), label=label.copy(), name=self.names[index])

    def __getitem__(self, index: int) -> Any:
        sample = self.load_sample(index)
        return self.transform(sample) if self.transform is not None else sample

    @property
    def cache_key(self) -> str:
        return f"synthetic|{self.seed}|{self.split}|{self.num_images}|{self.size}|{self.max_objects}"

    def __repr__(self) -> str:
        return f"SyntheticScenes(split={self.split!r}, images={len(self)}, size={self.size}, seed={self.seed})"


def write_synthetic_folder(root: str | os.PathLike, splits: dict[str, int] | None = None, size: int = 64,
                           seed: int = 0, embed_dim: int = 64) -> Path:
    """Write synthetic scenes as a ``FolderDataset`` folder; returns ``root``.

    ``splits`` maps split name → number of images (default ``{"train": 40, "val": 20}``); image ids
    are ``<split>_<i>``. Images are lossless PNGs; masks are palette PNGs of class indices.
    """
    from PIL import Image

    from core.atomic import atomic_open, atomic_write_text, ensure_writable_dir

    splits = splits or {"train": 40, "val": 20}
    root = ensure_writable_dir(root)
    image_dir = ensure_writable_dir(root / "JPEGImages")
    mask_dir = ensure_writable_dir(root / "SegmentationClass")
    list_dir = ensure_writable_dir(root / "ImageSets" / "Segmentation")
    palette = _palette()
    for split, count in splits.items():
        data = SyntheticScenes(count, size=size, seed=seed, split=split, embed_dim=embed_dim)
        for i in range(len(data)):
            sample = data.load_sample(i)
            with atomic_open(image_dir / f"{sample.name}.png", "wb") as handle:
                Image.fromarray(sample.image, mode="RGB").save(handle, format="PNG")
            mask = Image.fromarray(sample.label, mode="P")
            mask.putpalette(palette)
            with atomic_open(mask_dir / f"{sample.name}.png", "wb") as handle:
                mask.save(handle, format="PNG")
        atomic_write_text(list_dir / f"{split}.txt", "".join(f"{n}\n" for n in data.names))
    atomic_write_text(root / "class_names.txt", "".join(f"{n}\n" for n in SYNTHETIC_CLASSES))
    with atomic_open(root / "class_embeddings.npy", "wb") as handle:
        np.save(handle, class_embeddings(embed_dim, seed=0))
    log.info("wrote synthetic folder dataset to %s (%s)", root, splits)
    return root


def _palette() -> list[int]:
    """A 256-entry palette: the class hues for objects, grey background, white for 255."""
    pal = [0] * (256 * 3)
    attrs = SYNTHETIC_CLASSES
    for idx, name in enumerate(attrs):
        if name == "background":
            rgb = (64, 64, 64)
        else:
            rgb = tuple(int(c * 255) for c in _hsv_to_rgb(HUES[name], 0.9, np.array([0.9], np.float32))[0])
        pal[3 * idx: 3 * idx + 3] = rgb
    pal[3 * 255: 3 * 256] = (255, 255, 255)
    return pal
