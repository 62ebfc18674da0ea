"""ZS3Net training as the paper describes it, one function per step (Bucher et al., NeurIPS 2019).

1. :func:`train_segmentation` – DeepLabv3+ on seen classes only. The dataset given is a
   ``SeenOnly`` view (every image containing an unseen class dropped); unseen-class logits are not in
   the loss and their classifier rows are restored after training, so they are never trained.
2. :func:`collect_features` – real 256-d decoder features of seen pixels (labels nearest-downsampled to
   the feature grid, unseen ids mapped to 255 first, a uniform random sample of at most
   ``max_per_class`` pixels per class) and :func:`train_generator` – the GMMN on them.
3. :func:`retrain_classifier` – only the final 1×1 classifier, on real seen features + GMMN features of
   the unseen classes, class-balanced; the fitted ``nn.Linear`` is copied into the model's 1×1 conv.
4. :func:`self_train` – predict on unlabelled images (their labels are never opened), pseudo-label the
   top p% most confident pixels predicted as each unseen class, add their real features, retrain.

:func:`evaluate` – one confusion matrix over the whole set, arg-max over all classes.

Graph context (ZS3Net-GC, ``core.zs3.step2_graph``): :func:`train_graph_generator` replaces step 2b
with a GMMN whose layers are
graph convolutions over each seen-only scene's class-adjacency graph; step 3 then generates every
unseen class inside context graphs made from those seen-only graphs (:func:`insert_unseen`), never
from a label map holding the unseen class. Generated features are sampled with the GMMN's dropout
on (``core.zs3.generation.generate_features``, docs/adr/0003-generation-sampling.md).

No step reads a label of an unseen class: the reference code does (it puts generated features at the
ground-truth positions of unseen pixels); ``tests/engine/test_no_unseen_labels.py`` proves we do not.
Defaults are the paper's (SGD lr 7e-3 poly 0.9, momentum 0.9, weight decay 5e-4, output stride 16,
batch 16, crop 513; GMMN Adam 2e-4, 128 pixels per class per step, σ ∈ {2,…,80}; p = 25 % on VOC,
75 % on Context).

This module gathers the public names of the step modules (``step1_seg``, ``step2_features``,
``step2_graph``, ``step3_retrain``, ``step4_self_train``, ``evaluation``, ``common``) so that callers
keep one import: ``from core.zs3 import pipeline as P``.
"""
from __future__ import annotations

from core.zs3.common import (Progress, classifier_as_linear, classifier_conv, normalize_images, seen_lut,
                             set_classifier)
from core.zs3.evaluation import evaluate
from core.zs3.step1_seg import SegTrainConfig, train_loader, train_segmentation
from core.zs3.step2_features import FeatureConfig, collect_features, train_generator
from core.zs3.step2_graph import (ContextGraph, GraphGenerator, GraphSceneConfig, collect_scenes, context_graphs,
                                  contexts_from_list, contexts_to_list, generate_in_context, insert_unseen,
                                  train_graph_generator)
from core.zs3.step3_retrain import retrain_classifier
from core.zs3.step4_self_train import SelfTrainConfig, self_train

__all__ = [
    "Progress", "classifier_as_linear", "classifier_conv", "normalize_images", "seen_lut", "set_classifier",
    "evaluate", "SegTrainConfig", "train_loader", "train_segmentation", "FeatureConfig", "collect_features",
    "train_generator", "ContextGraph", "GraphGenerator", "GraphSceneConfig", "collect_scenes", "context_graphs",
    "contexts_from_list", "contexts_to_list", "generate_in_context", "insert_unseen", "train_graph_generator",
    "retrain_classifier", "SelfTrainConfig", "self_train",
]
