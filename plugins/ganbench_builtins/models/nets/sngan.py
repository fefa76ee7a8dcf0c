"""SN-GAN with a projection discriminator (Miyato & Koyama 2018), the ResNet layouts of Miyato et
al. 2018's appendix scaled to 28/32/64 px with one ``width`` for every block:

    G: z -> linear -> [w, s, s] -> GBlock(cBN, ×2) × k -> BN, ReLU, conv3×3 -> tanh [C, H, W]
       (s, k) = (7, 2) at 28 px, (4, 3) at 32, (4, 4) at 64
    D: DBlock(first, ↓) -> DBlock(↓) [-> DBlock(↓) at 64] -> DBlock -> DBlock -> ReLU -> Σ_{h,w}
       -> score = linear(h) + ⟨embed(y), h⟩                     (spectral norm on every weight)

Initialisation (``init="reference"``, pfnet-research/sngan_projection's gen_models/resblocks.py,
dis_models/resblocks.py, snresnet.py, resnet.py): Glorot uniform with gain √2 on the residual convs of
every block, gain 1 on the 1×1 shortcuts, G's first linear and last conv, D's ψ and class embedding;
biases 0 (chainer's default). Spectral norm divides the weight by σ, so the scale does not change D's
function at step 0, but it sets how fast Adam's steps (of a size independent of the weight's) move it:
PyTorch's defaults start D's convs ~2.4× smaller and the embedding (N(0, 1)) several times larger than
the reference. ``init="torch"``: PyTorch's defaults in D and Glorot gain 1 with default biases in G, as
ganbench built it before 2026-12-07 (results/sngan-proj-start was trained so).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.specs import DataInfo
from ganbench_builtins.models.nets.layers import DBlock, GBlock, raw_weight, sn

LAYOUTS = {28: (7, 2, 2), 32: (4, 3, 2), 64: (4, 4, 3)}  # size -> (first map, G up-blocks, D down-blocks)
INITS = ("reference", "torch")


def glorot(module: nn.Module, gain: float) -> None:
    """Glorot (Xavier) uniform with ``gain`` on the weight (before spectral norm), bias 0."""
    nn.init.xavier_uniform_(raw_weight(module), gain)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def _residual(blocks: nn.Module) -> None:
    """The reference's block initialisation: gain √2 on the two 3×3 convs, 1 on the shortcut."""
    for block in blocks:
        glorot(block.conv1, math.sqrt(2))
        glorot(block.conv2, math.sqrt(2))
        if block.skip is not None:
            glorot(block.skip, 1.0)


class ResNetGenerator(nn.Module):
    def __init__(self, latent_dim: int, num_classes: int, channels: int, size: int, width: int, start: str = "neutral",
                 init: str = "reference"):
        super().__init__()
        self.first, ups, _ = LAYOUTS[size]
        self.width = width
        self.linear = nn.Linear(latent_dim, width * self.first * self.first)
        self.blocks = nn.ModuleList(GBlock(width, width, num_classes, start=start) for _ in range(ups))
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh())
        if init == "reference":
            _residual(self.blocks)
            glorot(self.linear, 1.0)
            glorot(self.out[2], 1.0)
        else:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_uniform_(m.weight)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [N, latent], [N] -> [N, C, H, W]
        h = self.linear(z).view(len(z), self.width, self.first, self.first)
        for block in self.blocks:
            h = block(h, y)
        return self.out(h)


class ProjectionDiscriminator(nn.Module):
    def __init__(self, num_classes: int, channels: int, size: int, width: int, init: str = "reference"):
        super().__init__()
        _, _, downs = LAYOUTS[size]
        blocks = [DBlock(channels, width, down=True, first=True)]
        blocks += [DBlock(width, width, down=True) for _ in range(downs - 1)]
        blocks += [DBlock(width, width, down=False), DBlock(width, width, down=False)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = sn(nn.Linear(width, 1))
        self.embed = sn(nn.Embedding(num_classes, width))
        if init == "reference":
            _residual(self.blocks)
            glorot(self.linear, 1.0)
            glorot(self.embed, 1.0)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] -> [N, width]
        return nn.functional.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [N, C, H, W], [N] -> [N]
        h = self.features(x)
        return self.linear(h).view(-1) + (self.embed(y) * h).sum(1)  # ψ(h) + ⟨embed(y), h⟩


def build(info: DataInfo, latent_dim: int, num_classes: int, width: int = 64, cbn_start: str = "neutral",
          d: str = "projection", init: str = "reference") -> tuple[nn.Module, nn.Module]:
    """``cbn_start``: how G's class-conditional BatchNorm starts (see ConditionalBatchNorm2d); ``d="concat"``
    swaps in cgan's D (a DCGAN D reading one-hot label maps beside the image's channels), an arm of the
    experiment that separates G's slow class pathway from the projection D's (initialised as cgan's, whatever
    ``init`` says). ``init``: see the module's docstring."""
    if init not in INITS:
        raise ValueError(f"sngan-proj: init must be one of {', '.join(INITS)}, got {init!r}")
    channels, size, _ = info.shape
    G = ResNetGenerator(latent_dim, num_classes, channels, size, width, cbn_start, init)
    if d == "concat":  # cgan's D as build_cgan makes it (arch dcgan, one-hot code, batch norm)
        from ganbench_builtins.models.nets.conditional import ClassCode, ConditionalDiscriminator
        from ganbench_builtins.models.nets.dcgan import DCGANDiscriminator, default_width

        code = ClassCode(num_classes)
        return G, ConditionalDiscriminator(DCGANDiscriminator(channels + code.dim, size, default_width(size), "batch"),
                                           code, spatial=True)
    return G, ProjectionDiscriminator(num_classes, channels, size, width, init)
