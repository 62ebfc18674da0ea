"""Per-image feature cache with a byte cap (LRU): features are computed once per image and model.

A 1,000-image folder must not grow the process: entries are evicted oldest-used first as soon as
the total size passes the cap. The key includes the file's size and modification time so that an
image edited on disk is recomputed.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path


def image_key(model_name: str, path: str | os.PathLike) -> tuple:
    p = Path(path).resolve()
    try:
        st = p.stat()
        return (model_name, str(p), st.st_size, st.st_mtime_ns)
    except OSError:
        return (model_name, str(p), -1, -1)


class FeatureCache:
    """Thread-safe LRU mapping key -> object with an ``nbytes`` attribute, capped at ``max_bytes``."""

    def __init__(self, max_bytes: int = 512 * 2**20):
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key, value) -> None:
        size = int(value.nbytes)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= int(old.nbytes)
            if size > self.max_bytes:
                return  # larger than the whole cache: keep nothing rather than break the cap
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= int(evicted.nbytes)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


class SaliencyMaps:
    """The backbone's object saliency per image, computed once per session: every fit after a class
    change reads it for each of the prior's images (0.1 s each on 2 cores); a feature-grid map is tiny."""

    def __init__(self, backbone):
        self._backbone = backbone
        self._maps: dict = {}
        self._lock = threading.Lock()

    def of(self, key: str):
        """``saliency(feats)`` for the image ``key``, or None when the backbone has none."""
        compute = getattr(self._backbone, "saliency", None)
        if compute is None:
            return None

        def saliency(feats):
            with self._lock:
                if key in self._maps:
                    return self._maps[key]
            sal = compute(feats)
            with self._lock:
                self._maps[key] = sal
            return sal
        return saliency
