"""The corpus of bad and odd inputs, generated (nothing downloaded): tiny files, each one case.

Tests import ``make_images`` / ``make_label_folders`` / ``make_checkpoints``; run as a script to look
at the files yourself: ``python tests/reliability/make_corpus.py OUT_DIR``. Every case says what the
tool must do with it (open, and how it is shown, or refuse with which words), and
``docs/reliability.md`` lists the same cases.
"""
from __future__ import annotations

import os
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

#: Stored size of the test images (width, height); small so that a `zs3 segment` run stays fast.
W, H = 48, 32
#: The bright block every picture carries: rows, columns of the stored image.
BLOCK = (slice(8, 24), slice(12, 36))
NON_UTF8_NAME = os.fsdecode(b"caf\xe9_latin1.jpg")  # a Latin-1 byte: not valid UTF-8
LONG_NAME = "é" * 118 + ".jpg"                     # 240 bytes (2 per é): long, multi-byte, still fits
TOO_LONG_NAME = "x" * 251 + ".jpg"                 # 255 bytes: fits on disk, but "<stem>.json" would not


@dataclass(frozen=True)
class Case:
    """One input file and what the tool must do with it."""

    name: str
    what: str
    opens: bool
    shown: tuple[int, int] | None = None  # (height, width) as displayed, for files that open
    refusal: str = ""                      # words the one-line refusal must hold


def block_picture() -> np.ndarray:
    """H×W×3 uint8: dark grey with a light block, so that orientation and scaling can be checked."""
    rgb = np.full((H, W, 3), 40, np.uint8)
    rgb[BLOCK] = 220
    rgb[:4, :4] = (230, 30, 30)  # a red corner marks the stored top-left
    return rgb


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, raw: bytes) -> bytes:
    """A PNG written by hand: lets the corpus hold headers no encoder would write (a lying size)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw))
            + _png_chunk(b"IEND", b""))


def _deep_values() -> np.ndarray:
    """16-bit levels of a microscope-like scan: 1000 background, 5000 block, one hot and one dead pixel.

    Min–max scaling would show the block at 5000/65535 ≈ 8 % grey; the percentile rule shows it white.
    """
    values = np.full((H, W), 1000, np.uint16)
    values[BLOCK] = 5000
    values[0, W - 1] = 65535
    values[H - 1, 0] = 0
    return values


def _rgb48_png(path: Path) -> None:
    rgb16 = block_picture().astype(np.uint16) * 257
    rows = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(H))
    path.write_bytes(png_bytes(W, H, 16, 2, rows))


def _exif_rotated(path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(block_picture()).save(path, quality=95, exif=exif)


def _broken_exif(path: Path) -> None:
    """An EXIF block whose orientation entry points past its end: Pillow warns "Corrupt EXIF data"."""
    block = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12\x00\x03\xff\xff\xff\xff"
    Image.fromarray(block_picture()).save(path, quality=95, exif=block)


def _alpha(path: Path) -> None:
    rgba = np.dstack([block_picture(), np.full((H, W), 255, np.uint8)])
    rgba[:, W // 2:] = (0, 0, 0, 0)  # right half fully transparent, stored as black
    Image.fromarray(rgba, "RGBA").save(path)


def _palette(path: Path) -> None:
    index = np.zeros((H, W), np.uint8)
    index[BLOCK] = 1
    index[:, -4:] = 2
    img = Image.fromarray(index, "P")
    img.putpalette([40, 40, 40, 220, 220, 220, 0, 255, 0] + [0] * (253 * 3))
    img.save(path, transparency=2)


def _truncated_jpeg(path: Path) -> None:
    full = path.with_suffix(".full")
    Image.fromarray(block_picture()).save(full, format="JPEG", quality=95)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: len(data) // 2])


def make_images(folder: str | os.PathLike) -> list[Case]:
    """Write one file per image case into ``folder``; return the cases."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rgb = block_picture()
    deep = _deep_values()
    Image.fromarray(rgb).save(folder / "plain.jpg", quality=95)
    Image.fromarray(deep).save(folder / "grey16.png")
    Image.fromarray(deep).save(folder / "grey16_tiff.tif")
    depth = deep.astype(np.float32) / 1000.0 - 0.5
    depth[0, 0], depth[0, 1], depth[1, 0] = np.nan, np.inf, -np.inf
    Image.fromarray(depth, "F").save(folder / "float32.tif")
    _rgb48_png(folder / "rgb48.png")
    import tifffile  # comes with scikit-image (test extra); Pillow cannot write this kind of TIFF

    tifffile.imwrite(folder / "rgb_float.tif", rgb.astype(np.float32) / 255.0, photometric="rgb")
    _alpha(folder / "rgba.png")
    Image.fromarray(rgb[:, :, 1]).save(folder / "grey.png")
    Image.fromarray(rgb).convert("LA").save(folder / "grey_alpha.png")
    _palette(folder / "palette.png")
    Image.fromarray(rgb[:, :, 1] > 100).save(folder / "bilevel.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    _exif_rotated(folder / "exif_rotated.jpg")
    _broken_exif(folder / "broken_exif.jpg")
    Image.fromarray(rgb).save(folder / NON_UTF8_NAME, quality=95)
    Image.fromarray(rgb).save(folder / LONG_NAME, quality=95)
    Image.fromarray(rgb).save(folder / TOO_LONG_NAME, quality=95)
    _truncated_jpeg(folder / "truncated.jpg")
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("these are notes, not a picture\n")
    (folder / "bomb.png").write_bytes(png_bytes(30_000, 30_000, 8, 0, b""))
    (folder / "huge.png").write_bytes(png_bytes(9_000, 8_000, 8, 0, b""))
    shown = (H, W)
    return [
        Case("plain.jpg", "8-bit RGB JPEG (control)", True, shown),
        Case("grey16.png", "16-bit greyscale PNG with one hot and one dead pixel", True, shown),
        Case("grey16_tiff.tif", "16-bit greyscale TIFF", True, shown),
        Case("float32.tif", "32-bit float TIFF with NaN and ±inf", True, shown),
        Case("rgb48.png", "16-bit-per-channel RGB PNG", True, shown),
        Case("rgba.png", "RGBA PNG, right half transparent", True, shown),
        Case("grey.png", "8-bit greyscale PNG", True, shown),
        Case("grey_alpha.png", "greyscale + alpha PNG", True, shown),
        Case("palette.png", "palette PNG with a transparent index", True, shown),
        Case("bilevel.png", "1-bit PNG", True, shown),
        Case("cmyk.jpg", "CMYK JPEG", True, shown),
        Case("exif_rotated.jpg", "JPEG with EXIF orientation 6 (shown turned 90°)", True, (W, H)),
        Case("broken_exif.jpg", "JPEG with a damaged EXIF block", True, shown),
        Case(NON_UTF8_NAME, "file name that is not valid UTF-8", True, shown),
        Case(LONG_NAME, "file name of 240 bytes, multi-byte characters", True, shown),
        Case(TOO_LONG_NAME, "file name of 255 bytes (outputs' names would exceed the limit)", True, shown),
        Case("rgb_float.tif", "3-channel 32-bit float TIFF (no Pillow mode for it)", False,
             refusal="not a readable image"),
        Case("truncated.jpg", "JPEG cut in half", False, refusal="truncated"),
        Case("empty.png", "zero-byte file", False, refusal="empty file"),
        Case("text.png", "text file named .png", False, refusal="not a readable image"),
        Case("bomb.png", "PNG header claiming 30000×30000 (decompression bomb)", False, refusal="too large"),
        Case("huge.png", "PNG header claiming 9000×8000 = 72 MP", False, refusal="too large"),
    ]


def write_voc_labels(folder: Path, names: list[str], masks: dict[str, np.ndarray]) -> Path:
    """A VOC-style labels folder: class_names.txt + SegmentationClass/<stem>.png (palette set)."""
    (folder / "SegmentationClass").mkdir(parents=True, exist_ok=True)
    (folder / "class_names.txt").write_text("\n".join(names) + "\n")
    for stem, mask in masks.items():
        img = Image.fromarray(mask, "P")
        img.putpalette(list(range(256)) * 3)
        img.save(folder / "SegmentationClass" / f"{stem}.png")
    return folder


def make_label_folders(folder: str | os.PathLike) -> dict[str, Path]:
    """Label folders for ``plain.jpg`` / ``exif_rotated.jpg``: wrong size, unknown indices, rotated."""
    folder = Path(folder)
    block = np.zeros((H, W), np.uint8)
    block[BLOCK] = 1
    unknown = block.copy()
    unknown[:, :6] = 7  # class_names.txt lists 2 classes: index 7 means nothing
    return {
        "wrong_size": write_voc_labels(folder / "wrong_size", ["background", "cat"],
                                       {"plain": np.zeros((H + 5, W), np.uint8)}),
        "unknown_index": write_voc_labels(folder / "unknown_index", ["background", "cat"], {"plain": unknown}),
        "rotated_as_shown": write_voc_labels(folder / "rotated_as_shown", ["background", "cat"],
                                             {"exif_rotated": np.rot90(block, k=-1).copy()}),
        "rotated_as_stored": write_voc_labels(folder / "rotated_as_stored", ["background", "cat"],
                                              {"exif_rotated": block}),
    }


def make_checkpoints(folder: str | os.PathLike) -> dict[str, Path]:
    """Files given to ``--model``: another model's weights, a truncated file, a checkpoint-like dict."""
    import torch

    from core.checkpoint import FORMAT_NAME, FORMAT_VERSION

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    other = folder / "resnet_head.pth"
    torch.save(torch.nn.Linear(8, 3).state_dict(), other)
    truncated = folder / "truncated.pth"
    torch.save({"format": FORMAT_NAME, "version": FORMAT_VERSION, "model": {"w": torch.zeros(4096)}}, truncated)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    wrong_version = folder / "future.pth"
    torch.save({"format": FORMAT_NAME, "version": FORMAT_VERSION + 98}, wrong_version)
    return {"other_model": other, "truncated": truncated, "future_version": wrong_version}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/reliability/make_corpus.py OUT_DIR")
    out = Path(sys.argv[1])
    for case in make_images(out / "images"):
        print(f"{'opens ' if case.opens else 'refuse'}  {os.fsencode(case.name)[:40]!r:45} {case.what}")
    make_label_folders(out / "labels")
    make_checkpoints(out / "models")
    print(f"corpus written to {out}")
