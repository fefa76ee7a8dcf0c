"""``toy-mlp``: the MLPs of WGAN-GP's toy experiments (Gulrajani et al. 2017); networks in models/nets/toy.py."""

from __future__ import annotations

from ganbench.options import Option, positive
from ganbench.specs import DataInfo, ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models.common import low_dimensional_vectors


def supports(info: DataInfo) -> str | None:
    return low_dimensional_vectors("toy-mlp is WGAN-GP's toy MLP", info)

SPEC = ModelSpec(
    name="toy-mlp",
    build=lazy("models.nets.toy", "build"),
    supports=supports,
    description="The networks of WGAN-GP's toy experiments, from the authors' released gan_toy.py: G and D are "
    "MLPs of 3 ReLU layers of 512, no normalisation, He-uniform hidden and Glorot-uniform output weights, zero "
    "biases; for low-dimensional vectors (the 2-D mixtures). Recipe: 2-d noise, batch 256.",
    settings={"latent_dim": 2, "batch_size": 256},
    options={"width": Option(512, "units per hidden layer (DIM)", check=positive),
             "layers": Option(3, "hidden ReLU layers", check=positive)},
    reference="Gulrajani et al. 2017, Improved Training of Wasserstein GANs; github.com/igul222/improved_wgan_training "
    "(gan_toy.py)",
)
