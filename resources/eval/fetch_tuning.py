"""Fetch the second tuning part: OpenCV's sample photos of everyday scenes with masks drawn here, and
the held-out sources' COCO photos that were diagnosed one by one (``fetch_heldout.TUNING_STEMS``).

Why: the shipped tuning part (this folder, 15 photos) holds one cluttered scene; the failures the
held-out part shows on street and indoor photos (small people, a ball, objects on a table) could not be
tuned against without looking at the held-out photos. OpenCV's source distribution on PyPI carries
sample photos of such scenes (``opencv/samples/data``) without masks; the masks are made here as the
shipped part's are (``build_eval.region``: GrabCut from hand-chosen boxes, hand polygons seeded into
GrabCut, ellipses; a 3-px ignore band; doubtful regions ignore), each checked by eye on an overlay.
The photos' own terms are not stated (OpenCV's repository is Apache-2.0; one is a press photo): they
are downloaded (hash-checked) into a cache folder for tuning only, never copied into this repository.

    python resources/eval/fetch_tuning.py [DEST]      # default ~/.cache/zs3-annotator/tuning-extra

Writes a VOC-style folder like ``fetch_heldout.py`` (``SOURCES.md`` included) and prints DEST; does
nothing when DEST is already complete. Needs pip and the network (OpenCV's is a 95 MB sdist).
"""
from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from build_eval import spec_labels  # noqa: E402
import fetch_heldout  # noqa: E402
from fetch_heldout import Photo, Source, fetch, jpeg_bytes  # noqa: E402

DEFAULT_DEST = Path.home() / ".cache" / "zs3-annotator" / "tuning-extra"
DATA = "opencv-python-4.10.0.84/opencv/samples/data/"
CLASSES = ("background", "person", "ball", "squirrel", "butterfly", "apple", "pencil", "lighter", "car", "van")
VTEST_FRAME = 0  # the first frame of vtest.avi: three walkers, a van and a car far away

# photo -> (file in DATA, [(class or None for ignore, kind, box or polygon as fractions)]): applied in
# order, a class overriding an earlier ignore (``build_eval.region`` kinds).
SPECS = {
    "opencv_messi5": ("messi5.jpg", [
        (None, "rect", (0.0, 0.0, 1.0, 0.76)),  # the crowd behind: people, too many and too blurred to outline
        ("person", "polycut", ((0.38, 0.20), (0.43, 0.18), (0.47, 0.20), (0.48, 0.27), (0.53, 0.31), (0.55, 0.36),
                               (0.60, 0.42), (0.66, 0.45), (0.69, 0.48), (0.65, 0.50), (0.58, 0.47), (0.54, 0.46),
                               (0.53, 0.52), (0.55, 0.59), (0.60, 0.64), (0.66, 0.71), (0.72, 0.74), (0.78, 0.75),
                               (0.82, 0.79), (0.83, 0.83), (0.77, 0.82), (0.72, 0.79), (0.66, 0.77), (0.62, 0.75),
                               (0.56, 0.76), (0.48, 0.77), (0.44, 0.81), (0.45, 0.84), (0.52, 0.90), (0.56, 0.93),
                               (0.55, 0.98), (0.46, 0.98), (0.44, 0.92), (0.41, 0.86), (0.40, 0.80), (0.41, 0.74),
                               (0.40, 0.68), (0.39, 0.50), (0.35, 0.43), (0.30, 0.40), (0.29, 0.36), (0.22, 0.32),
                               (0.14, 0.28), (0.12, 0.26), (0.15, 0.25), (0.22, 0.28), (0.30, 0.32), (0.35, 0.33),
                               (0.38, 0.30), (0.37, 0.24))),
        ("ball", "ellipse", (0.615, 0.84, 0.705, 0.98))]),
    "opencv_basketball1": ("basketball1.png", [
        (None, "rect", (0.66, 0.40, 0.80, 0.90)),  # a chair half hidden behind the man on the right
        ("person", "poly", ((0.10, 0.18), (0.13, 0.16), (0.155, 0.18), (0.16, 0.24), (0.155, 0.28), (0.20, 0.30),
                            (0.20, 0.38), (0.17, 0.40), (0.175, 0.48), (0.20, 0.58), (0.20, 0.75), (0.22, 0.93),
                            (0.24, 0.97), (0.16, 0.97), (0.14, 0.75), (0.12, 0.97), (0.07, 0.98), (0.08, 0.80),
                            (0.075, 0.58), (0.07, 0.40), (0.06, 0.32), (0.09, 0.30), (0.12, 0.29), (0.10, 0.25))),
        ("person", "poly", ((0.80, 0.06), (0.87, 0.04), (0.94, 0.09), (0.95, 0.20), (0.97, 0.28), (1.0, 0.30),
                            (1.0, 1.0), (0.76, 1.0), (0.79, 0.80), (0.80, 0.70), (0.78, 0.62), (0.70, 0.58),
                            (0.68, 0.50), (0.71, 0.44), (0.78, 0.38), (0.82, 0.30), (0.81, 0.20), (0.79, 0.13))),
        ("ball", "ellipse", (0.195, 0.15, 0.28, 0.32))]),  # blurred by the throw
    "opencv_vtest": ("vtest.avi", [
        (None, "rect", (0.0, 0.27, 0.08, 0.35)), (None, "rect", (0.19, 0.30, 0.25, 0.37)),  # traffic cones
        (None, "rect", (0.37, 0.30, 0.42, 0.37)), (None, "rect", (0.56, 0.29, 0.61, 0.36)),
        (None, "rect", (0.59, 0.57, 0.70, 0.85)), (None, "rect", (0.53, 0.19, 0.61, 0.32)),  # tripods
        (None, "rect", (0.0, 0.05, 0.12, 0.13)),  # a bench or a rack, far away
        ("person", "grabcut", (0.325, 0.375, 0.375, 0.545)), ("person", "grabcut", (0.645, 0.265, 0.695, 0.41)),
        ("person", "grabcut", (0.83, 0.41, 0.895, 0.56)),
        ("van", "grabcut", (0.845, 0.07, 0.945, 0.175)), ("car", "grabcut", (0.955, 0.075, 1.0, 0.17))]),
    "opencv_squirrel": ("squirrel_cls.jpg", [(None, "ellipse", (0.22, 0.24, 0.52, 0.85)),  # the tail's dark fringe
                                             ("squirrel", "grabcut", (0.24, 0.24, 0.68, 0.82))]),
    "opencv_butterfly": ("butterfly.jpg", [(None, "rect", (0.30, 0.0, 0.63, 0.24)),  # the antennae
                                           ("butterfly", "grabcut", (0.01, 0.22, 0.99, 0.88))]),
    "opencv_apple": ("apple.jpg", [("apple", "grabcut", (0.07, 0.0, 0.92, 0.97)),
                                   (None, "rect", (0.0, 0.84, 0.14, 0.95))]),  # a pencil the cut takes for apple
    "opencv_stuff": ("stuff.jpg", [
        (None, "ellipse", (0.27, 0.02, 0.41, 0.20)), (None, "ellipse", (0.52, 0.22, 0.72, 0.48)),  # a lid, a white ball
        (None, "ellipse", (0.29, 0.59, 0.37, 0.70)),  # a clear button or coin
        ("pencil", "poly", ((0.09, 0.19), (0.105, 0.175), (0.545, 0.505), (0.53, 0.535))),
        ("lighter", "rect", (0.495, 0.655, 0.56, 0.95))]),
}


def _frame(data: bytes, index: int) -> np.ndarray:
    """Frame ``index`` of a video file's bytes, as RGB."""
    with tempfile.NamedTemporaryFile(suffix=".avi") as tmp:
        tmp.write(data)
        tmp.flush()
        capture = cv2.VideoCapture(tmp.name)
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, bgr = capture.read()
        capture.release()
    if not ok:
        raise ValueError(f"frame {index} of the video cannot be read")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def labels_of(rgb: np.ndarray, parts) -> np.ndarray:
    """One photo's class map (indices of ``CLASSES``, 255 = ignore) from its SPECS entry."""
    return spec_labels(rgb, parts, {c: i for i, c in enumerate(CLASSES)})


def _opencv_samples(read) -> list[Photo]:
    photos = []
    cv2.setRNGSeed(0)
    for stem, (name, parts) in SPECS.items():
        data = read(DATA + name)
        if name.endswith(".avi"):
            rgb = _frame(data, VTEST_FRAME)
        else:
            with Image.open(io.BytesIO(data)) as image:
                rgb = np.array(image.convert("RGB"))  # basketball1 is grey
        how = f"`{name}`" + (f" frame {VTEST_FRAME}" if name.endswith(".avi") else "") + \
            "; mask drawn here (resources/eval/fetch_tuning.py SPECS), re-encoded as JPEG"
        photos.append(Photo(stem, jpeg_bytes(rgb), labels_of(rgb, parts), CLASSES, how))
    return photos


OPENCV = (
    Source("opencv-python==4.10.0.84", "opencv-python-4.10.0.84.tar.gz",
           "72d234e4582e9658ffea8e9cae5b63d488ad06994ef12d81dc303b17472f3526", ("--no-binary", "opencv-python"),
           "Apache-2.0 (OpenCV); the sample photos' own terms not stated", tuple(SPECS), _opencv_samples),
)
#: ... and the held-out sources' photos moved to tuning (``fetch_heldout.TUNING_STEMS``)
SOURCES = OPENCV + tuple(s for s in fetch_heldout.SOURCES if set(s.stems) & fetch_heldout.TUNING_STEMS)
TITLE = "Second tuning part (fetched by resources/eval/fetch_tuning.py)"


def tuning(stem: str) -> bool:
    return stem in SPECS or stem in fetch_heldout.TUNING_STEMS


if __name__ == "__main__":
    print(fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEST, SOURCES, TITLE, tuning))
