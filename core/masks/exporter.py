"""Writing label maps to every format, image by image, resumable, never half-written.

Layout of an export folder (only the parts of the chosen formats)::

    SegmentationClass/<stem>.png     voc      JPEGImages/<stem>.jpg, ImageSets/Segmentation/<set>.txt (options)
    annotations.json                 coco
    labelme/<stem>.json              labelme
    labels/<stem>.txt, data.yaml     yolo     images/<name> (copy_images)
    masks/<stem>/<class>.png         binary
    class_names.txt, zs3_provenance.json      always
    .zs3_parts/                      what the aggregate files need, one JSON per image (kept, so that
                                     a resumed or later run can rebuild annotations.json for all images)

Per image, the part record is written first (``complete: false``), then the image's files, then the
record again (``complete: true``). An image whose record is incomplete was interrupted: its files
are ours and may be rewritten without ``overwrite``. Everything else that exists is a clash.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

import core
from core.atomic import NAME_MAX, atomic_write_bytes, atomic_write_text, ensure_writable_dir
from core.errors import UserError
from core.images import displayed_size, natural_key
from core.masks import binary as binary_fmt
from core.masks import coco as coco_fmt
from core.masks import labelme as labelme_fmt
from core.masks import voc as voc_fmt
from core.masks import yolo as yolo_fmt
from core.masks.names import check_class_names
from core.masks.provenance import PROVENANCE_FILE, Provenance
from core.masks.provenance import build_document as provenance_document

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("voc", "coco", "labelme", "yolo", "binary")
PARTS_DIR = ".zs3_parts"
_MANIFEST = "manifest.json"


@dataclass
class ExportOptions:
    """``min_confidence``: pixels of an item whose confidence is below it become 255 (ignore) in every
    format; items without a confidence map are written as they are. ``image_set``: VOC only, also write ``ImageSets/Segmentation/<image_set>.txt`` listing every
    exported stem. ``copy_images``: also copy the images (VOC ``JPEGImages/<stem>.jpg``, re-encoded when
    not JPEG; YOLO ``images/<name>``), so the folder is a complete dataset."""

    formats: tuple[str, ...] = ("voc",)
    overwrite: bool = False
    min_confidence: float | None = None
    image_set: str | None = None
    copy_images: bool = False

    def checked_formats(self) -> tuple[str, ...]:
        raw = self.formats.split(",") if isinstance(self.formats, str) else list(self.formats)
        formats: list[str] = []
        for name in raw:
            key = str(name).strip().lower()
            if not key:
                continue
            if key not in FORMATS:
                raise UserError(f"unknown export format {name!r}; choose from {', '.join(FORMATS)}")
            if key not in formats:
                formats.append(key)
        if not formats:
            raise UserError(f"no export format given; choose from {', '.join(FORMATS)}")
        if self.min_confidence is not None and not 0.0 <= float(self.min_confidence) <= 1.0:
            raise UserError(f"min_confidence must be between 0 and 1, not {self.min_confidence}")
        if self.image_set is not None and (not self.image_set or "/" in self.image_set or "\\" in self.image_set):
            raise UserError(f"image set name {self.image_set!r} must be a plain file name such as 'train'")
        return tuple(formats)


@dataclass
class ExportItem:
    image_path: Path
    labels: np.ndarray
    confidence: np.ndarray | None = None
    reviewed: bool = False
    edited: bool = False


@dataclass
class ExportSummary:
    out_dir: Path
    formats: tuple[str, ...]
    images: int  # images in the exported set (earlier runs into this folder included)
    added: int  # images written by this exporter
    objects: int  # connected objects (COCO annotations) in the set
    files: list[Path] = field(default_factory=list)  # the aggregate files written by close()
    skipped: list[str] = field(default_factory=list)  # images the caller could not read (names)


def image_outputs(out_dir: Path, image_path: Path, class_names: Sequence[str], options: ExportOptions) -> list[Path]:
    """Every per-image file the export of ``image_path`` writes."""
    stem = Path(image_path).stem
    paths: list[Path] = []
    for fmt in options.checked_formats():
        if fmt == "voc":
            paths.append(voc_fmt.mask_path(out_dir, stem))
            if options.copy_images:
                paths.append(voc_fmt.image_copy_path(out_dir, stem))
        elif fmt == "labelme":
            paths.append(labelme_fmt.json_path(out_dir, stem))
        elif fmt == "yolo":
            paths.append(yolo_fmt.txt_path(out_dir, stem))
            if options.copy_images:
                paths.append(yolo_fmt.image_copy_path(out_dir, image_path))
        elif fmt == "binary":
            paths.extend(binary_fmt.mask_paths(out_dir, stem, class_names))
    return paths


def aggregate_outputs(out_dir: Path, options: ExportOptions) -> list[Path]:
    """The files ``Exporter.close`` writes."""
    formats = options.checked_formats()
    paths = [out_dir / voc_fmt.CLASS_NAMES_FILE]
    if "voc" in formats and options.image_set:
        paths.append(out_dir / voc_fmt.SETS_DIR / f"{options.image_set}.txt")
    if "coco" in formats:
        paths.append(out_dir / coco_fmt.ANNOTATIONS_FILE)
    if "yolo" in formats:
        paths.append(out_dir / yolo_fmt.DATA_YAML)
    paths.append(out_dir / PROVENANCE_FILE)
    return paths


def find_clashes(
    out_dir: str | os.PathLike,
    image_paths: Iterable[str | os.PathLike],
    class_names: Sequence[str],
    options: ExportOptions | None = None,
) -> list[Path]:
    """Output files that already exist and that exporting ``image_paths`` would replace (GUI: ask first)."""
    out = Path(out_dir)
    options = options or ExportOptions()
    if not out.exists():
        return []
    candidates = aggregate_outputs(out, options)
    for image_path in image_paths:
        candidates.extend(image_outputs(out, Path(image_path), class_names, options))
    return [p for p in dict.fromkeys(candidates) if p.exists()]


def _clash_error(clashes: Sequence[Path]) -> UserError:
    more = f" and {len(clashes) - 1} more" if len(clashes) > 1 else ""
    return UserError(
        f"output file {clashes[0]} already exists{more}; choose another folder or allow overwriting (--overwrite)"
    )


class Exporter:
    """Incremental export: ``add`` writes one image's files at once, ``close`` the aggregate files.

    With ``resume=True`` (default) a folder that holds an earlier export of the same class list is
    continued: ``is_done`` tells which images to skip, and ``close`` covers old and new images.
    With ``resume=False`` existing aggregate files are clashes (``export_label_maps`` uses this).
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        class_names: Sequence[str],
        options: ExportOptions | None = None,
        provenance: Provenance | Mapping[str, Any] | None = None,
        *,
        resume: bool = True,
    ) -> None:
        self.options = options or ExportOptions()
        self.formats = self.options.checked_formats()
        self.class_names = check_class_names(class_names)
        self.provenance = Provenance.coerce(provenance)
        self.provenance.seen_flags(self.class_names)  # a bad seen list fails now, not at close
        self.out_dir = ensure_writable_dir(out_dir)
        self._parts = self.out_dir / PARTS_DIR
        self._records = self._parts / "images"
        self._added = 0
        manifest = self._read_manifest()
        continuing = resume and manifest is not None and manifest.get("class_names") == self.class_names
        if resume and manifest is not None and not continuing and not self.options.overwrite:
            raise UserError(
                f"{self.out_dir} holds an export with other classes ({', '.join(manifest.get('class_names', []))}); "
                "choose another folder or allow overwriting (--overwrite)"
            )
        if not continuing:
            clashes = [p for p in aggregate_outputs(self.out_dir, self.options) if p.exists()]
            if clashes and not self.options.overwrite:
                raise _clash_error(clashes)
            self._discard_records()
        self._stems: dict[str, str] = {
            rec["stem"]: rec["image"] for rec in self._load_records(complete_only=False)
        }
        atomic_write_text(
            self._parts / _MANIFEST,
            json.dumps({"class_names": self.class_names, "version": core.__version__}, indent=1),
        )

    # -- per image -------------------------------------------------------------------------------

    def _record_path(self, stem: str) -> Path:
        return self._records / f"{stem}.json"

    def is_done(self, image_path: str | os.PathLike) -> bool:
        """True when this image was fully exported earlier (record complete, every output present)."""
        image_path = Path(image_path)
        outputs = self._outputs(image_path)
        record = self._read_record(image_path.stem)
        if record is None or not record.get("complete") or record.get("image") != _key(image_path):
            return False
        return all(p.exists() for p in outputs)

    def _outputs(self, image_path: Path) -> list[Path]:
        """``image_outputs`` plus the record; a name the file system cannot hold is refused up front."""
        paths = [*image_outputs(self.out_dir, image_path, self.class_names, self.options),
                 self._record_path(image_path.stem)]
        longest = max((part for p in paths for part in p.relative_to(self.out_dir).parts),
                      key=lambda part: len(os.fsencode(part)))
        if len(os.fsencode(longest)) > NAME_MAX:
            raise UserError(f"{image_path.name[:40]}… is too long a name: its output {longest[:40]}… would exceed "
                            f"the file system's {NAME_MAX}-byte limit; shorten the image's name")
        return paths[:-1]

    def add(self, item: ExportItem) -> list[Path]:
        """Write ``item``'s per-image files now (each atomically); return their paths."""
        image_path = Path(item.image_path)
        labels = self._prepare_labels(item)
        stem = image_path.stem
        key = _key(image_path)
        if self._stems.get(stem, key) != key:
            raise UserError(f"two images are both named {stem!r} ({self._stems[stem]} and {image_path}); rename one")
        outputs = self._outputs(image_path)
        record = self._read_record(stem)
        interrupted = record is not None and not record.get("complete") and record.get("image") == key
        clashes = [p for p in outputs if p.exists()]
        if clashes and not (self.options.overwrite or interrupted):
            raise _clash_error(clashes)

        new_record = {
            "stem": stem,
            "image": key,
            "file_name": image_path.name,
            "reviewed": bool(item.reviewed),
            "edited": bool(item.edited),
            "complete": False,
            "coco": coco_fmt.image_part(image_path.name, labels, len(self.class_names)),
        }
        self._write_record(new_record)
        self._stems[stem] = key
        for fmt in self.formats:
            self._write_format(fmt, image_path, labels)
        new_record["complete"] = True
        self._write_record(new_record)
        self._added += 1
        return outputs

    def _write_format(self, fmt: str, image_path: Path, labels: np.ndarray) -> None:
        out, stem = self.out_dir, image_path.stem
        if fmt == "voc":
            voc_fmt.write_mask(out, stem, labels)
            if self.options.copy_images:
                voc_fmt.copy_image_as_jpeg(image_path, voc_fmt.image_copy_path(out, stem))
        elif fmt == "labelme":
            path = labelme_fmt.json_path(out, stem)
            doc = labelme_fmt.document(labels, self.class_names, image_path, path)
            atomic_write_text(path, readable_json(doc))
        elif fmt == "yolo":
            atomic_write_text(yolo_fmt.txt_path(out, stem), yolo_fmt.label_text(labels, len(self.class_names)))
            if self.options.copy_images:
                atomic_write_bytes(yolo_fmt.image_copy_path(out, image_path), image_path.read_bytes())
        elif fmt == "binary":
            binary_fmt.write_binary_masks(out, stem, labels, self.class_names)
        # coco: nothing per image; its part lives in the record

    def _prepare_labels(self, item: ExportItem) -> np.ndarray:
        labels = np.asarray(item.labels)
        name = Path(item.image_path).name
        if labels.ndim != 2 or labels.size == 0:
            raise UserError(f"label map for {name} must be a non-empty H×W array, got shape {labels.shape}")
        if labels.dtype != np.uint8:
            if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 255:
                raise UserError(f"label map for {name} must hold class indices 0..255, got dtype {labels.dtype}")
            labels = labels.astype(np.uint8)
        bad = labels[(labels >= len(self.class_names)) & (labels != 255)]
        if bad.size:
            raise UserError(
                f"label map for {name} has class {int(bad.max())} but the class list has {len(self.class_names)} names"
            )
        _check_image_size(Path(item.image_path), labels.shape)
        threshold = self.options.min_confidence
        if threshold is not None and item.confidence is not None:
            confidence = np.asarray(item.confidence)
            if confidence.shape != labels.shape:
                raise UserError(f"confidence map for {name} is {confidence.shape}, its labels {labels.shape}")
            labels = np.where(confidence < threshold, np.uint8(255), labels).astype(np.uint8)
        return np.ascontiguousarray(labels)

    # -- records ---------------------------------------------------------------------------------

    def _write_record(self, record: dict[str, Any]) -> None:
        atomic_write_text(self._record_path(record["stem"]), json.dumps(record, separators=(",", ":")))

    def _read_record(self, stem: str) -> dict[str, Any] | None:
        path = self._record_path(stem)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("unreadable export record %s; the image will be exported again", path)
            return None

    def _load_records(self, complete_only: bool) -> list[dict[str, Any]]:
        if not self._records.is_dir():
            return []
        records = []
        for path in self._records.glob("*.json"):
            record = self._read_record(path.stem)
            if record is None or (complete_only and not record.get("complete")):
                continue
            records.append(record)
        return sorted(records, key=lambda r: natural_key(r["stem"]))

    def _discard_records(self) -> None:
        if self._records.is_dir():
            for path in self._records.glob("*.json"):
                path.unlink(missing_ok=True)

    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads((self._parts / _MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    # -- aggregate files -------------------------------------------------------------------------

    def close(self) -> ExportSummary:
        """Write the aggregate files (atomically) for every complete image in the folder."""
        records = self._load_records(complete_only=True)
        out = self.out_dir
        files = [voc_fmt.write_class_names(out, self.class_names)]
        if "voc" in self.formats and self.options.image_set:
            stems = [r["stem"] for r in records if voc_fmt.mask_path(out, r["stem"]).exists()]
            files.append(voc_fmt.write_image_set(out, self.options.image_set, stems))
        if "coco" in self.formats:
            doc = coco_fmt.build_document([r["coco"] for r in records], self.class_names, core.__version__)
            path = out / coco_fmt.ANNOTATIONS_FILE
            atomic_write_text(path, json.dumps(doc, separators=(",", ":")))
            files.append(path)
        if "yolo" in self.formats:
            path = out / yolo_fmt.DATA_YAML
            atomic_write_text(path, yolo_fmt.data_yaml(self.class_names))
            files.append(path)
        images = [
            {"file_name": r["file_name"], "stem": r["stem"], "reviewed": r["reviewed"], "edited": r["edited"]}
            for r in records
        ]
        prov = provenance_document(
            self.provenance, self.class_names, self.formats, self.options.min_confidence, images, core.__version__
        )
        path = out / PROVENANCE_FILE
        atomic_write_text(path, readable_json(prov))
        files.append(path)
        objects = sum(len(r["coco"]["annotations"]) for r in records)
        log.info("exported %d images (%d new) to %s", len(records), self._added, out)
        return ExportSummary(out, self.formats, len(records), self._added, objects, files)

    def __enter__(self) -> "Exporter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()


def readable_json(doc: Any, indent: int = 1) -> str:
    """JSON that keeps non-ASCII names readable, except where a file name is not valid UTF-8.

    Python reads such a name as lone surrogates, which UTF-8 cannot encode; ASCII escapes (``\\udce9``)
    keep the file valid JSON that reads back to the same name.
    """
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(doc, indent=indent)
    return text


def _key(image_path: Path) -> str:
    return str(Path(image_path).resolve())


def _check_image_size(image_path: Path, shape: tuple[int, int]) -> None:
    """A mask must match its image as displayed (after EXIF rotation)."""
    if not image_path.is_file():
        return  # labels without an image file on disk (synthetic data): nothing to compare
    try:
        height, width = displayed_size(image_path)
    except UserError:
        return  # load_image reports unreadable images; the export itself does not need the pixels
    if (height, width) != tuple(shape):
        raise UserError(f"mask is {shape[1]}×{shape[0]} but image {image_path.name} is {width}×{height}")


def export_label_maps(
    items: Iterable[ExportItem],
    class_names: Sequence[str],
    out_dir: str | os.PathLike,
    options: ExportOptions | None = None,
    provenance: Provenance | Mapping[str, Any] | None = None,
) -> ExportSummary:
    """One-shot export. Clashes are checked for every item before anything is written."""
    options = options or ExportOptions()
    options.checked_formats()
    if isinstance(items, Sequence) and not options.overwrite:
        clashes = find_clashes(out_dir, [item.image_path for item in items], class_names, options)
        if clashes:
            raise _clash_error(clashes)
    exporter = Exporter(out_dir, class_names, options, provenance, resume=False)
    for item in items:
        exporter.add(item)
    return exporter.close()
