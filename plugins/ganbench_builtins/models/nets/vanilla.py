"""The ``vanilla`` MLP GAN: G and D are 2-hidden-layer MLPs (LeakyReLU 0.2). Images are flattened
for D and reshaped at G's output. D's normalisation (option ``norm``, default none) goes after each
hidden linear layer; see layers.py."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.specs import DataInfo
from ganbench_builtins.models.nets.layers import apply_spectral_norm, feature_norm


class OutputRange(nn.Module):
    """Maps unbounded values into ``value_range`` with a scaled tanh (identity when unbounded)."""

    def __init__(self, value_range: tuple[float, float] | None):
        super().__init__()
        self.value_range = value_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.value_range is None:
            return x
        lo, hi = self.value_range
        return lo + (hi - lo) * (torch.tanh(x) + 1) / 2


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, shape: tuple[int, ...], hidden: int, value_range):
        super().__init__()
        self.shape = tuple(shape)
        out = math.prod(shape)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, out),
        )
        self.out = OutputRange(value_range)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [N, latent] -> [N, *shape]
        return self.out(self.net(z)).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    """``outputs`` > 1: ``[N, outputs]`` per sample (a score and an auxiliary classifier's logits)."""

    def __init__(self, shape: tuple[int, ...], hidden: int, norm: str = "none", outputs: int = 1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(shape), hidden), *feature_norm(norm, hidden, False), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), *feature_norm(norm, hidden, False), nn.LeakyReLU(0.2),
            nn.Linear(hidden, outputs),
        )
        self.outputs = outputs
        if norm == "spectral":
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, *shape] -> [N] raw scores (or [N, outputs])
        out = self.net(x)
        return out.view(-1) if self.outputs == 1 else out.view(len(x), self.outputs)


def build(info: DataInfo, latent_dim: int, hidden: int = 256, norm: str = "none") -> tuple[nn.Module, nn.Module]:
    return (
        MLPGenerator(latent_dim, info.shape, hidden, info.value_range),
        MLPDiscriminator(info.shape, hidden, norm),
    )
