"""Built-in models, one module per family: ``vanilla`` (MLP), ``pacgan`` (Lin et al. 2018, the 2-D mixtures'
MLPs), ``toy-mlp`` (WGAN-GP's toy MLPs), ``dcgan`` (Radford et al. 2016), ``pacgan-dcgan`` (PacGAN's
stacked-MNIST DCGAN) and the
conditional ``cgan`` (Mirza & Osindero 2014), ``acgan`` (Odena et al. 2017) and ``sngan-proj`` (Miyato &
Koyama 2018) and ``biggan`` (Brock et al. 2019, 32 px), and ``stylegan2`` / ``stylegan2-cifar`` (Karras et
al. 2020, with StyleGAN2-ADA's ``auto`` and ``cifar`` recipes); the translation models ``pix2pix`` (Isola et al.
2017) and ``cyclegan`` (Zhu et al. 2017).

Each family module holds its spec, ``supports`` and recipe and imports no torch; its networks live
in ``models/nets/<family>.py`` (shared layers in ``models/nets/layers.py``), imported when a model
is built. A new family is one new module and one entry in :data:`FAMILIES` (a module with several models lists
them in ``SPECS``).
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench_builtins.models import (
    acgan,
    biggan,
    cgan,
    cyclegan,
    dcgan,
    pacgan,
    pacgan_dcgan,
    pix2pix,
    sngan,
    stylegan2,
    toy,
    vanilla,
)

#: the family modules, in the order ``ganbench list models`` shows them
FAMILIES = (vanilla, pacgan, toy, dcgan, pacgan_dcgan, cgan, acgan, sngan, biggan, stylegan2, pix2pix, cyclegan)


@hookimpl
def ganbench_register_models(registry):
    for family in FAMILIES:
        for spec in getattr(family, "SPECS", (family.SPEC,)):
            registry.add_model(spec)
