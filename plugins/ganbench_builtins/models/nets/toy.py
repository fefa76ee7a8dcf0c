"""The ``toy-mlp`` networks of WGAN-GP's toy experiments, as the authors' released code builds them
(igul222/improved_wgan_training, commit fa66c57, ``gan_toy.py`` lines 31-58 and ``tflib/ops/linear.py``):
G and D are MLPs of three ReLU layers of 512 (G: 2-d noise → 2; D: 2 → one score), no normalisation;
hidden weights uniform with standard deviation √(2/fan_in) (He), the output layers' √(2/(fan_in +
fan_out)) (Glorot, the code's default), biases 0."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.specs import DataInfo


def _mlp(inputs: int, width: int, layers: int, outputs: int) -> nn.Sequential:
    blocks: list[nn.Module] = []
    size = inputs
    for _ in range(layers):
        linear = nn.Linear(size, width)
        nn.init.uniform_(linear.weight, -math.sqrt(3 * 2 / size), math.sqrt(3 * 2 / size))  # std √(2/fan_in)
        nn.init.zeros_(linear.bias)
        blocks += [linear, nn.ReLU()]
        size = width
    out = nn.Linear(size, outputs)
    bound = math.sqrt(3 * 2 / (size + outputs))  # std √(2/(fan_in + fan_out))
    nn.init.uniform_(out.weight, -bound, bound)
    nn.init.zeros_(out.bias)
    return nn.Sequential(*blocks, out)


class ToyGenerator(nn.Module):
    def __init__(self, latent_dim: int, shape: tuple[int, ...], width: int, layers: int):
        super().__init__()
        self.shape = tuple(shape)
        self.net = _mlp(latent_dim, width, layers, math.prod(shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)


class ToyDiscriminator(nn.Module):
    def __init__(self, shape: tuple[int, ...], width: int, layers: int):
        super().__init__()
        self.net = _mlp(math.prod(shape), width, layers, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).view(-1)


def build(info: DataInfo, latent_dim: int, width: int = 512, layers: int = 3):
    return ToyGenerator(latent_dim, info.shape, width, layers), ToyDiscriminator(info.shape, width, layers)
