"""The discriminator normalisations the built-in models offer (model option ``norm``).

- ``batch``: BatchNorm (samples of a batch interact: a per-sample gradient penalty is ill-defined).
- ``layer``: layer normalisation per sample, over all features of a layer (GroupNorm with one group
  for conv maps = LayerNorm over C×H×W with a per-channel affine); WGAN-GP's recommended replacement.
- ``spectral``: spectral normalisation of every weight of D (Miyato et al. 2018), no feature norm.
- ``none``: nothing.
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench_builtins.models.common import NORMS


def feature_norm(norm: str, channels: int, spatial: bool) -> list[nn.Module]:
    """The normalisation layer to put after a linear/conv layer of D (empty list: none)."""
    if norm == "batch":
        return [nn.BatchNorm2d(channels) if spatial else nn.BatchNorm1d(channels)]
    if norm == "layer":
        return [nn.GroupNorm(1, channels) if spatial else nn.LayerNorm(channels)]
    if norm in ("spectral", "none"):
        return []
    raise ValueError(f"unknown norm {norm!r}; expected one of {', '.join(NORMS)}")


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (one power iteration per forward in training) on every conv/linear."""
    from torch.nn.utils.parametrizations import spectral_norm

    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            setattr(module, name, spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module


def sn(module: nn.Module) -> nn.Module:
    """``module`` with spectral normalisation of its weight (one power iteration per training forward)."""
    from torch.nn.utils.parametrizations import spectral_norm

    return spectral_norm(module)


def raw_weight(module: nn.Module) -> torch.Tensor:
    """The weight parameter itself (under spectral norm: the one before normalisation)."""
    return module.parametrizations.weight.original if hasattr(module, "parametrizations") else module.weight



class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine, then a per-class scale and shift (de Vries et al. 2017;
    Miyato & Koyama 2018): ``γ_y ⊙ BN(x) + β_y``, γ initialised to 1 and β to 0 for every class.
    ``embed`` is either the number of classes (a table of γ, β per class) or, with ``linear=True``,
    the size of a conditioning vector that linear maps turn into γ and β (BigGAN's shared
    embedding + latent chunk). ``start="studiogan"`` (a table only) starts the classes apart, as
    PyTorch-StudioGAN's SNGAN does (src/utils/ops.py ConditionalBatchNorm2d at 947b35e: γ = 1 + W_γ·onehot(y),
    β = W_β·onehot(y), bias-free linear maps initialised with orthogonal_ by its default g_init "ortho"):
    the tables are 1 + W_γᵀ and W_βᵀ for orthogonal W [channels, classes]."""

    def __init__(self, channels: int, embed: int, linear: bool = False, start: str = "neutral"):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.linear = linear
        if linear:
            self.gain, self.bias = sn(nn.Linear(embed, channels, bias=False)), sn(nn.Linear(embed, channels, bias=False))
        else:
            self.gain, self.bias = nn.Embedding(embed, channels), nn.Embedding(embed, channels)
            if start == "studiogan":
                with torch.no_grad():
                    self.gain.weight.copy_(1 + nn.init.orthogonal_(torch.empty(channels, embed)).t())
                    self.bias.weight.copy_(nn.init.orthogonal_(torch.empty(channels, embed)).t())
            elif start == "neutral":
                nn.init.ones_(self.gain.weight)
                nn.init.zeros_(self.bias.weight)
            else:
                raise ValueError(f"start is neutral or studiogan, not {start!r}")

    def forward(self, x, c):  # [N, C, H, W], y [N] (or a vector [N, E]) -> [N, C, H, W]
        h = self.bn(x)
        gain = (1 + self.gain(c)) if self.linear else self.gain(c)
        return gain[:, :, None, None] * h + self.bias(c)[:, :, None, None]


class GBlock(nn.Module):
    """A residual up-sampling block of G (SN-GAN / BigGAN): CBN, ReLU, ×2 nearest, conv3×3, CBN,
    ReLU, conv3×3, plus a ×2-upsampled 1×1-conv shortcut."""

    def __init__(self, cin: int, cout: int, embed: int, linear: bool = False, spectral: bool = False,
                 start: str = "neutral"):
        super().__init__()
        wrap = sn if spectral else (lambda m: m)
        self.bn1 = ConditionalBatchNorm2d(cin, embed, linear, start)
        self.bn2 = ConditionalBatchNorm2d(cout, embed, linear, start)
        self.conv1, self.conv2 = wrap(nn.Conv2d(cin, cout, 3, 1, 1)), wrap(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = wrap(nn.Conv2d(cin, cout, 1))

    def forward(self, x, c):  # [N, cin, H, W] -> [N, cout, 2H, 2W]
        up = nn.functional.interpolate
        h = up(nn.functional.relu(self.bn1(x, c)), scale_factor=2)
        h = self.conv2(nn.functional.relu(self.bn2(self.conv1(h), c)))
        return h + self.skip(up(x, scale_factor=2))


class DBlock(nn.Module):
    """A residual block of D with spectral norm: (ReLU,) conv3×3, ReLU, conv3×3, 2×2 average pool when
    ``down``; the shortcut a 1×1 conv (pooled) when the shape changes. ``first``: no ReLU before the
    first conv (SN-GAN's optimized first block, which sees the image)."""

    def __init__(self, cin: int, cout: int, down: bool = True, first: bool = False):
        super().__init__()
        self.conv1, self.conv2 = sn(nn.Conv2d(cin, cout, 3, 1, 1)), sn(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = sn(nn.Conv2d(cin, cout, 1)) if (cin != cout or down) else None
        self.down, self.first = down, first

    def forward(self, x):  # [N, cin, H, W] -> [N, cout, H/2, W/2] (down) or [N, cout, H, W]
        h = x if self.first else nn.functional.relu(x)
        h = self.conv2(nn.functional.relu(self.conv1(h)))
        s = x
        if self.first:  # SN-GAN's optimized block: pool, then the 1×1 conv
            s = self.skip(nn.functional.avg_pool2d(s, 2)) if self.down else self.skip(s)
        elif self.skip is not None:
            s = self.skip(s)
            s = nn.functional.avg_pool2d(s, 2) if self.down else s
        return (nn.functional.avg_pool2d(h, 2) if self.down else h) + s


class SelfAttention(nn.Module):
    """SAGAN's self-attention (Zhang et al. 2019), as BigGAN uses it: queries and keys of C/8 channels,
    values of C/2 (keys and values max-pooled 2×2), output 1×1 conv back to C, scaled by a learned γ
    starting at 0, added to the input. Without pooling (``pool=False``) it is equivariant to
    permutations of the positions."""

    def __init__(self, channels: int, spectral: bool = True, pool: bool = True):
        super().__init__()
        wrap = sn if spectral else (lambda m: m)
        self.q = wrap(nn.Conv2d(channels, max(1, channels // 8), 1, bias=False))
        self.k = wrap(nn.Conv2d(channels, max(1, channels // 8), 1, bias=False))
        self.v = wrap(nn.Conv2d(channels, max(1, channels // 2), 1, bias=False))
        self.o = wrap(nn.Conv2d(max(1, channels // 2), channels, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(()))
        self.pool = pool

    def forward(self, x):  # [N, C, H, W] -> [N, C, H, W]
        n, c, h, w = x.shape
        q = self.q(x).flatten(2)  # [N, C/8, HW]
        k, v = self.k(x), self.v(x)
        if self.pool and h % 2 == 0 and w % 2 == 0:
            k, v = nn.functional.max_pool2d(k, 2), nn.functional.max_pool2d(v, 2)
        attn = torch.softmax(q.transpose(1, 2) @ k.flatten(2), dim=-1)  # [N, HW, HW']
        out = (v.flatten(2) @ attn.transpose(1, 2)).view(n, -1, h, w)  # [N, C/2, H, W]
        return x + self.gamma * self.o(out)
