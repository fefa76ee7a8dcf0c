"""``vanilla``: the MLP GAN (Goodfellow et al. 2014, MLP variant); networks in models/nets/vanilla.py."""

from __future__ import annotations

import math

from ganbench.options import Option, positive
from ganbench.specs import DataInfo, ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models.common import NORMS


def supports(info: DataInfo) -> str | None:
    dim = math.prod(info.shape)
    if dim > 64 * 64 * 3:
        return f"vanilla is an MLP for vectors and small images (≤ 12288 values); {info.name} has {dim}"
    return None


SPEC = ModelSpec(
    name="vanilla",
    build=lazy("models.nets.vanilla", "build"),
    supports=supports,
    description="MLP generator and discriminator (2 hidden layers of 256, LeakyReLU 0.2); "
    "works on vectors and on flattened images.",
    settings={"latent_dim": 64},
    options={
        "hidden": Option(256, "units per hidden layer", check=positive),
        "norm": Option("none", "D's normalisation after each hidden layer", choices=NORMS),
    },
    reference="Goodfellow et al. 2014, Generative Adversarial Nets (MLP variant)",
)
