"""RSGAN and RaGAN: the discriminator estimates how much more realistic real data is than fake data.

Both are written on raw discriminator scores C(x) (ganbench's D returns them), as ganbench requires.
The generator's loss uses D's scores of real data too: a ``g_loss`` that accepts ``d_real`` gets them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import ganbench
from ganbench.specs import LossSpec

PAPER = "Jolicoeur-Martineau 2018, The relativistic discriminator: a key element missing from standard GAN, arXiv:1807.00734"


def rsgan_d(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """-E[log sigmoid(C(x_r) - C(x_f))]: real should score higher than fake."""
    return F.softplus(-(d_real - d_fake)).mean()


def rsgan_g(d_fake: torch.Tensor, d_real: torch.Tensor) -> torch.Tensor:
    """-E[log sigmoid(C(x_f) - C(x_r))]: the same game with the roles swapped."""
    return F.softplus(-(d_fake - d_real)).mean()


def ragan_d(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Each sample against the mean of the other batch: real vs mean fake, fake vs mean real."""
    return F.softplus(-(d_real - d_fake.mean())).mean() + F.softplus(d_fake - d_real.mean()).mean()


def ragan_g(d_fake: torch.Tensor, d_real: torch.Tensor) -> torch.Tensor:
    return F.softplus(-(d_fake - d_real.mean())).mean() + F.softplus(d_real - d_fake.mean()).mean()


@ganbench.hookimpl
def ganbench_register_losses(registry):
    # the paper's Adam settings for its 2-D and CIFAR experiments: lr 2e-4, betas (0.5, 0.999)
    settings = {"optimizer": "adam", "lr_d": 2e-4, "lr_g": 2e-4, "beta1": 0.5, "beta2": 0.999}
    registry.add_loss(LossSpec(name="rsgan", d_loss=rsgan_d, g_loss=rsgan_g, settings=settings,
                               description="Relativistic standard GAN: D scores real above fake, G fake above real.",
                               reference=PAPER))
    registry.add_loss(LossSpec(name="ragan", d_loss=ragan_d, g_loss=ragan_g, settings=settings,
                               description="Relativistic average GAN: each sample against the other batch's mean score.",
                               reference=PAPER, aliases=("relativistic-average",)))
