"""Step 4 (ZS3Net+ST): pseudo-label confident unseen pixels of unlabelled images, then refit the classifier.

Which pixels: the one definition of ``core.zs3.self_training`` (docs/adr/0005-self-training.md).
"""
from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.errors import UserError
from core.zs3.common import (Progress, _check_cancel, _image_only, _iterate, _model_device, fp32_logits,
                             normalize_images, size_batches)
from core.zs3.sampling import CappedSample
from core.zs3.self_training import DEFAULT_PERCENT
from core.zs3.step2_features import batch_keys
from core.zs3.step3_retrain import retrain_classifier

log = logging.getLogger(__name__)


@dataclass
class SelfTrainConfig:
    """Step 4 options. ``percent``: top p % most confident pixels per unseen class (25 VOC, 75 Context)."""

    percent: float = DEFAULT_PERCENT
    max_per_class: int = 1500  # at most the classifier's rows per class (it would subsample the rest)
    include_generated: bool = True
    sample_with_dropout: bool = True  # see core.zs3.generation.generate_features
    batch_size: int = 8
    workers: int = 0
    seed: int = 0


@torch.no_grad()
def self_train(model: nn.Module, unlabelled_dataset, unseen_ids: Sequence[int], percent: float,
               real_feats: Tensor, real_labels: Tensor, gmmn, class_embeddings: Tensor,
               config: SelfTrainConfig | None = None, classifier_config=None,
               device: torch.device | None = None, contexts=None, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> tuple[nn.Module, dict]:
    """Step 4 (ZS3Net+ST): pseudo-label confident unseen pixels of unlabelled images, then retrain.

    Only images are read from ``unlabelled_dataset`` (``load_image``), never labels. One pass: the
    per-class confidence histogram of :class:`PseudoLabelSelector` gives the top-``percent`` % threshold
    over the whole set, while a uniform sample of the features of pixels predicted as each unseen class
    (with their confidence) is kept, keyed per image and pixel so that batching does not change it; the
    sample is then cut at the threshold — the same pixels ``select_pseudo_labels`` would keep, subsampled.
    Returns ``(model, stats)``.
    """
    from core.zs3.self_training import PseudoLabelSelector, confidence_scores

    from core.zs3.classifier import ClassifierTrainConfig

    config = config or SelfTrainConfig(percent=percent)
    cap = (classifier_config or ClassifierTrainConfig()).max_per_class
    if cap and config.max_per_class > cap:
        raise UserError(f"{config.max_per_class} pseudo-labelled pixels per class but the classifier is fitted on "
                        f"at most {cap} rows per class: raise its rows per class or keep fewer pixels")
    device = device or _model_device(model)
    unseen_ids = [int(u) for u in unseen_ids]
    selector = PseudoLabelSelector(unseen_ids, percent)
    # oversample so that ≈ max_per_class rows survive the cut at the threshold
    keep_k = int(math.ceil(config.max_per_class * 100.0 / max(percent, 1e-3)))
    bank = CappedSample(keep_k, config.seed)
    model.eval()
    total, done, feat_dim = len(unlabelled_dataset), 0, 0
    for batch in size_batches(_iterate(unlabelled_dataset, _image_only, config.workers), config.batch_size):
        _check_cancel(cancel, "self-training")
        images = normalize_images([b[0] for b in batch], device)
        feats, logits = fp32_logits(model, images)
        feat_dim = feats.shape[1]
        if logits.shape[-2:] != feats.shape[-2:]:
            logits = F.interpolate(logits, size=feats.shape[-2:], mode="bilinear", align_corners=False)
        pred, score = confidence_scores(logits.softmax(1))
        selector.observe_scores(pred, score)
        flat_pred = pred.reshape(-1)
        mask = torch.isin(flat_pred, torch.tensor(unseen_ids, device=flat_pred.device))
        flat_feats = feats.permute(0, 2, 3, 1).reshape(-1, feat_dim)[mask]
        # carry the score as an extra column so it survives the sampling
        keys = batch_keys(config.seed, [b[1] for b in batch], feats.shape[-2:])[mask.cpu()]
        bank.add(torch.cat([flat_feats, score.reshape(-1)[mask, None]], 1), flat_pred[mask], keys)
        done += len(batch)
        if progress is not None:
            progress(0.8 * done / max(1, total), f"pseudo-labelling {done}/{total} images")
    rows, labels = bank.result(feat_dim + 1)
    thresholds = selector.thresholds()
    chosen_feats, chosen_labels, stats = [], [], {"percent": percent, "pseudo_pixels": {}}
    for u in unseen_ids:
        sel = labels == u
        f_u = rows[sel]
        ok = f_u[:, -1] >= thresholds.get(u, math.inf)
        f_u = f_u[ok][:, :-1]
        if f_u.shape[0] > config.max_per_class:
            f_u = f_u[: config.max_per_class]  # rows are already in random order
        chosen_feats.append(f_u)
        chosen_labels.append(torch.full((f_u.shape[0],), u, dtype=torch.long))
        stats["pseudo_pixels"][int(u)] = int(f_u.shape[0])
    extra_f = torch.cat(chosen_feats) if chosen_feats else torch.zeros(0, feat_dim)
    extra_l = torch.cat(chosen_labels) if chosen_labels else torch.zeros(0, dtype=torch.long)
    log.info("self-training: pseudo-labelled pixels per unseen class %s", stats["pseudo_pixels"])
    with torch.enable_grad():
        retrain_classifier(model, real_feats, real_labels, gmmn if config.include_generated else None,
                           class_embeddings, unseen_ids, classifier_config, extra_feats=extra_f,
                           extra_labels=extra_l, seed=config.seed + 1, contexts=contexts,
                           sample_with_dropout=config.sample_with_dropout, cancel=cancel)
    if progress is not None:
        progress(1.0, "self-training done")
    return model, stats
