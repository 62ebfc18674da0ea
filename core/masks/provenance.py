"""``zs3_provenance.json``: what made a set of pseudo-labels, so a dataset user can tell machine
labels from human ones and reproduce them (model, word vectors, seen/unseen classes, threshold,
which images a person reviewed or edited, tool version, time).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from core.errors import UserError
from core.masks.names import display_name, normalize_class_name

PROVENANCE_FILE = "zs3_provenance.json"


@dataclass
class Provenance:
    """``seen_classes``: names or indices of the classes that had real labels at export time (the
    others were unseen, labelled from word vectors only); ``None`` when the caller does not know."""

    model: str = "unknown"
    embeddings: str = "unknown"
    seen_classes: Sequence[str | int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def coerce(cls, value: "Provenance | Mapping[str, Any] | None") -> "Provenance":
        if value is None:
            return cls()
        if isinstance(value, Provenance):
            return value
        if isinstance(value, Mapping):
            known = {f.name for f in dataclasses.fields(cls)}
            fields = {k: v for k, v in value.items() if k in known}
            extra = dict(fields.pop("extra", {}) or {})
            extra.update({k: v for k, v in value.items() if k not in known})
            return cls(**fields, extra=extra)
        raise TypeError(f"provenance must be a Provenance, a mapping or None, not {type(value).__name__}")

    def seen_flags(self, class_names: Sequence[str]) -> list[bool | None]:
        if self.seen_classes is None:
            return [None] * len(class_names)
        keys = {normalize_class_name(n) for n in class_names}
        seen: set[int] = set()
        for entry in self.seen_classes:
            if isinstance(entry, int):
                if not 0 <= entry < len(class_names):
                    raise UserError(f"seen class index {entry} is outside the class list")
                seen.add(entry)
            else:
                key = normalize_class_name(entry)
                if key not in keys:
                    raise UserError(f"seen class {entry!r} is not in the class list")
                seen.update(i for i, n in enumerate(class_names) if normalize_class_name(n) == key)
        return [i in seen for i in range(len(class_names))]


def build_document(
    provenance: Provenance,
    class_names: Sequence[str],
    formats: Sequence[str],
    min_confidence: float | None,
    images: Sequence[Mapping[str, Any]],
    version: str,
) -> dict[str, Any]:
    flags = provenance.seen_flags(class_names)
    return {
        "tool": "zs3-annotator",
        "version": version,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": provenance.model,
        "embeddings": provenance.embeddings,
        "classes": [
            {"index": i, "name": display_name(n), "full_name": n, "seen": flags[i]} for i, n in enumerate(class_names)
        ],
        "ignore_index": 255,
        "min_confidence": min_confidence,
        "formats": list(formats),
        "images": [dict(image) for image in images],
        "reviewed_images": [img["file_name"] for img in images if img.get("reviewed")],
        "edited_images": [img["file_name"] for img in images if img.get("edited")],
        **({"extra": provenance.extra} if provenance.extra else {}),
    }
