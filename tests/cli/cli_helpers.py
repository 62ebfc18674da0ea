"""Comparing two `zs3 segment` output folders file by file (what a sharded run must reproduce)."""
from __future__ import annotations

import json
from pathlib import Path

# Set-level files that carry the time they were written: compared without that field.
TIMESTAMPED = {"annotations.json": ("info", "date_created"), "zs3_provenance.json": ("created",)}


def _without_time(path: Path) -> dict:
    doc = json.loads(path.read_text(encoding="utf-8"))
    *parents, key = TIMESTAMPED[path.name]
    node = doc
    for parent in parents:
        node = node[parent]
    node.pop(key)
    return doc


def _coco_by_name(doc: dict) -> dict:
    """annotations.json with ids replaced by file names, so that id order does not matter."""
    names = {img["id"]: img["file_name"] for img in doc["images"]}
    images = sorted(({k: v for k, v in img.items() if k != "id"} for img in doc["images"]),
                    key=lambda i: i["file_name"])
    anns = sorted(({**{k: v for k, v in a.items() if k not in ("id", "image_id")}, "image": names[a["image_id"]]}
                   for a in doc["annotations"]), key=lambda a: json.dumps(a, sort_keys=True))
    return {**doc, "images": images, "annotations": anns}


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def assert_same_outputs(got: Path, want: Path) -> None:
    """Same files; bytes equal, except the JSON set files: equal up to time stamps and id order."""
    assert listing(got) == listing(want)
    for rel in listing(want):
        a, b = got / rel, want / rel
        if rel == "annotations.json":
            assert _coco_by_name(_without_time(a)) == _coco_by_name(_without_time(b)), rel
        elif rel in TIMESTAMPED:
            assert _without_time(a) == _without_time(b), rel
        else:
            assert a.read_bytes() == b.read_bytes(), rel
