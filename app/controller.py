"""The GUI's state, without any widget: images and their status, the user's labels, the project.

The controller owns the image list (with the status of each image), the user's labels, the
class list (:mod:`app.class_list`), the per-image edit history (:mod:`app.history`) and the
project file. Its engine work lives in :mod:`app.jobs`, its class-list edits in
:mod:`app.class_edits`, its tools in :mod:`app.tools` and what the model found in :mod:`app.findings` (mixins
of this class); every session call goes through
:class:`app.workers.JobRunner` (one worker thread) and comes back as a signal.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor

from app.class_edits import ClassEditsMixin
from app.class_list import ClassList
from app.findings import FindingsMixin
from app.history import Edit, EditHistory
from app.jobs import (  # noqa: F401 - re-exported: the window and the tests import them from here
    BatchOptions,
    EngineSettings,
    JobsMixin,
    PendingLabels,
    PredictionResult,
    one_line,
    remap_by_name,
)
from app.overlay import IGNORE, build_lut, compose_labels
from app.photo_loader import PREVIEW_MIN_SIDE, FullPhoto, load_full
from app.project import (
    PROJECT_FILENAME,
    STATUS_AUTO,
    STATUS_NOT_RUN,
    STATUS_REVIEWED,
    STATUS_UNREADABLE,
    ProjectClass,
    ProjectData,
    load_project,
    read_label_png,
    save_project,
    write_label_png,
)
from app.tools import ToolsMixin
from app.workers import Job, JobRunner
from core.errors import UserError

log = logging.getLogger(__name__)

SHARE_SAMPLE_PIXELS = 1_000_000  # class shares of a large image are counted on about this many pixels


@dataclass
class ImageRecord:
    path: Path
    status: str = STATUS_NOT_RUN
    user: np.ndarray | None = None         # H×W uint8, 255 = not labelled by the user
    user_loaded: bool = False
    edited: bool = False
    done_generation: int = -1              # generation of the model that last labelled it


class Controller(JobsMixin, ClassEditsMixin, ToolsMixin, FindingsMixin, QObject):
    images_changed = Signal()
    status_changed = Signal(int, str)
    current_changed = Signal(int)
    photo_ready = Signal(int)                 # the full-resolution pixels of the image shown arrived
    overlay_changed = Signal()
    classes_changed = Signal()
    class_added = Signal(str)
    class_rejected = Signal(str, list)        # message, suggestions
    class_edited = Signal(str)                # what a rename / delete / merge (or its undo) did
    message = Signal(str, str)                # text, kind: "info" | "error"
    engine_changed = Signal(str)              # device / model description
    timings_changed = Signal(str)
    prediction_ready = Signal(object)         # PredictionResult of the current image
    batch_progress = Signal(int, int)
    batch_finished = Signal(str)              # "done" | "cancelled" | error message
    export_finished = Signal(object)          # the masks room's summary
    export_failed = Signal(str)
    project_saved = Signal(str)
    history_changed = Signal()
    brush_picked = Signal(int)                # the pick tool chose this class value
    suggestions_ready = Signal()              # names to try for classes found nowhere (app.findings)

    def __init__(self, settings: EngineSettings | None = None, autosave: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings or EngineSettings()
        self.autosave = autosave
        self.runner = JobRunner(self)
        self.loader = JobRunner(self)         # full-resolution decodes (app.photo_loader), apart from the model
        self.preview_min_side = PREVIEW_MIN_SIDE  # 0: always decode in full before showing
        self.history = EditHistory(on_change=self.history_changed.emit)
        self.session = None                   # touched only from the worker thread
        self.engine_error: str | None = None
        self.images: list[ImageRecord] = []
        self.current = -1
        self.photo: FullPhoto | None = None   # full-resolution pixels of the image shown (may be loading)
        self.current_shape: tuple[int, int] | None = None  # its full-resolution (H, W), known at once
        self.display_rgb: np.ndarray | None = None         # what the canvas shows: reduced, then full
        self.class_list = ClassList()         # background excluded; label value = position + 1
        self.class_info: dict[str, tuple[bool, int]] = {}   # name → (seen, labelled pixels)
        self.project: ProjectData | None = None
        self._project_exists = False
        self.generation = 0                   # bumps after each successful fit
        self.last_timings = ""
        self.device_text = ""
        self._predictions: OrderedDict[Path, PredictionResult] = OrderedDict()
        self._pending = PendingLabels()
        self._engine_job: Job | None = None
        self._batch_job: Job | None = None
        self.brush_value = 1
        self.note_after_predict = (0, "")     # (generation, text) said with that model's next prediction
        self._init_findings()

    # -- the class list, as the window and the project file read it ----------------------------------
    @property
    def classes(self) -> list[str]:
        return self.class_list.names

    @property
    def colors(self) -> dict[str, QColor]:
        return {item.name: QColor(item.color) for item in self.class_list.items}

    @property
    def hidden(self) -> set[str]:
        return {item.name for item in self.class_list.items if not item.visible}

    def _project_classes(self) -> list[ProjectClass]:
        return [ProjectClass(i.name, i.color.name(), i.visible) for i in self.class_list.items]

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
        project.classes = self._project_classes()
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
        self.history.clear()
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
        if project.classes:
            self.class_list = ClassList()
            for cls in project.classes:
                name, problem = cls.name, self.class_list.check(cls.name).problem
                suffix = 2
                while self.class_list.check(name).problem:  # a reserved or doubled name in an older file:
                    name = f"{cls.name} ({suffix})"         # renamed, never dropped (its pixels keep
                    suffix += 1                             # their class and every later index holds)
                if problem:
                    self.message.emit(f"class '{cls.name}' of the project file is now '{name}': {problem}", "error")
                color = QColor(cls.color) if cls.color else None
                self.class_list.add(name, color if color is not None and color.isValid() else None, cls.visible)
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

    @property
    def current_rgb(self) -> np.ndarray | None:
        """Full-resolution pixels of the image shown; None while they load (see ``photo.wait``)."""
        return None if self.photo is None else self.photo.rgb

    def set_current(self, index: int) -> bool:
        """Show image ``index``; False (with an inline message) when that file cannot be read.

        A large JPEG is shown reduced first and its full-resolution pixels follow from the loader
        thread (``photo_ready``); labels, strokes and tools are in full-resolution pixels throughout.
        """
        from core.images import load_image, load_reduced

        if not 0 <= index < len(self.images) or index == self.current:
            return True
        record = self.images[index]
        try:
            reduced = load_reduced(record.path, self.preview_min_side) if self.preview_min_side else None
            rgb = load_image(record.path) if reduced is None else None
        except UserError as exc:
            self.message.emit(str(exc), "error")
            self._set_status(index, STATUS_UNREADABLE)
            return False
        self.current = index
        self.photo = FullPhoto(record.path, rgb)
        self.current_shape = rgb.shape[:2] if reduced is None else reduced.shape
        self.display_rgb = rgb if reduced is None else reduced.rgb
        if reduced is not None:
            self._load_full_photo()
        if record.status == STATUS_UNREADABLE:
            self._set_status(index, STATUS_AUTO if record.done_generation >= 0 else STATUS_NOT_RUN)
        if record.user is not None and record.user.shape != self.current_shape:
            self.message.emit(f"saved labels of {record.path.name} do not match its size; ignored", "error")
            record.user = None
        self.current_changed.emit(index)
        self.overlay_changed.emit()
        prediction = self._predictions.get(record.path)
        if prediction is None or prediction.generation != self.generation:
            self.request_predict(record.path)
        return True

    def _load_full_photo(self) -> None:
        photo = self.photo
        job = load_full(self.loader, photo)

        def arrived(rgb: np.ndarray) -> None:
            if self.photo is photo:  # still the image shown
                self.display_rgb = rgb
                self.photo_ready.emit(self.current)

        def failed(exc: BaseException) -> None:
            if self.photo is photo:
                self.message.emit(one_line(exc), "error")
                self._set_status(self.current, STATUS_UNREADABLE)

        job.signals.succeeded.connect(arrived)
        job.signals.failed.connect(failed)

    def next_image(self, step: int = 1, among: list[int] | None = None) -> None:
        """Go ``step`` images on, through ``among`` only (the file list's filter) when given; an
        unreadable file is passed over (its message stays) so it never blocks."""
        order = list(range(len(self.images))) if among is None else sorted(among)
        if not order:
            return
        if self.current in order:
            position = order.index(self.current) + step
        else:  # the image shown is filtered out: the nearest listed one in that direction
            later = [i for i, v in enumerate(order) if (v > self.current if step > 0 else v < self.current)]
            if not later:
                return
            position = later[0] if step > 0 else later[-1]
        while 0 <= position < len(order):
            if self.set_current(order[position]):
                return
            position += 1 if step > 0 else -1

    def current_prediction(self) -> PredictionResult | None:
        record = self.current_record
        return None if record is None else self._predictions.get(record.path)

    def composed_labels(self, record: ImageRecord | None = None, blank: bool = True) -> np.ndarray | None:
        """The labels shown (the user's over the model's). ``blank=False``: None rather than an
        all-unlabelled map when neither exists, so a 24-Mpx switch need not build and colour one."""
        record = record or self.current_record
        if record is None or self.current_shape is None:
            return None
        prediction = self._predictions.get(record.path)
        if not blank and prediction is None and record.user is None:
            return None
        shape = self.current_shape if record is self.current_record else (
            prediction.labels.shape if prediction else record.user.shape)
        return compose_labels(prediction.labels if prediction else None, record.user, shape)

    def current_shares(self) -> dict[int, float]:
        """Fraction of the current image each label value covers (what the overlay shows)."""
        labels = self.composed_labels(blank=False)
        if labels is None or labels.size == 0:
            return {}
        step = max(1, int((labels.size / SHARE_SAMPLE_PIXELS) ** 0.5))  # whole percents need no more
        sample = labels[::step, ::step]
        counts = np.bincount(sample.ravel(), minlength=256)
        return {int(v): float(counts[v]) / sample.size for v in np.nonzero(counts)[0]}

    def class_values(self) -> dict[int, str]:
        return {0: "background", **{i: n for i, n in enumerate(self.classes, start=1)}}

    def lut(self) -> np.ndarray:
        colors = {v: self.class_list.color_of(v) for v in range(len(self.class_list) + 1)}
        return build_lut(colors, self.class_list.hidden_values())

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

    def apply_stroke(self, stroke: np.ndarray, value: int | None = None, action: str = "Paint") -> bool:
        """Paint the selected class (or 255 to erase) under ``stroke``: one undoable edit of the
        image shown. Polygons, fills and smart-tool masks come through here too."""
        record = self.current_record
        if record is None or self.current_shape is None or stroke is None or not stroke.any():
            return False
        value = self.brush_value if value is None else int(value)
        if value != IGNORE and not 0 <= value <= len(self.class_list):
            return False
        self._ensure_user_loaded(record)
        if record.user is None:
            record.user = np.full(self.current_shape, IGNORE, dtype=np.uint8)
        rows, cols = np.flatnonzero(stroke.any(axis=1)), np.flatnonzero(stroke.any(axis=0))  # the bounding box
        y0, x0 = int(rows[0]), int(cols[0])
        region = (slice(y0, int(rows[-1]) + 1), slice(x0, int(cols[-1]) + 1))
        before = record.user[region].copy()
        after = before.copy()
        after[stroke[region]] = np.uint8(value)
        if np.array_equal(before, after):
            return False
        ids, path = self.class_list.ids, record.path
        status_before, edited_before = record.status, record.edited
        name = "eraser" if value == IGNORE else self.class_values()[value]

        def redo():
            self.write_user_patch(path, y0, x0, after, ids, status=STATUS_REVIEWED, edited=True)

        def undo():
            self.write_user_patch(path, y0, x0, before, ids, status=status_before, edited=edited_before)

        self.history.push(Edit(f"{action} {name} on {path.name}", undo, redo, before.nbytes * 2, key=path))
        return True

    def undo(self) -> str | None:
        """Undo the newest edit of the image shown (or a newer class-list change); its text."""
        record = self.current_record
        edit = self.history.undo(None if record is None else record.path)
        return None if edit is None else edit.text

    def redo(self) -> str | None:
        record = self.current_record
        edit = self.history.redo(None if record is None else record.path)
        return None if edit is None else edit.text

    def write_user_patch(self, image: Path, y0: int, x0: int, patch: np.ndarray, ids: tuple[int, ...],
                         status: str | None = None, edited: bool | None = None) -> None:
        """Write a rectangle of user labels (recorded with the class ids ``ids``) and keep what
        depends on it in step: status, label PNG, project, the next refit, the overlay."""
        index, record = next(((i, r) for i, r in enumerate(self.images) if r.path == image), (-1, None))
        if record is None:
            return
        self._ensure_user_loaded(record)
        if record.user is None:
            if record is not self.current_record or self.current_shape is None:
                return
            record.user = np.full(self.current_shape, IGNORE, dtype=np.uint8)
        if ids != self.class_list.ids:  # the class list changed since: read the values by class id
            patch = self.class_list.lut_from(ids)[patch]
        record.user[y0:y0 + patch.shape[0], x0:x0 + patch.shape[1]] = patch
        if edited is not None:
            record.edited = edited
        if status is not None:
            if status != STATUS_REVIEWED and record.done_generation >= 0:
                status = STATUS_AUTO  # labelled by the model since: not back to "not run"
            self._set_status(index, status)
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
            self.message.emit(f"Could not save labels of {record.path.name}: {one_line(exc)}", "error")
            return
        self.project.user_labels[self.project.key(record.path)] = target.relative_to(self.project.folder).as_posix()

    def _save_project(self, force: bool = False) -> bool:
        """Write zs3project.json, once the user has made something worth keeping."""
        project = self.project
        if project is None or not (self.autosave or force):
            return False
        has_work = bool(self.class_list) or any(r.edited or r.status == STATUS_REVIEWED for r in self.images)
        if not (force or has_work or getattr(self, "_project_exists", False)):
            return False  # opening a folder alone (no class typed, nothing painted) writes nothing
        project.classes = self._project_classes()
        # Update, never drop: images of the project that are not open now keep their entries.
        project.status.update({project.key(r.path): r.status for r in self.images})
        project.images = list(dict.fromkeys([*project.images, *(project.key(r.path) for r in self.images)]))
        project.model, project.device = self.settings.model, self.settings.device
        try:
            path = save_project(project)
        except (UserError, OSError) as exc:
            self.message.emit(f"Could not save the project: {one_line(exc)}", "error")
            return False
        self._project_exists = True
        self.project_saved.emit(str(path))
        return True

    def save_project(self) -> bool:
        for record in self.images:
            if record.user is not None:
                self._save_user_labels(record)
        return self._save_project(force=True)
