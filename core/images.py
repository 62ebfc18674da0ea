"""Reading the user's images: one place that says which files are images and which are not usable.

Odd but valid input (16-bit or float scans, alpha, palette, CMYK, EXIF rotation) is turned into the
H×W×3 uint8 RGB the models and the canvas use, by the rules of ``docs/reliability.md``. Bad input
(corrupt or empty file, a 400-megapixel panorama) is a user mistake with a one-line message, never a
crash deep inside the model.
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Largest image accepted, in pixels (about 8k × 8k). Larger ones would exhaust memory in the backbone.
MAX_PIXELS = 64_000_000
#: A 16-bit or float image is shown and segmented as 8-bit: these percentiles of its finite values
#: map to 0 and 255. Percentiles rather than min–max so that one hot or dead pixel (common in
#: microscopy and depth maps) does not leave the rest of the image a flat grey.
HIGH_DEPTH_PERCENTILES = (0.5, 99.5)
#: Transparent pixels are shown over white, as most viewers and browsers do, so that the colour a
#: transparent pixel happens to store never reaches the features.
ALPHA_BACKGROUND = (255, 255, 255)
_PERCENTILE_SAMPLES = 1_000_000  # enough for stable percentiles; bounds the cost on a 64 MP scan
_EXIF_ORIENTATION = 0x0112
_SWAPPED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that turn the image by 90°
#: How to turn the stored pixels into the displayed ones, per EXIF orientation (TIFF/EXIF spec).
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# warnings.catch_warnings swaps a process-wide filter list: the GUI's main and worker threads both
# open images, so the few lines that need it run one thread at a time.
_WARNINGS_LOCK = threading.Lock()


def natural_key(text: str) -> list:
    """Sort key so that img2 comes before img10, as a person expects in a file list."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def list_images(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into image paths, natural-sorted within each folder, no duplicates."""
    found: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            children = [p for p in path.iterdir() if p.is_file() and is_image_path(p) and not p.name.startswith(".")]
            candidates = sorted(children, key=lambda p: natural_key(p.name))
        elif path.is_file():
            if not is_image_path(path):
                raise UserError(f"{path} is not an image file (expected one of {', '.join(IMAGE_SUFFIXES)})")
            candidates = [path]
        else:
            raise UserError(f"no such file or folder: {path}")
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved not in seen:
                seen.add(resolved)
                found.append(candidate)
    return found


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Return the image as displayed: H×W×3 uint8 RGB, EXIF orientation applied, original size kept.

    Masks are always in this orientation and size (the exporter and importers compare against
    ``displayed_size``), so a label painted on a rotated phone photo lands where the user saw it.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such image: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"{path.name} is an empty file (0 bytes), not an image")
    with _user_errors(path, max_pixels):
        img, orientation = _open_checked(path, max_pixels)
        with img:
            img.load()
            shown = img.transpose(_TURNS[orientation]) if orientation in _TURNS else img
            return _to_rgb(shown)


@dataclass(frozen=True)
class ReducedImage:
    """A JPEG decoded at 1/``factor`` of its size; ``shape`` is what ``load_image`` will return."""

    rgb: np.ndarray
    factor: int
    shape: tuple[int, int]


def load_reduced(path: str | os.PathLike, min_side: int, max_pixels: int = MAX_PIXELS) -> ReducedImage | None:
    """The photo as displayed, decoded at 1/2, 1/4 or 1/8 of its size, the most reduced whose longer
    side stays ≥ ``min_side``; None when the file is not a JPEG or is too small to reduce.

    Why: the JPEG decoder scales in the DCT domain, so a 24-Mpx photo reads at 1/4 in about a tenth
    of the full decode (Pillow's ``draft``). A viewer shows this first and swaps in
    ``load_image``'s pixels when they are ready. Preview pixel (i, j) covers displayed pixels
    [i·f, (i+1)·f) × [j·f, (j+1)·f); on a mirrored or turned photo whose side is not a multiple of f
    the preview may sit up to f−1 displayed pixels off (display only, until the full image arrives).
    Refuses what ``load_image`` refuses from the header, with the same message.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None  # load_image says why
    with _user_errors(path, max_pixels):
        img, orientation = _open_checked(path, max_pixels)
        with img:
            width, height = img.size
            factor = next((f for f in (8, 4, 2) if max(width, height) // f >= min_side), 1)
            if img.format != "JPEG" or factor == 1:
                return None
            drafted = img.draft("RGB", (width // factor, height // factor))
            if drafted is None:  # a JPEG Pillow cannot reduce (several tiles)
                return None
            factor = round(width / drafted[1][2])
            img.load()
            shown = img.transpose(_TURNS[orientation]) if orientation in _TURNS else img
            rgb = _to_rgb(shown)
    shape = (width, height) if orientation in _SWAPPED_ORIENTATIONS else (height, width)
    return ReducedImage(rgb, factor, shape)


def displayed_size(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(height, width) that ``load_image`` will return, from the header only (no pixel is decoded).

    Refuses what ``load_image`` refuses for its header (unreadable, too large) with the same message.
    """
    path = Path(path)
    with _user_errors(path, max_pixels):
        img, orientation = _open_checked(path, max_pixels)
        with img:
            width, height = img.size
    if orientation in _SWAPPED_ORIENTATIONS:
        width, height = height, width
    return height, width


@contextlib.contextmanager
def _user_errors(path: Path, max_pixels: int) -> Iterator[None]:
    """Pillow's many failure types → one ``UserError`` line that names the file."""
    try:
        yield
    except UserError:
        raise
    except Image.DecompressionBombError as exc:
        raise UserError(_too_large(path, f"over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} MP", max_pixels)) from exc
    except UnidentifiedImageError as exc:
        raise UserError(f"{path.name} is not a readable image (a format or pixel type Pillow cannot read, or "
                        f"not an image despite its name)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UserError(f"{path.name} is not a readable image (damaged or unsupported: {_reason(exc, path)})") from exc


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Map a 16-bit, 32-bit integer or float array to uint8 by ``HIGH_DEPTH_PERCENTILES``.

    Non-finite values (NaN, ±inf: "no data" in depth maps) become 0. A flat image becomes 0.
    """
    flat = values.reshape(-1)
    sample = flat[:: max(1, flat.size // _PERCENTILE_SAMPLES)]
    sample = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
    if sample.size == 0:
        return np.zeros(values.shape, np.uint8)
    low, high = np.percentile(sample, HIGH_DEPTH_PERCENTILES)
    if high <= low:  # most pixels equal: fall back to the full range so that the rest stays visible
        low, high = float(sample.min()), float(sample.max())
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    scaled = (values.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _open_checked(path: Path, max_pixels: int) -> tuple[Image.Image, int]:
    """Open (header only) and refuse an image over ``max_pixels`` before any pixel is decoded.

    Returns the image and its EXIF orientation (1 = as stored).
    """
    bomb_is_error = max_pixels <= (Image.MAX_IMAGE_PIXELS or max_pixels)
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data": the photo is fine, just not turned
        warnings.simplefilter("error" if bomb_is_error else "ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except Image.DecompressionBombWarning as exc:
            raise UserError(_too_large(path, f"over {Image.MAX_IMAGE_PIXELS / 1e6:.0f} MP", max_pixels)) from exc
        try:  # inside the silenced warnings: Pillow warns "Corrupt EXIF data" for a damaged block
            orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1))
        except Exception:  # noqa: BLE001 - a broken EXIF block just means no rotation
            orientation = 1
    width, height = img.size
    if width * height > max_pixels:
        img.close()
        raise UserError(_too_large(path, f"{width}×{height} = {width * height / 1e6:.0f} MP", max_pixels))
    return img, orientation


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        grey = to_uint8(np.asarray(img))
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.has_transparency_data:
        backdrop = Image.new("RGBA", img.size, (*ALPHA_BACKGROUND, 255))
        img = Image.alpha_composite(backdrop, img.convert("RGBA"))
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _too_large(path: Path, size: str, max_pixels: int) -> str:
    return (f"{path.name} is too large to open safely ({size}; the limit is {max_pixels / 1e6:.0f} MP): "
            f"downscale it first")


def _reason(exc: BaseException, path: Path) -> str:
    """Pillow's message without the full path it sometimes repeats (the file name is already said)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(f"'{path}'", "the file").replace(str(path), "the file")
