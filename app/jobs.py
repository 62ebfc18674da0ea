"""The controller's conversation with the engine: every ``Session`` call, as jobs on the worker.

Model loading, refits, predictions, Run on All, self-training and export live here, apart from the
class list and the edit history, so a new model action lands in one obvious room. The methods run
on the :class:`app.controller.Controller` (this is its mixin) and use its state: ``runner``,
``images``, ``class_list``, the prediction cache and the labels waiting for the next refit.

Coalescing: many strokes in a row ask for many refits, but a refit that has not started yet
takes all pending labels when it starts, so at most one waits in the queue.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.overlay import IGNORE
from app.project import STATUS_AUTO, STATUS_NOT_RUN, STATUS_REVIEWED, STATUS_UNREADABLE
from app.workers import Job, JobContext
from core.errors import UserError

PREDICTION_CACHE = 32  # predictions kept in memory (labels + confidence), least recently used dropped
PREDICTION_CACHE_BYTES = 256 * 1024 * 1024  # and at most this much: one 24-Mpx prediction is 120 MB


@dataclass
class EngineSettings:
    model: str = "default"
    device: str = "auto"
    embeddings: str = "default"


@dataclass
class PredictionResult:
    path: Path
    labels: np.ndarray
    confidence: np.ndarray
    generation: int
    findings: dict = field(default_factory=dict)   # label value → ClassFinding (app.findings)


@dataclass
class BatchOptions:
    skip_reviewed: bool = True


@dataclass
class PendingLabels:
    """What the next refit must push into the session; guarded by ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    labels: dict[Path, tuple[np.ndarray, tuple[str, ...]]] = field(default_factory=dict)  # mask, its classes
    classes: list[str] = field(default_factory=list)


class JobsMixin:
    # ----------------------------------------------------------------------------------------------
    # engine
    # ----------------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.runner.busy

    def start_engine(self) -> None:
        """(Re)create the session in the worker with the current settings, images and labels."""
        settings = EngineSettings(**vars(self.settings))
        paths = [r.path for r in self.images]
        self.engine_error = None
        self._queue_labels({r.path: r.user.copy() for r in self.images
                            if r.user is not None and (r.user != IGNORE).any()})

        def work(ctx: JobContext):
            from core.session import Session

            ctx.progress(0.05, f"Loading model '{settings.model}' on {settings.device}…")
            self.session = None
            session = Session(model=settings.model, device=settings.device, embeddings=settings.embeddings)
            ctx.check_cancel()
            if paths:
                session.add_images(paths)
            self.session = session
            return f"{session.device} · {session.model_name}"

        job = Job("engine", work, cancellable=False)
        job.signals.succeeded.connect(self._on_engine_ready)
        job.signals.failed.connect(self._on_engine_failed)
        self._engine_job = self.runner.submit(job)
        self.generation = 0
        self._predictions.clear()
        if self.classes:
            self.request_refit()

    def _on_engine_ready(self, text: str) -> None:
        self.device_text = text
        self.engine_changed.emit(text)
        self.message.emit(f"Model ready: {text}", "info")

    def _on_engine_failed(self, exc: BaseException) -> None:
        self.engine_error = one_line(exc)
        self.engine_changed.emit("no model")
        self.message.emit(f"Could not load the model: {self.engine_error}", "error")

    def _report_failure(self, what: str, exc: BaseException) -> None:
        if self.session is None and self.engine_error:
            return  # the model failed to load: that message stays, not one per queued job
        self.message.emit(f"{what} failed: {one_line(exc)}", "error")

    def _require_session(self):
        if self.session is None:
            raise UserError(f"no model is loaded ({self.engine_error or 'still loading'}): "
                            "pick another model or device in Settings")
        return self.session

    def apply_settings(self, settings: EngineSettings) -> None:
        self.settings = settings
        if self.project is not None:
            self.project.model, self.project.device = settings.model, settings.device
            self._save_project()
        self.start_engine()

    # ----------------------------------------------------------------------------------------------
    # model jobs
    # ----------------------------------------------------------------------------------------------
    def _queue_labels(self, updates: dict[Path, np.ndarray]) -> None:
        """Hand labels to the next refit together with the class list they are written in.

        Both change under one lock: a refit starting in between must never see new labels with
        the old class list (their indices would name the wrong classes).
        """
        names = tuple(self.classes)
        with self._pending.lock:
            self._pending.classes = list(names)
            self._pending.labels.update({path: (mask, names) for path, mask in updates.items()})

    def request_refit(self) -> None:
        """Retrain the classifier (pending labels + current class list), then predict the current image."""
        with self._pending.lock:
            self._pending.classes = list(self.classes)
        if self.runner.pending("refit"):
            return  # a queued refit will take the latest state when it starts
        # A queued prediction would use the old classifier: drop it.
        for job in self.runner.pending("predict"):
            job.cancel()

        def work(ctx: JobContext):
            session = self._require_session()
            with self._pending.lock:
                classes = list(self._pending.classes)
                labels, self._pending.labels = self._pending.labels, {}
            try:
                t0 = time.perf_counter()
                if list(session.classes) != ["background", *classes]:
                    session.set_classes(["background", *classes])
                for path, (mask, mask_classes) in list(labels.items()):
                    session.add_labels(path, remap_by_name(mask, mask_classes, classes), source="user")
                    del labels[path]
            finally:
                if labels:  # not pushed: keep them for the next refit
                    with self._pending.lock:
                        for path, item in labels.items():
                            self._pending.labels.setdefault(path, item)
            if not classes:
                return {"classes": classes, "status": session.class_status(), "fit": None}
            ctx.progress(0.1, "Retraining the classifier…")
            report = session.fit(progress=lambda f, m: ctx.progress(0.1 + 0.8 * f, m), cancel=ctx.cancel)
            fit_s = time.perf_counter() - t0
            return {"classes": classes, "status": session.class_status(), "fit": report, "fit_s": fit_s,
                    "timings": getattr(session, "last_timings", None)}

        job = Job("refit", work)
        job.signals.succeeded.connect(self._on_refit_done)
        job.signals.failed.connect(lambda exc: self._report_failure("Retraining", exc))
        job.signals.cancelled.connect(lambda: self.message.emit("Retraining cancelled", "info"))
        self.runner.submit(job)

    def request_self_train(self) -> Job | None:
        """ZS3Net self-training: confident unseen-class pixels of the other images become labels."""
        if not self.classes:
            self.message.emit("Add at least one class before self-training", "error")
            return None
        self.request_refit()
        self.message.emit("Self-training: confident pixels of the unseen classes become labels…", "info")

        def work(ctx: JobContext):
            session = self._require_session()
            t0 = time.perf_counter()
            report = session.self_train(progress=ctx.progress, cancel=ctx.cancel)
            return {"classes": list(self.classes), "status": session.class_status(), "fit": report,
                    "fit_s": time.perf_counter() - t0, "timings": getattr(session, "last_timings", None)}

        job = Job("self-train", work)
        job.signals.succeeded.connect(self._on_self_trained)
        job.signals.failed.connect(lambda exc: self._report_failure("Self-training", exc))
        job.signals.cancelled.connect(lambda: self.message.emit("Self-training cancelled", "info"))
        return self.runner.submit(job)

    def _on_self_trained(self, result: dict) -> None:
        report = result.get("fit")
        rows = getattr(report, "pseudo_rows", 0)
        unseen = ", ".join(getattr(report, "unseen", []) or []) or "none"
        text = (f"Self-training done in {result.get('fit_s', 0.0):.1f} s: {rows:,} confident "
                f"pixels learnt (unseen classes: {unseen})")
        self.message.emit(text, "info")
        self._on_refit_done(result)
        self.note_after_predict = (self.generation, text)  # the re-labelled image's message keeps it

    def take_note(self, generation: int) -> str:
        """The note to show with the message of a prediction of ``generation`` (once), or ""."""
        note_generation, text = self.note_after_predict
        if text and generation >= note_generation:
            self.note_after_predict = (0, "")
            return text
        return ""

    def _on_refit_done(self, result: dict) -> None:
        self._update_class_info(result.get("status") or [])
        if result.get("fit") is None:
            self.classes_changed.emit()
            return
        self.generation += 1
        self._set_timings(result.get("timings"), result.get("fit_s"))
        self.classes_changed.emit()
        record = self.current_record
        if record is not None:
            self.request_predict(record.path)

    def request_predict(self, path: Path) -> None:
        if not self.classes or self.session is None and self._engine_job is None:
            return
        for job in self.runner.pending("predict"):
            job.cancel()  # only the image on screen matters
        generation = self.generation

        def work(ctx: JobContext):
            session = self._require_session()
            if self.generation == 0 and generation == 0:
                return None  # no classifier yet: a refit is queued and will predict afterwards
            t0 = time.perf_counter()
            prediction = session.predict(path, progress=ctx.progress, cancel=ctx.cancel)
            seconds = time.perf_counter() - t0
            return PredictionResult(path, np.asarray(prediction.labels, dtype=np.uint8),
                                    np.asarray(prediction.confidence, dtype=np.float32), generation), \
                getattr(session, "last_timings", None), seconds

        job = Job("predict", work)
        job.signals.succeeded.connect(self._on_predicted)
        job.signals.failed.connect(lambda exc: self._report_failure("Prediction", exc))
        self.runner.submit(job)

    def _on_predicted(self, result) -> None:
        if result is None:
            return
        prediction, timings, seconds = result
        self._store_prediction(prediction)
        self._set_timings(timings, None, predict_s=seconds)
        record = self.current_record
        if record is not None and record.path == prediction.path:
            self.overlay_changed.emit()
            self.prediction_ready.emit(prediction)

    def _store_prediction(self, prediction: PredictionResult) -> None:
        self.judge_prediction(prediction)
        self._predictions[prediction.path] = prediction
        self._predictions.move_to_end(prediction.path)
        def cache_bytes() -> int:
            return sum(p.labels.nbytes + p.confidence.nbytes for p in self._predictions.values())

        while len(self._predictions) > PREDICTION_CACHE or (len(self._predictions) > 1
                                                           and cache_bytes() > PREDICTION_CACHE_BYTES):
            self._predictions.popitem(last=False)
        for index, record in enumerate(self.images):
            if record.path == prediction.path:
                record.done_generation = prediction.generation
                if record.status == STATUS_NOT_RUN:
                    self._set_status(index, STATUS_AUTO)
                break

    def run_all(self, options: BatchOptions | None = None) -> Job | None:
        """Label every image (skipping reviewed ones if asked, and those done with this model)."""
        options = options or BatchOptions()
        if not self.classes:
            self.message.emit("Add at least one class before running on all images", "error")
            return None
        if self.runner.pending("refit") or self._pending.labels:
            self.request_refit()
        todo = [r.path for r in self.images
                if not (options.skip_reviewed and r.status == STATUS_REVIEWED)]
        total = len(todo)

        def work(ctx: JobContext):
            session = self._require_session()
            generation = self.generation
            done = 0
            records = {r.path: r for r in list(self.images)}
            skipped: list[str] = []
            for path in todo:
                ctx.check_cancel()
                record = records.get(path)
                if record is None or (record.done_generation == generation and generation > 0):
                    done += 1
                    ctx.emit((None, done, total))  # resume: already labelled by this model
                    continue
                try:
                    prediction = session.predict(path, cancel=ctx.cancel)
                except UserError as exc:  # an unreadable file is skipped, as export does, never fatal
                    done += 1
                    skipped.append(path.name)
                    ctx.emit((path, done, total, one_line(exc)))
                    continue
                done += 1
                ctx.emit((PredictionResult(path, np.asarray(prediction.labels, dtype=np.uint8),
                                           np.asarray(prediction.confidence, dtype=np.float32), generation),
                          done, total))
                ctx.progress(done / max(1, total), f"Labelled {done}/{total}: {path.name}")
            return skipped

        job = Job("batch", work)
        job.signals.partial.connect(self._on_batch_item)
        job.signals.succeeded.connect(self._on_batch_done)
        job.signals.cancelled.connect(lambda: self._on_batch_stopped("cancelled"))
        job.signals.failed.connect(lambda exc: self._on_batch_stopped(one_line(exc)))
        self._batch_job = self.runner.submit(job)
        return self._batch_job

    def _on_batch_item(self, item) -> None:
        if len(item) == 4:  # (path, done, total, why): the file could not be read
            path, done, total, why = item
            index = next((i for i, r in enumerate(self.images) if r.path == path), -1)
            if index >= 0:
                self._set_status(index, STATUS_UNREADABLE)
            self.message.emit(f"Skipped: {why}", "error")
            self.batch_progress.emit(done, total)
            return
        prediction, done, total = item
        if prediction is not None:
            self._store_prediction(prediction)
            record = self.current_record
            if record is not None and record.path == prediction.path:
                self.overlay_changed.emit()
        self.batch_progress.emit(done, total)

    def _on_batch_done(self, skipped: list[str]) -> None:
        self._save_project()
        if skipped:
            self.message.emit(f"Run on all done; skipped {len(skipped)} unreadable image(s): "
                              f"{', '.join(skipped[:5])}{' …' if len(skipped) > 5 else ''}", "error")
        self.batch_finished.emit("done")

    def _on_batch_stopped(self, outcome: str) -> None:
        self._save_project()
        self.batch_finished.emit(outcome)

    def cancel_jobs(self) -> None:
        self.runner.cancel_all()

    def _set_timings(self, timings: Any, fit_s: float | None, predict_s: float | None = None) -> None:
        parts = []
        if isinstance(timings, dict) and timings:
            for key in ("features_s", "fit_s", "predict_s"):
                value = timings.get(key)
                if isinstance(value, (int, float)):
                    parts.append(f"{key[:-2]} {value:.2f} s")
        if not parts:
            if fit_s is not None:
                parts.append(f"fit {fit_s:.2f} s")
            if predict_s is not None:
                parts.append(f"predict {predict_s:.2f} s")
        if parts:
            self.last_timings = " · ".join(parts)
            self.timings_changed.emit(self.last_timings)

    # ----------------------------------------------------------------------------------------------
    # export
    # ----------------------------------------------------------------------------------------------
    def export_clashes(self, out_dir: Path, formats: list[str]) -> list[Path]:
        """Files an export into ``out_dir`` would replace (the dialog asks before overwriting)."""
        from core.masks import ExportOptions, find_clashes

        return find_clashes(out_dir, [r.path for r in self.images], ["background", *self.classes],
                            ExportOptions(formats=tuple(formats)))

    def export(self, out_dir: Path, formats: list[str], min_confidence: float | None, overwrite: bool) -> Job | None:
        if not self.images:
            self.export_failed.emit("nothing to export: open images first")
            return None
        from app.export_job import ExportRecord, ExportRequest, run_export

        classes = ["background", *self.classes]
        seen = [n for n, (is_seen, _px) in self.class_info.items() if is_seen and n in classes]
        request = ExportRequest(
            out_dir=Path(out_dir), formats=list(formats), min_confidence=min_confidence, overwrite=overwrite,
            copy_images="yolo" in formats,  # data.yaml names an images/ folder: write it
            class_names=classes,
            records=[ExportRecord(r.path, None if r.user is None else r.user.copy(), r.status == STATUS_REVIEWED,
                                  r.edited) for r in self.images],
            cached={p: (pr.labels, pr.confidence) for p, pr in self._predictions.items()
                    if pr.generation == self.generation},
            provenance={"model": self.settings.model, "embeddings": self.settings.embeddings,
                        "seen_classes": seen})

        def work(ctx: JobContext):
            session = self._require_session() if len(classes) > 1 else self.session
            return run_export(request, session, ctx)

        job = Job("export", work)
        job.signals.succeeded.connect(self.export_finished)
        job.signals.failed.connect(lambda exc: self.export_failed.emit(one_line(exc)))
        job.signals.cancelled.connect(lambda: self.export_failed.emit("export cancelled"))
        return self.runner.submit(job)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        self.runner.cancel_all()
        self.loader.cancel_all()
        self.runner.wait(timeout_ms)
        self.loader.wait(timeout_ms)


def remap_by_name(mask: np.ndarray, mask_classes, classes) -> np.ndarray:
    """Rewrite ``mask`` (indices into ``mask_classes``) as indices into ``classes`` (both without
    background); classes that are gone become 255."""
    if list(mask_classes) == list(classes):
        return mask
    index = {name: i for i, name in enumerate(classes, start=1)}
    lut = np.full(256, IGNORE, dtype=np.uint8)
    lut[0] = 0
    for i, name in enumerate(mask_classes, start=1):
        if name in index:
            lut[i] = index[name]
    return lut[mask]


def one_line(exc: BaseException) -> str:
    """A failure as one line for the status bar; anything but a ``UserError`` is named a bug."""
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, UserError):
        text = f"internal error ({type(exc).__name__}): {text}"
    return " ".join(text.split())
