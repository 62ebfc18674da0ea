"""Showing a photo fast: a reduced JPEG decode at once, the full-resolution pixels from a thread.

A 24-Mpx JPEG takes 0.25–0.45 s to decode on the 2-core machine, longer than the switch target
(issue 12: < 0.3 s). The canvas at "fit to window" shows about one pixel in four anyway, so the
window first shows :func:`core.images.load_reduced` (the decoder's own 1/4 scaling, ≈ 0.04 s) and
swaps in :func:`core.images.load_image`'s pixels when a background thread has them.

What never changes with the phase: the canvas's scene, strokes, masks and exports are in
full-resolution pixels from the start (the displayed size is known from the header), so a stroke
painted on the preview lands on the right full-resolution pixels. Work that needs the pixels
themselves (GrabCut of the object tools) waits for :class:`FullPhoto` in the model worker, never in
the GUI thread.

The loader has its own thread (a :class:`app.workers.JobRunner` of one), apart from the model
worker: a refit or prediction in progress must not hold the photo back. Like every worker, it only
emits signals.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from app.workers import Job, JobContext, JobRunner
from core.errors import CancelledError, UserError
from core.images import load_image

#: A JPEG whose longer side is at least twice this is shown reduced first (1/2, 1/4 or 1/8, the most
#: reduced whose longer side stays ≥ this): about the canvas's size at "fit to window".
PREVIEW_MIN_SIDE = 1024
_WAIT_STEP_S = 0.05  # how often a waiting worker looks at its cancel flag


class FullPhoto:
    """The full-resolution pixels of one shown image, set once by the loader thread.

    ``rgb`` is None until then; a worker that needs the pixels calls :meth:`wait`.
    """

    def __init__(self, path: Path, rgb: np.ndarray | None = None) -> None:
        self.path = path
        self.rgb = rgb
        self.error: BaseException | None = None
        self._ready = threading.Event()
        if rgb is not None:
            self._ready.set()

    @property
    def ready(self) -> bool:
        return self.rgb is not None

    def set(self, rgb: np.ndarray) -> None:
        self.rgb = rgb
        self._ready.set()

    def fail(self, exc: BaseException) -> None:
        self.error = exc
        self._ready.set()

    def wait(self, cancel: threading.Event | None = None) -> np.ndarray:
        """Block (a worker thread, never the GUI) until the pixels are there; the load's error if it failed."""
        while not self._ready.wait(_WAIT_STEP_S):
            if cancel is not None and cancel.is_set():
                raise CancelledError("cancelled")
        if self.rgb is None:
            raise self.error or UserError(f"{self.path.name} could not be read")
        return self.rgb


def load_full(runner: JobRunner, photo: FullPhoto) -> Job:
    """Decode ``photo`` at full resolution on ``runner``'s thread; loads not started yet are dropped.

    The job's ``succeeded`` carries the pixels, ``failed`` the one-line error; a load dropped
    before it started fails its :class:`FullPhoto` so that nobody waits for it.
    """
    for old in runner.jobs:
        old.cancel()

    def work(ctx: JobContext) -> np.ndarray:
        try:
            rgb = load_image(photo.path)
        except BaseException as exc:
            photo.fail(exc)
            raise
        photo.set(rgb)
        return rgb

    job = Job("photo", work)
    job.signals.cancelled.connect(lambda: photo.fail(UserError(f"{photo.path.name} is no longer shown")))
    return runner.submit(job)
