"""Pix2Pix's and CycleGAN's networks, written as junyanz/pytorch-CycleGAN-and-pix2pix's ``models/networks.py``
defines them (``UnetGenerator``, ``ResnetGenerator``, ``NLayerDiscriminator``, ``init_weights`` with
``init_type='normal'``, gain 0.02).

- :class:`UNet` — Pix2Pix's G: an encoder of stride-2 4×4 convolutions (LeakyReLU 0.2, BatchNorm but on
  the first; width × 1, 2, 4, 8, 8, ... channels), a decoder of stride-2 4×4 transposed convolutions (ReLU,
  BatchNorm, dropout 0.5 on the three decoder blocks after the innermost: at 256 px the code's three
  ngf·8 blocks; the code has one per ngf·8 level beyond five, none at 32 px, where these keep three), each decoder
  block's input concatenated with the mirrored encoder block's output (skip connections), tanh out; as
  many downsamplings as bring the image to 1×1. An image whose side is not a power of two is padded to
  the next one with the data's lowest value and the output cropped back (28 px digits → 32).
- :class:`PatchD` — the PatchGAN discriminator: ``layers`` stride-2 4×4 convolutions, one stride-1 4×4
  convolution and a 4×4 convolution to one score per patch (raw scores, no sigmoid); receptive field 16
  (1 layer), 34 (2) or 70 (3: the papers' 70×70 at 256 px). Pix2Pix's D scores ``cat(a, x)`` (input and
  output images stacked on channels).
- :class:`ResNetG` — CycleGAN's G: reflection pad + 7×7 conv, two stride-2 3×3 convolutions down, ``blocks``
  residual blocks (two reflection-padded 3×3 convolutions, instance norm), two transposed convolutions up,
  7×7 conv, tanh.
- :class:`CycleG` / :class:`CycleD` — CycleGAN's two directions as one G and one D for ganbench's step: G
  translates A to B (``G(a)``, what evaluation calls), and ``cat(A, B)`` to ``cat(G_AB(A), G_BA(B))`` in
  training (``G.both``); D scores ``cat(B, A)`` with ``D_B`` and ``D_A``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def init_normal(net: nn.Module, gain: float = 0.02) -> None:
    """The code's ``init_weights(net, 'normal', 0.02)``: conv and linear weights N(0, 0.02), biases 0,
    BatchNorm's weight N(1, 0.02) and bias 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """BatchNorm (Pix2Pix) or InstanceNorm without affine parameters or running statistics (CycleGAN: the code's
    ``'instance'``)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


class _UNetBlock(nn.Module):
    """One level of the U-Net: ``down`` → the inner levels → ``up``, its input concatenated to its output
    (the code's ``UnetSkipConnectionBlock``)."""

    def __init__(self, outer: int, inner: int, sub: nn.Module | None, *, outermost: bool = False,
                 in_channels: int | None = None, dropout: float = 0.0, norm: str = "batch"):
        super().__init__()
        bias = norm == "instance"
        in_channels = outer if in_channels is None else in_channels
        down = nn.Conv2d(in_channels, inner, 4, 2, 1, bias=bias)
        if outermost:
            up_conv = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1)
            layers = [down, sub, nn.ReLU(True), up_conv, nn.Tanh()]
        elif sub is None:  # innermost
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias),
                      norm_layer(norm, outer)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner), sub, nn.ReLU(True),
                      nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias), norm_layer(norm, outer)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.outermost = outermost
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UNet(nn.Module):
    """Pix2Pix's generator (the code's ``UnetGenerator``, ``unet_256`` at 256 px)."""

    def __init__(self, in_channels: int, out_channels: int, size: int, width: int = 64, dropout: float = 0.5,
                 low: float = -1.0):
        super().__init__()
        self.size, self.low = size, low
        self.padded = 1 << math.ceil(math.log2(size))
        downs = int(math.log2(self.padded))  # to 1×1
        if downs < 2:
            raise ValueError(f"the U-Net needs images of at least 4 px, not {size}")
        mult = [min(2**i, 8) for i in range(downs)]  # level i's encoder output: width·mult[i] channels
        block = _UNetBlock(width * mult[-2], width * mult[-1], None)  # innermost: 2×2 → 1×1 → 2×2
        for level in range(downs - 2, 0, -1):  # dropout on the three levels inside the innermost (the code's)
            block = _UNetBlock(width * mult[level - 1], width * mult[level], block,
                               dropout=dropout if level >= downs - 4 else 0.0)
        self.net = _UNetBlock(out_channels, width, block, outermost=True, in_channels=in_channels)
        init_normal(self)

    def forward(self, a: torch.Tensor) -> torch.Tensor:  # [N, C_A, H, W] -> [N, C_B, H, W]
        pad = self.padded - self.size
        if pad:
            lo, hi = pad // 2, pad - pad // 2
            out = self.net(F.pad(a, (lo, hi, lo, hi), value=self.low))
            return out[:, :, lo : lo + self.size, lo : lo + self.size]
        return self.net(a)


class PatchD(nn.Module):
    """The PatchGAN discriminator (the code's ``NLayerDiscriminator``): ``[N, C, H, W]`` → ``[N, 1, h, w]`` raw
    scores, one per overlapping patch. ``conditional``: it scores ``cat(a, x)`` (Pix2Pix)."""

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3, norm: str = "batch",
                 conditional: bool = False):
        super().__init__()
        bias = norm == "instance"
        seq: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, layers):
            prev, mult = mult, min(2**n, 8)
            seq += [nn.Conv2d(width * prev, width * mult, 4, 2, 1, bias=bias), norm_layer(norm, width * mult),
                    nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**layers, 8)
        seq += [nn.Conv2d(width * prev, width * mult, 4, 1, 1, bias=bias), norm_layer(norm, width * mult),
                nn.LeakyReLU(0.2, True), nn.Conv2d(width * mult, 1, 4, 1, 1)]
        self.conditional = conditional
        self.net = nn.Sequential(*seq)
        init_normal(self)

    def forward(self, x: torch.Tensor, a: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            x = torch.cat([a, x], 1)
        return self.net(x)


def receptive_field(layers: int) -> int:
    """The side of the patch one score of a :class:`PatchD` with ``layers`` sees (16, 34, 70, ...)."""
    rf = 1
    for stride in reversed([2] * layers + [1, 1]):
        rf = rf * stride + (4 - stride)
    return rf


class _ResBlock(nn.Module):
    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), norm_layer(norm, channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), norm_layer(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResNetG(nn.Module):
    """CycleGAN's generator (the code's ``ResnetGenerator``: ``resnet_9blocks`` at 256 px, 6 at 128)."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 6, norm: str = "instance"):
        super().__init__()
        seq: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), norm_layer(norm, width),
                                nn.ReLU(True)]
        for i in range(2):
            m = 2**i
            seq += [nn.Conv2d(width * m, width * m * 2, 3, 2, 1), norm_layer(norm, width * m * 2), nn.ReLU(True)]
        seq += [_ResBlock(width * 4, norm) for _ in range(blocks)]
        for i in range(2):
            m = 2 ** (2 - i)
            seq += [nn.ConvTranspose2d(width * m, width * m // 2, 3, 2, 1, output_padding=1),
                    norm_layer(norm, width * m // 2), nn.ReLU(True)]
        seq += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*seq)
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Pix2PixG(nn.Module):
    """The U-Net with Pix2Pix's reconstruction term: ``lam`` × the mean absolute difference to the target."""

    def __init__(self, unet: UNet, lam: float):
        super().__init__()
        self.unet, self.lam = unet, lam

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.unet(a)

    def reconstruction(self, a: torch.Tensor, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.lam * (fake - target).abs().mean()


class CycleG(nn.Module):
    """CycleGAN's two generators as one (see the module's docstring). ``reconstruction`` is the cycle term
    ``lam`` × |G_AB(G_BA(b)) − b| and |G_BA(G_AB(a)) − a| and the identity term ``identity`` × ``lam`` ×
    |G_AB(b) − b| and |G_BA(a) − a|, each a mean over both halves (half the code's sum, as the adversarial
    term's mean over both halves is half its sum: the paper's weights keep their ratio)."""

    both_ways = True

    def __init__(self, g_ab: nn.Module, g_ba: nn.Module, lam: float, identity: float):
        super().__init__()
        self.g_ab, self.g_ba, self.lam, self.identity = g_ab, g_ba, lam, identity

    def forward(self, a: torch.Tensor) -> torch.Tensor:  # A -> B: what evaluation and sample grids call
        return self.g_ab(a)

    def both(self, x: torch.Tensor) -> torch.Tensor:  # cat(A, B) -> cat(G_AB(A), G_BA(B)): the training step's call
        a, b = x.chunk(2)
        return torch.cat([self.g_ab(a), self.g_ba(b)])

    def back(self, b: torch.Tensor) -> torch.Tensor:
        return self.g_ba(b)

    def reconstruction(self, source: torch.Tensor, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fake_b, fake_a = fake.chunk(2)
        rec = self.both(torch.cat([fake_a, fake_b]))  # cat(G_AB(G_BA(b)), G_BA(G_AB(a))) against target = cat(b, a)
        loss = self.lam * (rec - target).abs().mean()
        if self.identity > 0:
            loss = loss + self.identity * self.lam * (self.both(target) - target).abs().mean()
        return loss


class CycleD(nn.Module):
    """CycleGAN's two discriminators as one: ``cat(B images, A images)`` → each half's patch scores by its
    domain's D, ``[2N, P]``."""

    def __init__(self, d_b: nn.Module, d_a: nn.Module):
        super().__init__()
        self.d_b, self.d_a = d_b, d_a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, a = x.chunk(2)
        return torch.cat([self.d_b(b).flatten(1), self.d_a(a).flatten(1)])


def default_patch_layers(size: int) -> int:
    """The PatchGAN depth whose patch is nearest the papers' 70 px of 256 px, in proportion to the image: one
    layer (16 px patches) up to 64 px, two (34 px) at 128, three (70 px) from 256."""
    return 1 if size <= 64 else 2 if size <= 128 else 3


def build_pix2pix(info, latent_dim: int = 0, width: int = 64, lam: float = 100.0, dropout: float = 0.5,
                  patch_layers: int = 0, d_width: int = 0) -> tuple[nn.Module, nn.Module]:
    c_a, size = info.source_shape[0], info.shape[-1]
    low = info.value_range[0] if info.value_range else -1.0
    G = Pix2PixG(UNet(c_a, info.shape[0], size, width, dropout, low), lam)
    D = PatchD(c_a + info.shape[0], d_width or width, patch_layers or default_patch_layers(size), "batch",
               conditional=True)
    return G, D


def build_cyclegan(info, latent_dim: int = 0, width: int = 64, blocks: int = 0, lam: float = 10.0,
                   identity: float = 0.5, patch_layers: int = 0, d_width: int = 0) -> tuple[nn.Module, nn.Module]:
    c_a, c_b, size = info.source_shape[0], info.shape[0], info.shape[-1]
    blocks = blocks or (9 if size >= 256 else 6)
    layers = patch_layers or default_patch_layers(size)
    G = CycleG(ResNetG(c_a, c_b, width, blocks), ResNetG(c_b, c_a, width, blocks), lam, identity)
    D = CycleD(PatchD(c_b, d_width or width, layers, "instance"), PatchD(c_a, d_width or width, layers, "instance"))
    return G, D
