"""PacGAN's networks for the 2-D mixtures (Lin et al. 2018), as the authors' released code builds them
(fjxmlzn/PacGAN, commit 190853e, ``synthetic_data_experiments/2DRing_GAN&PacGAN/pacgan_task.py`` lines
43-94, on Blocks): G an MLP 2 → 4×400 → 2, each hidden layer Linear (no bias) → BatchNorm → ReLU, the output
Linear with a bias; D three maxout layers of 200 units × 5 pieces and a linear logit, its input k samples
concatenated (PacGAN-k; G's BatchNorm then normalises each pack slot on its own, as the code's G, called
once per slot, does: :class:`SlotBatchNorm1d`). Every weight N(0, 0.02), every bias 0; BatchNorm scale 1,
shift 0, ε 1e-4 and running statistics updated with 0.05 of the batch's (Blocks' defaults and the code's
``m * 0.05 + p * 0.95``).

Also the DCGAN of PacGAN's stacked-MNIST experiment (``stacked_MNIST_experiments/VEEGAN_experiment``,
model.py and ops.py; :class:`StackedGenerator`, :class:`StackedDiscriminator`), with TensorFlow's SAME
padding reproduced by :class:`SameConv2d` / :class:`SameConvTranspose2d`."""

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


class SlotBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm whose training statistics are each pack slot's own (PacGAN-k, ``slots`` = k). A batch of N
    samples is N/k packs of k consecutive samples (as :class:`PacDiscriminator` reads it): slot i holds samples
    i, i + k, i + 2k, .... The released code calls G once per slot on that slot's own noise batch
    (``PacGAN.compute_losses``: one ``decoder.apply`` per z, then the k outputs concatenated along the features),
    so each slot is normalised by its own mean and biased variance; its population update averages the k slots'
    statistics (``create_models``: the k updates of a layer summed and divided by k), here their means and
    unbiased variances, moved toward by ``momentum``. With one slot, or in eval mode (running statistics),
    :class:`torch.nn.BatchNorm1d` itself."""

    def __init__(self, features: int, slots: int, eps: float, momentum: float):
        if momentum is None:  # nn's cumulative average: not what PacGAN's code does, and not written here
            raise ValueError("SlotBatchNorm1d moves its running statistics by a momentum; None is not supported")
        super().__init__(features, eps=eps, momentum=momentum)
        self.slots = slots

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.slots == 1 or not self.training:
            return super().forward(x)
        n = x.shape[0]
        if n % self.slots:
            raise ValueError(f"PacGAN-{self.slots}'s G normalises each of its {self.slots} pack slots on its own; a "
                             f"batch of {n} is not a multiple of {self.slots} (set batch_size to a multiple)")
        per = n // self.slots
        # at least float32 (bf16 autocast's Linear output), as nn's batch norm computes; float64 stays float64
        g = x.reshape(per, self.slots, -1).to(torch.promote_types(x.dtype, torch.float32))
        var, mean = torch.var_mean(g, dim=0, correction=0)  # [slots, features] each
        with torch.no_grad():
            self.running_mean.lerp_(mean.mean(0), self.momentum)
            self.running_var.lerp_(var.mean(0) * (per / max(per - 1, 1)), self.momentum)
            self.num_batches_tracked.add_(1)
        return ((g - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias).reshape(x.shape).to(x.dtype)


class PacGenerator(nn.Module):
    def __init__(self, latent_dim: int, shape: tuple[int, ...], hidden: int, layers: int, pack: int = 1):
        super().__init__()
        self.shape = tuple(shape)
        blocks: list[nn.Module] = []
        width = latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden, bias=False), SlotBatchNorm1d(hidden, pack, eps=1e-4, momentum=0.05),
                       nn.ReLU()]
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
    G = PacGenerator(latent_dim, info.shape, g_hidden, g_layers, pack)
    D = PacDiscriminator(info.shape, d_hidden, d_layers, pieces, pack)
    init_weights(G)
    init_weights(D)
    return G, D


# -- the stacked-MNIST DCGAN of PacGAN's VEEGAN-setting experiment (Table 2) -----------------------------

def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow's 'SAME' for a convolution over ``size``: the output size ceil(size / stride) and the
    padding before and after (the larger half after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``tf.nn.conv2d(..., padding='SAME')``: padded asymmetrically as TensorFlow pads (PyTorch's
    symmetric padding would shift every receptive field by a pixel where the padding is odd)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, size: int):
        super().__init__(cin, cout, kernel, stride, padding=0)
        _, self.before, self.after = same_padding(size, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (self.before, self.after, self.before, self.after)
        return super().forward(nn.functional.pad(x, pad))


class SameConvTranspose2d(nn.ConvTranspose2d):
    """``tf.nn.conv2d_transpose(..., output_shape, padding='SAME')``: the transpose of a SAME convolution
    from ``out`` to the input's size: the full transposed convolution cropped where that convolution's
    padding would be."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, out: int):
        super().__init__(cin, cout, kernel, stride, padding=0)
        self.out = out
        _, self.before, _ = same_padding(out, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        full = super().forward(x)
        return full[..., self.before : self.before + self.out, self.before : self.before + self.out]


def _same_sizes(size: int, times: int) -> list[int]:
    """``size`` and the sizes of ``times`` stride-2 SAME convolutions after it (DCGAN-TensorFlow's
    ``conv_out_size_same``): 28 → 14, 7, 4, 2."""
    sizes = [size]
    for _ in range(times):
        sizes.append(-(-sizes[-1] // 2))
    return sizes


class StackedGenerator(nn.Module):
    """z → Linear (bias) → 2×2×8g → BN, ReLU → 5×5/2 SAME deconvolutions (bias) to 4×4×4g, 7×7×2g, 14×14×g
    (each BN, ReLU) → 28×28×C, tanh (``model.py`` generator, lines 299-330)."""

    def __init__(self, latent_dim: int, channels: int, size: int, width: int):
        super().__init__()
        sizes = _same_sizes(size, 4)  # [28, 14, 7, 4, 2]
        self.first, self.ch = sizes[4], width * 8
        self.project = nn.Linear(latent_dim, self.ch * self.first * self.first)
        self.bn0 = nn.BatchNorm2d(self.ch)  # TF batch_norm: ε 1e-5, decay 0.9 = PyTorch's momentum 0.1
        layers: list[nn.Module] = []
        ch = self.ch
        for out in (sizes[3], sizes[2], sizes[1]):
            layers += [SameConvTranspose2d(ch, ch // 2, 5, 2, out), nn.BatchNorm2d(ch // 2), nn.ReLU()]
            ch //= 2
        layers += [SameConvTranspose2d(ch, channels, 5, 2, sizes[0]), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], self.ch, self.first, self.first)
        return self.net(torch.relu(self.bn0(h)))


class StackedDiscriminator(nn.Module):
    """5×5/2 SAME convolutions (bias) to d, 2d, 4d, 8d channels, LeakyReLU 0.2, BN on all but the first, then
    a Linear (bias) to one logit (``model.py`` discriminator, lines 287-297). PacGAN-k: k consecutive
    samples of a batch concatenated along the channels (``tf.concat(G_sep, 3)``), one score per pack."""

    def __init__(self, channels: int, size: int, width: int, pack: int):
        super().__init__()
        self.pack = pack
        sizes = _same_sizes(size, 4)
        layers: list[nn.Module] = []
        cin = channels * pack
        for i in range(4):
            cout = width * 2 ** i
            layers += [SameConv2d(cin, cout, 5, 2, sizes[i]), *([nn.BatchNorm2d(cout)] if i else []), nn.LeakyReLU(0.2)]
            cin = cout
        self.net = nn.Sequential(*layers)
        self.logit = nn.Linear(cin * sizes[4] * sizes[4], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if n % self.pack:
            raise ValueError(f"PacGAN-{self.pack} packs {self.pack} samples per D input; a batch of {n} is not a "
                             f"multiple of {self.pack} (set batch_size to a multiple)")
        packs = x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:])
        return self.logit(self.net(packs).flatten(1)).view(-1)


def init_stacked(module: nn.Module) -> None:
    """DCGAN-TensorFlow's ``ops.py``: convolution weights truncated normal (σ 0.02, at 2σ), transposed
    convolutions and linear layers N(0, 0.02), biases 0; BatchNorm scale 1, shift 0."""
    for m in module.modules():
        if isinstance(m, nn.ConvTranspose2d) or isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(m.weight, 0.0, 0.02, -0.04, 0.04)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and m.bias is not None:
            nn.init.zeros_(m.bias)


def build_stacked(info: DataInfo, latent_dim: int, pack: int = 1, g_width: int = 64, d_width: int = 64):
    channels, size = info.shape[0], info.shape[-1]
    G = StackedGenerator(latent_dim, channels, size, g_width)
    D = StackedDiscriminator(channels, size, d_width, pack)
    init_stacked(G)
    init_stacked(D)
    return G, D
