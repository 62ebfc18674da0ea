"""Proof that the training steps 1–4 never read a label of an unseen class.

The reference ZS3Net code does (it places generated unseen features at the ground-truth positions of
unseen pixels). Here the data given to the pipeline is wrapped in :class:`GuardedScenes`:

* the only moment a label map that contains an unseen pixel may be opened is the protocol's presence
  scan (``SeenOnly`` dropping those images), done inside ``with guard.scanning():``;
* after that, opening the label map of any image that contains an unseen pixel raises
  :class:`UnseenLabelRead` — every unseen pixel value lives in such a map, so no code path can read
  one without tripping the guard;
* the unlabelled set of self-training raises on *any* label read.

The negative controls at the bottom show that the guard has teeth: the same calls given the wrong
data (the full training set instead of the seen-only view, or a label read on the unlabelled set)
fail with ``UnseenLabelRead``.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from core.data.seen_only import SeenOnly
from core.data.synthetic import SyntheticScenes
from core.zs3 import pipeline as P
from core.zs3.classifier import ClassifierTrainConfig
from core.zs3.generation import GMMNTrainConfig
from core.zs3.steps_synthetic import TinySegNet

UNSEEN_NAMES = ("chartreuse", "blue")


class UnseenLabelRead(AssertionError):
    """A label map holding unseen-class pixels was opened outside the presence scan."""


class _GuardedSample:
    """Like ``core.data.Sample``, but the label is only fetched (and checked) when accessed."""

    def __init__(self, guard: "GuardedScenes", index: int):
        self._guard, self._index = guard, index
        self.image = guard.load_image(index)
        self.name = guard.names[index]

    @property
    def label(self) -> np.ndarray:
        return self._guard.load_label(self._index)


class GuardedScenes:
    """A dataset whose unseen-class labels cannot be read (see the module docstring)."""

    def __init__(self, base: SyntheticScenes, unseen_ids, labels_allowed: bool = True):
        self.base = base
        self.unseen_ids = list(unseen_ids)
        self.labels_allowed = labels_allowed
        self.class_names = base.class_names
        self.names = base.names
        self._scanning = False
        self.label_reads = 0
        self.violations = 0

    def __len__(self) -> int:
        return len(self.base)

    @contextlib.contextmanager
    def scanning(self):
        self._scanning = True
        try:
            yield self
        finally:
            self._scanning = False

    def load_image(self, index: int) -> np.ndarray:
        return self.base.load_image(index)

    def load_label(self, index: int) -> np.ndarray:
        label = self.base.load_label(index)
        if not self._scanning:
            if not self.labels_allowed:
                self.violations += 1
                raise UnseenLabelRead(f"label of unlabelled image {index} was read")
            if np.isin(label, self.unseen_ids).any():
                self.violations += 1
                raise UnseenLabelRead(f"label map of image {index} (unseen pixels) was read")
        self.label_reads += 1
        return label

    def load_sample(self, index: int) -> _GuardedSample:
        return _GuardedSample(self, index)

    def __getitem__(self, index: int) -> _GuardedSample:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.load_sample(index)


@pytest.fixture
def setup():
    """A fresh guard per test (cheap: 40 small scenes), so no test sees another's reads or violations."""
    torch.manual_seed(0)
    base = SyntheticScenes(40, size=48, seed=3, split="train")
    names = base.class_names
    unseen_ids = [names.index(n) for n in UNSEEN_NAMES]
    seen_ids = [i for i in range(len(names)) if i not in unseen_ids]
    guard = GuardedScenes(base, unseen_ids)
    with guard.scanning():
        seen_only = SeenOnly(guard, unseen_ids, workers=1)
    assert 0 < len(seen_only) < len(base), "the set must contain images with and without unseen classes"
    emb = torch.from_numpy(base.class_embeddings)
    return base, guard, seen_only, names, seen_ids, unseen_ids, emb


def _seg_config():
    return P.SegTrainConfig(iterations=3, batch_size=4, lr=0.05, crop_size=48, base_size=48, scale=(0.9, 1.1))


def test_steps_1_to_4_never_read_unseen_labels(setup):
    base, guard, seen_only, names, seen_ids, unseen_ids, emb = setup
    model = TinySegNet(len(names))
    # step 1
    P.train_segmentation(model, seen_only, _seg_config(), unseen_ids=unseen_ids)
    # step 2
    feats, labels = P.collect_features(model, seen_only, seen_ids, P.FeatureConfig(max_per_class=300))
    assert not torch.isin(labels, torch.tensor(unseen_ids)).any()
    gmmn = P.train_generator(feats, labels, emb, seen_ids, GMMNTrainConfig(steps=5, per_class=16))
    # step 3
    P.retrain_classifier(model, feats, labels, gmmn, emb, unseen_ids, ClassifierTrainConfig(max_iter=10))
    # step 4: every training image (with unseen objects) as unlabelled data; no label may be read at all
    unlabelled = GuardedScenes(base, unseen_ids, labels_allowed=False)
    _, stats = P.self_train(model, unlabelled, unseen_ids, 25.0, feats, labels, gmmn, emb,
                            P.SelfTrainConfig(percent=25.0, max_per_class=300),
                            ClassifierTrainConfig(max_iter=10))
    assert set(stats["pseudo_pixels"]) == set(unseen_ids)
    assert guard.violations == 0 and unlabelled.violations == 0
    assert guard.label_reads > 0  # the seen-only images' labels were really used
    assert unlabelled.label_reads == 0


def test_graph_context_steps_never_read_unseen_labels(setup):
    """ZS3Net-GC: scenes, context graphs, in-context generation and self-training, under the guard."""
    base, guard, seen_only, names, seen_ids, unseen_ids, emb = setup
    model = TinySegNet(len(names))
    P.train_segmentation(model, seen_only, _seg_config(), unseen_ids=unseen_ids)
    reads_before = guard.label_reads
    res = P.train_graph_generator(model, seen_only, seen_ids, emb, GMMNTrainConfig(steps=3, per_class=8),
                                  P.GraphSceneConfig(max_scenes=10, max_per_class_per_scene=16, max_per_class=200))
    assert guard.label_reads > reads_before  # the seen-only label maps were really used
    assert all(not set(ids) & set(unseen_ids) for ids, _ in res.contexts)
    assert not torch.isin(res.labels, torch.tensor(unseen_ids)).any()
    P.retrain_classifier(model, res.features, res.labels, res.gmmn, emb, unseen_ids,
                         ClassifierTrainConfig(max_iter=10), contexts=res.contexts)
    unlabelled = GuardedScenes(base, unseen_ids, labels_allowed=False)
    _, stats = P.self_train(model, unlabelled, unseen_ids, 25.0, res.features, res.labels, res.gmmn, emb,
                            P.SelfTrainConfig(percent=25.0, max_per_class=300), ClassifierTrainConfig(max_iter=10),
                            contexts=res.contexts)
    assert set(stats["pseudo_pixels"]) == set(unseen_ids)
    assert guard.violations == 0 and unlabelled.violations == 0 and unlabelled.label_reads == 0


def test_guard_catches_scene_collection_on_the_full_set(setup):
    base, guard, _, names, seen_ids, _, emb = setup
    with pytest.raises(UnseenLabelRead):
        P.train_graph_generator(TinySegNet(len(names)), guard, seen_ids, emb, GMMNTrainConfig(steps=1),
                                P.GraphSceneConfig(max_scenes=5))


# ----------------------------------------------------------------------------- negative controls
def test_guard_catches_training_on_the_full_set(setup):
    base, guard, _, names, _, unseen_ids, _ = setup
    with pytest.raises(UnseenLabelRead):
        P.train_segmentation(TinySegNet(len(names)), guard, _seg_config(), unseen_ids=unseen_ids)


def test_guard_catches_feature_collection_on_the_full_set(setup):
    # even though collect_features maps unseen ids to 255, merely opening those label maps is caught
    base, guard, _, names, seen_ids, _, _ = setup
    with pytest.raises(UnseenLabelRead):
        P.collect_features(TinySegNet(len(names)), guard, seen_ids, P.FeatureConfig(max_per_class=50))


def test_guard_catches_reference_style_placement_of_generated_features(setup):
    """The reference code's defect: find unseen pixels in the ground truth to place generated features."""
    base, guard, _, _, _, unseen_ids, _ = setup

    def reference_style_unseen_positions(dataset):
        return [np.argwhere(np.isin(dataset[i].label, unseen_ids)) for i in range(len(dataset))]

    with pytest.raises(UnseenLabelRead):
        reference_style_unseen_positions(guard)


def test_guard_catches_label_reads_on_unlabelled_images(setup):
    base, _, _, names, seen_ids, unseen_ids, _ = setup
    unlabelled = GuardedScenes(base, unseen_ids, labels_allowed=False)
    with pytest.raises(UnseenLabelRead):
        P.evaluate(TinySegNet(len(names)), unlabelled, seen_ids, unseen_ids)
