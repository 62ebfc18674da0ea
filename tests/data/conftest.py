"""Builders of tiny on-disk datasets with real files: JPEG/PNG via Pillow, .mat via scipy.io."""
from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

# The first 459-class labels.txt lines we need, with their real (1-based) indices.
CONTEXT_LABELS_459 = {
    1: "accordion", 2: "aeroplane", 3: "air conditioner", 65: "cat", 98: "cow", 284: "person",
    308: "pottedplant", 360: "sky", 368: "sofa", 397: "table", 427: "tvmonitor", 440: "wall",
}


def voc_palette() -> list[int]:
    """The standard VOC colour map (bit-interleaved), 256 × RGB."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def blocky_image(h: int, w: int, seed: int) -> np.ndarray:
    """An image of flat 8×8 blocks: JPEG keeps flat blocks nearly exact."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(-(-h // 8), -(-w // 8), 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)[:h, :w].copy()


def write_image(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"quality": 100, "subsampling": 0} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    Image.fromarray(image, mode="RGB").save(path, **kwargs)
    return path


def write_palette_png(path: Path, label: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(label.astype(np.uint8), mode="P")
    img.putpalette(voc_palette())
    img.save(path)
    return path


def write_grey_png(path: Path, label: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(label.astype(np.uint8), mode="L").save(path)
    return path


def write_sbd_mat(path: Path, label: np.ndarray) -> Path:
    """Same structure as SBD's cls/*.mat: a struct GTcls with Boundaries, Segmentation, CategoriesPresent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    boundaries = np.empty((20, 1), dtype=object)
    for i in range(20):
        boundaries[i, 0] = np.zeros((1, 1), dtype=np.uint8)
    present = np.unique(label[(label > 0) & (label < 255)]).astype(np.uint8).reshape(-1, 1)
    scipy.io.savemat(path, {"GTcls": {"Boundaries": boundaries, "Segmentation": label.astype(np.uint8),
                                      "CategoriesPresent": present}})
    return path


def write_context_mat(path: Path, label_map: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"LabelMap": label_map.astype(np.uint16)})
    return path


def write_lines(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def label_with(h: int, w: int, values, border: bool = False) -> np.ndarray:
    """A label map with one vertical stripe per value (and a 255 border line if asked)."""
    label = np.zeros((h, w), dtype=np.uint8)
    for i, value in enumerate(values):
        label[:, (i * w) // len(values):((i + 1) * w) // len(values)] = value
    if border:
        label[h // 2, :] = 255
    return label


def make_voc(root: Path, train: dict, val: dict, size=(24, 32)) -> Path:
    """VOCdevkit/VOC2012 under ``root``; ``train``/``val`` map image id → list of label values."""
    voc = root / "VOCdevkit" / "VOC2012"
    h, w = size
    for seed, (name, values) in enumerate({**train, **val}.items()):
        write_image(voc / "JPEGImages" / f"{name}.jpg", blocky_image(h, w, seed))
        write_palette_png(voc / "SegmentationClass" / f"{name}.png", label_with(h, w, values, border=True))
    write_lines(voc / "ImageSets" / "Segmentation" / "train.txt", train)
    write_lines(voc / "ImageSets" / "Segmentation" / "val.txt", val)
    write_lines(voc / "ImageSets" / "Segmentation" / "trainval.txt", [*train, *val])
    return voc


def make_sbd(root: Path, train: dict, val: dict = None, train_noval=None, size=(20, 28)) -> Path:
    """benchmark_RELEASE/dataset under ``root`` with img/, cls/, train.txt, val.txt (+ train_noval.txt)."""
    ds = root / "benchmark_RELEASE" / "dataset"
    h, w = size
    val = val or {}
    for seed, (name, values) in enumerate({**train, **val}.items()):
        write_image(ds / "img" / f"{name}.jpg", blocky_image(h, w, 100 + seed))
        write_sbd_mat(ds / "cls" / f"{name}.mat", label_with(h, w, values))
    write_lines(ds / "train.txt", train)
    write_lines(ds / "val.txt", val)
    if train_noval is not None:
        write_lines(ds / "train_noval.txt", train_noval)
    return root / "benchmark_RELEASE"


def make_context(root: Path, train: dict, val: dict, labels=None, size=(16, 20)) -> Path:
    """Pascal-Context: root/trainval/*.mat, root/labels.txt, root/VOCdevkit/VOC2010/JPEGImages,
    root/train.txt, root/val.txt; ``train``/``val`` map id → 459-class label map."""
    labels = CONTEXT_LABELS_459 if labels is None else labels
    write_lines(root / "labels.txt", [f"{i}: {n}" for i, n in sorted(labels.items())])
    for seed, (name, label_map) in enumerate({**train, **val}.items()):
        h, w = label_map.shape
        write_image(root / "VOCdevkit" / "VOC2010" / "JPEGImages" / f"{name}.jpg", blocky_image(h, w, 200 + seed))
        write_context_mat(root / "trainval" / f"{name}.mat", label_map)
    write_lines(root / "train.txt", train)
    write_lines(root / "val.txt", val)
    return root


def make_folder(root: Path, images: dict, class_names=("background", "cat", "dog"), size=(12, 16),
                suffix=".png") -> Path:
    """A VOC-style folder; ``images`` maps stem → list of label values or None (no mask)."""
    h, w = size
    for seed, (name, values) in enumerate(images.items()):
        write_image(root / "JPEGImages" / f"{name}{suffix}", blocky_image(h, w, 300 + seed))
        if values is not None:
            write_palette_png(root / "SegmentationClass" / f"{name}.png", label_with(h, w, values))
    if class_names is not None:
        write_lines(root / "class_names.txt", class_names)
    return root


@pytest.fixture
def build():
    """Namespace of the builders above, for tests (conftest modules are not importable by name)."""
    return types.SimpleNamespace(
        voc_palette=voc_palette, blocky_image=blocky_image, write_image=write_image,
        write_palette_png=write_palette_png, write_grey_png=write_grey_png, write_sbd_mat=write_sbd_mat,
        write_context_mat=write_context_mat, write_lines=write_lines, label_with=label_with,
        make_voc=make_voc, make_sbd=make_sbd, make_context=make_context, make_folder=make_folder,
        CONTEXT_LABELS_459=CONTEXT_LABELS_459,
    )
