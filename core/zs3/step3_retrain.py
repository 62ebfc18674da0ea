"""Step 3 of ZS3Net: only the final 1×1 classifier, refitted on real seen + generated unseen features."""
from __future__ import annotations

import threading
from typing import Sequence

import torch
from torch import Tensor, nn

from core.errors import UserError
from core.zs3.common import Progress, classifier_conv, set_classifier


def _assert_no_unseen(labels: Tensor, unseen_ids: Sequence[int], what: str) -> None:
    if labels.numel() and bool(torch.isin(labels.cpu(), torch.tensor(list(unseen_ids), dtype=torch.long)).any()):
        raise ValueError(f"{what} contain unseen-class rows: real features of unseen classes are not allowed here")


def _generate_unseen(gmmn, class_embeddings, unseen_ids, n, seed, with_dropout, contexts):
    from core.models.graph_context import GraphContextGMMN
    from core.zs3.generation import generate_features
    from core.zs3.step2_graph import generate_in_context

    if isinstance(gmmn, GraphContextGMMN):
        return generate_in_context(gmmn, class_embeddings, unseen_ids, contexts, n, seed=seed,
                                   with_dropout=with_dropout)
    return generate_features(gmmn, class_embeddings, unseen_ids, n, seed=seed, with_dropout=with_dropout)


def retrain_classifier(model: nn.Module, real_feats: Tensor, real_labels: Tensor, gmmn,
                       class_embeddings: Tensor, unseen_ids: Sequence[int], config=None,
                       n_generated: int | None = None, extra_feats: Tensor | None = None,
                       extra_labels: Tensor | None = None, seed: int = 0, sample_with_dropout: bool = True,
                       contexts=None, progress: Progress | None = None,
                       cancel: threading.Event | None = None) -> nn.Module:
    """Step 3: retrain only the final 1×1 classifier on real seen + generated unseen features.

    ``n_generated`` per unseen class defaults to the largest real per-class count (capped by the
    classifier's ``max_per_class``); the fit itself is class-balanced. ``gmmn=None`` is the
    no-generation baseline: the classifier is fitted on seen features only and the unseen rows are set
    to never win (weight 0, bias −1e4). ``extra_feats/labels`` (step 4's pseudo-labelled pixels) are
    added as they are. ``sample_with_dropout``: see ``core.zs3.generation.generate_features``
    (docs/adr/0003). A ``GraphContextGMMN`` generates each unseen class in context graphs built from
    ``contexts`` (the seen-only scene graphs of :func:`train_graph_generator`, see
    :func:`generate_in_context`). The result is copied into the model's classifier conv; the model is
    returned.
    """
    from core.zs3.classifier import ClassifierTrainConfig, train_classifier

    config = config or ClassifierTrainConfig()
    unseen_ids = [int(u) for u in unseen_ids]
    _assert_no_unseen(real_labels, unseen_ids, "real seen features")
    conv = classifier_conv(model)
    num_classes = conv.out_channels
    device = conv.weight.device
    feats = [real_feats.float()]
    labels = [real_labels.long()]
    cap = config.max_per_class
    if n_generated is not None and cap and n_generated > cap:
        raise UserError(f"{n_generated} generated features per class but the classifier is fitted on at most "
                        f"{cap} rows per class: raise its rows per class or generate fewer")
    if gmmn is not None and unseen_ids:
        if n_generated is None:
            counts = torch.bincount(real_labels.long(), minlength=num_classes)
            n_generated = int(counts.max())
            if config.max_per_class:
                n_generated = min(n_generated, int(config.max_per_class))
        gen_feats, gen_labels = _generate_unseen(gmmn, class_embeddings, unseen_ids, max(1, n_generated), seed,
                                                 sample_with_dropout, contexts)
        feats.append(gen_feats.float().cpu())
        labels.append(gen_labels.cpu())
    if extra_feats is not None and extra_feats.numel():
        feats.append(extra_feats.float().cpu())
        labels.append(extra_labels.long().cpu())
    x = torch.cat([f.cpu() for f in feats]).to(device)
    y = torch.cat([lab.cpu() for lab in labels]).to(device)
    linear = train_classifier(x, y, num_classes, config, progress=progress, cancel=cancel,
                              upweight=unseen_ids if gmmn is not None or extra_feats is not None else ())
    if gmmn is None and unseen_ids:
        with torch.no_grad():
            linear.weight[unseen_ids] = 0.0
            linear.bias[unseen_ids] = -1e4
    set_classifier(model, linear)
    return model
