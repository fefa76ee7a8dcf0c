"""``resmlp``: a small residual MLP GAN for vector data (2-D mixtures and the like)."""

from __future__ import annotations

import math

import torch
from torch import nn

import ganbench
from ganbench.options import Option, non_negative, positive
from ganbench.specs import DataInfo, ModelSpec


class Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.2), nn.Linear(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.leaky_relu(x + self.net(x), 0.2)


class Generator(nn.Module):
    def __init__(self, latent_dim: int, out: int, width: int, blocks: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, width), nn.LeakyReLU(0.2),
                                 *[Block(width) for _ in range(blocks)], nn.Linear(width, out))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, inp: int, width: int, blocks: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(inp, width), nn.LeakyReLU(0.2),
                                 *[Block(width) for _ in range(blocks)], nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).view(-1)  # raw scores [N]: no sigmoid, the loss decides


def supports(info: DataInfo) -> str | None:
    if info.modality != "vector":
        return f"resmlp is for vector data; {info.name} is {info.modality} data"
    if info.value_range is not None:
        return f"resmlp's output is unbounded; {info.name} needs values in {info.value_range}"
    return None


def build(info: DataInfo, *, latent_dim: int, width: int = 128, blocks: int = 2):
    out = math.prod(info.shape)
    return Generator(latent_dim, out, width, blocks), Discriminator(out, width, blocks)


@ganbench.hookimpl
def ganbench_register_models(registry):
    registry.add_model(ModelSpec(
        name="resmlp", build=build, supports=supports,
        options={"width": Option(128, "hidden width", check=positive),
                 "blocks": Option(2, "residual blocks", check=non_negative)},
        settings={"latent_dim": 16},
        description="Residual MLP G and D (LeakyReLU 0.2) for unbounded vector data such as ring8 and grid25.",
    ))
