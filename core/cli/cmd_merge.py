"""`zs3 merge`: join the output folders of `zs3 segment --shard I/N` jobs into one export.

Per-image files and their export records are copied (each atomically, records after the files
they vouch for); the set-level files are then written once by the same ``Exporter.close`` that a
single run uses, so ``annotations.json`` gets fresh ids over all images and ``zs3_provenance.json``
lists every image. Shards must agree on what makes their labels comparable (class list, model,
word vectors, formats, threshold); a per-image file that two shards hold with different contents
means two images share a name, and nothing is written. Merging again is harmless: identical files
are skipped, so a merge can be rerun after more shards finish.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "merge", help="join the output folders of `zs3 segment --shard` jobs",
        description="Join the output folders of `zs3 segment --shard I/N` jobs (same classes, model and formats) "
                    "into --out: per-image files copied, annotations.json and provenance rebuilt over all images.",
    )
    parser.add_argument("shards", nargs="+", metavar="SHARD_DIR", help="output folders of the shard jobs")
    parser.add_argument("--out", required=True, metavar="DIR", help="the merged output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files of --out that differ from the shards' (default: refuse)")
    parser.set_defaults(func=run)


def _shard_info(folder: Path) -> dict:
    """The parts of a shard folder that must agree across shards (UserError if it is not one)."""
    from core.errors import UserError
    from core.masks.exporter import PARTS_DIR
    from core.masks.provenance import PROVENANCE_FILE

    if not folder.is_dir():
        raise UserError(f"no such shard folder: {folder}")
    try:
        manifest = json.loads((folder / PARTS_DIR / "manifest.json").read_text(encoding="utf-8"))
        provenance = json.loads((folder / PROVENANCE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{folder} is not a finished `zs3 segment` output (no {PROVENANCE_FILE} or {PARTS_DIR})") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder}: unreadable export bookkeeping ({exc.__class__.__name__})") from None
    return {
        "class_names": manifest.get("class_names"),
        "model": provenance.get("model"),
        "embeddings": provenance.get("embeddings"),
        "formats": provenance.get("formats"),
        "min_confidence": provenance.get("min_confidence"),
        "seen": [c.get("seen") for c in provenance.get("classes", [])],
        "extra": provenance.get("extra", {}),
        "image_sets": sorted(p.stem for p in (folder / "ImageSets" / "Segmentation").glob("*.txt")),
    }


def _check_agree(infos: list[tuple[Path, dict]]) -> None:
    from core.errors import UserError

    (first_dir, first), rest = infos[0], infos[1:]
    for folder, info in rest:
        for key, what in (("class_names", "classes"), ("model", "model"), ("embeddings", "word vectors"),
                          ("formats", "formats"), ("min_confidence", "--min-confidence"),
                          ("image_sets", "image sets")):
            if info[key] != first[key]:
                raise UserError(f"{folder} and {first_dir} were made with different {what} "
                                f"({info[key]} vs {first[key]}): they cannot be merged")


def _seen_classes(infos: list[tuple[Path, dict]]) -> list[int] | None:
    """Seen in any shard = had real labels in the job; None when no shard knew."""
    flags = [info["seen"] for _, info in infos]
    if all(f is None for fl in flags for f in fl):
        return None
    return [i for i in range(len(flags[0])) if any(fl[i] for fl in flags)]


def _per_image_files(folder: Path, aggregate: set[Path]) -> tuple[list[Path], list[Path]]:
    """(files, records) of a shard, relative to it: everything but the set-level files and temp files."""
    from core.masks.exporter import PARTS_DIR

    files, records = [], []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or rel in aggregate or (path.name.startswith(".") and path.name.endswith(".tmp")):
            continue
        if rel.parts[0] == PARTS_DIR:
            if rel.parent == Path(PARTS_DIR, "images"):
                records.append(rel)
            continue  # the manifest is the merged exporter's own
        files.append(rel)
    return files, records


def _plan_copies(shards: list[Path], aggregate: set[Path], out: Path, overwrite: bool) -> list[tuple[Path, Path]]:
    """(source, target) pairs, files before records; clashes are found here, before anything is copied."""
    from core.errors import UserError

    chosen: dict[Path, Path] = {}
    files_first, records_last = [], []
    for shard in shards:
        files, records = _per_image_files(shard, aggregate)
        for rel, bucket in [(r, files_first) for r in files] + [(r, records_last) for r in records]:
            src = shard / rel
            earlier = chosen.get(rel)
            if earlier is not None:
                if earlier.read_bytes() != src.read_bytes():
                    raise UserError(f"{earlier} and {src} differ: two shards hold an image with the same name; "
                                    "rename one and segment it again")
                continue
            chosen[rel] = src
            target = out / rel
            if target.exists():
                if target.read_bytes() == src.read_bytes():
                    continue
                if not overwrite:
                    raise UserError(f"output file {target} already exists and differs from {src}; "
                                    "choose another --out or allow overwriting (--overwrite)")
            bucket.append((src, target))
    return files_first + records_last


def merge(shard_dirs: list[str], out_dir: str, overwrite: bool = False):
    """Join shard folders into ``out_dir``; returns the ``ExportSummary`` of the merged set."""
    from core.atomic import atomic_write_bytes, ensure_writable_dir
    from core.errors import UserError
    from core.masks import ExportOptions, Exporter
    from core.masks.exporter import aggregate_outputs
    from core.masks.provenance import Provenance

    shards = [Path(s) for s in dict.fromkeys(shard_dirs)]
    out = Path(out_dir)
    if any(s.resolve() == out.resolve() for s in shards if s.exists()):
        raise UserError(f"--out {out} is one of the shard folders: merge into a new folder")
    infos = [(s, _shard_info(s)) for s in shards]
    _check_agree(infos)
    first = infos[0][1]
    options = ExportOptions(formats=tuple(first["formats"]), overwrite=overwrite,
                            min_confidence=first["min_confidence"],
                            image_set=first["image_sets"][0] if len(first["image_sets"]) == 1 else None)
    provenance = Provenance(model=first["model"], embeddings=first["embeddings"],
                            seen_classes=_seen_classes(infos), extra=dict(first["extra"] or {}))
    ensure_writable_dir(out)
    aggregate = {p.relative_to(out) for p in aggregate_outputs(out, options)}
    aggregate |= {Path("ImageSets", "Segmentation", f"{name}.txt") for name in first["image_sets"]}
    exporter = Exporter(out, first["class_names"], options, provenance)  # checks --out before any copy
    for src, target in _plan_copies(shards, aggregate, out, overwrite):
        atomic_write_bytes(target, src.read_bytes())
    return exporter.close()


def run(args: argparse.Namespace) -> int:
    summary = merge(args.shards, args.out, overwrite=args.overwrite)
    print(f"merged {len(dict.fromkeys(args.shards))} shard folder(s) into {summary.out_dir}: "
          f"{summary.images} image(s), {summary.objects} object(s) ({', '.join(summary.formats)})", file=sys.stderr)
    return 0
