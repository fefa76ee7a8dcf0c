"""Built-in models: ``vanilla`` (MLP) and ``dcgan`` (Radford et al. 2016)."""

from __future__ import annotations

import math

from ganbench import hookimpl
from ganbench.options import Option, non_negative, positive
from ganbench.specs import DataInfo, ModelSpec

DCGAN_SIZES = (28, 32, 64)
#: D normalisations (model option ``norm``), implemented in nets_norm
NORMS = ("batch", "layer", "spectral", "none")


def _build_vanilla(info: DataInfo, latent_dim: int, **options):
    from ganbench_builtins.nets_vanilla import build

    return build(info, latent_dim, **options)


def _build_dcgan(info: DataInfo, latent_dim: int, **options):
    from ganbench_builtins.nets_dcgan import build

    return build(info, latent_dim, **options)


def _dcgan_supports(info: DataInfo) -> str | None:
    if info.modality != "image" or len(info.shape) != 3:
        return f"dcgan needs images (C×H×W); {info.name} is {info.modality} data of shape {tuple(info.shape)}"
    _, h, w = info.shape
    if h != w or h not in DCGAN_SIZES:
        sizes = "/".join(map(str, DCGAN_SIZES))
        return f"dcgan supports square {sizes} px images; {info.name} is {h}×{w}"
    if info.value_range is None or tuple(info.value_range) != (-1.0, 1.0):
        return f"dcgan's tanh output produces [-1, 1]; {info.name} asks for {info.value_range}"
    return None


def _vanilla_supports(info: DataInfo) -> str | None:
    dim = math.prod(info.shape)
    if dim > 64 * 64 * 3:
        return f"vanilla is an MLP for vectors and small images (≤ 12288 values); {info.name} has {dim}"
    return None


@hookimpl
def ganbench_register_models(registry):
    registry.add_model(
        ModelSpec(
            name="vanilla",
            build=_build_vanilla,
            supports=_vanilla_supports,
            description="MLP generator and discriminator (2 hidden layers of 256, LeakyReLU 0.2); "
            "works on vectors and on flattened images.",
            settings={"latent_dim": 64},
            options={
                "hidden": Option(256, "units per hidden layer", check=positive),
                "norm": Option("none", "D's normalisation after each hidden layer", choices=NORMS),
            },
            reference="Goodfellow et al. 2014, Generative Adversarial Nets (MLP variant)",
        )
    )
    registry.add_model(
        ModelSpec(
            name="dcgan",
            build=_build_dcgan,
            supports=_dcgan_supports,
            description="Transposed-conv generator (BatchNorm, ReLU, tanh) and strided-conv discriminator "
            "(BatchNorm, LeakyReLU 0.2, no sigmoid); 28/32/64 px; width 64 at 64 px (paper), 32 below.",
            settings={"latent_dim": 100},
            options={
                "width": Option(0, "ngf = ndf; 0 = the default (64 at 64 px, 32 below)", check=non_negative),
                "norm": Option("batch", "D's normalisation on every conv but the first and last", choices=NORMS),
            },
            reference="Radford, Metz, Chintala 2016, arXiv:1511.06434",
        )
    )
