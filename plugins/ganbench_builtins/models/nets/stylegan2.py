"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN") as the
authors' StyleGAN2-ADA code writes it (github.com/NVlabs/stylegan2-ada-pytorch at d72cc7d,
``training/networks.py`` and ``training/loss.py``), at any power-of-two size >= 8:

    mapping:   z -> normalise -> [cat normalise(embed(one-hot y))] -> FC×L (lrelu, lr × 0.01) -> w,
               a tracked average of w (β 0.995) for truncation in W
    synthesis: const 4×4 -> per resolution r: modulated 3×3 conv (↑2), modulated 3×3 conv, each with
               demodulation, a noise input (strength learnt, starts at 0), bias, lrelu·√2, clamp ±256;
               a 1×1 modulated toRGB per resolution summed into the upsampled image ("skip" G)
    D:         fromRGB 1×1 at the input size, blocks (3×3 conv, 3×3 conv ↓2; "resnet": + a 1×1 ↓2
               skip, both × √0.5), epilogue at 4×4: minibatch standard deviation, 3×3 conv, FC, FC
               -> score (conditional: projection onto a mapping network of y, / √cmap_dim)

Every weight is equalised (drawn N(0, 1), scaled by 1/√fan-in at run time; the mapping's also by its
lr multiplier); channels at resolution r are min(channel_base / r, channel_max). Style mixing (two
ws switched at a random layer), the running mean of w and the path-length regulariser
(:meth:`Generator.regularization`) act in training mode; in eval mode (sampling, evaluation) G uses
its constant noise buffers (the code's ``noise_mode='const'``, as its image export uses; the code's FID
metric draws random noise instead), its truncation ψ and clamps samples to [-1, 1] as the code's export
to 8-bit images does, and draws no random numbers.

What differs from the code, and why: no mixed precision (``amp=bf16`` is ganbench's); a 3×3
convolution with ↑2 is the filter's upsampling followed by the convolution (the code fuses a
transposed convolution and the filter: the same linear map up to the border rows); the minibatch-std
group is the largest divisor of the batch not above ``mbstd_group`` (the code requires divisibility);
the EMA generator averages the float buffers (w's average, the path-length mean) instead of copying them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.specs import DataInfo

SQRT2 = math.sqrt(2.0)
CLAMP = 256.0  # the code's conv_clamp of every config (train.py), also without mixed precision


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def lrelu(x: torch.Tensor, gain: float = SQRT2, clamp: float | None = None) -> torch.Tensor:
    """bias_act's ``lrelu``: slope 0.2, times ``gain`` (√2 × a block's gain), then clamped to ±``clamp``
    (the caller passes conv_clamp × the block's gain, as the code's ``act_clamp``)."""
    x = F.leaky_relu(x, 0.2) * gain
    return x.clamp(-clamp, clamp) if clamp is not None else x


def _filter(device=None) -> torch.Tensor:
    """The [1, 3, 3, 1] resampling filter, 4×4, normalised to sum 1."""
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], device=device)
    f = torch.outer(f, f)
    return f / f.sum()


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2× upsampling: zero insertion and the 4×4 filter × 4 (upfirdn2d.upsample2d, padding [2, 1])."""
    c = x.shape[1]
    k = (f * 4).to(x.dtype).expand(c, 1, 4, 4)
    return F.conv_transpose2d(x, k, stride=2, padding=1, groups=c)


def blur(x: torch.Tensor, f: torch.Tensor, pad: int, down: int = 1) -> torch.Tensor:
    """The 4×4 filter, ``pad`` zeros each side, then every ``down``-th pixel (upfirdn2d with down)."""
    c = x.shape[1]
    return F.conv2d(F.pad(x, (pad,) * 4), f.to(x.dtype).expand(c, 1, 4, 4), stride=down, groups=c)


class FC(nn.Module):
    """FullyConnectedLayer: weight N(0, 1)/lr_multiplier, used × lr_multiplier/√in; bias × lr_multiplier."""

    def __init__(self, inp: int, out: int, activation: bool = False, bias_init: float = 0.0, lr_multiplier: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out, inp) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out,), float(bias_init)))
        self.weight_gain, self.bias_gain, self.activation = lr_multiplier / math.sqrt(inp), lr_multiplier, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return lrelu(x) if self.activation else x


class Mapping(nn.Module):
    """z (and a one-hot class) -> w, ``layers`` FC layers of ``w_dim``; ``num_ws`` copies of w. With
    ``w_avg_beta``, w's running mean is tracked in training mode (truncation pulls towards it)."""

    def __init__(self, z_dim: int, num_classes: int, w_dim: int, layers: int, num_ws: int | None,
                 lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.995):
        super().__init__()
        self.z_dim, self.num_classes, self.num_ws, self.w_avg_beta = z_dim, num_classes, num_ws, w_avg_beta
        embed = w_dim if num_classes else 0
        if num_classes:
            self.embed = FC(num_classes, embed)
        sizes = [z_dim + embed] + [w_dim] * layers
        self.fc = nn.ModuleList(FC(a, b, activation=True, lr_multiplier=lr_multiplier)
                                for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor | None, y: torch.Tensor | None = None, psi: float = 1.0,
                update_w_avg: bool = True) -> torch.Tensor:
        parts = [normalize_2nd_moment(z)] if self.z_dim else []
        if self.num_classes:
            parts.append(normalize_2nd_moment(self.embed(F.one_hot(y, self.num_classes).to(self.embed.weight.dtype))))
        x = torch.cat(parts, dim=1)
        for layer in self.fc:
            x = layer(x)
        if self.num_ws is None:
            return x
        if self.w_avg_beta is not None and self.training and update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if psi != 1:
            x = self.w_avg.lerp(x, psi)
        return x


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0) -> torch.Tensor:
    """Each sample's convolution with ``weight`` [O, I, k, k] scaled per input channel by its ``styles``
    [N, I] and, with ``demodulate``, each output channel rescaled to unit expected variance:
    w'_oi = s_i w_oi / √(Σ_i,k (s_i w_oi)² + 1e-8) (StyleGAN2 eq. 1–3). A grouped convolution."""
    n, _, h, wd = x.shape
    o, i, k, _ = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, o, 1, 1, 1)
    out = F.conv2d(x.reshape(1, n * i, h, wd), w.reshape(n * o, i, k, k), padding=padding, groups=n)
    return out.reshape(n, o, *out.shape[2:])


class SynthesisLayer(nn.Module):
    def __init__(self, inp: int, out: int, w_dim: int, resolution: int, up: bool = False):
        super().__init__()
        self.up, self.resolution = up, resolution
        self.affine = FC(w_dim, inp, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out, inp, 3, 3))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out))
        self.register_buffer("resample_filter", _filter(), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = upsample2d(x, self.resample_filter)
        x = modulated_conv2d(x, self.weight, self.affine(w), padding=1)
        if self.training:  # noise_mode 'random'
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
        else:  # 'const': evaluation draws nothing
            noise = self.noise_const.to(x.dtype)
        x = x + noise * self.noise_strength
        return lrelu(x + self.bias.reshape(1, -1, 1, 1), clamp=CLAMP)


class ToRGB(nn.Module):
    def __init__(self, inp: int, out: int, w_dim: int):
        super().__init__()
        self.affine = FC(w_dim, inp, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out, inp, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out))
        self.weight_gain = 1 / math.sqrt(inp)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        return (x + self.bias.reshape(1, -1, 1, 1)).clamp(-CLAMP, CLAMP)


class SynthesisBlock(nn.Module):
    """One resolution of the skip G: (const | conv ↑2), conv, toRGB added to the upsampled image."""

    def __init__(self, inp: int, out: int, w_dim: int, resolution: int, channels: int):
        super().__init__()
        self.first = inp == 0
        if self.first:
            self.const = nn.Parameter(torch.randn(out, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(inp, out, w_dim, resolution, up=True)
        self.conv1 = SynthesisLayer(out, out, w_dim, resolution)
        self.torgb = ToRGB(out, channels, w_dim)
        self.num_conv = 1 if self.first else 2
        self.register_buffer("resample_filter", _filter(), persistent=False)

    def forward(self, x, img, ws):
        if self.first:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0])
        else:
            x = self.conv0(x, ws[:, 0])
            x = self.conv1(x, ws[:, 1])
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


def channel_counts(size: int, channel_base: int, channel_max: int) -> dict[int, int]:
    """Channels per resolution 4 … size: min(channel_base // r, channel_max) (the code's channels_dict)."""
    return {2**i: min(channel_base // 2**i, channel_max) for i in range(2, int(math.log2(size)) + 1)}


class Synthesis(nn.Module):
    def __init__(self, w_dim: int, size: int, channels: int, counts: dict[int, int]):
        super().__init__()
        res = sorted(counts)
        self.blocks = nn.ModuleList(
            SynthesisBlock(counts[r // 2] if r > 4 else 0, counts[r], w_dim, r, channels) for r in res)
        # each block reads num_conv + 1 ws; its toRGB shares the next block's first (w_idx += num_conv)
        self.num_ws = sum(b.num_conv for b in self.blocks) + 1

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = img = None
        i = 0
        for block in self.blocks:
            x, img = block(x, img, ws[:, i : i + block.num_conv + 1])
            i += block.num_conv
        return img


class Generator(nn.Module):
    """G(z) or G(z, y): mapping, style mixing (training, probability ``mixing``), synthesis."""

    #: style mixing and the noise inputs draw from torch's global generator inside forward
    not_vectorisable = "its G draws noise inputs and style-mixing choices from torch's global generator"

    def __init__(self, latent_dim: int, info: DataInfo, num_classes: int, *, w_dim: int, mapping_layers: int,
                 counts: dict[int, int], mixing: float, truncation: float, pl_interval: int):
        super().__init__()
        channels, size, _ = info.shape
        self.synthesis = Synthesis(w_dim, size, channels, counts)
        self.num_ws = self.synthesis.num_ws
        self.mapping = Mapping(latent_dim, num_classes, w_dim, mapping_layers, self.num_ws)
        self.mixing, self.truncation = mixing, truncation
        #: StyleGAN2-ADA keeps G_reg_interval 4 with path length off (cifar): G's Adam runs at lr·4/5,
        #: betas^(4/5) all the same (:func:`ganbench.train.phases.g_optimizer_interval`)
        self.regularization_interval = pl_interval

    def ws(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The [N, num_ws, w_dim] styles of ``z``: in training mode mixed with a second z's from a random
        layer on with probability ``mixing`` (loss.py's run_G); in eval mode truncated by ψ."""
        if not self.training:
            return self.mapping(z, y, psi=self.truncation)
        ws = self.mapping(z, y)
        if self.mixing > 0:  # drawn on the device, without a host sync: the cutoff, whether to mix, z₂
            cutoff = torch.randint(1, self.num_ws, (), device=ws.device)
            cutoff = torch.where(torch.rand((), device=ws.device) < self.mixing, cutoff, self.num_ws)
            mixed = self.mapping(torch.randn_like(z), y, update_w_avg=False)
            later = torch.arange(self.num_ws, device=ws.device).reshape(1, -1, 1) >= cutoff
            ws = torch.where(later, mixed, ws)
        return ws

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        img = self.synthesis(self.ws(z, y))
        return img if self.training else img.clamp(-1, 1)



class PathLengthGenerator(Generator):
    """A G with path-length regularisation: its ``regularization`` is a lazy G phase every
    ``pl_interval`` steps (:mod:`ganbench.train.phases`)."""

    def __init__(self, *args, pl_weight: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.pl_weight, self.pl_batch_shrink, self.pl_decay = pl_weight, 2, 0.01
        self.register_buffer("pl_mean", torch.zeros([]))

    def regularization(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Path-length regularisation (StyleGAN2 section 3.2; loss.py's Gpl) on the first half of the
        batch: a = ‖J_wᵀ u‖ with u ~ N(0, I)/√(HW), penalised (a − ā)² × pl_weight, ā the running mean
        of a (decay 0.01, kept in the buffer ``pl_mean``); × the phase's interval (lazy)."""
        n = max(z.shape[0] // self.pl_batch_shrink, 1)
        ws = self.ws(z[:n], None if y is None else y[:n])
        img = self.synthesis(ws)
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grads,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grads.square().sum(2).mean(1).sqrt()
        pl_mean = self.pl_mean.lerp(lengths.mean(), self.pl_decay)
        self.pl_mean.copy_(pl_mean.detach())
        return (lengths - pl_mean).square().mean() * self.pl_weight * self.regularization_interval


def mbstd_group(n: int, group: int) -> int:
    """The minibatch-std group size for a batch of ``n``: the largest divisor of n not above ``group``."""
    g = min(group, n)
    while n % g:
        g -= 1
    return g


def minibatch_std(x: torch.Tensor, group: int) -> torch.Tensor:
    """MinibatchStdLayer (one feature channel): per group of G samples (sample j·n + i in group i, the
    code's ``reshape(G, -1, ...)``), the standard deviation over the group of every feature, averaged
    over features, appended as a constant channel."""
    n, c, h, w = x.shape
    g = mbstd_group(n, group)
    y = x.reshape(g, -1, 1, c, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, 1, 1, 1)
    return torch.cat([x, y.repeat(g, 1, h, w)], dim=1)


class Conv(nn.Module):
    """Conv2dLayer: equalised weight (/√(in·k²)), bias, optional lrelu·√2, optional ↓2 (filter, then
    a stride-2 convolution; a 1×1 one is filtered with stride 2 first)."""

    def __init__(self, inp: int, out: int, k: int, activation: bool = True, bias: bool = True, down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out, inp, k, k))
        self.bias = nn.Parameter(torch.zeros(out)) if bias else None
        self.weight_gain, self.activation, self.down, self.k = 1 / math.sqrt(inp * k * k), activation, down, k
        self.register_buffer("resample_filter", _filter(), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if self.down and self.k == 1:
            x = F.conv2d(blur(x, self.resample_filter, 1, down=2), w, self.bias)
        elif self.down:
            x = F.conv2d(blur(x, self.resample_filter, 2), w, self.bias, stride=2)
        else:
            x = F.conv2d(x, w, self.bias, padding=self.k // 2)
        return lrelu(x, SQRT2 * gain, CLAMP * gain) if self.activation else x * gain


class DBlock(nn.Module):
    def __init__(self, inp: int, tmp: int, out: int, channels: int, resnet: bool):
        super().__init__()
        self.fromrgb = Conv(channels, tmp, 1) if inp == 0 else None
        self.conv0 = Conv(tmp, tmp, 3)
        self.conv1 = Conv(tmp, out, 3, down=True)
        self.skip = Conv(tmp, out, 1, activation=False, bias=False, down=True) if resnet else None

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.fromrgb is not None:
            x = self.fromrgb(img)
        if self.skip is None:
            return self.conv1(self.conv0(x))
        return self.skip(x, gain=math.sqrt(0.5)) + self.conv1(self.conv0(x), gain=math.sqrt(0.5))


class Discriminator(nn.Module):
    """D(x) or D(x, y) -> [N] raw scores; conditional: a projection onto a mapping network of y (8
    layers, as the code's default for D)."""

    def __init__(self, info: DataInfo, num_classes: int, *, counts: dict[int, int], resnet: bool, mbstd_group: int):
        super().__init__()
        channels, size, _ = info.shape
        res = sorted(counts, reverse=True)[:-1]  # size … 8; the epilogue works at 4×4
        self.blocks = nn.ModuleList(
            DBlock(counts[r] if r < size else 0, counts[r], counts[r // 2], channels, resnet) for r in res)
        c4 = counts[4]
        self.mbstd_group = mbstd_group
        self.conv = Conv(c4 + 1, c4, 3)
        self.fc = FC(c4 * 16, c4, activation=True)
        self.num_classes = num_classes
        self.cmap_dim = c4 if num_classes else 0
        self.out = FC(c4, self.cmap_dim or 1)
        if num_classes:
            self.mapping = Mapping(0, num_classes, self.cmap_dim, 8, None, w_avg_beta=None)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        img, h = x, None
        for block in self.blocks:
            h = block(h, img)
        h = self.conv(minibatch_std(h, self.mbstd_group))
        h = self.out(self.fc(h.flatten(1)))
        if self.num_classes:
            h = (h * self.mapping(None, y)).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return h.reshape(-1)


def build(info: DataInfo, latent_dim: int, num_classes: int = 0, *, width: int = 64, fmaps: float = 0.5,
          w_dim: int = 512, mapping_layers: int = 2, mixing: float = 0.9, pl_weight: float = 2.0, pl_interval: int = 4,
          d_arch: str = "resnet", mbstd_group: int = 4, truncation: float = 1.0) -> tuple[nn.Module, nn.Module]:
    size = info.shape[1]
    counts = channel_counts(size, int(fmaps * 32768), width)
    kwargs = dict(w_dim=w_dim, mapping_layers=mapping_layers, counts=counts, mixing=mixing, truncation=truncation,
                  pl_interval=pl_interval)
    G = (PathLengthGenerator(latent_dim, info, num_classes, pl_weight=pl_weight, **kwargs)
         if pl_weight > 0 else Generator(latent_dim, info, num_classes, **kwargs))
    D = Discriminator(info, num_classes, counts=counts, resnet=d_arch == "resnet", mbstd_group=mbstd_group)
    return G, D
