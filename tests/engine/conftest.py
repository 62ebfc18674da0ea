"""Shared fixtures for the engine tests: small seeded synthetic problems."""
from __future__ import annotations

import pytest
import torch

from core.device import torch_threads


@pytest.fixture(autouse=True)
def _few_threads():
    """Two shared cores: keep torch to one thread, and seeded."""
    torch.manual_seed(0)
    with torch_threads(1):
        yield


def make_clusters(num_classes: int, per_class: int, dim: int, spread: float = 0.5, seed: int = 0,
                  scale: float = 3.0):
    """Gaussian blobs with non-negative means (like post-ReLU features); returns feats, labels, means."""
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(num_classes, dim, generator=g) * scale
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    feats = means[labels] + spread * torch.randn(labels.shape[0], dim, generator=g)
    return feats.clamp_min(0.0), labels, means


@pytest.fixture
def clusters():
    return make_clusters
