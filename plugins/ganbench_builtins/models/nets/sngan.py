"""SN-GAN with a projection discriminator (Miyato & Koyama 2018), the ResNet layouts of Miyato et
al. 2018's appendix scaled to 28/32/64 px with one ``width`` for every block:

    G: z -> linear -> [w, s, s] -> GBlock(cBN, ×2) × k -> BN, ReLU, conv3×3 -> tanh [C, H, W]
       (s, k) = (7, 2) at 28 px, (4, 3) at 32, (4, 4) at 64
    D: DBlock(first, ↓) -> DBlock(↓) [-> DBlock(↓) at 64] -> DBlock -> DBlock -> ReLU -> Σ_{h,w}
       -> score = linear(h) + ⟨embed(y), h⟩                     (spectral norm on every weight)
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench.specs import DataInfo
from ganbench_builtins.models.nets.layers import DBlock, GBlock, sn

LAYOUTS = {28: (7, 2, 2), 32: (4, 3, 2), 64: (4, 4, 3)}  # size -> (first map, G up-blocks, D down-blocks)


class ResNetGenerator(nn.Module):
    def __init__(self, latent_dim: int, num_classes: int, channels: int, size: int, width: int, start: str = "neutral"):
        super().__init__()
        self.first, ups, _ = LAYOUTS[size]
        self.width = width
        self.linear = nn.Linear(latent_dim, width * self.first * self.first)
        self.blocks = nn.ModuleList(GBlock(width, width, num_classes, start=start) for _ in range(ups))
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh())
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [N, latent], [N] -> [N, C, H, W]
        h = self.linear(z).view(len(z), self.width, self.first, self.first)
        for block in self.blocks:
            h = block(h, y)
        return self.out(h)


class ProjectionDiscriminator(nn.Module):
    def __init__(self, num_classes: int, channels: int, size: int, width: int):
        super().__init__()
        _, _, downs = LAYOUTS[size]
        blocks = [DBlock(channels, width, down=True, first=True)]
        blocks += [DBlock(width, width, down=True) for _ in range(downs - 1)]
        blocks += [DBlock(width, width, down=False), DBlock(width, width, down=False)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = sn(nn.Linear(width, 1))
        self.embed = sn(nn.Embedding(num_classes, width))

    def features(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] -> [N, width]
        return nn.functional.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [N, C, H, W], [N] -> [N]
        h = self.features(x)
        return self.linear(h).view(-1) + (self.embed(y) * h).sum(1)  # ψ(h) + ⟨embed(y), h⟩


def build(info: DataInfo, latent_dim: int, num_classes: int, width: int = 64, cbn_start: str = "neutral",
          d: str = "projection") -> tuple[nn.Module, nn.Module]:
    """``cbn_start``: how G's class-conditional BatchNorm starts (see ConditionalBatchNorm2d); ``d="concat"``
    swaps in cgan's D (a DCGAN D reading one-hot label maps beside the image's channels), an arm of the
    experiment that separates G's slow class pathway from the projection D's."""
    channels, size, _ = info.shape
    G = ResNetGenerator(latent_dim, num_classes, channels, size, width, cbn_start)
    if d == "concat":  # cgan's D as build_cgan makes it (arch dcgan, one-hot code, batch norm)
        from ganbench_builtins.models.nets.conditional import ClassCode, ConditionalDiscriminator
        from ganbench_builtins.models.nets.dcgan import DCGANDiscriminator, default_width

        code = ClassCode(num_classes)
        return G, ConditionalDiscriminator(DCGANDiscriminator(channels + code.dim, size, default_width(size), "batch"),
                                           code, spatial=True)
    return G, ProjectionDiscriminator(num_classes, channels, size, width)
