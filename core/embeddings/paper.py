"""The paper's own word2vec class vectors as a fixed embedding source ("paper-voc", "paper-context").

ZS3Net was trained and evaluated with these exact 300-d vectors (reference release, Apache-2.0,
Copyright 2019 Valeo; see resources/embeddings/NOTICE.md). Using them reproduces the paper's
numbers on VOC / Pascal-Context; they cannot embed any other class, so other names raise
``UnknownWordError`` listing what is available. Names are matched ignoring case, spaces, ``-``,
``_`` and ``/`` ("tv/monitor" = "tvmonitor"), plus a few common aliases ("airplane").
"""
from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np

from core.data.splits import CONTEXT_CLASSES, VOC_CLASSES, name_key
from core.embeddings.base import Embedder, Explanation, top_k, unit
from core.embeddings.errors import UnknownWordError
from core.embeddings.phrases import parse_class_spec
from core.errors import UserError

RESOURCE_DIR = Path(__file__).resolve().parents[2] / "resources" / "embeddings"

# alias (normalised) → class name; only used when the alias itself is not a class of the table
ALIASES: dict[str, str] = {
    "airplane": "aeroplane",
    "plane": "aeroplane",
    "motorcycle": "motorbike",
    "tv": "tvmonitor",
    "television": "tvmonitor",
    "monitor": "tvmonitor",
    "bike": "bicycle",
    "couch": "sofa",
    "people": "person",
    "shelf": "shelves",
}

TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "paper-voc": ("voc21_word2vec300.npy", tuple(VOC_CLASSES)),
    "paper-context": ("context60_word2vec300.npy", tuple(CONTEXT_CLASSES)),
}


class PaperEmbedder(Embedder):
    """Lookup of a class name in one of the paper's fixed tables (rows L2-normalised)."""

    def __init__(self, spec: str, resource_dir: Path = RESOURCE_DIR) -> None:
        if spec not in TABLES:
            raise UserError(f"unknown paper embedding table {spec!r}; choose {', '.join(TABLES)}")
        filename, classes = TABLES[spec]
        path = resource_dir / filename
        if not path.is_file():
            raise UserError(f"the paper's class vectors are missing: {path}")
        table = np.load(path).astype(np.float32)
        if table.shape[0] != len(classes):
            raise UserError(f"{path} holds {table.shape[0]} rows, expected {len(classes)}")
        self.name = spec
        self.spec = spec
        self.classes = classes
        self.dim = int(table.shape[1])
        self._table = np.stack([unit(row) for row in table])
        self._by_key = {name_key(c): i for i, c in enumerate(classes)}

    def _index(self, name: str) -> int | None:
        key = name_key(name)
        if key in self._by_key:
            return self._by_key[key]
        alias = ALIASES.get(key)
        return self._by_key.get(alias) if alias else None

    def explain(self, text: str, *, strict: bool = True) -> Explanation:
        name, description = parse_class_spec(text)
        body = description or name
        i = self._index(body)
        if i is None:
            if strict:
                suggestions = difflib.get_close_matches(name_key(body), self.classes, n=3, cutoff=0.6)
                raise UnknownWordError(
                    body, suggestions, text=text, source=self.name,
                    hint=f"The {self.name} table only holds: {', '.join(self.classes)}.",
                )
            return Explanation(text, (body,), (False,), None, embedded_text=body, keys=(None,), source=self.name)
        cls = self.classes[i]
        notes = () if name_key(body) == cls else (f"{body!r} matched class {cls!r}",)
        return Explanation(
            text, (cls,), (True,), self._table[i].copy(), embedded_text=body, keys=(cls,), notes=notes,
            source=self.name,
        )

    def _nearest(self, vector: np.ndarray, n: int, exclude: set[str]) -> list[tuple[str, float]]:
        return top_k(self._table @ vector, list(self.classes), n, exclude)
