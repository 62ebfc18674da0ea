"""Keep only training images with no pixel of an unseen class (the ZS3Net training protocol).

The segmentation network must never see an unseen class, so every image whose label map contains
one is dropped (Bucher et al. 2019, Sec. 4). Labels are scanned once with ``load_label`` (no image
decoding); the kept list lives in memory and, with ``cache=True``, in a small JSON file under
``~/.cache/zs3/seen_only/`` keyed by the dataset's folder, split, label mapping and the unseen ids.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch.utils.data

from core.atomic import atomic_write_text
from core.errors import CancelledError, UserError

log = logging.getLogger(__name__)

CACHE_VERSION = 2


def default_cache_dir() -> Path:
    """``$ZS3_CACHE_DIR`` or ``$XDG_CACHE_HOME/zs3`` or ``~/.cache/zs3``."""
    if os.environ.get("ZS3_CACHE_DIR"):
        return Path(os.environ["ZS3_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "zs3"


class SeenOnly(torch.utils.data.Dataset):
    """A view of ``dataset`` without the images that contain any of ``unseen_ids``.

    ``dataset`` needs ``load_label(i)``, ``names``, ``class_names``, ``__len__`` and ``__getitem__``.
    ``cache``: also store the kept names on disk (``cache_dir``, default :func:`default_cache_dir`).
    ``progress(fraction, message)`` and ``cancel`` (a ``threading.Event``) follow the project's
    conventions; ``workers`` threads read labels in parallel (.mat and PNG decoding release the GIL
    in parts).
    """

    def __init__(self, dataset: Any, unseen_ids: Iterable[int], cache: bool = False,
                 cache_dir: str | os.PathLike | None = None, workers: int = 4,
                 progress: Callable[[float, str], None] | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.dataset = dataset
        self.unseen_ids = sorted({int(i) for i in unseen_ids})
        for i in self.unseen_ids:
            if not 0 <= i < 255:
                raise UserError(f"unseen class id {i} is not a label index (0..254)")
        self.cache_path: Path | None = None
        self._digest = ""
        kept: list[int] | None = None
        if cache and self.unseen_ids:
            self._digest = self._labels_digest()
            self.cache_path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
            self.cache_path = self.cache_path / "seen_only" / f"{self._cache_name()}.json"
            kept = self._read_cache()
        if kept is None:
            kept = self._scan(workers, progress, cancel) if self.unseen_ids else list(range(len(dataset)))
            if self.cache_path is not None:
                self._write_cache(kept)
        self.indices: list[int] = kept
        log.info("seen-only filter kept %d of %d images (unseen ids %s)", len(kept), len(dataset), self.unseen_ids)

    # ------------------------------------------------------------------ dataset protocol
    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def load_label(self, index: int) -> np.ndarray:
        return self.dataset.load_label(self.indices[index])

    @property
    def names(self) -> list[str]:
        all_names = self.dataset.names
        return [all_names[i] for i in self.indices]

    @property
    def class_names(self) -> list[str]:
        return self.dataset.class_names

    @property
    def transform(self) -> Any:
        return getattr(self.dataset, "transform", None)

    @property
    def dropped(self) -> int:
        return len(self.dataset) - len(self.indices)

    def __repr__(self) -> str:
        return f"SeenOnly({self.dataset!r}, unseen_ids={self.unseen_ids}, kept={len(self)})"

    # ------------------------------------------------------------------ scanning
    def _keep(self, index: int) -> bool:
        label = self.dataset.load_label(index)
        return not np.isin(label, self.unseen_ids).any()

    def _scan(self, workers: int, progress: Callable[[float, str], None] | None,
              cancel: threading.Event | None) -> list[int]:
        total = len(self.dataset)
        keep = [False] * total
        chunk = 64
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for start in range(0, total, chunk):
                if cancel is not None and cancel.is_set():
                    raise CancelledError("seen-only scan cancelled")
                stop = min(total, start + chunk)
                for i, flag in zip(range(start, stop), pool.map(self._keep, range(start, stop))):
                    keep[i] = flag
                if progress is not None:
                    progress(stop / total, f"scanning labels for unseen classes: {stop}/{total}")
        return [i for i, flag in enumerate(keep) if flag]

    # ------------------------------------------------------------------ cache file
    def _cache_key(self) -> str:
        key = getattr(self.dataset, "cache_key", None) or f"{type(self.dataset).__name__}|{getattr(self.dataset, 'root', '')}"
        return f"{key}|unseen={','.join(map(str, self.unseen_ids))}"

    def _labels_digest(self) -> str:
        """Digest of the image list and of each label file's size and mtime: an edited mask,
        an added or removed image all invalidate the cached list."""
        digest = hashlib.sha1("\n".join(self.dataset.names).encode("utf-8"))
        label_file = getattr(self.dataset, "label_file", None)
        if label_file is not None:
            for i in range(len(self.dataset)):
                path = label_file(i)
                try:
                    stat = os.stat(path) if path is not None else None
                except OSError:
                    stat = None
                digest.update(b"-" if stat is None else f"{stat.st_size}:{stat.st_mtime_ns};".encode())
        return digest.hexdigest()

    def _cache_name(self) -> str:
        return hashlib.sha1(self._cache_key().encode("utf-8")).hexdigest()[:20]

    def _read_cache(self) -> list[int] | None:
        assert self.cache_path is not None
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if (not isinstance(data, dict) or data.get("version") != CACHE_VERSION or data.get("key") != self._cache_key()
                or data.get("labels_sha1") != self._digest):
            return None
        position = {name: i for i, name in enumerate(self.dataset.names)}
        try:
            kept = [position[name] for name in data["kept"]]
        except (KeyError, TypeError):
            return None
        log.debug("seen-only list read from %s", self.cache_path)
        return kept

    def _write_cache(self, kept: list[int]) -> None:
        assert self.cache_path is not None
        names = self.dataset.names
        data = {"version": CACHE_VERSION, "key": self._cache_key(), "labels_sha1": self._digest,
                "total": len(names), "kept": [names[i] for i in kept]}
        try:
            atomic_write_text(self.cache_path, json.dumps(data))
        except (UserError, OSError) as exc:  # a cache that cannot be written is only slower next time
            log.warning("cannot write seen-only cache %s: %s", self.cache_path, exc)
