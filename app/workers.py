"""Background work: every model call (features, fit, predict, batch, export) runs here.

Rules this module keeps, so the window never freezes and never crashes from a thread:

- one worker thread (a ``QThreadPool`` of size 1): the session is used by one thread at a time
  and jobs run in the order they were asked for;
- workers never touch widgets: they only emit signals, which Qt queues to the GUI thread;
- a job gets a :class:`JobContext` with ``progress(fraction, message)``, a ``threading.Event``
  ``cancel`` and ``emit(obj)`` for partial results (one image of a batch);
- ``UserError`` ends a job with its one-line message (shown inline), ``CancelledError`` ends it
  quietly; anything else is logged with its traceback and reported as an internal error.

Only QtCore is imported here (a test checks it): this module is about threads, not widgets.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from core.errors import CancelledError, UserError

log = logging.getLogger(__name__)


class JobSignals(QObject):
    """Signals of one job; created in the GUI thread so receivers get them queued."""

    progress = Signal(float, str)
    partial = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)        # the exception (UserError → inline message)
    cancelled = Signal()
    finished = Signal()            # always, after one of the three above


@dataclass
class JobContext:
    """What a job function receives: report progress, check cancel, hand back partial results."""

    signals: JobSignals
    cancel: threading.Event = field(default_factory=threading.Event)

    def progress(self, fraction: float, message: str = "") -> None:
        self.signals.progress.emit(float(max(0.0, min(1.0, fraction))), str(message))

    def emit(self, obj: Any) -> None:
        self.signals.partial.emit(obj)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise CancelledError("cancelled")


class Job(QRunnable):
    """A named unit of background work: ``fn(ctx) -> result``."""

    _ids = itertools.count(1)

    def __init__(self, name: str, fn: Callable[[JobContext], Any], *, cancellable: bool = True) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the runner keeps a reference until ``finished``
        self.id = next(self._ids)
        self.name = name
        self.fn = fn
        self.cancellable = cancellable
        self.signals = JobSignals()
        self.ctx = JobContext(self.signals)
        self.started_at: float | None = None
        self.error: BaseException | None = None
        self.result: Any = None
        self.done = threading.Event()

    def cancel(self) -> None:
        self.ctx.cancel.set()

    def run(self) -> None:  # worker thread
        self.started_at = time.perf_counter()
        try:
            if self.ctx.cancel.is_set():
                raise CancelledError("cancelled before start")
            self.result = self.fn(self.ctx)
        except CancelledError:
            log.info("job %s cancelled", self.name)
            self.signals.cancelled.emit()
        except UserError as exc:
            self.error = exc
            log.info("job %s: %s", self.name, exc)
            self.signals.failed.emit(exc)
        except Exception as exc:  # noqa: BLE001 - a bug: keep the traceback in the log, tell the user
            self.error = exc
            log.exception("job %s failed", self.name)
            self.signals.failed.emit(exc)
        else:
            self.signals.succeeded.emit(self.result)
        finally:
            self.done.set()
            self.signals.finished.emit()


class JobRunner(QObject):
    """Queues jobs on one worker thread and tells the window what is running."""

    busy_changed = Signal(bool)
    job_started = Signal(str)
    progress = Signal(float, str)
    idle = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._jobs: list[Job] = []

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs)

    def submit(self, job: Job) -> Job:
        was_busy = self.busy
        self._jobs.append(job)
        job.signals.progress.connect(self._on_progress)
        job.signals.finished.connect(lambda j=job: self._on_finished(j))
        self.pool.start(job)
        if not was_busy:
            self.busy_changed.emit(True)
        self.job_started.emit(job.name)
        return job

    def pending(self, name: str) -> list[Job]:
        """Jobs of that name that have not started yet (to coalesce repeated requests)."""
        return [j for j in self._jobs if j.name == name and j.started_at is None]

    def cancel_all(self) -> None:
        for job in self._jobs:
            if job.cancellable:
                job.cancel()

    def cancel(self, name: str) -> None:
        for job in self._jobs:
            if job.name == name:
                job.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the worker is idle (used on quit; the GUI otherwise never blocks)."""
        return self.pool.waitForDone(timeout_ms)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.emit(fraction, message)

    def _on_finished(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        if not self._jobs:
            self.busy_changed.emit(False)
            self.idle.emit()
