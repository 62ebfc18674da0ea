"""The VOC colour map and 8-bit palette label PNGs: the one raster format every pipeline reads.

A label PNG is mode "P": the pixel value *is* the class index and the palette only colours it. Pillow
13 remaps indices of a "P" image saved without a palette, so we always attach the full 256-entry
VOC palette before saving, and read indices back without any colour conversion.
"""
from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.atomic import atomic_write_bytes
from core.errors import UserError


@lru_cache(maxsize=1)
def _colormap() -> np.ndarray:
    cmap = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        cmap[index] = (r, g, b)
    cmap.setflags(write=False)
    return cmap


def voc_colormap(n: int = 256) -> np.ndarray:
    """The standard PASCAL VOC colour map, ``(n, 3)`` uint8 (0 black, 1 dark red, …, 255 cream)."""
    if not 0 < n <= 256:
        raise ValueError("n must be in 1..256")
    return _colormap()[:n].copy()


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise UserError(f"a label map must be an H×W uint8 array, got shape {labels.shape} dtype {labels.dtype}")
    if labels.size == 0:
        raise UserError("a label map must not be empty")
    return np.ascontiguousarray(labels)


def encode_label_png(labels: np.ndarray) -> bytes:
    """PNG bytes of an 8-bit palette image whose indices are exactly ``labels``."""
    labels = _check_labels(labels)
    height, width = labels.shape
    image = Image.frombytes("P", (width, height), labels.tobytes())
    image.putpalette(_colormap().tobytes(), rawmode="RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def write_label_png(path: str | os.PathLike, labels: np.ndarray) -> Path:
    """Write ``labels`` atomically as a VOC palette PNG and return the path."""
    target = Path(path)
    atomic_write_bytes(target, encode_label_png(labels))
    return target


def read_label_png(path: str | os.PathLike) -> np.ndarray:
    """Read a label PNG as H×W uint8 class indices.

    Accepts palette PNGs (indices taken as they are), grey-index PNGs ("L") and colour PNGs whose
    colours are all VOC colour-map entries (mapped back to indices).
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode in ("P", "L"):
                return np.array(image, dtype=np.uint8)
            if mode == "1":
                return np.array(image, dtype=np.uint8)
            if mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit grey index masks some tools write
                values = np.array(image)
                if values.size and (values.min() < 0 or values.max() > 255):
                    raise UserError(f"{path} holds values up to {int(values.max())}; label maps hold 0..255")
                return values.astype(np.uint8)
            if mode in ("RGB", "RGBA"):
                rgb = np.array(image.convert("RGB"), dtype=np.uint8)
            else:
                raise UserError(f"{path}: a label PNG must be palette, grey or VOC-coloured RGB, not mode {mode}")
    except FileNotFoundError as exc:
        raise UserError(f"no such label file: {path}") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{path} is not a readable label image: {exc}") from exc
    return _rgb_to_indices(rgb, path)


def _rgb_to_indices(rgb: np.ndarray, path: Path) -> np.ndarray:
    packed_cmap = _pack(_colormap())
    lookup = {int(code): index for index, code in enumerate(packed_cmap)}
    packed = _pack(rgb.reshape(-1, 3))
    codes, inverse = np.unique(packed, return_inverse=True)
    out = np.empty(len(codes), dtype=np.uint8)
    for i, code in enumerate(codes):
        if int(code) not in lookup:
            r, g, b = (int(code) >> 16) & 255, (int(code) >> 8) & 255, int(code) & 255
            raise UserError(f"{path}: colour ({r},{g},{b}) is not in the VOC colour map; save masks as palette or grey PNGs")
        out[i] = lookup[int(code)]
    return out[inverse].reshape(rgb.shape[:2])


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
