"""``SessionConfig``: the knobs of a session's fits, in one typed dataclass (labelme-style options)."""
from __future__ import annotations

from dataclasses import dataclass, field

from core.models.upsample import RefineConfig
from core.session.prior import PriorConfig
from core.zs3.self_training import DEFAULT_PERCENT


@dataclass
class SessionConfig:
    """Knobs of the session's fits; defaults keep a class change refit under a second on a laptop CPU."""

    input_side: int | None = None  # longest image side fed to the backbone; None = the backbone's default
    # weight of the within-image nearest-painted-pixel vote (0 = off) and its cosine temperature
    local_weight: float = 0.0
    local_temperature: float = 0.05
    # label propagation of the scores over the image's feature-affinity graph (0 = off; rows.propagate);
    # zs3 bench annotate, tuning part, 3 seeds: mean mIoU over 1–8 dots 0.699 off, 0.718 at α 0.5
    # (0.716 at 0.8, 0.715 with k 8): docs/benchmarks.md
    propagate_alpha: float = 0.5
    propagate_k: int = 16
    propagate_temperature: float = 0.05
    edge_refine: bool = True  # guided-filter upsampling of scores to full resolution (where the backbone keeps a guide)
    refine: RefineConfig = field(default_factory=RefineConfig)
    rows_per_class: int = 1500  # real rows kept per class and image pool (random, seeded)
    generated_per_class: int = 600
    gmmn_file: str | None = "shipped"  # "shipped" = the built-in backbone's own GMMN, a path, or None = none
    gmmn_dropout: bool = True  # dropout-on sampling: +4.5 (shipped) / +3.1 (held-out) mIoU, resources/eval
    gmmn_finetune_steps: int = 30  # warm-started steps on the user's pixels after a labels change
    gmmn_steps: int = 200  # from-scratch training, only when no shipped GMMN fits the embedder
    gmmn_per_class: int = 64
    classifier_iter: int = 60
    # a refit after new labels is pulled towards the previous fit (ClassifierTrainConfig.anchor): the first
    # dots on an image take the prior's pixels of that image away (ADR 0007), and without the pull the fit
    # forgot what they had taught (tuning part, 15 photos, 3 seeds: 1 dot 0.15 → 0.26, mean over 1–8 dots
    # 0.598 → 0.629 at 0.01; 0.003 / 0.03 / 0.1 gave 0.605 / 0.614 / 0.613 on seed 0): docs/benchmarks.md
    classifier_anchor: float = 0.01
    # loss weight of the background rows relative to each class's, on top of the class balance
    # (ClassifierTrainConfig.background_weight): without it a class's rows weigh as much as the
    # background's, and a class spreads over the background around it (a walker's class over the road).
    # Tuning part, zero labels: mIoU 0.508 / 0.513 / 0.517 / 0.513 at 1 / 2 / 4 / 8 (background IoU
    # 0.74 → 0.76 at 4); annotator (3 seeds) mean over 1–8 dots 0.744 → 0.748, every seed up: docs/benchmarks.md
    background_weight: float = 4.0
    # torch threads during a fit (0 = leave as is): its matrices are small, so extra threads only add
    # overhead, and on a busy CPU they oversubscribe the cores (measured on a shared 2-core machine: a
    # class-change refit 1.4 s with 2 threads, 0.14 s with 1). Backbone forwards keep every thread.
    fit_threads: int = 1
    prior_images: int = 24  # images of the session the ImageNet prior reads (their features are computed)
    prior: PriorConfig = field(default_factory=PriorConfig)
    # Prior pixels also from images the user has labelled (the classes the user has painted anywhere
    # still get none: the fit drops them). Until the prior's cells were gated by saliency (2026-11-30)
    # the noisy prior pixels of an image drowned its first dots (tuning part, 7 photos, seed 0: mean over
    # 1–8 dots 0.532 with them, 0.617 without); with the gate (15 photos, 3 seeds) 0.746 with, 0.686
    # without — the first dot no longer takes its image's prior away (1 dot 0.45 → 0.60). ADR 0007.
    prior_unlabelled_images: bool = False
    # the prior's cells of a labelled image that the user's paint contradicts are dropped, and with them,
    # where an object class is painted on the prior's object of another class, that object's region
    # (``prior.yield_to_paint``). Annotator, 3 seeds, mean over 1–16 dots: tuning 0.771 → 0.767, second
    # tuning part 0.446 → 0.483 (16 dots 0.894 → 0.903 / 0.558 → 0.605). Dropping the region for painted
    # background too: 0.759 / 0.510 (the first part's 2 dots 0.719 → 0.678: a background dot in the spill
    # around a right object took the object); only the painted cells: 0.774 / 0.448; the region's cells
    # more like the paint than like the region (cosine to the mean features): 0.764 / 0.460
    prior_yields: bool = True
    prior_skip: tuple = ()  # class names whose prior pixels are dropped (evaluation of the GMMN path)
    self_train_percent: float = DEFAULT_PERCENT  # core.zs3.self_training: one definition
    seed: int = 0
