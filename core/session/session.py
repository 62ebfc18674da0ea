"""``Session``: the annotation engine shared by the GUI and ``zs3 segment``.

One session holds images, a class list, the user's labels and the fitted model state:

- features per image (backbone forward once, cached with a byte cap);
- seen classes (labelled pixels -> real features) and unseen ones (no pixels -> GMMN features from
  the class embedding); one linear classifier over both (``core.zs3.classifier``);
- for the default model, the ImageNet prior (``prior.py``): confident pixels of named ImageNet
  classes act as real features for classes the user has not labelled, so zero labels still give a
  useful start;
- the GMMN: the default model ships one (``resources/default_model/gmmn.pt``, trained offline on
  real hypercolumn features of many named classes), so a zero-label session can still generate
  features for a class with neither labels nor prior pixels. When the user's labels change it is
  fine-tuned, warm-started, for a bounded number of steps (a fraction of a second) and the result
  is kept until the labels change again. A class-name change never trains a GMMN: it only
  regenerates features and refits the linear classifier (well under a second).

Thread-safety: a fit runs under ``_fit_lock`` (one at a time) and publishes its result under
``_lock``; ``predict``/``class_status`` read a consistent snapshot under ``_lock`` and never wait
for a running fit unless the model is stale (then they fit, which means waiting for the running one).
No global state: everything lives on the instance.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from core.constants import IGNORE
from core.device import torch_threads
from core.errors import CancelledError, UserError
from core.models.tiled_output import predict_full_resolution
from core.session.box_prior import BoxPrior
from core.session.cache import FeatureCache, SaliencyMaps, image_key
from core.session.config import SessionConfig
from core.session.cross_check import cross_image_check
from core.session.gmmn_state import SessionGMMN
from core.session.prediction import full_probabilities, grid_logits
from core.session.prior import ImageNetPrior, detector_extent, image_prior_labels, prior_order, yield_to_paint
from core.session.records import Fitted, LabelEntry
from core.session.rows import bank_rows, local_vote, painted_rows
from core.session.types import ClassStatus, FitReport, Prediction
from core.zs3.sampling import capped_subsample

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("cancelled")


def _sub(progress: Progress | None, start: float, end: float) -> Progress | None:
    if progress is None:
        return None
    return lambda f, msg: progress(start + (end - start) * min(max(f, 0.0), 1.0), msg)


def _key(path) -> str:
    return str(Path(path).resolve())


class Session:
    """See the module docstring; the public methods below are the contract."""

    def __init__(
        self,
        model: str | Path = "default",
        device: str = "auto",
        embeddings: str = "default",
        cache_bytes: int = 512 * 2**20,
        config: SessionConfig | None = None,
    ):
        from core.device import resolve_device
        from core.embeddings import get_embedder
        from core.session.backbones import make_backbone

        self.config = config or SessionConfig()
        self._device = resolve_device(device)
        self.embedder = get_embedder(embeddings)
        self.backbone = make_backbone(model, self._device, self.config.input_side)
        self.model_name = str(model)
        self.cache = FeatureCache(cache_bytes)
        self._lock = threading.RLock()
        self._fit_lock = threading.Lock()
        self._images: list[Path] = []
        self._image_keys: set[str] = set()
        self._classes: tuple = ("background",)
        self._class_vectors = torch.from_numpy(self._embed_all(self._classes))
        self._labels: dict[str, LabelEntry] = {}
        self._pseudo: dict[str, np.ndarray] = {}  # self-training pseudo-labels (feature grid), current classes
        self._viewed: list[str] = []  # images predicted outside the prior's first ones, most recent last
        self._version = 0
        self._labels_version = 0  # bumped by label changes only: the GMMN fine-tune depends on nothing else
        self._fitted: Fitted | None = None
        self._gmmns = SessionGMMN(self)
        self._prior: ImageNetPrior | None = None
        self._boxes = BoxPrior(self._device)  # COCO detector boxes for the prior (when installed)
        self._saliency = SaliencyMaps(self.backbone)
        self._full_threads: int | None = None  # torch threads outside a running fit
        self.last_timings: dict = {}

    # ------------------------------------------------------------------ images and classes
    @property
    def device(self) -> str:
        return str(self._device)

    @property
    def images(self) -> list[Path]:
        with self._lock:
            return list(self._images)

    def add_images(self, paths: Iterable) -> list[Path]:
        """Add files or folders (expanded, natural-sorted); returns the newly added image paths."""
        from core.images import list_images

        found = list_images(paths if not isinstance(paths, (str, Path)) else [paths])
        added = []
        with self._lock:
            for p in found:
                k = _key(p)
                if k not in self._image_keys:
                    self._image_keys.add(k)
                    self._images.append(Path(p))
                    added.append(Path(p))
            if added:
                self._version += 1
        return added

    @property
    def classes(self) -> list[str]:
        with self._lock:
            return list(self._classes)

    def check_class_name(self, name: str) -> np.ndarray:
        """Raise UnknownWordError (a UserError) when ``name`` cannot be embedded; changes nothing."""
        return self.embedder.embed(name)

    def _embed_all(self, names: Sequence[str]) -> np.ndarray:
        return np.stack([self.embedder.embed(n) for n in names]).astype(np.float32)

    def set_classes(self, names: Sequence[str]) -> None:
        """Replace the class list; "background" is forced at index 0; labels are remapped by name."""
        from core.embeddings import parse_class_spec

        cleaned: list[str] = []
        for n in names:
            if not isinstance(n, str) or not n.strip():
                raise UserError(f"empty class name in {list(names)!r}")
            n = " ".join(n.split())
            if parse_class_spec(n)[0].lower() == "background":
                continue
            if n in cleaned:
                raise UserError(f"class {n!r} is listed twice")
            cleaned.append(n)
        new = ("background", *cleaned)
        vectors = self._embed_all(new)  # raises before anything changes
        with self._lock:
            if new == self._classes:
                return
            self._classes = new
            self._class_vectors = torch.from_numpy(vectors)
            # Pseudo-labels were chosen for the old list: drop them (self-training reruns cheaply).
            self._pseudo.clear()
            self._version += 1

    def _names(self) -> list[str]:
        from core.embeddings import parse_class_spec

        return [parse_class_spec(n)[0] for n in self._classes]

    # ------------------------------------------------------------------ labels
    def add_labels(self, image, mask: np.ndarray, source: str = "user") -> None:
        """Labels of ``image`` in the current class list (H×W uint8, 255 = unlabelled); replaces earlier ones."""
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise UserError(f"a label mask must be H×W, got shape {mask.shape}")
        if mask.dtype != np.uint8:
            if mask.size and (mask.min() < 0 or mask.max() > 255):
                raise UserError("a label mask must hold class indices 0..255")
            mask = mask.astype(np.uint8)
        with self._lock:
            bad = np.unique(mask[(mask != IGNORE) & (mask >= len(self._classes))])
            if bad.size:
                raise UserError(f"label mask uses class indices {bad.tolist()} but there are only {len(self._classes)} classes")
            k = _key(image)
            if k not in self._image_keys:
                self._image_keys.add(k)
                self._images.append(Path(image))
            self._labels[k] = LabelEntry(mask.copy(), self._classes, source)
            self._version += 1
            self._labels_version += 1

    def _mask_in_current(self, entry: LabelEntry) -> np.ndarray:
        if entry.names == self._classes:
            return entry.mask
        lut = np.full(256, IGNORE, dtype=np.uint8)
        index = {n: i for i, n in enumerate(self._classes)}
        for i, n in enumerate(entry.names):
            if n in index:
                lut[i] = index[n]
        return lut[entry.mask]

    def clear_labels(self, image=None) -> None:
        """Forget the labels of ``image`` (all images when None)."""
        with self._lock:
            if image is None:
                self._labels.clear()
            else:
                self._labels.pop(_key(image), None)
            self._version += 1
            self._labels_version += 1

    def forget_fit(self) -> None:
        """Drop the fitted classifier and the photos shown beyond the prior's cap: the next fit starts from
        scratch, neither warm-started nor anchored to this one nor reading what earlier predictions showed
        (runs that must not depend on each other's order, e.g. an evaluation's settings)."""
        with self._lock:
            self._fitted = None
            self._viewed = []
            self._version += 1

    def labels(self, image) -> np.ndarray | None:
        with self._lock:
            entry = self._labels.get(_key(image))
            return None if entry is None else self._mask_in_current(entry).copy()

    def class_status(self) -> list[ClassStatus]:
        with self._lock:
            counts = np.zeros(len(self._classes), dtype=np.int64)
            for entry in self._labels.values():
                m = self._mask_in_current(entry)
                counts += np.bincount(m[m != IGNORE].ravel(), minlength=256)[: len(self._classes)]
            return [ClassStatus(n, i, bool(counts[i] > 0), int(counts[i])) for i, n in enumerate(self._classes)]

    # ------------------------------------------------------------------ features
    def features(self, image, cancel: threading.Event | None = None):
        """DenseFeatures of one image (cached per image and model)."""
        from core.images import load_image

        key = image_key(self.backbone.name, image)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        _check(cancel)
        t0 = time.perf_counter()
        with torch_threads(self._full_threads or 0):  # a forward inside a fit gets every thread back
            feats = self.backbone.extract(load_image(image))
        self.last_timings["features_s"] = time.perf_counter() - t0
        self.cache.put(key, feats)
        return feats

    def _painted_rows(self, features: torch.Tensor, mask: np.ndarray, num_classes: int, gen: torch.Generator):
        return painted_rows(features, mask, num_classes, self.config.rows_per_class, gen)

    def _prior_model(self) -> ImageNetPrior | None:
        if not getattr(self.backbone, "has_imagenet", False) or not self.config.prior.enabled:
            return None
        if self._prior is None:
            from core.models.efficientnet_lite import imagenet_class_names

            self._prior = ImageNetPrior.for_embedder(self.embedder, imagenet_class_names())
        return self._prior

    # ------------------------------------------------------------------ fitting
    def _snapshot(self):
        with self._lock:
            labels = {k: self._mask_in_current(e) for k, e in self._labels.items()}
            return (self._version, self._classes, self._class_vectors.clone(), labels, list(self._images),
                    dict(self._pseudo), self._labels_version)

    def _rows(self, pairs, num_classes: int, gen: torch.Generator):
        """[(features (F,h,w), labels (h,w))] -> (N,F) float32, (N,) long, per-class capped."""
        xs, ys = [], []
        for feats, lab in pairs:
            keep = (lab != IGNORE) & (lab < num_classes)
            if keep.any():
                xs.append(feats.flatten(1).T[keep.flatten()].float())
                ys.append(lab.flatten()[keep.flatten()])
        if not xs:
            return torch.zeros(0, self.backbone.feat_dim), torch.zeros(0, dtype=torch.long)
        x, y = torch.cat(xs), torch.cat(ys)
        sel = capped_subsample(y, self.config.rows_per_class, gen)
        return x[sel], y[sel]

    def fit(self, progress: Progress | None = None, cancel: threading.Event | None = None) -> FitReport:
        """Retrain for the current classes and labels (a GMMN fine-tune only when the labels changed)."""
        with self._fit_lock:
            return self._fit_locked(progress, cancel)

    def _fit_locked(self, progress, cancel) -> FitReport:
        with torch_threads(self.config.fit_threads) as before:
            self._full_threads = before if self.config.fit_threads > 0 else None
            try:
                return self._fit_threads_set(progress, cancel)
            finally:
                self._full_threads = None

    def _fit_threads_set(self, progress, cancel) -> FitReport:
        from core.zs3.classifier import ClassifierTrainConfig, train_classifier

        t_start = time.perf_counter()
        timings: dict = {}
        version, classes, class_vectors, labels, images, pseudo, labels_version = self._snapshot()
        n_cls = len(classes)
        gen = torch.Generator().manual_seed(self.config.seed)
        _check(cancel)

        # 1. real rows from the user's labels
        t0 = time.perf_counter()
        x_real, y_real = self._label_rows(labels, n_cls, gen, _sub(progress, 0.0, 0.3), cancel)
        counts = torch.bincount(y_real, minlength=n_cls)
        seen_ids = [i for i in range(n_cls) if counts[i] > 0]
        unseen_ids = [i for i in range(n_cls) if counts[i] == 0]
        timings["real_s"] = time.perf_counter() - t0

        # 2. self-training pseudo-labels and the ImageNet prior: real features for unlabelled classes
        t0 = time.perf_counter()
        x_pseudo, y_pseudo = self._pseudo_rows(pseudo, n_cls, gen, cancel)
        relevance = self._relevance(classes, class_vectors)
        x_prior, y_prior = self._prior_rows(classes, relevance, images, labels, gen, _sub(progress, 0.3, 0.5), cancel)
        x_bank, y_bank = self._bank_rows(classes)
        x_prior, y_prior = torch.cat([x_prior, x_bank]), torch.cat([y_prior, y_bank])
        if seen_ids:  # the user's pixels of a class replace the prior's guesses of it
            keep = ~torch.isin(y_prior, torch.as_tensor(seen_ids))
            x_prior, y_prior = x_prior[keep], y_prior[keep]
        timings["prior_s"] = time.perf_counter() - t0

        # 3. GMMN features for classes without any real pixels (user, self-training or prior): the
        #    shipped GMMN, fine-tuned on the user's pixels once per labels change (bounded steps). The
        #    fine-tune runs in the fit that follows the labels change even when no class needs it yet,
        #    so that a later class-name change finds it ready and never trains.
        t0 = time.perf_counter()
        all_counts = torch.bincount(torch.cat([y_real, y_pseudo, y_prior]), minlength=n_cls)
        gen_ids = [i for i in range(n_cls) if all_counts[i] == 0]
        x_gen = torch.zeros(0, self.backbone.feat_dim)
        y_gen = torch.zeros(0, dtype=torch.long)
        gmmn, gmmn_trained = None, False
        if gen_ids or seen_ids:
            gmmn, gmmn_trained = self._gmmns.for_labels(labels_version, seen_ids, x_real, y_real, class_vectors,
                                                bool(gen_ids), _sub(progress, 0.5, 0.85), cancel)
            if gmmn is not None and gen_ids:
                x_gen, y_gen = self._gmmns.generate(gmmn, class_vectors, gen_ids)
        timings["gmmn_s"] = time.perf_counter() - t0
        _check(cancel)

        # 4. one linear classifier over real + prior + pseudo + generated features
        t0 = time.perf_counter()
        x = torch.cat([x_real, x_pseudo, x_prior, x_gen])
        y = torch.cat([y_real, y_pseudo, y_prior, y_gen])
        if len(y) == 0 or len(torch.unique(y)) < 1:
            raise UserError("nothing to learn from: label some pixels, or name classes the default model knows")
        cfg = ClassifierTrainConfig(max_iter=self.config.classifier_iter, max_per_class=self.config.rows_per_class,
                                    seed=self.config.seed, anchor=self.config.classifier_anchor,
                                    background_weight=self.config.background_weight)
        prev = self._fitted
        init = prev.classifier if prev is not None and prev.classes == classes else None
        clf = train_classifier(x.to(self._device), y.to(self._device), n_cls, cfg, init=init,
                               progress=_sub(progress, 0.85, 1.0), cancel=cancel)
        timings["classifier_s"] = time.perf_counter() - t0
        names = list(classes)
        report = FitReport(
            seconds=time.perf_counter() - t_start,
            seen=[names[i] for i in seen_ids],
            unseen=[names[i] for i in unseen_ids],
            gmmn_trained=gmmn_trained,
            generated=[names[i] for i in gen_ids if gmmn is not None],
            real_rows=len(y_real), prior_rows=len(y_prior), pseudo_rows=len(y_pseudo), generated_rows=len(y_gen),
            timings=timings,
        )
        _check(cancel)
        with self._lock:
            self._fitted = Fitted(version, classes, clf.eval(), report,
                                   tuple(torch.bincount(y_prior, minlength=n_cls).tolist()), relevance)
            self.last_timings.update({"fit_s": report.seconds, **timings})
        if progress:
            progress(1.0, "model ready")
        return report

    def _label_rows(self, labels: dict, num_classes: int, gen: torch.Generator, progress, cancel):
        """Rows at the user's labelled pixels over all labelled images, capped per class."""
        xs, ys = [torch.zeros(0, self.backbone.feat_dim)], [torch.zeros(0, dtype=torch.long)]
        for i, (k, mask) in enumerate(labels.items()):
            _check(cancel)
            x_img, y_img = self._painted_rows(self.features(k, cancel).features, mask, num_classes, gen)
            xs.append(x_img)
            ys.append(y_img)
            if progress:
                progress((i + 1) / len(labels), f"features of labelled image {i + 1}/{len(labels)}")
        x, y = torch.cat(xs), torch.cat(ys)
        sel = capped_subsample(y, self.config.rows_per_class, gen)
        return x[sel], y[sel]

    def _pseudo_rows(self, pseudo: dict, num_classes: int, gen: torch.Generator, cancel):
        """Rows of the self-training pseudo-labels (feature-grid label maps of unlabelled images)."""
        pairs = []
        for k, grid in pseudo.items():
            feats = self.features(k, cancel)
            if tuple(feats.features.shape[-2:]) == grid.shape:
                pairs.append((feats.features, torch.from_numpy(grid).long()))
        return self._rows(pairs, num_classes, gen)

    def _bank_rows(self, classes):
        """A checkpoint's stored real features of its seen classes, for the same-named session classes."""
        b = self.backbone
        return bank_rows(getattr(b, "bank_features", None), getattr(b, "bank_labels", None),
                         getattr(b, "class_names", []), classes, b.feat_dim)

    def _relevance(self, classes, class_vectors) -> torch.Tensor | None:
        """(C-1, 1000) relevance of the typed classes to the ImageNet classes, or None without the prior."""
        prior = self._prior_model()
        if prior is None or len(classes) < 2:
            return None
        return prior.relevance(class_vectors[1:], self.config.prior, list(classes[1:]))

    def _prior_order(self, images, labels) -> list[Path]:
        with self._lock:
            viewed, known = list(self._viewed), set(self._image_keys)
        return prior_order(images, labels, viewed, self.config.prior_images, not self.config.prior_unlabelled_images,
                           known)

    def _view(self, image, fitted: Fitted) -> bool:
        """True (and the next fit reads ``image``) when the prior has not read this image and its own
        prior cells of a class outnumber the fit's prior rows of it: a class that only photo 30 of a
        folder shows must be found there, not only in the first ``prior_images`` photos — also when a few
        false cells of it elsewhere (a "car" on a dog's lead) gave the fit some rows."""
        key = _key(image)
        with self._lock:
            labelled, images = dict.fromkeys(self._labels), list(self._images)
        if fitted.relevance is None or key not in self._image_keys or key in labelled:
            return False
        if key in {_key(p) for p in self._prior_order(images, labelled)}:
            return False
        skip = {fitted.classes.index(n) for n in fitted.report.seen}
        skip |= {c for c, n in enumerate(fitted.classes) if n in set(self.config.prior_skip)}
        lab = self._image_prior(image, self.features(image), fitted.classes, fitted.relevance)
        cells = torch.bincount(lab[lab != IGNORE].flatten(), minlength=len(fitted.classes)).tolist()
        if not any(cells[c] > fitted.prior_rows[c] for c in range(1, len(fitted.classes)) if c not in skip):
            return False
        with self._lock:
            older = [k for k in self._viewed if k != key]
            self._viewed = older[max(0, len(older) - self.config.prior_images + 1):] + [key]
            self._version += 1
        return True

    def _image_prior(self, path, feats, classes, relevance) -> torch.Tensor:
        """One image's (h, w) prior labels (``prior.image_prior_labels``)."""
        return image_prior_labels(self._prior_model(), relevance, feats, classes, self.config.prior, self._boxes,
                                  _key(path), self._saliency.of(_key(path)),
                                  getattr(self.backbone, "classify_boxes", None))

    def _prior_rows(self, classes, relevance, images, labels, gen, progress, cancel):
        prior = self._prior_model()
        empty = torch.zeros(0, self.backbone.feat_dim), torch.zeros(0, dtype=torch.long)
        if prior is None or relevance is None:
            return empty
        cfg = self.config.prior
        fg_ids = list(range(1, len(classes)))
        skip = [i - 1 for i in fg_ids if classes[i] in set(self.config.prior_skip)]
        # Unlabelled images up to the cap (labelled ones first when the config lets the prior read them).
        order = self._prior_order(images, labels)
        pairs = []
        unreadable: list[UserError] = []
        for i, path in enumerate(order):
            _check(cancel)
            try:
                feats = self.features(path, cancel)
            except UserError as exc:  # one unreadable file in a folder must not stop every fit
                if _key(path) in labels or len(unreadable) + 1 == len(order):
                    raise  # ... but when no image at all can be read, say why
                log.warning("prior skips %s: %s", Path(path).name, exc)
                unreadable.append(exc)
                continue
            lab = self._image_prior(path, feats, classes, relevance)
            if self.config.prior_yields:
                lab = yield_to_paint(lab, labels.get(_key(path)))
            for j in skip:  # evaluation knob: this class gets no prior pixels (the GMMN must supply it)
                lab[lab == fg_ids[j]] = IGNORE
            pairs.append((feats.features, lab))
            if progress:
                progress((i + 1) / len(order), f"reading image {i + 1}/{len(order)}")
        pairs = cross_image_check(pairs, len(classes), cfg.cross_check, cfg.cross_check_ridge)
        return self._rows(pairs, len(classes), gen)

    # ------------------------------------------------------------------ prediction
    def _current(self, progress, cancel) -> Fitted:
        with self._lock:
            fitted = self._fitted
            if fitted is not None and fitted.version == self._version:
                return fitted
        with self._fit_lock:
            with self._lock:
                fitted = self._fitted
                if fitted is not None and fitted.version == self._version:
                    return fitted
            self._fit_locked(progress, cancel)
            with self._lock:
                return self._fitted

    def _grid_logits(self, image, feats, fitted: Fitted) -> torch.Tensor:
        """(C, h, w) class logits of ``image`` on its feature grid (``prediction.grid_logits``)."""
        local = None
        if self.config.local_weight > 0 and fitted.classes == self._classes:
            local = self._local_evidence(image, feats, len(fitted.classes))
        return grid_logits(feats.features, fitted.classifier, self.config, local, self._extent(image, feats, fitted))

    def _extent(self, image, feats, fitted: Fitted) -> dict:
        """Class id → cells of its detector boxes in ``image``, for the classes the user has not painted
        (``PriorConfig.detector_clip``, ``prior.detector_extent``)."""
        unseen = {c for c, name in enumerate(fitted.classes) if c > 0 and name in set(fitted.report.unseen)}
        return detector_extent(fitted.relevance, feats, fitted.classes, self.config.prior, self._boxes,
                               _key(image), getattr(self.backbone, "classify_boxes", None), unseen)

    def probabilities(self, image, fitted: Fitted | None = None, cancel=None, full_size: bool = True) -> torch.Tensor:
        """(C, H, W) class probabilities of ``image`` (full resolution, or the feature grid).

        ``predict`` never builds the full-resolution tensor (``predict_full_resolution``)."""
        fitted = fitted or self._current(None, cancel)
        feats = self.features(image, cancel)
        logits = self._grid_logits(image, feats, fitted)
        if not full_size:
            return logits.softmax(0)
        return full_probabilities(logits, feats, self.config)

    def _local_evidence(self, image, feats, num_classes: int) -> torch.Tensor:
        """(C, h, w) within-image vote of the pixels painted on ``image`` (zeros where none; ``rows.local_vote``)."""
        painted = self.labels(image)
        if painted is None or painted.shape != tuple(feats.image_size):
            return torch.zeros(num_classes, *feats.features.shape[-2:])
        rows, ys = self._painted_rows(feats.features, painted, num_classes, torch.Generator().manual_seed(self.config.seed))
        return local_vote(feats.features, rows, ys, num_classes, self.config.local_temperature)

    def predict(self, image, progress: Progress | None = None, cancel: threading.Event | None = None) -> Prediction:
        """Label map + confidence of one image; fits first when classes or labels changed, or when the
        image shows a class the fit has no rows of (``_view``)."""
        fitted = self._current(_sub(progress, 0.0, 0.9), cancel)
        if self._view(image, fitted):
            fitted = self._current(_sub(progress, 0.0, 0.9), cancel)
        _check(cancel)
        t0 = time.perf_counter()
        feats = self.features(image, cancel)
        guide = feats.guide if self.config.edge_refine else None  # band by band: bounded memory on any photo
        labels, conf = predict_full_resolution(self._grid_logits(image, feats, fitted), feats.image_size, guide,
                                               self.config.refine, self._device, cancel)
        painted = self.labels(image) if fitted.classes == tuple(self.classes) else None
        if painted is not None and painted.shape == labels.shape:  # what the user painted is never overruled
            mine = painted != IGNORE
            labels[mine] = painted[mine]
            conf[mine] = 1.0
        self.last_timings["predict_s"] = time.perf_counter() - t0
        if progress:
            progress(1.0, "prediction ready")
        return Prediction(labels, conf, list(fitted.classes))

    def self_train(self, images=None, percent: float | None = None, progress: Progress | None = None,
                   cancel: threading.Event | None = None) -> FitReport:
        """ZS3Net self-training: confident unseen-class pixels of unlabelled images become labels, then refit."""
        from core.zs3.self_training import confidence_scores, select_over_set

        percent = self.config.self_train_percent if percent is None else float(percent)
        fitted = self._current(_sub(progress, 0.0, 0.2), cancel)
        unseen = [fitted.classes.index(n) for n in fitted.report.unseen]
        targets = list(images) if images is not None else self.images
        with self._lock:
            labelled = set(self._labels)
        targets = [p for p in targets if _key(p) not in labelled]
        chosen: dict[str, np.ndarray] = {}
        if unseen and targets:
            ranked = []  # (class, score) grids of every image: the top p % are taken over the whole set
            for i, path in enumerate(targets):
                _check(cancel)
                pred, score = confidence_scores(self.probabilities(path, fitted, cancel, full_size=False))
                ranked.append((pred[0], score[0]))
                if progress:
                    progress(0.2 + 0.5 * (i + 1) / len(targets), f"pseudo-labels {i + 1}/{len(targets)}")
            for path, grid in zip(targets, select_over_set(ranked, unseen, percent)):
                chosen[_key(path)] = np.asarray(grid, dtype=np.uint8)
        with self._lock:
            self._pseudo = chosen
            self._version += 1
        with self._fit_lock:
            return self._fit_locked(_sub(progress, 0.7, 1.0), cancel)
