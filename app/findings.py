"""What the model found, as the class panel shows it: per class "found", "low confidence" or "not
found" on the image shown, a count over the images labelled so far, and names to try for a class
found nowhere (issue 11). The verdicts and suggestions are :mod:`core.found`'s; this room
only gathers them from the controller's predictions and asks the worker for suggestions."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.overlay import IGNORE
from app.jobs import PREDICTION_CACHE
from app.project import STATUS_UNREADABLE
from app.workers import Job, JobContext
from core.found import FOUND, LOW_CONFIDENCE, NOT_FOUND, FoundOptions, find_classes, suggest_names


@dataclass
class ClassReport:
    """One class: its verdict on the image shown (None: no prediction there yet) and over images."""

    here: str | None = None
    share: float = 0.0
    confidence: float = 0.0
    painted: bool = False          # the user labelled some of it on this image
    images: int = 0
    total: int = 0                 # readable images in the folder (0: unknown, the images judged count)
    found: int = 0
    low_confidence: int = 0
    suggestions: list[str] = field(default_factory=list)

    @property
    def nowhere(self) -> bool:
        return self.images > 0 and self.found == 0 and self.low_confidence == 0

    @property
    def whole_folder(self) -> bool:
        """Every readable image of the folder has been judged by the current model."""
        return self.images >= self.total

    def badge(self) -> tuple[str, str]:
        """(text, style) of the class row's badge; ("", "") leaves the seen/unseen badge.

        The warning waits for the whole folder: a class absent from the first photos run is not yet a
        class the model cannot find (the tooltip says how many photos were judged)."""
        if self.nowhere and self.whole_folder and not self.painted:
            return "⚠ not found", "warn"
        if self.painted:
            return "found", "found"
        if self.here is None:
            return "", ""
        return {FOUND: ("found", "found"), LOW_CONFIDENCE: ("low conf.", "low"),
                NOT_FOUND: ("not here", "none")}[self.here]

    def tooltip(self) -> str:
        options = FoundOptions()
        thresholds = (f"found = at least {options.min_share:.1%} of the image at a mean confidence of "
                      f"{options.min_confidence:.2f} or more")
        lines = []
        if self.painted:
            lines.append("This image: you labelled some of it.")
        elif self.here is not None:
            detail = (f"{self.share:.1%} of the pixels, mean confidence {self.confidence:.2f}"
                      if self.here != NOT_FOUND else "no pixel")
            lines.append(f"This image: {self.here} ({detail}).")
        if self.images:
            lines.append(f"Images labelled so far: found in {self.found} of {self.images}, low confidence in "
                         f"{self.low_confidence}.")
        if self.nowhere and self.whole_folder:
            lines.append("Found in no image of the folder: check its name, or paint a few pixels of it.")
        elif self.nowhere:
            lines.append("Found in no labelled image so far: run on more images, check its name, or paint "
                         "a few pixels of it.")
        if self.suggestions:
            lines.append(f"Names that reach ImageNet classes: {', '.join(self.suggestions)}.")
        lines.append(f"({thresholds})")
        return "\n".join(lines)


class FindingsMixin:
    """The controller's side: verdicts of its cached predictions, suggestions from the worker."""

    def _init_findings(self) -> None:
        self.suggestions: dict[str, list[str]] = {}   # class name → names to try (computed once)
        self._suggesting: set[str] = set()

    def judge_prediction(self, prediction) -> None:
        """Attach the verdicts of every class to a prediction as it is stored (a sampled count)."""
        names = ["background", *self.classes]
        prediction.findings = {f.value: f for f in find_classes(prediction.labels, prediction.confidence, names)}

    def class_reports(self) -> dict[int, ClassReport]:
        """Per class value. Empty until the current model has labelled an image (nothing is known)."""
        done = [p for p in self._predictions.values() if getattr(p, "findings", None)]
        if not any(p.generation == self.generation for p in done):
            return {}
        current = self.current_prediction()
        record = self.current_record
        painted = set()
        if record is not None and record.user is not None:
            painted = {int(v) for v in np.unique(record.user[::4, ::4])} - {IGNORE}
        reports = {}
        # the predictions kept in memory are the judged images: a folder larger than that cache counts
        # as whole once the cache is full of current predictions
        total = min(PREDICTION_CACHE, sum(r.status != STATUS_UNREADABLE for r in self.images))
        for value, name in enumerate(self.classes, start=1):
            report = ClassReport(painted=value in painted, total=total, suggestions=self.suggestions.get(name, []))
            for prediction in done:
                finding = prediction.findings.get(value)
                if finding is None:
                    continue
                report.images += 1
                report.found += finding.status == FOUND
                report.low_confidence += finding.status == LOW_CONFIDENCE
                if prediction is current:
                    report.here, report.share, report.confidence = finding.status, finding.share, \
                        finding.mean_confidence
            reports[value] = report
        return reports

    def request_suggestions(self, names: list[str]) -> Job | None:
        """Names to try for classes found nowhere, from the worker (the session's word vectors);
        ``suggestions_ready`` when they are in ``self.suggestions``."""
        todo = [n for n in names if n not in self.suggestions and n not in self._suggesting]
        if not todo or self.session is None:
            return None
        self._suggesting.update(todo)

        def work(ctx: JobContext) -> dict[str, list[str]]:
            from core.session.wordnet_links import wordnet_links

            session, links = self._require_session(), wordnet_links()
            return {name: suggest_names(name, links, session.embedder) for name in todo}

        def done(found: dict[str, list[str]]) -> None:
            self.suggestions.update(found)
            self.suggestions_ready.emit()

        job = Job("suggest", work)
        job.signals.succeeded.connect(done)
        job.signals.finished.connect(lambda: self._suggesting.difference_update(todo))
        return self.runner.submit(job)
