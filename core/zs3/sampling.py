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


def pixel_keys(seed: int, image_index: int, n: int) -> Tensor:
    """The random keys of an image's ``n`` feature-grid pixels: a function of (seed, image index) only,
    so a sample keyed on them is the same whatever the batching, the order of images or the ranks."""
    gen = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(image_index)) % (2**63 - 1))
    return torch.rand(int(n), generator=gen, dtype=torch.float64)  # 53-bit keys: no ties to break by order


class CappedSample:
    """Streaming :func:`capped_subsample` of feature rows: ``add`` batches, then ``result``.

    ``add(..., keys=)`` gives the rows' keys (e.g. :func:`pixel_keys`) instead of drawing them in order.
    """

    def __init__(self, cap: int, seed: int = 0):
        self.cap = int(cap)
        self.gen = torch.Generator().manual_seed(int(seed))
        self.rows: list[Tensor] = []
        self.labels: list[Tensor] = []
        self.keys: list[Tensor] = []
        self.size = 0
        self.kept = 0

    def add(self, feats: Tensor, labels: Tensor, keys: Tensor | None = None) -> None:
        self.rows.append(feats.detach().float().cpu())
        self.labels.append(labels.detach().long().cpu())
        self.keys.append(torch.rand(labels.shape[0], generator=self.gen) if keys is None else keys.detach().cpu())
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

    def result(self, feat_dim: int, with_keys: bool = False) -> tuple[Tensor, ...]:
        """``(features (N, feat_dim), labels (N,))`` grouped by class (and by key within a class), plus the
        keys with ``with_keys``; empty tensors when nothing came."""
        self._shrink()
        if not self.rows:
            empty = (torch.zeros(0, feat_dim), torch.zeros(0, dtype=torch.long))
            return (*empty, torch.zeros(0)) if with_keys else empty
        return (self.rows[0], self.labels[0], self.keys[0]) if with_keys else (self.rows[0], self.labels[0])
