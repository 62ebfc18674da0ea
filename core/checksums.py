"""One SHA-256 of a file, read in blocks: every weight file the project loads is checked against a
pinned digest (DINOv2's ONNX file, NanoDet's graph and weights)."""
from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
