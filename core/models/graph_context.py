"""Graph context (ZS3Net-GC): generate features that depend on the neighbouring classes.

The classes present in a segmentation map form a graph (an edge where two regions touch). A
2-layer graph convolution (Kipf & Welling: ``H' = Â H W + b`` with the symmetrically normalised
adjacency with self loops ``Â = D^-1/2 (A + I) D^-1/2``) maps each node's ``[embedding ; noise]``
to a feature, so a "cow" next to "grass" is generated differently from a "cow" next to "road".
"""
from __future__ import annotations


import numpy as np
import torch
from torch import Tensor, nn



def class_adjacency(label_map, num_classes: int) -> Tensor:
    """(C, C) float 0/1 matrix: 1 where two different classes touch (4-neighbourhood); 255 ignored.

    ``label_map`` is an H×W integer array or tensor. The diagonal is 0 (self loops are added by
    ``normalize_adjacency``).
    """
    lm = torch.as_tensor(np.asarray(label_map) if not isinstance(label_map, Tensor) else label_map).long()
    if lm.dim() != 2:
        raise ValueError(f"label map must be H×W, got {tuple(lm.shape)}")
    c = int(num_classes)
    pairs_a = torch.cat([lm[:, :-1].reshape(-1), lm[:-1, :].reshape(-1)])
    pairs_b = torch.cat([lm[:, 1:].reshape(-1), lm[1:, :].reshape(-1)])
    ok = (pairs_a != pairs_b) & (pairs_a >= 0) & (pairs_a < c) & (pairs_b >= 0) & (pairs_b < c)
    a, b = pairs_a[ok], pairs_b[ok]
    counts = torch.bincount(a * c + b, minlength=c * c) + torch.bincount(b * c + a, minlength=c * c)
    return (counts.view(c, c) > 0).float()


def present_classes(label_map, num_classes: int) -> list[int]:
    """Sorted class indices that occur in the map (255 and out-of-range values excluded)."""
    values = np.unique(np.asarray(label_map.cpu() if isinstance(label_map, Tensor) else label_map))
    return [int(v) for v in values if 0 <= v < num_classes]


def normalize_adjacency(adjacency: Tensor) -> Tensor:
    """``D^-1/2 (A + I) D^-1/2`` of a (N, N) 0/1 adjacency."""
    a = adjacency.float() + torch.eye(adjacency.shape[0], device=adjacency.device)
    d = a.sum(1).rsqrt()
    return d[:, None] * a * d[None, :]


class GraphConv(nn.Module):
    """One graph convolution ``Â X W (+ X W_self) + b``; X may carry leading batch dims (…, N, D).

    ``self_weight`` adds a separate weight for the node itself. Without it (pure Kipf GCN) every
    node of a clique with equal degrees receives the same input — in a two-class image both classes
    would get identical features — so it is on by default in ``GraphContextGMMN``.
    """

    def __init__(self, cin: int, cout: int, self_weight: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cin, cout))
        self.bias = nn.Parameter(torch.full((cout,), 0.01))
        nn.init.xavier_uniform_(self.weight)
        if self_weight:
            self.self_weight = nn.Parameter(torch.empty(cin, cout))
            nn.init.xavier_uniform_(self.self_weight)
        else:
            self.register_parameter("self_weight", None)

    def forward(self, x: Tensor, norm_adj: Tensor) -> Tensor:
        out = torch.matmul(norm_adj, x @ self.weight) + self.bias
        if self.self_weight is not None:
            out = out + x @ self.self_weight
        return out


class GraphContextGMMN(nn.Module):
    """GMMN whose two layers are graph convolutions over the class-adjacency graph of one image."""

    def __init__(
        self,
        embed_dim: int,
        feat_dim: int = 256,
        noise_dim: int = 300,
        hidden_dim: int = 256,
        dropout: float = 0.5,
        output_relu: bool = True,
        self_weight: bool = True,
    ) -> None:
        super().__init__()
        self.self_weight = bool(self_weight)
        self.embed_dim, self.feat_dim, self.noise_dim = int(embed_dim), int(feat_dim), int(noise_dim)
        self.hidden_dim, self.dropout_p, self.output_relu = int(hidden_dim), float(dropout), bool(output_relu)
        self.gc1 = GraphConv(self.embed_dim + self.noise_dim, self.hidden_dim, self_weight)
        self.act = nn.LeakyReLU(0.2)
        self.dropout = nn.Dropout(self.dropout_p)
        self.gc2 = GraphConv(self.hidden_dim, self.feat_dim, self_weight)

    def config(self) -> dict:
        return {
            "embed_dim": self.embed_dim, "feat_dim": self.feat_dim, "noise_dim": self.noise_dim,
            "hidden_dim": self.hidden_dim, "dropout": self.dropout_p, "output_relu": self.output_relu,
            "self_weight": self.self_weight,
        }

    def forward(self, embeddings: Tensor, adjacency: Tensor, noise: Tensor | None = None,
                n_samples: int | None = None, normalized: bool = False) -> Tensor:
        """Node features for the graph ``adjacency`` (N,N) of nodes with ``embeddings`` (N,E).

        ``noise`` (N, noise_dim) gives (N, F); (S, N, noise_dim), or ``n_samples=S`` with fresh
        U(0,1) noise, gives S independent draws (S, N, F) in one batched pass. Pass
        ``normalized=True`` when ``adjacency`` is already ``normalize_adjacency``'d.
        """
        device = self.gc1.weight.device
        emb = embeddings.to(device=device, dtype=torch.float32)
        n = emb.shape[0]
        if adjacency.shape != (n, n):
            raise ValueError(f"adjacency must be ({n}, {n}), got {tuple(adjacency.shape)}")
        adj = adjacency.to(device)
        norm_adj = adj.float() if normalized else normalize_adjacency(adj)
        if noise is None:
            shape = (n, self.noise_dim) if n_samples is None else (int(n_samples), n, self.noise_dim)
            noise = torch.rand(shape, device=device)
        noise = noise.to(device=device, dtype=torch.float32)
        if noise.dim() == 3:
            emb = emb.unsqueeze(0).expand(noise.shape[0], -1, -1)
        x = torch.cat([emb, noise], dim=-1)
        x = self.dropout(self.act(self.gc1(x, norm_adj)))
        x = self.gc2(x, norm_adj)
        return torch.relu(x) if self.output_relu else x
