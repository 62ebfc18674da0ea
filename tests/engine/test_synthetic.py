"""Synthetic zero-shot scenes: deterministic, embeddings that describe appearance, benchmark JSON shape."""
from __future__ import annotations

import colorsys
import json
import math

import numpy as np
import pytest

from core.data.synthetic import (HUES, SYNTHETIC_CLASSES, SyntheticScenes, class_embeddings, synthetic_unseen,
                                 write_synthetic_folder)


def test_deterministic_per_seed_and_split():
    a = SyntheticScenes(6, size=48, seed=5)
    b = SyntheticScenes(6, size=48, seed=5)
    for i in range(6):
        assert np.array_equal(a[i].image, b[i].image) and np.array_equal(a[i].label, b[i].label)
    other_seed = SyntheticScenes(6, size=48, seed=6)
    other_split = SyntheticScenes(6, size=48, seed=5, split="val")
    assert not np.array_equal(a[0].image, other_seed[0].image)
    assert not np.array_equal(a[0].image, other_split[0].image)
    assert np.array_equal(a.load_label(3), a[3].label)


def test_scenes_are_well_formed():
    data = SyntheticScenes(30, size=64, seed=0)
    seen_classes = set()
    for i in range(len(data)):
        s = data[i]
        assert s.image.shape == (64, 64, 3) and s.image.dtype == np.uint8
        assert s.label.shape == (64, 64) and s.label.dtype == np.uint8
        values = set(np.unique(s.label).tolist())
        assert values <= set(range(len(SYNTHETIC_CLASSES)))
        assert values - {0}, "every scene has at least one object"
        seen_classes |= values
    assert len(seen_classes) == len(SYNTHETIC_CLASSES)
    with pytest.raises(IndexError):
        data[30]


def _circular_distance(a: float, b: float) -> float:
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d)


def test_appearance_follows_the_class_attribute():
    """The median hue of an object's pixels is the class hue (what the embedding encodes)."""
    data = SyntheticScenes(20, size=64, seed=1)
    checked = 0
    for i in range(len(data)):
        s = data[i]
        for c in set(np.unique(s.label).tolist()) - {0}:
            pix = s.image[s.label == c].astype(np.float32) / 255.0
            bright = pix[pix.max(1) > 0.45]  # skip the dark part of textures where hue is noisy
            if len(bright) < 20:
                continue
            hues = np.array([colorsys.rgb_to_hsv(*p)[0] for p in bright[:200]])
            angle = np.angle(np.exp(2j * np.pi * hues).mean()) / (2 * np.pi) % 1.0
            assert _circular_distance(angle, HUES[SYNTHETIC_CLASSES[c]]) < 0.04
            checked += 1
    assert checked > 20


def test_embeddings_relate_to_appearance():
    emb = class_embeddings()
    assert emb.shape == (len(SYNTHETIC_CLASSES), 64) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sim = emb @ emb.T
    names = SYNTHETIC_CLASSES
    n = len(HUES)
    for i in range(1, n + 1):
        neighbour = 1 + (i % n)           # next hue on the wheel
        opposite = 1 + ((i - 1 + n // 2) % n)
        assert sim[i, neighbour] > sim[i, opposite], (names[i], names[neighbour], names[opposite])
    assert np.array_equal(emb, class_embeddings())  # fixed


def test_unseen_classes_are_interpolable():
    unseen = synthetic_unseen(4)
    hues = list(HUES)
    for name in unseen:
        i = hues.index(name)
        assert hues[i - 1] not in unseen and hues[(i + 1) % len(hues)] not in unseen
    assert synthetic_unseen(2) == unseen[:2]


def test_folder_writer_round_trip(tmp_path):
    from core.data.folder import FolderDataset

    root = write_synthetic_folder(tmp_path / "syn", {"train": 3, "val": 2}, size=40, seed=4)
    data = FolderDataset(root, "train")
    ref = SyntheticScenes(3, size=40, seed=4, split="train")
    for i in range(3):
        assert data.names[i] == ref.names[i]
        assert np.array_equal(data[i].image, ref[i].image)  # lossless PNG
        assert np.array_equal(data[i].label, ref[i].label)  # palette PNG indices
    assert np.allclose(np.load(root / "class_embeddings.npy"), class_embeddings())


@pytest.mark.parametrize("graph_context", [False, True])
def test_benchmark_micro_run_json_shape(graph_context):
    from core.zs3.steps_synthetic import SyntheticBenchConfig, run_synthetic_benchmark

    config = SyntheticBenchConfig(train_images=40, val_images=12, unlabelled_images=12, size=32, seg_iterations=8,
                                  seg_batch=8, gmmn_steps=10, max_per_class=200, graph_context=graph_context)
    result = run_synthetic_benchmark(config)
    assert result["config"]["graph_context"] is graph_context
    json.dumps(result, allow_nan=False)  # strict JSON
    for key in ("zs3net", "zs3net_st", "baseline"):
        for metric in ("seen_miou", "unseen_miou", "hiou"):
            value = result[key][metric]
            assert value is not None and 0.0 <= value <= 1.0 and not math.isnan(value)
    # the baseline cannot predict an unseen class: zero by construction
    assert result["baseline"]["unseen_miou"] == 0.0 and result["baseline"]["hiou"] == 0.0
    assert result["unseen_classes"] == list(config.unseen) == synthetic_unseen(2)
    assert result["seen_only_images"] < 40
