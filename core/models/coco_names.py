"""NanoDet's 80 COCO classes and which of them a typed class name means (``coco_classes``).

Why these rules, in this order:
1. A COCO label typed as it is (any case, spaces/hyphens/underscores or none: "dining table",
   "diningtable", "Dining-Table") means that class: it is the detector's own vocabulary, so
   "toaster" is the appliance and "mouse" the computer mouse even though WordNet's usual senses are
   a person who toasts and the rodent.
2. Otherwise WordNet 3.0 decides, through ``resources/default_model/coco_wordnet.json`` (built by
   ``build_coco_wordnet.py``): synonyms share a synset ("sofa" → couch, "motorbike" → motorcycle,
   "aeroplane" → airplane, "tv monitor" → tv), hyponyms reach their class ("woman", "astronaut" →
   person; "puppy" → dog), a few hypernyms reach the classes under them ("vehicle", "furniture"), a
   group reaches its members ("people" → person). Plurals are reduced by WordNet's own noun rules
   and exception list ("men" → "man", "buses" → "bus").
A name that reaches nothing returns an empty list: no COCO boxes for it, not an error.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

from core.session.wordnet_links import lemma_key, squash as _squash

#: The model's output order (COCO 2017 detection categories without the 10 unused ids); checked
#: against the labels list of the ``@vladmandic/human`` library that converted the model.
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)
TABLE = Path(__file__).resolve().parents[2] / "resources" / "default_model" / "coco_wordnet.json"
#: WordNet's noun detachment rules (morphy): plural ending → singular ending, tried in this order.
_PLURAL_RULES = (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("ses", "s"), ("xes", "x"), ("zes", "z"),
                 ("men", "man"), ("s", ""))


_LABELS = {_squash(lemma_key(name)): i for i, name in enumerate(COCO_CLASSES)}


class CocoNames:
    """The WordNet table, read once; ``classes`` resolves one typed name."""

    def __init__(self, path: Path = TABLE):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(data["classes"]) != COCO_CLASSES:
            raise ValueError(f"{path} was built for another COCO class list")
        self.lemmas: dict[str, list[int]] = data["lemmas"]
        self.synsets: dict[str, list[str]] = data.get("synsets", {})
        self.exceptions: dict[str, str] = data.get("exceptions", {})
        self._squashed = {_squash(k): k for k in self.lemmas}

    def _keys(self, key: str) -> list[str]:
        keys = [key]
        if key in self.exceptions:
            keys.append(self.exceptions[key])
        head, _, last = key.rpartition("_")
        for plural, singular in _PLURAL_RULES:
            if last.endswith(plural) and len(last) > len(plural):
                keys.append(f"{head}_{last[: -len(plural)]}{singular}".lstrip("_"))
        return keys

    def label(self, name: str) -> int | None:
        """The COCO class whose label ``name`` is, as typed (rule 1), or None."""
        for k in self._keys(lemma_key(name)):
            if _squash(k) in _LABELS:
                return _LABELS[_squash(k)]
        return None

    def classes(self, name: str) -> list[int]:
        """Indices into :data:`COCO_CLASSES` that ``name`` means, most specific reading first."""
        key = lemma_key(name)
        label = self.label(name)
        if label is not None:
            return [label]
        for k in self._keys(key):
            if k in self.lemmas:
                return list(self.lemmas[k])
            if _squash(k) in self._squashed:
                return list(self.lemmas[self._squashed[_squash(k)]])
        return []


_NAMES: dict = {}
_LOCK = threading.Lock()


def coco_names() -> CocoNames:
    with _LOCK:
        if "names" not in _NAMES:
            _NAMES["names"] = CocoNames()
        return _NAMES["names"]


def detector_label_synsets(name: str) -> list[str]:
    """The WordNet 3.0 synsets (offsets) pinned to the COCO class whose label ``name`` is, as typed
    (``build_coco_wordnet.PINNED``); empty for any other name, or without the table."""
    if not TABLE.is_file():
        return []
    names = coco_names()
    label = names.label(name)
    return [] if label is None else list(names.synsets.get(COCO_CLASSES[label], []))


def coco_classes(name: str) -> list[int]:
    """The COCO classes a typed class name means (indices into :data:`COCO_CLASSES`), maybe none."""
    return coco_names().classes(name)
