"""DCGAN (Radford et al. 2016): transposed-conv G with BatchNorm+ReLU and a tanh output, strided-conv
D with LeakyReLU(0.2) and BatchNorm on every layer but the first; weights N(0, 0.02) as in the paper.

Layouts (``width`` = ngf = ndf: the paper's 64 at 64 px; 32 by default at 28/32 px, where it gives
better FID per CPU-second in ganbench's default budget)::

    64 px: z -> 4x4 (8w) -> 8 (4w) -> 16 (2w) -> 32 (w) -> 64 (C)
    32 px: z -> 4x4 (4w) -> 8 (2w) -> 16 (w) -> 32 (C)
    28 px: z -> 7x7 (2w) -> 14 (w) -> 28 (C)

D mirrors G and ends in a conv over the last 4x4 (7x7 at 28 px) map giving one raw score, no sigmoid.
D's normalisation is the model option ``norm`` (default ``batch``, the paper's; see layers.py): it
replaces the BatchNorm layers and leaves the rest of the architecture unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench.specs import DataInfo
from ganbench_builtins.models.nets.layers import apply_spectral_norm, feature_norm

# size -> (spatial size of the first map, number of doublings)
LAYOUTS = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, size: int, width: int):
        super().__init__()
        first, doublings = LAYOUTS[size]
        ch = width * 2 ** (doublings - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, ch, first, 1, 0, bias=False),  # [N, ch, first, first]
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(doublings - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]  # [N, C, size, size]
        self.net = nn.Sequential(*layers)
        self.apply(_init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [N, latent] -> [N, C, H, W] in [-1, 1]
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """``outputs`` > 1: the last conv gives that many values per sample ``[N, outputs]`` (a score and an
    auxiliary classifier's logits); the input may have extra channels (a conditional D's class maps)."""

    def __init__(self, channels: int, size: int, width: int, norm: str = "batch", outputs: int = 1):
        super().__init__()
        first, doublings = LAYOUTS[size]
        ch = width
        layers: list[nn.Module] = [nn.Conv2d(channels, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(doublings - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), *feature_norm(norm, ch * 2, True),
                       nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, outputs, first, 1, 0, bias=False)]  # [N, outputs, 1, 1] raw score(s)
        self.net = nn.Sequential(*layers)
        self.outputs = outputs
        self.apply(_init_weights)
        if norm == "spectral":
            apply_spectral_norm(self)  # after the N(0, 0.02) init, which it normalises

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] -> [N] (or [N, outputs])
        out = self.net(x)
        return out.view(-1) if self.outputs == 1 else out.view(len(x), self.outputs)


def default_width(size: int) -> int:
    return 64 if size >= 64 else 32


def build(info: DataInfo, latent_dim: int, width: int = 0, norm: str = "batch") -> tuple[nn.Module, nn.Module]:
    channels, size, _ = info.shape
    width = width or default_width(size)
    return DCGANGenerator(latent_dim, channels, size, width), DCGANDiscriminator(channels, size, width, norm)
