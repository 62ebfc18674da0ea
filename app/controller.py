"""The GUI's state and its conversation with the engine, without any widget.

The controller owns the :class:`core.session.Session`, the image list with the status of each
image, the user's labels, the class list (with colours and visibility), the undo stack and the
project file. Every session call goes through :class:`app.workers.JobRunner` (one worker
thread); results come back as signals, which the main window turns into pixels.

Coalescing: many strokes in a row ask for many refits, but a refit that has not started yet
takes all pending labels when it starts, so at most one waits in the queue.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QImage, QUndoStack

from app.overlay import IGNORE, build_lut, compose_labels, default_color, labels_to_qimage, rgb_to_qimage
from app.project import (
    PROJECT_FILENAME,
    STATUS_AUTO,
    STATUS_NOT_RUN,
    STATUS_REVIEWED,
    ProjectClass,
    ProjectData,
    load_project,
    read_label_png,
    save_project,
    write_label_png,
)
from app.undo import BrushStrokeCommand
from app.workers import Job, JobContext, JobRunner
from core.errors import UserError

log = logging.getLogger(__name__)

PREDICTION_CACHE = 32  # predictions kept in memory (labels + confidence), least recently used dropped


@dataclass
class EngineSettings:
    model: str = "default"
    device: str = "auto"
    embeddings: str = "default"


@dataclass
class ImageRecord:
    path: Path
    status: str = STATUS_NOT_RUN
    user: np.ndarray | None = None         # H×W uint8, 255 = not labelled by the user
    user_loaded: bool = False
    edited: bool = False
    done_generation: int = -1              # generation of the model that last labelled it


@dataclass
class PredictionResult:
    path: Path
    labels: np.ndarray
    confidence: np.ndarray
    generation: int


@dataclass
class BatchOptions:
    skip_reviewed: bool = True


@dataclass
class _Pending:
    """What the next refit must push into the session; guarded by ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    labels: dict[Path, tuple[np.ndarray, tuple[str, ...]]] = field(default_factory=dict)  # mask, its classes
    classes: list[str] = field(default_factory=list)


class Controller(QObject):
    images_changed = Signal()
    status_changed = Signal(int, str)
    current_changed = Signal(int)
    overlay_changed = Signal()
    classes_changed = Signal()
    class_added = Signal(str)
    class_rejected = Signal(str, list)        # message, suggestions
    message = Signal(str, str)                # text, kind: "info" | "error"
    engine_changed = Signal(str)              # device / model description
    timings_changed = Signal(str)
    prediction_ready = Signal(object)         # PredictionResult of the current image
    batch_progress = Signal(int, int)
    batch_finished = Signal(str)              # "done" | "cancelled" | error message
    export_finished = Signal(object)          # the masks room's summary
    export_failed = Signal(str)
    project_saved = Signal(str)

    def __init__(self, settings: EngineSettings | None = None, autosave: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings or EngineSettings()
        self.autosave = autosave
        self.runner = JobRunner(self)
        self.undo_stack = QUndoStack(self)
        self.session = None                   # touched only from the worker thread
        self.engine_error: str | None = None
        self.images: list[ImageRecord] = []
        self.current = -1
        self.current_rgb: np.ndarray | None = None
        self.classes: list[str] = []          # background excluded; label value = position + 1
        self.colors: dict[str, QColor] = {}
        self.hidden: set[str] = set()
        self.class_info: dict[str, tuple[bool, int]] = {}   # name → (seen, labelled pixels)
        self.project: ProjectData | None = None
        self.generation = 0                   # bumps after each successful fit
        self.last_timings = ""
        self.device_text = ""
        self._predictions: OrderedDict[Path, PredictionResult] = OrderedDict()
        self._pending = _Pending()
        self._engine_job: Job | None = None
        self._batch_job: Job | None = None
        self.brush_value = 1

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
        self.engine_error = _one_line(exc)
        self.engine_changed.emit("no model")
        self.message.emit(f"Could not load the model: {self.engine_error}", "error")

    def _report_failure(self, what: str, exc: BaseException) -> None:
        if self.session is None and self.engine_error:
            return  # the model failed to load: that message stays, not one per queued job
        self.message.emit(f"{what} failed: {_one_line(exc)}", "error")

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
    # opening
    # ----------------------------------------------------------------------------------------------
    def open_paths(self, paths: list[str | Path]) -> bool:
        """Open images, folders or a project; returns False (with an inline message) on a mistake."""
        from core.images import list_images

        paths = [Path(p) for p in paths]
        try:
            if len(paths) == 1 and (paths[0].name == PROJECT_FILENAME or (paths[0] / PROJECT_FILENAME).is_file()):
                return self.open_project(paths[0])
            images = list_images(paths)
        except UserError as exc:
            self.message.emit(str(exc), "error")
            return False
        if not images:
            self.message.emit(f"no images found in {', '.join(str(p) for p in paths)}", "error")
            return False
        folder = paths[0] if paths[0].is_dir() else paths[0].parent
        project = ProjectData(folder=folder.resolve())
        project.model, project.device = self.settings.model, self.settings.device
        project.classes = [ProjectClass(n, self.colors[n].name() if n in self.colors else "", n not in self.hidden)
                           for n in self.classes]
        self._load(project, images)
        return True

    def open_project(self, path: Path) -> bool:
        try:
            project = load_project(path)
        except UserError as exc:
            self.message.emit(str(exc), "error")
            return False
        images = [project.resolve(key) for key in project.images]
        missing = [p for p in images if not p.is_file()]
        images = [p for p in images if p.is_file()]
        if missing:
            self.message.emit(f"{len(missing)} image(s) of the project are missing, e.g. {missing[0]}", "error")
        if not images:
            self.message.emit(f"the project {project.path} lists no existing images", "error")
            return False
        self.settings.model, self.settings.device = project.model, project.device
        self._load(project, images, exists=True)
        return True

    def _load(self, project: ProjectData, images: list[Path], exists: bool = False) -> None:
        self.runner.cancel_all()
        self.undo_stack.clear()
        self.project = project
        self._project_exists = exists or project.path.is_file()
        if not exists and project.path.is_file():
            # Re-opening a folder that already has a project: continue it.
            try:
                saved = load_project(project.path)
                project.classes, project.status, project.user_labels = saved.classes, saved.status, saved.user_labels
                project.images = saved.images  # opening one image of a project keeps the others listed
            except UserError as exc:
                self.message.emit(str(exc), "error")
        self.classes = [c.name for c in project.classes] or self.classes
        self.colors = {}
        self.hidden = set()
        for index, cls in enumerate(project.classes, start=1):
            self.colors[cls.name] = QColor(cls.color) if cls.color else default_color(index)
            if not cls.visible:
                self.hidden.add(cls.name)
        self._ensure_colors()
        self.images = []
        for path in images:
            key = project.key(path)
            record = ImageRecord(path=path, status=project.status.get(key, STATUS_NOT_RUN))
            label_file = project.user_labels.get(key)
            if label_file:
                try:
                    record.user = read_label_png(project.resolve(label_file))
                    record.user_loaded = True
                    record.edited = True
                except UserError as exc:
                    self.message.emit(str(exc), "error")
            self.images.append(record)
        project.images = list(dict.fromkeys([*project.images, *(project.key(p) for p in images)]))
        self.class_info = {}
        self.current = -1
        self.images_changed.emit()
        self.classes_changed.emit()
        self.start_engine()
        for index in range(len(self.images)):  # the first readable image, not a blank canvas
            if self.set_current(index):
                break

    # ----------------------------------------------------------------------------------------------
    # navigation and display
    # ----------------------------------------------------------------------------------------------
    @property
    def current_record(self) -> ImageRecord | None:
        return self.images[self.current] if 0 <= self.current < len(self.images) else None

    def set_current(self, index: int) -> bool:
        """Show image ``index``; False (with an inline message) when that file cannot be read."""
        from core.images import load_image

        if not 0 <= index < len(self.images) or index == self.current:
            return True
        record = self.images[index]
        try:
            rgb = load_image(record.path)
        except UserError as exc:
            self.message.emit(str(exc), "error")
            return False
        self.current = index
        self.current_rgb = rgb
        if record.user is not None and record.user.shape != rgb.shape[:2]:
            self.message.emit(f"saved labels of {record.path.name} do not match its size; ignored", "error")
            record.user = None
        self.current_changed.emit(index)
        self.overlay_changed.emit()
        prediction = self._predictions.get(record.path)
        if prediction is None or prediction.generation != self.generation:
            self.request_predict(record.path)
        return True

    def next_image(self, step: int = 1) -> None:
        """Go ``step`` images on; an unreadable file is passed over (its message stays) so it never blocks."""
        index = self.current + step
        while 0 <= index < len(self.images):
            if self.set_current(index):
                return
            index += 1 if step > 0 else -1

    def current_qimage(self) -> QImage | None:
        return None if self.current_rgb is None else rgb_to_qimage(self.current_rgb)

    def current_prediction(self) -> PredictionResult | None:
        record = self.current_record
        return None if record is None else self._predictions.get(record.path)

    def composed_labels(self, record: ImageRecord | None = None) -> np.ndarray | None:
        record = record or self.current_record
        if record is None or self.current_rgb is None:
            return None
        prediction = self._predictions.get(record.path)
        shape = self.current_rgb.shape[:2] if record is self.current_record else (
            prediction.labels.shape if prediction else record.user.shape)
        return compose_labels(prediction.labels if prediction else None, record.user, shape)

    def current_shares(self) -> dict[int, float]:
        """Fraction of the current image each label value covers (what the overlay shows)."""
        labels = self.composed_labels()
        if labels is None or labels.size == 0:
            return {}
        counts = np.bincount(labels.ravel(), minlength=256)
        return {int(v): float(counts[v]) / labels.size for v in np.nonzero(counts)[0]}

    def class_values(self) -> dict[int, str]:
        return {0: "background", **{i: n for i, n in enumerate(self.classes, start=1)}}

    def lut(self) -> np.ndarray:
        colors = {0: QColor(0, 0, 0), **{i: self.colors[n] for i, n in enumerate(self.classes, start=1)}}
        hidden = {i for i, n in enumerate(self.classes, start=1) if n in self.hidden}
        return build_lut(colors, hidden)

    def current_overlay(self) -> QImage | None:
        labels = self.composed_labels()
        return None if labels is None else labels_to_qimage(labels, self.lut())

    def pixel_info(self, x: int, y: int) -> str:
        record = self.current_record
        labels = self.composed_labels()
        if record is None or labels is None or not (0 <= y < labels.shape[0] and 0 <= x < labels.shape[1]):
            return ""
        value = int(labels[y, x])
        name = "unlabelled" if value == IGNORE else self.class_values().get(value, f"class {value}")
        text = f"({x}, {y})  {name}"
        if record.user is not None and record.user[y, x] != IGNORE:
            return text + "  · your label"
        prediction = self._predictions.get(record.path)
        if prediction is not None:
            text += f"  · confidence {float(prediction.confidence[y, x]):.2f}"
        return text

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

        def work(ctx: JobContext):
            session = self._require_session()
            t0 = time.perf_counter()
            report = session.self_train(progress=ctx.progress, cancel=ctx.cancel)
            return {"classes": list(self.classes), "status": session.class_status(), "fit": report,
                    "fit_s": time.perf_counter() - t0, "timings": getattr(session, "last_timings", None)}

        job = Job("self-train", work)
        job.signals.succeeded.connect(self._on_refit_done)
        job.signals.failed.connect(lambda exc: self._report_failure("Self-training", exc))
        job.signals.cancelled.connect(lambda: self.message.emit("Self-training cancelled", "info"))
        return self.runner.submit(job)

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
        self._predictions[prediction.path] = prediction
        self._predictions.move_to_end(prediction.path)
        while len(self._predictions) > PREDICTION_CACHE:
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
            for path in todo:
                ctx.check_cancel()
                record = records.get(path)
                if record is None or (record.done_generation == generation and generation > 0):
                    done += 1
                    ctx.emit((None, done, total))  # resume: already labelled by this model
                    continue
                prediction = session.predict(path, cancel=ctx.cancel)
                done += 1
                ctx.emit((PredictionResult(path, np.asarray(prediction.labels, dtype=np.uint8),
                                           np.asarray(prediction.confidence, dtype=np.float32), generation),
                          done, total))
                ctx.progress(done / max(1, total), f"Labelled {done}/{total}: {path.name}")
            return done

        job = Job("batch", work)
        job.signals.partial.connect(self._on_batch_item)
        job.signals.succeeded.connect(lambda _n: self.batch_finished.emit("done"))
        job.signals.cancelled.connect(lambda: self.batch_finished.emit("cancelled"))
        job.signals.failed.connect(lambda exc: self.batch_finished.emit(_one_line(exc)))
        self._batch_job = self.runner.submit(job)
        return self._batch_job

    def _on_batch_item(self, item) -> None:
        prediction, done, total = item
        if prediction is not None:
            self._store_prediction(prediction)
            record = self.current_record
            if record is not None and record.path == prediction.path:
                self.overlay_changed.emit()
        self.batch_progress.emit(done, total)

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
    # classes
    # ----------------------------------------------------------------------------------------------
    def add_class(self, name: str) -> None:
        """Check the name with the engine (worker); add it only if it embeds."""
        name = " ".join(name.split())
        if not name:
            return
        if name.lower() in (c.lower() for c in self.classes) or name.lower() in ("background", "ignore"):
            self.class_rejected.emit(f"'{name}' is already in the class list", [])
            return
        self._check_name(name, lambda: self._add_checked(name))

    def _check_name(self, name: str, on_ok) -> None:
        def work(ctx: JobContext):
            self._require_session().check_class_name(name)
            return name

        job = Job("check-class", work, cancellable=False)
        job.signals.succeeded.connect(lambda _n: on_ok())
        job.signals.failed.connect(self._on_name_rejected)
        self.runner.submit(job)

    def _on_name_rejected(self, exc: BaseException) -> None:
        self.class_rejected.emit(_one_line(exc), list(getattr(exc, "suggestions", []) or []))

    def _add_checked(self, name: str) -> None:
        if name in self.classes:
            return
        self.classes.append(name)
        self._ensure_colors()
        self.brush_value = len(self.classes)
        self.classes_changed.emit()
        self.class_added.emit(name)
        self._save_project()
        self.request_refit()

    def set_classes_now(self, names: list[str]) -> None:
        """Set the class list from the command line (checked by the engine in the refit)."""
        cleaned = []
        for name in names:
            name = " ".join(name.split())
            if name and name.lower() not in ("background", "ignore") and name not in cleaned:
                cleaned.append(name)
        for name in cleaned:
            self.add_class(name)

    def rename_class(self, value: int, new_name: str) -> None:
        if not 1 <= value <= len(self.classes):
            return
        new_name = " ".join(new_name.split())
        if new_name.lower() in (c.lower() for c in self.classes):
            self.class_rejected.emit(f"'{new_name}' is already in the class list", [])
            return

        def apply():
            old = self.classes[value - 1]
            self.classes[value - 1] = new_name
            self.colors[new_name] = self.colors.pop(old, default_color(value))
            if old in self.hidden:
                self.hidden.discard(old)
                self.hidden.add(new_name)
            self.class_info.pop(old, None)
            # The session maps labels by name: send them again under the new one.
            self._queue_labels({r.path: r.user.copy() for r in self.images if r.user is not None})
            self.classes_changed.emit()
            self._save_project()
            self.request_refit()

        self._check_name(new_name, apply)

    def delete_class(self, value: int) -> None:
        if not 1 <= value <= len(self.classes):
            return
        lut = np.arange(256, dtype=np.int32)
        lut[value] = IGNORE
        lut[value + 1:255] -= 1
        name = self.classes.pop(value - 1)
        self.colors.pop(name, None)
        self.hidden.discard(name)
        self.class_info.pop(name, None)
        self._remap_user_labels(lut.astype(np.uint8))

    def move_class(self, value: int, delta: int) -> None:
        other = value + delta
        if not (1 <= value <= len(self.classes) and 1 <= other <= len(self.classes)):
            return
        lut = np.arange(256, dtype=np.uint8)
        lut[value], lut[other] = other, value
        self.classes[value - 1], self.classes[other - 1] = self.classes[other - 1], self.classes[value - 1]
        self.brush_value = other
        self._remap_user_labels(lut)

    def _remap_user_labels(self, lut: np.ndarray) -> None:
        """Class indices changed: rewrite every user mask, forget predictions, refit."""
        self.undo_stack.clear()  # strokes refer to the old indices
        updates = {}
        for record in self.images:
            self._ensure_user_loaded(record)
            if record.user is not None:
                record.user = lut[record.user]
                self._save_user_labels(record)
                updates[record.path] = record.user.copy()
        self._queue_labels(updates)
        self._predictions.clear()
        self.generation += 1
        self.classes_changed.emit()
        self.overlay_changed.emit()
        self._save_project()
        self.request_refit()

    def set_visible(self, value: int, visible: bool) -> None:
        if 1 <= value <= len(self.classes):
            name = self.classes[value - 1]
            (self.hidden.discard if visible else self.hidden.add)(name)
            self.overlay_changed.emit()
            self._save_project()

    def set_color(self, value: int, color: QColor) -> None:
        if 1 <= value <= len(self.classes):
            self.colors[self.classes[value - 1]] = QColor(color)
            self.classes_changed.emit()
            self.overlay_changed.emit()
            self._save_project()

    def color_of(self, value: int) -> QColor:
        if value == 0:
            return QColor(0, 0, 0)
        if value == IGNORE:
            return QColor(224, 224, 192)
        return self.colors.get(self.classes[value - 1], default_color(value)) if value <= len(self.classes) \
            else default_color(value)

    def _ensure_colors(self) -> None:
        for index, name in enumerate(self.classes, start=1):
            self.colors.setdefault(name, default_color(index))

    def _update_class_info(self, status) -> None:
        for item in status:
            name = getattr(item, "name", None)
            if name:
                self.class_info[name] = (bool(getattr(item, "seen", False)), int(getattr(item, "labelled_pixels", 0)))

    # ----------------------------------------------------------------------------------------------
    # brush editing
    # ----------------------------------------------------------------------------------------------
    def _ensure_user_loaded(self, record: ImageRecord) -> None:
        if record.user is None and self.project is not None:
            label_file = self.project.user_labels.get(self.project.key(record.path))
            if label_file:
                try:
                    record.user = read_label_png(self.project.resolve(label_file))
                except UserError as exc:
                    self.message.emit(str(exc), "error")
        record.user_loaded = True

    def apply_stroke(self, stroke: np.ndarray, value: int | None = None) -> bool:
        """Paint the selected class (or 255 to erase) under ``stroke``; one undoable command."""
        record = self.current_record
        if record is None or self.current_rgb is None or stroke is None or not stroke.any():
            return False
        value = self.brush_value if value is None else value
        if value != IGNORE and not 0 <= value <= len(self.classes):
            return False
        self._ensure_user_loaded(record)
        if record.user is None:
            record.user = np.full(self.current_rgb.shape[:2], IGNORE, dtype=np.uint8)
        name = "eraser" if value == IGNORE else self.class_values()[value]
        command = BrushStrokeCommand(self, record.path, record.user, stroke, value,
                                     f"Paint {name} on {record.path.name}")
        if not command.changes_anything:
            return False
        self.undo_stack.push(command)   # runs command.redo() → write_user_patch
        return True

    def write_user_patch(self, image: Path, y0: int, x0: int, patch: np.ndarray) -> None:
        index, record = next(((i, r) for i, r in enumerate(self.images) if r.path == image), (-1, None))
        if record is None:
            return
        self._ensure_user_loaded(record)
        if record.user is None:
            shape = self.current_rgb.shape[:2] if record is self.current_record else None
            if shape is None:
                return
            record.user = np.full(shape, IGNORE, dtype=np.uint8)
        record.user[y0:y0 + patch.shape[0], x0:x0 + patch.shape[1]] = patch
        record.edited = True
        self._set_status(index, STATUS_REVIEWED)
        self._save_user_labels(record)
        self._save_project()
        self._queue_labels({record.path: record.user.copy()})
        if record is self.current_record:
            self.overlay_changed.emit()
        self.request_refit()

    def mark_reviewed(self, index: int | None = None) -> None:
        index = self.current if index is None else index
        if 0 <= index < len(self.images):
            record = self.images[index]
            new = STATUS_AUTO if record.status == STATUS_REVIEWED and not record.edited else STATUS_REVIEWED
            self._set_status(index, new)
            self._save_project()

    def _set_status(self, index: int, status: str) -> None:
        record = self.images[index]
        if record.status != status:
            record.status = status
            self.status_changed.emit(index, status)

    # ----------------------------------------------------------------------------------------------
    # project file
    # ----------------------------------------------------------------------------------------------
    def _save_user_labels(self, record: ImageRecord) -> None:
        if not self.autosave or self.project is None or record.user is None:
            return
        target = self.project.label_path_for(record.path)
        try:
            write_label_png(target, record.user)
        except (UserError, OSError) as exc:
            self.message.emit(f"Could not save labels of {record.path.name}: {_one_line(exc)}", "error")
            return
        self.project.user_labels[self.project.key(record.path)] = target.relative_to(self.project.folder).as_posix()

    def _save_project(self, force: bool = False) -> bool:
        """Write zs3project.json, once the user has made something worth keeping."""
        project = self.project
        if project is None or not (self.autosave or force):
            return False
        has_work = any(r.edited or r.status == STATUS_REVIEWED for r in self.images)
        if not (force or has_work or getattr(self, "_project_exists", False)):
            return False  # opening a folder alone does not write into it
        project.classes = [ProjectClass(n, self.colors[n].name() if n in self.colors else "", n not in self.hidden)
                           for n in self.classes]
        # Update, never drop: images of the project that are not open now keep their entries.
        project.status.update({project.key(r.path): r.status for r in self.images})
        project.images = list(dict.fromkeys([*project.images, *(project.key(r.path) for r in self.images)]))
        project.model, project.device = self.settings.model, self.settings.device
        try:
            path = save_project(project)
        except (UserError, OSError) as exc:
            self.message.emit(f"Could not save the project: {_one_line(exc)}", "error")
            return False
        self._project_exists = True
        self.project_saved.emit(str(path))
        return True

    def save_project(self) -> bool:
        for record in self.images:
            if record.user is not None:
                self._save_user_labels(record)
        return self._save_project(force=True)

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
        job.signals.failed.connect(lambda exc: self.export_failed.emit(_one_line(exc)))
        job.signals.cancelled.connect(lambda: self.export_failed.emit("export cancelled"))
        return self.runner.submit(job)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        self.runner.cancel_all()
        self.runner.wait(timeout_ms)


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


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, UserError):
        text = f"internal error ({type(exc).__name__}): {text}"
    return " ".join(text.split())
