"""Reading the user's images: one place that says which files are images and which are not usable.

Bad input (corrupt file, 16-bit scan, a 400-megapixel panorama) is a user mistake with a clear
message, never a crash deep inside the model.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Largest image accepted, in pixels (about 8k × 8k). Larger ones would exhaust memory in the backbone.
MAX_PIXELS = 64_000_000
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


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
    """Return the image as an H×W×3 uint8 RGB array, EXIF orientation applied."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such image: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise UserError(
                        f"{path.name} is too large ({width}×{height} = {width * height / 1e6:.0f} MP; "
                        f"the limit is {max_pixels / 1e6:.0f} MP): downscale it first"
                    )
                if img.mode in _SIXTEEN_BIT_MODES:
                    raise UserError(
                        f"{path.name} is a {img.mode} (16-bit or float) image: convert it to 8-bit RGB first"
                    )
                img = ImageOps.exif_transpose(img)
                img.load()
                rgb = img.convert("RGB")
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UserError(f"{path.name} is too large to open safely: downscale it first") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"{path.name} is not a readable image (corrupt or unsupported): {exc}") from exc
    return np.asarray(rgb, dtype=np.uint8).copy()
