"""Class names: how names from another dataset are matched to ours, and how they appear in files.

Matching rule (CLI contract): case-insensitive, with spaces, ``_`` and ``/`` ignored, so
``tvmonitor`` = ``tv/monitor`` = ``TV monitor`` and labelme's ``_background_`` = ``background``.
A class may carry a description after a colon ("quokka: small wallaby"); only the part before the
colon names it, in matching and in exported files.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from core.errors import UserError

_IGNORED = re.compile(r"[\s_/]+")
_UNSAFE_FILENAME = re.compile(r"[^\w.\- ]+")


def display_name(name: str) -> str:
    """The name without its description: ``"quokka: small wallaby"`` → ``"quokka"``."""
    return str(name).split(":", 1)[0].strip()


def normalize_class_name(name: str) -> str:
    """The key two names must share to be the same class."""
    return _IGNORED.sub("", display_name(name)).casefold()


def safe_filename(name: str) -> str:
    """A class name usable as a file name (``tv/monitor`` → ``tv_monitor``)."""
    cleaned = _UNSAFE_FILENAME.sub("_", display_name(name)).strip(" .")
    return cleaned or "class"


def check_class_names(class_names: Sequence[str]) -> list[str]:
    """Validate an export class list: background first, 1..255 names, no two alike after normalising."""
    names = [str(n) for n in class_names]
    if not names:
        raise UserError("the class list is empty; it must start with 'background'")
    if len(names) > 255:
        raise UserError(f"{len(names)} classes do not fit in an 8-bit label map (at most 255, 255 = ignore)")
    seen: dict[str, str] = {}
    files: dict[str, str] = {}
    for name in names:
        key = normalize_class_name(name)
        if not key:
            raise UserError(f"class name {name!r} is empty after normalising")
        if key in seen:
            raise UserError(f"class names {seen[key]!r} and {name!r} are the same class; remove one")
        seen[key] = name
        fkey = safe_filename(name).casefold()
        if fkey in files:
            raise UserError(f"class names {files[fkey]!r} and {name!r} give the same file name; rename one")
        files[fkey] = name
    return names


def match_class_names(source_names: Sequence[str], target_names: Sequence[str]) -> np.ndarray:
    """Look-up table from source class indices to target class indices.

    ``lut[i]`` is the index in ``target_names`` of the class named like ``source_names[i]``, or 255
    when the target has no such class (its pixels become ignore, never background). ``lut[255]`` is 255,
    as is every index past the end of ``source_names``.
    """
    if len(source_names) > 255:
        raise UserError(f"{len(source_names)} source classes do not fit in an 8-bit label map")
    target_index: dict[str, int] = {}
    for index, name in enumerate(target_names):
        key = normalize_class_name(name)
        if key in target_index:
            raise UserError(f"class names {target_names[target_index[key]]!r} and {name!r} are the same class")
        target_index[key] = index
    if len(target_names) > 255:
        raise UserError(f"{len(target_names)} classes do not fit in an 8-bit label map")
    lut = np.full(256, 255, dtype=np.uint8)
    for index, name in enumerate(source_names):
        lut[index] = target_index.get(normalize_class_name(name), 255)
    return lut


def read_class_names(path: str | os.PathLike) -> list[str]:
    """One class per line (blank lines skipped), background first, as in ``class_names.txt``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise UserError(f"missing class list {path} (one class name per line, background first)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read class list {path}: {exc}") from exc
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise UserError(f"class list {path} is empty")
    return names


def format_class_names(class_names: Sequence[str]) -> str:
    return "".join(f"{display_name(n)}\n" for n in class_names)
