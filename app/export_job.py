"""The export job (runs in the worker): compose each image's labels and stream them to the exporter.

What is exported for an image: the user's brush labels where they painted (confidence 1), the
model's prediction elsewhere (predicted now if it is not cached for the current model). One image's
label map is in memory at a time, and each image's files are written before the next is computed,
so a folder of thousands of images exports in constant memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.overlay import IGNORE, compose_labels
from app.workers import JobContext


@dataclass
class ExportRecord:
    path: Path
    user: np.ndarray | None          # a copy of the user's labels (255 = unlabelled)
    reviewed: bool
    edited: bool


@dataclass
class ExportRequest:
    out_dir: Path
    formats: list[str]
    min_confidence: float | None
    overwrite: bool
    class_names: list[str]           # background first
    records: list[ExportRecord]
    cached: dict = field(default_factory=dict)   # path → (labels, confidence) of the current model
    copy_images: bool = False                     # YOLO's data.yaml points at the copied images/
    provenance: dict = field(default_factory=dict)


def run_export(request: ExportRequest, session, ctx: JobContext):
    """Write every image of ``request``; returns the masks room's ``ExportSummary``."""
    from core.errors import UserError
    from core.masks import ExportItem, ExportOptions, Exporter

    options = ExportOptions(formats=tuple(request.formats), overwrite=request.overwrite,
                            min_confidence=request.min_confidence, copy_images=request.copy_images)
    can_predict = session is not None and len(request.class_names) > 1
    exporter = Exporter(request.out_dir, request.class_names, options, request.provenance, resume=False)
    total = len(request.records)
    skipped: list[str] = []
    for number, record in enumerate(request.records, start=1):
        ctx.check_cancel()
        ctx.progress(0.95 * (number - 1) / max(1, total), f"Exporting {record.path.name} ({number}/{total})")
        predicted = request.cached.get(record.path)
        if predicted is None and can_predict:
            try:
                raw = session.predict(record.path, cancel=ctx.cancel)
            except UserError:  # an unreadable file (corrupt, 16-bit, huge) is skipped, not fatal
                if record.user is not None:
                    raise
                skipped.append(record.path.name)
                continue
            predicted = (np.asarray(raw.labels, np.uint8), np.asarray(raw.confidence, np.float32))
        if predicted is None and record.user is None:
            continue  # nothing known about this image
        shape = predicted[0].shape if predicted is not None else record.user.shape
        labels = compose_labels(predicted[0] if predicted is not None else None, record.user, shape)
        confidence = predicted[1].copy() if predicted is not None else np.zeros(shape, np.float32)
        if record.user is not None:
            confidence[record.user != IGNORE] = 1.0
        exporter.add(ExportItem(image_path=record.path, labels=labels, confidence=confidence,
                                reviewed=record.reviewed, edited=record.edited))
    ctx.progress(0.97, "Writing the aggregate files…")
    summary = exporter.close()
    summary.skipped = skipped
    return summary
