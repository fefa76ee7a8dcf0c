"""PacGAN's networks for the 2-D mixtures (Lin et al. 2018), as the authors' released code builds them
(fjxmlzn/PacGAN, commit 190853e, ``synthetic_data_experiments/2DRing_GAN&PacGAN/pacgan_task.py`` lines
43-94, on Blocks): G an MLP 2 → 4×400 → 2, each hidden layer Linear (no bias) → BatchNorm → ReLU, the output
Linear with a bias; D three maxout layers of 200 units × 5 pieces and a linear logit, its input k samples
concatenated (PacGAN-k). Every weight N(0, 0.02), every bias 0; BatchNorm scale 1, shift 0, ε 1e-4 and
running statistics updated with 0.05 of the batch's (Blocks' defaults and the code's ``m * 0.05 + p *
0.95``)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.specs import DataInfo


class Maxout(nn.Module):
    """``units`` outputs, each the max of ``pieces`` linear units (consecutive groups, as Blocks' LinearMaxout)."""

    def __init__(self, in_features: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(*x.shape[:-1], self.units, self.pieces).amax(-1)


class PacGenerator(nn.Module):
    def __init__(self, latent_dim: int, shape: tuple[int, ...], hidden: int, layers: int):
        super().__init__()
        self.shape = tuple(shape)
        blocks: list[nn.Module] = []
        width = latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden, bias=False), nn.BatchNorm1d(hidden, eps=1e-4, momentum=0.05), nn.ReLU()]
            width = hidden
        self.net = nn.Sequential(*blocks, nn.Linear(width, math.prod(shape)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)


class PacDiscriminator(nn.Module):
    """A batch of N samples is N/k packs of k consecutive samples, each pack concatenated along the
    features; one score per pack (``[N/k]``)."""

    def __init__(self, shape: tuple[int, ...], hidden: int, layers: int, pieces: int, pack: int):
        super().__init__()
        self.pack = pack
        width = math.prod(shape) * pack
        blocks: list[nn.Module] = []
        for _ in range(layers):
            blocks.append(Maxout(width, hidden, pieces))
            width = hidden
        self.net = nn.Sequential(*blocks, nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if n % self.pack:
            raise ValueError(f"PacGAN-{self.pack} packs {self.pack} samples per D input; a batch of {n} is not a "
                             f"multiple of {self.pack} (set batch_size to a multiple)")
        return self.net(x.reshape(n // self.pack, -1)).view(-1)


def init_weights(module: nn.Module) -> None:
    """The released code's initialisation: weights N(0, 0.02), biases 0 (BatchNorm keeps scale 1, shift 0)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build(info: DataInfo, latent_dim: int, pack: int = 1, g_hidden: int = 400, g_layers: int = 4,
          d_hidden: int = 200, d_layers: int = 3, pieces: int = 5):
    G = PacGenerator(latent_dim, info.shape, g_hidden, g_layers)
    D = PacDiscriminator(info.shape, d_hidden, d_layers, pieces, pack)
    init_weights(G)
    init_weights(D)
    return G, D
