"""``stylegan2`` and ``stylegan2-cifar``: StyleGAN2 (Karras et al. 2020) with the recipes of the authors'
StyleGAN2-ADA code (github.com/NVlabs/stylegan2-ada-pytorch at d72cc7d, ``train.py``'s ``cfg_specs``) on
one GPU; networks in models/nets/stylegan2.py.

- ``stylegan2`` is the ``auto`` config up to 128 px: batch max(min(4096 // res, 32), 1) = 32, Adam
  0.0025 (β 0, 0.99) for both nets, 2 mapping layers, channel_base 0.5 · 32768, minibatch-std group
  min(batch, 4) = 4, R1 γ = 0.0002 · res² / batch every 16 D steps, path length weight 2 every 4 G steps
  on half the batch, style mixing 0.9, residual D, G EMA with a half-life of batch · 10 / 32 = 10 k
  images ramped up over the first 5 % of the images seen. Unconditional. Above 128 px ``auto`` also
  changes batch (4096 // res), EMA (batch · 10 / 32 k images), fmaps (1 from 512 px) and lr (0.002 at
  1024 px): set them (``--batch-size``, ``g_ema``, ``--model-opt stylegan2.fmaps``, ``lr_g``/``lr_d``).
  γ follows the batch the cell trains with (the code computes it from the config's batch, before
  ``--batch`` overrides it).
- ``stylegan2-cifar`` is the ``cifar`` config (the paper's CIFAR-10 runs, ``--cfg=cifar --cond=1``):
  batch 64, minibatch-std group 32, channel_base 32768, γ 0.01, EMA half-life 500 k images (ramp-up
  0.05), and path length regularisation, style mixing and the residual D switched off.
  Conditional: a label embedding into the mapping network and a projection D. G's Adam keeps the
  lazy rescale (lr · 4/5, β^(4/5)): the code leaves G_reg_interval at 4 with path length off.

Both train with ``nonsat-r1`` (the non-saturating loss with lazy R1) and without ADA (the code's default
augmentation: ``--set ada=bgc --set ada_target=0.6`` is its pipeline with its adaptive p; DiffAugment is
``--set augment=...``). z and w are 512-d as in the code;
``width`` (the code's channel_max, 512) defaults to 64 so that a CPU step is affordable; at 32 px and
width 512 the nets have the code's CIFAR-10 size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ganbench.options import Option, interval, non_negative, positive
from ganbench.specs import DataInfo, ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models.common import square_images

SIZES = tuple(2**i for i in range(3, 11))  # 8 … 1024 px
REFERENCE = ("Karras et al. 2020, Analyzing and Improving the Image Quality of StyleGAN (CVPR), arXiv:1912.04958; "
             "recipes from the authors' StyleGAN2-ADA code (Karras et al. 2020, arXiv:2006.06676), "
             "github.com/NVlabs/stylegan2-ada-pytorch d72cc7d, train.py cfg_specs 'auto' and 'cifar', "
             "training/loss.py StyleGAN2Loss, training/networks.py")
#: the ``auto`` config's batch at up to 128 px on one GPU: max(min(4096 // res, 32), 1)
AUTO_BATCH = 32


def supports(info: DataInfo) -> str | None:
    return square_images("stylegan2", SIZES, info)


def auto_gamma(info: DataInfo, settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``auto`` config's R1 weight, γ = 0.0002 · res² / batch (train.py's "heuristic formula"), with
    the batch this cell trains with."""
    res = info.shape[-1] if len(info.shape) == 3 else 0
    return {"nonsat-r1": {"gamma": round(0.0002 * res**2 / settings["batch_size"], 6)}} if res else {}


def _options(*, fmaps: float, mixing: float, pl_weight: float, d_arch: str, mbstd_group: int) -> dict[str, Option]:
    return {
        "width": Option(64, "channel_max: the most channels of any block of G and D (the code: 512)", check=positive),
        "fmaps": Option(fmaps, "channel_base / 32768: resolution r has min(fmaps · 32768 / r, width) channels",
                        check=positive),
        "w_dim": Option(512, "size of w and of G's mapping layers (code: 512); D's label mapping is as wide as D "
                        "at 4×4, as in the code", check=positive),
        "mapping_layers": Option(2, "layers of G's mapping network (auto and cifar: 2; the paper's FFHQ: 8)",
                                 check=positive),
        "mixing": Option(mixing, "style-mixing probability while training", check=interval(0, 1)),
        "pl_weight": Option(pl_weight, "path length regularisation weight (0 = off)", check=non_negative),
        "pl_interval": Option(4, "G steps between path length phases (lazy, ×interval); G's Adam runs at lr·c, "
                              "betas^c, c = pl_interval/(pl_interval+1), also with pl_weight 0 (the code's "
                              "G_reg_interval)", check=positive),
        "d_arch": Option(d_arch, "D architecture: resnet (residual blocks) or orig (plain)", choices=("resnet", "orig")),
        "mbstd_group": Option(mbstd_group, "minibatch standard deviation group size", check=positive),
        "truncation": Option(1.0, "ψ of the truncation trick in W for sampling and evaluation (1 = none)",
                             check=interval(0, 1)),
    }


SPEC = ModelSpec(
    name="stylegan2",
    build=lazy("models.nets.stylegan2", "build"),
    supports=supports,
    loss="nonsat-r1",
    description="StyleGAN2 at any power-of-two size >= 8: mapping network (lr × 0.01), modulated and demodulated "
    "convolutions, noise inputs, style mixing, skip G, residual D with minibatch std, tracked average w and "
    "truncation in W, path-length regularisation as a lazy G phase, equalised learning rate. Recipe: StyleGAN2-ADA's "
    "'auto' config on one GPU: batch 32, Adam 0.0025 (0, 0.99), nonsat-r1 with γ = 0.0002·res²/batch every 16 D "
    "steps, path length 2 every 4 G steps, mixing 0.9, G EMA 10 k images (ramp-up 0.05); z, w 512; width 64 here "
    "(the code: 512).",
    settings={"latent_dim": 512, "batch_size": AUTO_BATCH, "lr_g": 0.0025, "lr_d": 0.0025, "beta1": 0.0, "beta2": 0.99,
              "n_critic": 1, "g_ema": 10.0, "g_ema_rampup": 0.05},
    options=_options(fmaps=0.5, mixing=0.9, pl_weight=2.0, d_arch="resnet", mbstd_group=4),
    loss_options=auto_gamma,
    reference=REFERENCE,
)

CIFAR = ModelSpec(
    name="stylegan2-cifar",
    build=lazy("models.nets.stylegan2", "build"),
    supports=lambda info: square_images("stylegan2-cifar", SIZES, info),
    condition="class",
    loss="nonsat-r1",
    description="StyleGAN2, class-conditional (a label embedding into the mapping network, a projection D), with "
    "StyleGAN2-ADA's 'cifar' config (the paper's CIFAR-10 runs): batch 64, Adam 0.0025 (0, 0.99), nonsat-r1 with "
    "γ 0.01, minibatch-std group 32, channel_base 32768, no path length regularisation, no style mixing, plain "
    "(orig) D, G EMA 500 k images (ramp-up 0.05); width 64 here (the code: 512).",
    settings={"latent_dim": 512, "batch_size": 64, "lr_g": 0.0025, "lr_d": 0.0025, "beta1": 0.0, "beta2": 0.99,
              "n_critic": 1, "g_ema": 500.0, "g_ema_rampup": 0.05},
    options=_options(fmaps=1.0, mixing=0.0, pl_weight=0.0, d_arch="orig", mbstd_group=32),
    loss_options={"nonsat-r1": {"gamma": 0.01}},
    reference=REFERENCE,
)

#: this family's models, in the order ``ganbench list models`` shows them
SPECS = (SPEC, CIFAR)
