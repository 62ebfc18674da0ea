"""The one capped random subsample: at most ``cap`` rows per class, uniform, without replacement, seeded.

Every row gets a random key; per class the rows with the ``cap`` smallest keys are kept, grouped by class
(ascending) and, within a class, by key. :func:`capped_subsample` does it on labels in memory;
:class:`CappedSample` streams rows in and keeps bounded memory (never more than 2 × cap rows per class),
with the same result as drawing the keys up front. Used by feature collection, self-training, graph
scenes, the classifier fit and the checkpoint's feature bank.
"""
from __future__ import annotations

import torch
from torch import Tensor


def smallest_keys_per_class(labels: Tensor, keys: Tensor, cap: int | None) -> Tensor:
    """Indices of the ``cap`` smallest-key rows of each class, ordered by (class, key); all rows if None."""
    order = torch.argsort(keys, stable=True)
    order = order[torch.argsort(labels[order], stable=True)]
    if cap is None:
        return order
    sorted_labels = labels[order]
    _, counts = torch.unique_consecutive(sorted_labels, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(labels.shape[0], device=labels.device) - starts.repeat_interleave(counts)
    return order[rank < int(cap)]


def capped_subsample(labels: Tensor, cap: int | None, generator: torch.Generator | None = None) -> Tensor:
    """Indices of at most ``cap`` random rows per class (every row of a smaller class), grouped by class."""
    device = generator.device if generator is not None else torch.device("cpu")
    keys = torch.rand(labels.shape[0], generator=generator, device=device).to(labels.device)
    return smallest_keys_per_class(labels, keys, cap)


class CappedSample:
    """Streaming :func:`capped_subsample` of feature rows: ``add`` batches, then ``result``."""

    def __init__(self, cap: int, seed: int = 0):
        self.cap = int(cap)
        self.gen = torch.Generator().manual_seed(int(seed))
        self.rows: list[Tensor] = []
        self.labels: list[Tensor] = []
        self.keys: list[Tensor] = []
        self.size = 0
        self.kept = 0

    def add(self, feats: Tensor, labels: Tensor) -> None:
        self.rows.append(feats.detach().float().cpu())
        self.labels.append(labels.detach().long().cpu())
        self.keys.append(torch.rand(labels.shape[0], generator=self.gen))
        self.size += labels.shape[0]
        if self.size > 2 * max(self.kept, self.cap):
            self._shrink()

    def _shrink(self) -> None:
        if not self.rows:
            return
        rows, labels, keys = torch.cat(self.rows), torch.cat(self.labels), torch.cat(self.keys)
        idx = smallest_keys_per_class(labels, keys, self.cap)
        self.rows, self.labels, self.keys = [rows[idx]], [labels[idx]], [keys[idx]]
        self.size = self.kept = idx.shape[0]

    def result(self, feat_dim: int) -> tuple[Tensor, Tensor]:
        """``(features (N, feat_dim), labels (N,))`` grouped by class; empty tensors when nothing came."""
        self._shrink()
        if not self.rows:
            return torch.zeros(0, feat_dim), torch.zeros(0, dtype=torch.long)
        return self.rows[0], self.labels[0]
