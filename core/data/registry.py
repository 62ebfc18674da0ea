"""One entry point for the training and evaluation scripts: ``open_dataset(kind, root, split, **kw)``.

Kinds: ``voc`` (VOC 2012), ``voc_aug`` (VOC 2012 + SBD; split "train" means train_aug),
``context`` (Pascal-Context, ``num_classes=60`` or 59), ``folder`` (a VOC-style folder of the user's),
``sbd`` (SBD alone). Every problem with the folder is a one-line ``UserError``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.errors import UserError

DATASET_KINDS = ("voc", "voc_aug", "context", "folder", "sbd")
_KIND_ALIASES = {"voc2012": "voc", "pascal": "voc", "vocaug": "voc_aug", "voc_sbd": "voc_aug",
                 "pascal_context": "context", "pcontext": "context", "voc_folder": "folder"}

# Where an SBD copy usually sits relative to a VOC root, tried when voc_aug gets no sbd_root.
_SBD_GUESSES = ("SBD", "sbd", "benchmark_RELEASE", "../SBD", "../sbd", "../benchmark_RELEASE",
                "../../SBD", "../../benchmark_RELEASE")


def _guess_sbd_root(root: Path) -> Path | None:
    for guess in _SBD_GUESSES:
        candidate = root / guess
        for folder in (candidate, candidate / "dataset", candidate / "benchmark_RELEASE" / "dataset"):
            if (folder / "cls").is_dir():
                return candidate
    return None


def open_dataset(kind: str, root: str | os.PathLike, split: str | None = None, **kw: Any):
    """Open a dataset reader; ``kw`` goes to its constructor (``transform``, ``sbd_root``, ``num_classes``…)."""
    from core.data.folder import existing_dir

    key = str(kind).strip().lower().replace("-", "_")
    key = _KIND_ALIASES.get(key, key)
    if key not in DATASET_KINDS:
        raise UserError(f"unknown dataset kind {kind!r}: use one of {', '.join(DATASET_KINDS)}")
    if root is None or str(root) == "":
        raise UserError(f"no dataset folder given for {key}")
    base = existing_dir(root)
    if key == "voc":
        from core.data.voc import VOCSegmentation

        return VOCSegmentation(base, split or "train", **kw)
    if key == "voc_aug":
        from core.data.voc import VOCSegmentation

        split = split or "train"
        if split == "train":
            split = "train_aug"
        if kw.get("sbd_root") is None and split == "train_aug":
            guessed = _guess_sbd_root(base)
            if guessed is not None:
                kw["sbd_root"] = guessed
        return VOCSegmentation(base, split, **kw)
    if key == "context":
        from core.data.context import PascalContext

        return PascalContext(base, split or "train", **kw)
    if key == "sbd":
        from core.data.sbd import SBDSegmentation

        return SBDSegmentation(base, split or "train", **kw)
    from core.data.folder import FolderDataset

    return FolderDataset(base, split, **kw)
