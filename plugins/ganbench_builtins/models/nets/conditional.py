"""The conditional networks of ``cgan`` and ``acgan``, built from the vanilla (MLP) and dcgan layouts.

- cgan (Mirza & Osindero 2014): ``G(z, y) = G'([z, c(y)])`` and ``D(x, y) = D'([x, c(y)])``, where
  ``c(y)`` is the class code (one-hot, or a learned embedding); a convolutional D gets the code as
  constant feature maps beside the image's channels ``[N, C + E, H, W]``, an MLP D beside the
  flattened sample.
- acgan (Odena et al. 2017): G as cgan's; ``D(x, y) -> (score [N], class logits [N, K])`` — one
  network whose last layer has 1 + K outputs; y is not an input of D.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.specs import DataInfo
from ganbench_builtins.models.cgan import arch_for, arch_problem
from ganbench_builtins.models.nets.dcgan import DCGANDiscriminator, DCGANGenerator, default_width
from ganbench_builtins.models.nets.vanilla import MLPDiscriminator, MLPGenerator


class ClassCode(nn.Module):
    """``y [N] -> [N, dim]``: one-hot (``embed`` = 0) or a learned embedding of ``embed`` values."""

    def __init__(self, num_classes: int, embed: int = 0):
        super().__init__()
        self.num_classes, self.dim = num_classes, embed or num_classes
        self.table = nn.Embedding(num_classes, embed) if embed else None

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.table is None:
            return nn.functional.one_hot(y, self.num_classes).float()
        return self.table(y)


class ConditionalGenerator(nn.Module):
    """``G(z, y) = net([z, code(y)])``."""

    def __init__(self, net: nn.Module, code: ClassCode):
        super().__init__()
        self.net, self.code = net, code

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [N, latent], [N] -> [N, *shape]
        return self.net(torch.cat([z, self.code(y).to(z.dtype)], 1))


class ConditionalDiscriminator(nn.Module):
    """``D(x, y) = net([x, code(y)])``: the code as constant maps beside an image's channels
    (``spatial``), else beside the flattened sample."""

    def __init__(self, net: nn.Module, code: ClassCode, spatial: bool):
        super().__init__()
        self.net, self.code, self.spatial = net, code, spatial

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [N, *shape], [N] -> [N]
        c = self.code(y).to(x.dtype)  # [N, E]
        if self.spatial:
            c = c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])  # [N, E, H, W]
            return self.net(torch.cat([x, c], 1))
        return self.net(torch.cat([x.flatten(1), c], 1))


class AuxiliaryDiscriminator(nn.Module):
    """``D(x, y) -> (scores [N], class logits [N, K])``: one network with 1 + K outputs; ``y`` unused."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(x)  # [N, 1 + K]
        return out[:, 0], out[:, 1:]


def _norm(norm: str, arch: str) -> str:
    return ("batch" if arch == "dcgan" else "none") if norm == "auto" else norm


def _generator(info: DataInfo, latent_dim: int, arch: str, code: ClassCode, hidden: int, width: int) -> nn.Module:
    if arch == "dcgan":
        channels, size, _ = info.shape
        net = DCGANGenerator(latent_dim + code.dim, channels, size, width or default_width(size))
    else:
        net = MLPGenerator(latent_dim + code.dim, info.shape, hidden, info.value_range)
    return ConditionalGenerator(net, code)


def _check(info: DataInfo, arch: str) -> str:
    arch = arch_for(info, arch)
    problem = arch_problem(info, arch)
    if problem:
        raise ValueError(f"arch={arch}: {problem}")
    return arch


def build_cgan(info: DataInfo, latent_dim: int, num_classes: int, arch: str = "auto", embed: int = 0,
               hidden: int = 256, width: int = 0, norm: str = "auto") -> tuple[nn.Module, nn.Module]:
    arch = _check(info, arch)
    G = _generator(info, latent_dim, arch, ClassCode(num_classes, embed), hidden, width)
    d_code = ClassCode(num_classes, embed)  # D's own code (a learned embedding is not shared with G)
    if arch == "dcgan":
        channels, size, _ = info.shape
        net = DCGANDiscriminator(channels + d_code.dim, size, width or default_width(size), _norm(norm, arch))
        return G, ConditionalDiscriminator(net, d_code, spatial=True)
    net = MLPDiscriminator((math.prod(info.shape) + d_code.dim,), hidden, _norm(norm, arch))
    return G, ConditionalDiscriminator(net, d_code, spatial=False)


def build_acgan(info: DataInfo, latent_dim: int, num_classes: int, arch: str = "auto", embed: int = 0,
                hidden: int = 256, width: int = 0, norm: str = "auto") -> tuple[nn.Module, nn.Module]:
    arch = _check(info, arch)
    G = _generator(info, latent_dim, arch, ClassCode(num_classes, embed), hidden, width)
    if arch == "dcgan":
        channels, size, _ = info.shape
        net = DCGANDiscriminator(channels, size, width or default_width(size), _norm(norm, arch), outputs=1 + num_classes)
    else:
        net = MLPDiscriminator(info.shape, hidden, _norm(norm, arch), outputs=1 + num_classes)
    return G, AuxiliaryDiscriminator(net)
