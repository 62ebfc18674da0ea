"""Class lists of the benchmarks and the paper's nested unseen-class splits.

The unseen splits are nested (the K=4 split contains the K=2 one, …) exactly as in ZS3Net; see
``/work/shared/reference/README.md``. Names are matched loosely (case, spaces, ``_`` and ``/``
ignored, a few common synonyms) because users type "airplane" or "potted plant" and dataset files
spell them differently.
"""
from __future__ import annotations

import difflib
from typing import Iterable, Sequence

from core.errors import UserError

VOC_CLASSES: list[str] = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
]

#: Background + the 59 Pascal-Context classes in the usual (alphabetical) order.
CONTEXT_CLASSES: list[str] = [
    "background", "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat",
    "book", "bottle", "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth",
    "computer", "cow", "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass",
    "ground", "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person", "plate",
    "platform", "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk", "sign", "sky", "snow",
    "sofa", "table", "track", "train", "tree", "truck", "tvmonitor", "wall", "water", "window", "wood",
]

#: Unseen classes in the order they are added: the first K of a list form the K-unseen split.
UNSEEN_ORDER: dict[str, list[str]] = {
    "voc": ["cow", "motorbike", "aeroplane", "sofa", "cat", "tvmonitor", "train", "bottle", "chair",
            "pottedplant"],
    "context": ["cow", "motorbike", "sofa", "cat", "boat", "fence", "bird", "tvmonitor", "keyboard",
                "aeroplane"],
}

SPLIT_SIZES = (0, 2, 4, 6, 8, 10)

# After normalisation; maps a common spelling to the benchmark spelling.
_SYNONYMS = {
    "airplane": "aeroplane",
    "plane": "aeroplane",
    "tv": "tvmonitor",
    "monitor": "tvmonitor",
    "motorcycle": "motorbike",
}

_DATASET_ALIASES = {
    "voc": "voc", "vocaug": "voc", "pascal": "voc", "pascalvoc": "voc", "voc2012": "voc",
    "context": "context", "pascalcontext": "context", "context59": "context", "context60": "context",
}


def name_key(name: str) -> str:
    """"TV / Monitor" → "tvmonitor": case-folded, whitespace, ``-``, ``_`` and ``/`` removed."""
    return "".join(ch for ch in str(name).casefold() if not ch.isspace() and ch not in "-_/")


def normalize_class_name(name: str) -> str:
    """:func:`name_key` of ``name`` with common synonyms mapped to the benchmark spelling."""
    key = name_key(name)
    return _SYNONYMS.get(key, key)


def _dataset_key(dataset: str) -> str:
    key = _DATASET_ALIASES.get(normalize_class_name(dataset))
    if key is None:
        raise UserError(f"unknown dataset {dataset!r} for unseen splits: use 'voc' or 'context'")
    return key


def unseen_classes(dataset: str, k: int) -> list[str]:
    """The paper's K unseen classes of ``dataset`` ("voc" or "context"), K in 0, 2, 4, 6, 8, 10."""
    key = _dataset_key(dataset)
    try:
        k_int = int(k)
    except (TypeError, ValueError):
        raise UserError(f"number of unseen classes must be one of {SPLIT_SIZES}, got {k!r}") from None
    if k_int != k or k_int not in SPLIT_SIZES:
        raise UserError(f"number of unseen classes must be one of {SPLIT_SIZES}, got {k!r}")
    return list(UNSEEN_ORDER[key][:k_int])


def all_classes(dataset: str) -> list[str]:
    """The full class list (background first) of ``dataset`` ("voc" or "context")."""
    return list(VOC_CLASSES if _dataset_key(dataset) == "voc" else CONTEXT_CLASSES)


def class_ids(names: Iterable[str], all_names: Sequence[str]) -> list[int]:
    """Indices of ``names`` in ``all_names``, matched by :func:`normalize_class_name`.

    Raises ``UserError`` for a name that matches nothing, suggesting the closest names.
    """
    index: dict[str, int] = {}
    for i, candidate in enumerate(all_names):
        index.setdefault(normalize_class_name(candidate), i)
    ids: list[int] = []
    for name in names:
        key = normalize_class_name(name)
        if key not in index:
            close = difflib.get_close_matches(key, list(index), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(all_names[index[c]] for c in close)}?)" if close else ""
            raise UserError(f"unknown class {name!r}{hint}; known: {len(all_names)} classes from "
                            f"{all_names[0]!r} to {all_names[-1]!r}")
        ids.append(index[key])
    return ids
