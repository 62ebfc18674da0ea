"""COCO detector boxes → zero-label prior pixels, next to the ImageNet head's (``prior.py``).

Why: the ImageNet head knows 1,000 classes but not "person", and it locates what it knows only at
stride 32; NanoDet (``core.models.nanodet``, optional) boxes the 80 COCO classes — every Pascal-VOC
class among them — where they are. A box says where an object is, not which pixels are it, so each
box of a typed class is cut with GrabCut (``core.object_cut``) on the guide image the
features were computed from, and the cut's feature cells become prior pixels of that class. The
linear classifier then spreads them to every image through the DINOv2 features, as it does the
ImageNet head's.

Rules (switches in ``PriorConfig``, chosen by ``zs3 bench annotate`` / ``zs3 evaluate`` on the
tuning part only, docs/benchmarks.md):
- a cut overrides the ImageNet head's label at its cells (boxes in ascending score order, so the
  most confident box has the last word where boxes overlap);
- ``detector_defers``: a cut leaves alone the cells the head gave to another typed class (the head's
  1,000 fine-grained classes are more reliable there than a box that may be a false positive);
- ``detector_exclusive``: for a class the detector knows, the head's pixels outside every box of
  that class are dropped (unsure): the head's person-as-clothes guesses are not needed where a
  person detector looked and saw none;
- ``detector_background``: cells inside no box, which the head left unsure or gave to a class the
  detector knows, become background;
- ``detector_head_veto`` / ``detector_crop_veto``: a box of a class the head knows (WordNet links the
  name to ImageNet) is dropped when the head scores that class far below its own top class both over
  the photo's cells the box covers and in the box's own crop: the two models disagree and the head
  knows that class better than a low-accuracy detector (NanoDet boxes the raccoon photo as "cat" at
  0.52, where the head sees badger, porcupine, grey fox). The crop, classified at the head's input
  side, sees what a box of one or two stride-32 cells holds (a bottle on a table); the cells see a
  person the crop shows as a tripod in front of them. ``veto_kin``: not when the crop's top class is a
  near kind of the name (one WordNet synset of at most that many classes holds both: a chair at a
  dining table, both furniture), where the head lacks the name's common instances, not disagrees;
- ``detector_animal_veto``: a box of an animal name (every ImageNet class it reaches is an animal) is
  dropped when the head, classifying the box's crop, puts more probability on one animal the name does
  not cover than on all of the name's classes together. ImageNet tells 398 animals apart, COCO ten, so
  NanoDet names any four-legged animal one of its ten (a cat boxed as "dog" at 0.42, above its "cat"
  box); and a name over many classes collects mass from an unsure head by their number alone ("dog":
  118 breeds, 12 % of a near-uniform cell), which the summed-mass veto above cannot see through.
- ``salient_cut`` (off by default, ADR 0013): a box whose GrabCut cut is empty (small or low-contrast:
  a chair behind a table) takes U²-Netp's salient object of its crop instead (``core.models.u2netp``);
  ``feature_cut`` (on): else its feature cells unlike the ring around the box (``core.feature_cut``).
The detections (one forward per image), the cuts (one GrabCut per box) and the crops' ImageNet
probabilities are cached per image.
"""
from __future__ import annotations

import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch

from core.constants import IGNORE

log = logging.getLogger(__name__)

#: Detections are kept down to this score; ``PriorConfig.detector_score`` picks among them, so a
#: change of threshold never reruns the detector.
KEEP_SCORE = 0.15
CUT_FRACTION = 0.5  # a feature cell belongs to a cut when this share of its pixels does
#: GrabCut's working side for a prior cut: its mask only decides feature cells (14 px of the guide),
#: so a coarser cut than the GUI tool's 400 px will do, at a fraction of the time. Zero-label mIoU on
#: the tuning part: 0.521 at 400, 0.525 at 192, 0.481 at 112.
CUT_SIDE = 192
#: ... and its rounds: zero-label mIoU on the tuning part (15 photos, 518 px) 0.328 at 5 rounds (the GUI
#: tool's), 0.326 at 3, 0.329 at 2; a cut is the largest share of `zs3 segment`'s time after the features.
CUT_ITERATIONS = 2
#: A cut that comes back empty is retried with the box's crop enlarged by up to CUT_UPSCALE towards
#: CUT_RETRY_SIDE (``grabcut_box``'s ``upscale``): at their own size 57 of the 133 boxes accepted in the
#: two tuning parts (28 photos) cut to nothing, 23 of them boxes of their class (a kite filling its box,
#: potted plants, small people, a bottle); retried at 128 px, 12 of those 23. Enlarging every box towards
#: 192 px leaves 4, but a refit after typing a class took 0.65 s (at most 1.09 s) instead of 0.31 s;
#: the retry at 128 px 0.48 s (at most 0.74 s). Zero labels, typed mIoU 0.527 / 0.242 → 0.513 / 0.264
#: (the shipped part loses its dinner chairs, 0.16 → 0.0; the second part gains potted plants and books).
CUT_UPSCALE = 4.0
CUT_RETRY_SIDE = 128
#: A photo's boxes are cut on this many threads (``BoxPrior.cuts``): the machines this tool is sized for
#: have 2 cores, and the cuts run between two feature forwards, when torch leaves them idle.
CUT_THREADS = 2


@dataclass(frozen=True)
class HeadView:
    """What the ImageNet head says about one image, for the box veto: (C-1, h, w) typed-class scores
    and (h, w) top-class probability on the feature grid, the names' (C-1, 1000) ImageNet relevance,
    and the backbone's ``classify_boxes`` (None: the cells alone judge)."""

    scores: torch.Tensor
    top: torch.Tensor
    relevance: torch.Tensor
    classify: Callable | None = None


class BoxPrior:
    """One session's detector, detections and cuts (thread-safe; bounded by the session's images)."""

    def __init__(self, device="cpu", detector=None):
        """``detector``: anything with NanoDet's ``detect(image, config)``; None = the installed NanoDet."""
        self.device = device
        self._lock = threading.Lock()
        self._detections: dict = {}
        self._cuts: dict = {}
        self._crops: dict = {}
        self._detector = detector
        self._checked = detector is not None

    def detector(self):
        """The shared NanoDet, or None when it is not installed (said once in the log)."""
        with self._lock:
            if not self._checked:
                from core.models.nanodet import shared_nanodet
                from core.models.nanodet_files import nanodet_status

                self._detector = shared_nanodet(self.device)
                if self._detector is None:
                    log.info(nanodet_status()[1])
                self._checked = True
            return self._detector

    def detections(self, key: str, guide: np.ndarray):
        """Every box of ``guide`` (the features' resized image) down to ``KEEP_SCORE``, cached per image."""
        from core.models.nanodet import DetectorConfig

        with self._lock:
            if key in self._detections:
                return self._detections[key]
        dets = self.detector().detect(guide, DetectorConfig(score_threshold=KEEP_SCORE))
        with self._lock:
            self._detections[key] = dets
        return dets

    def cut(self, key: str, guide: np.ndarray, box, grid_hw: tuple, salient: bool = False,
            features: torch.Tensor | None = None) -> np.ndarray:
        """(h, w) bool feature cells of the object GrabCut finds in ``box``, cached per (image, box);
        where GrabCut finds nothing, ``salient``: U²-Netp's salient object of the box's crop, else
        ``features`` (F, h, w): the box's cells unlike their surroundings (``core.feature_cut``)."""
        from core.object_cut import grabcut_box

        ck = (key, tuple(int(round(v)) for v in box), tuple(grid_hw), salient, features is not None)
        with self._lock:
            if ck in self._cuts:
                return self._cuts[ck]
        mask = grabcut_box(guide, ck[1], side=CUT_SIDE, iterations=CUT_ITERATIONS)
        if not mask.any():  # small boxes: again, enlarged (only the empty ones pay for it)
            mask = grabcut_box(guide, ck[1], side=CUT_RETRY_SIDE, iterations=CUT_ITERATIONS, upscale=CUT_UPSCALE)
        if salient and not mask.any():
            mask = self._salient(guide, ck[1], mask)
        mask = mask.astype(np.float32)
        cells = cv2.resize(mask, (grid_hw[1], grid_hw[0]), interpolation=cv2.INTER_AREA) >= CUT_FRACTION
        if not cells.any() and features is not None:
            from core.feature_cut import feature_cut

            cells = feature_cut(features, ck[1], guide.shape[:2]).numpy()
        with self._lock:
            self._cuts[ck] = cells
        return cells

    def cuts(self, key: str, guide: np.ndarray, boxes: list, grid_hw: tuple, salient: bool = False,
             features: torch.Tensor | None = None) -> list[np.ndarray]:
        """``cut`` of each box, on ``CUT_THREADS`` threads: GrabCut runs on one core and releases the
        GIL, so a photo's boxes are cut side by side (2.6 → 1.4 s of cuts in `zs3 segment` on 16 photos,
        2 cores)."""
        if len(boxes) < 2 or CUT_THREADS < 2:
            return [self.cut(key, guide, box, grid_hw, salient, features) for box in boxes]
        with ThreadPoolExecutor(min(CUT_THREADS, len(boxes)), thread_name_prefix="zs3-cut") as pool:
            return list(pool.map(lambda box: self.cut(key, guide, box, grid_hw, salient, features), boxes))

    def _salient(self, guide: np.ndarray, box, empty: np.ndarray) -> np.ndarray:
        """U²-Netp's object in the box (``core.models.u2netp``), or ``empty`` when it is not installed."""
        from core.models.u2netp import shared_u2netp

        model = shared_u2netp(self.device)
        return empty if model is None else model.box_mask(guide, box)

    def _contradicted(self, key, guide, box, c: int, area: torch.Tensor, head: "HeadView", config) -> bool:
        """Both reads of the head score class ``c`` far below their own top class: the photo's cells
        the box covers (``detector_head_veto``) and, where those agree, the box's crop at the head's
        own resolution (``detector_crop_veto``), which alone resolves a box of a cell or two; or, for an
        animal name, the crop is another animal (``detector_animal_veto``)."""
        if config.detector_animal_veto and self._another_animal(key, guide, box, c, head):
            return True
        if config.detector_head_veto <= 0:
            return False
        if head.scores[c - 1][area].mean() >= config.detector_head_veto * head.top[area].mean():
            return False
        if head.classify is None or config.detector_crop_veto <= 0:
            return True
        probs = self.crop_probs(key, guide, box, head.classify)
        if float(probs @ head.relevance[c - 1].float()) >= config.detector_crop_veto * float(probs.max()):
            return False
        return not (config.veto_kin and _kin(head.relevance[c - 1], int(probs.argmax()), config.veto_kin))

    def _another_animal(self, key, guide, box, c: int, head: "HeadView") -> bool:
        """The box's crop is more likely one animal outside class ``c``'s name than anything the name
        covers, and the name is an animal's (its ImageNet classes all animals)."""
        animals = animal_classes()
        named = head.relevance[c - 1] > 0
        if head.classify is None or animals is None or not named.any() or (named & ~animals).any():
            return False
        probs = self.crop_probs(key, guide, box, head.classify)
        top = int(probs.argmax())
        return bool(animals[top]) and not bool(named[top]) and float(probs[named].sum()) < float(probs[top])

    def crop_probs(self, key: str, guide: np.ndarray, box, classify) -> torch.Tensor:
        """(1000,) ImageNet probabilities of the box's crop (``classify``: the backbone's
        ``classify_boxes``), cached per (image, box)."""
        ck = (key, tuple(int(round(v)) for v in box))
        with self._lock:
            if ck in self._crops:
                return self._crops[ck]
        probs = classify(guide, [ck[1]])[0]
        with self._lock:
            self._crops[ck] = probs
        return probs

    def accepted(self, key: str, guide: np.ndarray, grid_hw: tuple, classes, config,
                 head: HeadView | None = None, only=None) -> list:
        """(score, class id, box, (h, w) bool cells the box touches) of the typed classes' boxes at
        ``detector_score`` or above that the head does not veto, in ascending score order; ``only``:
        the class ids to judge (None = all)."""
        wanted = {c: ids for c, ids in _wanted(classes).items() if only is None or c in only}
        if not config.detector or guide is None or not wanted or self.detector() is None:
            return []
        dets = self.detections(key, guide)
        boxes = []  # (score, class id, box) of the typed classes
        for box, score, coco in zip(dets.boxes, dets.scores, dets.classes):
            if score >= config.detector_score:
                boxes += [(float(score), c, box) for c, ids in wanted.items() if int(coco) in ids]
        vetoable = _head_knows(classes) if head is not None and config.box_veto else set()
        out = []
        for score, c, box in sorted(boxes, key=lambda b: b[0]):
            area = _box_cells(box, guide.shape[:2], grid_hw)
            if c in vetoable and self._contradicted(key, guide, box, c, area, head, config):
                continue  # the head knows the class and sees something else in the box
            out.append((score, c, box, area))
        return out

    def extent(self, key: str, guide: np.ndarray | None, grid_hw: tuple, classes, config,
               head: HeadView | None = None, only=None) -> dict:
        """Class id → (h, w) bool cells inside its accepted boxes, for the classes (of ``only``, None =
        all) that have one."""
        out: dict = {}
        for _, c, _, area in self.accepted(key, guide, grid_hw, classes, config, head, only):
            out[c] = out[c] | area if c in out else area.clone()
        return out

    def refine(self, key: str, guide: np.ndarray | None, lab: torch.Tensor, classes, config,
               head: HeadView | None = None, features: torch.Tensor | None = None) -> torch.Tensor:
        """The ImageNet head's (h, w) prior labels of one image, with the detector's boxes merged in.

        ``head``: what the ImageNet head says, for the veto (``HeadView``; None = no veto); ``features``:
        the image's (F, h, w) features, for ``PriorConfig.feature_cut``."""
        wanted = _wanted(classes)
        if not config.detector or guide is None or not wanted or self.detector() is None:
            return lab
        grid_hw = tuple(lab.shape)
        out = lab.clone()
        inside = torch.zeros(grid_hw, dtype=torch.bool)
        covered = {c: torch.zeros(grid_hw, dtype=torch.bool) for c in wanted}
        named = (lab > 0) & (lab != IGNORE)
        accepted = self.accepted(key, guide, grid_hw, classes, config, head)
        cuts = self.cuts(key, guide, [box for _, _, box, _ in accepted], grid_hw, config.salient_cut,
                         features if config.feature_cut else None)
        for (_, c, box, area), cut in zip(accepted, cuts):
            cells = torch.from_numpy(cut)
            if config.detector_defers:
                cells = cells & (~named | (lab == c))  # not in place: the cut is cached
            out[cells] = c
            covered[c] |= area
            inside |= area
        if config.detector_exclusive:
            for c, area in covered.items():
                out[(lab == c) & ~area & (out == c)] = IGNORE
        if config.detector_background:
            known = torch.zeros(grid_hw, dtype=torch.bool)
            for c in wanted:
                known |= lab == c
            out[~inside & ((lab == IGNORE) | known)] = 0
        return out


def _wanted(classes) -> dict:
    """Typed class id → the COCO class indices its name means (classes the detector does not know left out)."""
    from core.models.coco_names import coco_classes

    wanted = {c: set(coco_classes(name)) for c, name in enumerate(classes) if c > 0}
    return {c: ids for c, ids in wanted.items() if ids}


def _head_knows(classes) -> set:
    """Typed class ids WordNet links to ImageNet classes: the head can judge a box of those."""
    from core.session.wordnet_links import wordnet_links

    links = wordnet_links()
    if links is None:
        return set()
    return {c for c, name in enumerate(classes) if c > 0 and links.imagenet_classes(name) is not None}


def _kin(relevance: torch.Tensor, top: int, limit: int) -> bool:
    """The crop's top ImageNet class is kin of the name's classes (``relevance`` > 0): one WordNet synset
    of at most ``limit`` classes holds them all."""
    from core.session.wordnet_links import wordnet_links

    links = wordnet_links()
    named = torch.nonzero(relevance > 0).flatten().tolist()
    return links is not None and bool(named) and links.kin_size(named, top) <= limit


#: WordNet 3.0's animal.n.01: every ImageNet class under it is an animal.
ANIMAL = "00015388"


@functools.lru_cache(maxsize=1)
def animal_classes() -> torch.Tensor | None:
    """(1000,) bool: the ImageNet classes WordNet puts under animal (None without the table)."""
    from core.session.wordnet_links import wordnet_links

    links = wordnet_links()
    if links is None or ANIMAL not in links.synsets:
        return None
    mask = torch.zeros(len(links.wnids), dtype=torch.bool)
    mask[links.synsets[ANIMAL]["classes"]] = True
    return mask


def _box_cells(box, image_hw: tuple, grid_hw: tuple) -> torch.Tensor:
    """(h, w) bool: the feature cells a box (image pixels) touches."""
    (ih, iw), (gh, gw) = image_hw, grid_hw
    x0, y0, x1, y1 = (float(v) for v in box)
    cx0, cx1 = int(np.floor(x0 / iw * gw)), int(np.ceil(x1 / iw * gw))
    cy0, cy1 = int(np.floor(y0 / ih * gh)), int(np.ceil(y1 / ih * gh))
    area = torch.zeros(grid_hw, dtype=torch.bool)
    area[max(0, cy0):min(gh, cy1), max(0, cx0):min(gw, cx1)] = True
    return area
