"""Generative moment-matching network (GMMN) of ZS3Net and its multi-kernel MMD loss.

The GMMN turns ``[class embedding ; noise]`` into a synthetic decoder feature of that class. It is
trained by matching the distribution of real features of seen classes (MMD with Gaussian kernels),
then sampled for classes that have no labelled pixel at all (unseen classes).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

DEFAULT_SIGMAS: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)
#: how a bandwidth σ enters the Gaussian kernel: "std" exp(-d²/(2σ²)); "variance" exp(-d²/(2σ)), the
#: reference release's convention (its σ acts as a variance). docs/adr/0004-gmmn-kernel-and-budget.md
KERNELS = ("std", "variance")


class GMMN(nn.Module):
    """``[embedding ; noise] -> Linear -> LeakyReLU(0.2) -> Dropout -> Linear (-> ReLU)``.

    ``output_relu`` (default on) keeps generated features non-negative, like the real decoder
    features they imitate (they come out of a ReLU).
    """

    def __init__(
        self,
        embed_dim: int,
        feat_dim: int = 256,
        noise_dim: int = 300,
        hidden_dim: int = 256,
        dropout: float = 0.5,
        output_relu: bool = True,
    ) -> None:
        super().__init__()
        self.embed_dim = int(embed_dim)
        self.feat_dim = int(feat_dim)
        self.noise_dim = int(noise_dim)
        self.hidden_dim = int(hidden_dim)
        self.dropout = float(dropout)
        self.output_relu = bool(output_relu)
        layers: list[nn.Module] = [
            nn.Linear(self.embed_dim + self.noise_dim, self.hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Dropout(self.dropout),
            nn.Linear(self.hidden_dim, self.feat_dim),
        ]
        if self.output_relu:
            layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)
        for m in self.net:
            if isinstance(m, nn.Linear):  # the reference's initialisation
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0.01)

    def config(self) -> dict:
        """The constructor arguments, so a checkpoint can rebuild the same network."""
        return {
            "embed_dim": self.embed_dim,
            "feat_dim": self.feat_dim,
            "noise_dim": self.noise_dim,
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout,
            "output_relu": self.output_relu,
        }

    def sample_noise(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        """Uniform U(0, 1) noise, as the reference code draws it."""
        device = device if device is not None else self.net[0].weight.device
        return torch.rand(n, self.noise_dim, generator=generator, device=device)

    def forward(self, embeddings: Tensor, noise: Tensor | None = None) -> Tensor:
        if embeddings.dim() != 2 or embeddings.shape[1] != self.embed_dim:
            raise ValueError(f"embeddings must be (N, {self.embed_dim}), got {tuple(embeddings.shape)}")
        weight = self.net[0].weight
        embeddings = embeddings.to(device=weight.device, dtype=weight.dtype)
        if noise is None:
            noise = self.sample_noise(embeddings.shape[0], device=weight.device)
        noise = noise.to(device=weight.device, dtype=weight.dtype)
        return self.net(torch.cat([embeddings, noise], dim=1))


def _kernel_sum(sq_dist: Tensor, sigmas: Sequence[float], kernel: str) -> Tensor:
    """Sum of Gaussian kernels over all bandwidths, σ read as ``kernel`` says (see ``KERNELS``)."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    out = torch.zeros_like(sq_dist)
    for sigma in sigmas:
        scale = float(sigma) ** 2 if kernel == "std" else float(sigma)
        out = out + torch.exp(sq_dist * (-0.5 / scale))
    return out


def mmd_loss(real: Tensor, fake: Tensor, sigmas: Sequence[float] = DEFAULT_SIGMAS, kernel: str = "std") -> Tensor:
    """Multi-kernel Gaussian MMD between ``real`` (C,n,F) and ``fake`` (C,m,F), mean over the C classes.

    All classes go through one batched pairwise-distance computation (no loop over classes). Per
    class the biased estimate MMD² = mean K(x,x') + mean K(y,y') - 2 mean K(x,y) is taken; the loss
    is the mean over classes of sqrt(max(MMD², 0)) as in the reference GMMN (a small floor keeps the
    gradient of the square root finite). Identical sample sets give exactly 0 (up to rounding).
    """
    if real.dim() == 2:
        real = real.unsqueeze(0)
    if fake.dim() == 2:
        fake = fake.unsqueeze(0)
    if real.dim() != 3 or fake.dim() != 3 or real.shape[0] != fake.shape[0] or real.shape[2] != fake.shape[2]:
        raise ValueError(f"mmd_loss wants (C,n,F) and (C,m,F), got {tuple(real.shape)} and {tuple(fake.shape)}")
    n, m = real.shape[1], fake.shape[1]
    both = torch.cat([real.float(), fake.float()], dim=1)  # (C, n+m, F)
    with torch.autocast(device_type=both.device.type, enabled=False):  # distances need fp32
        sq_norm = (both * both).sum(-1)  # (C, n+m)
        sq_dist = sq_norm.unsqueeze(2) + sq_norm.unsqueeze(1) - 2.0 * torch.bmm(both, both.transpose(1, 2))
        kernel_sum = _kernel_sum(sq_dist.clamp_min(0.0), sigmas, kernel)  # (C, n+m, n+m)
    k_xx = kernel_sum[:, :n, :n].mean(dim=(1, 2))
    k_yy = kernel_sum[:, n:, n:].mean(dim=(1, 2))
    k_xy = kernel_sum[:, :n, n:].mean(dim=(1, 2))
    mmd2 = k_xx + k_yy - 2.0 * k_xy
    return torch.sqrt(mmd2.clamp_min(0.0) + 1e-12).mean() - 1e-6
