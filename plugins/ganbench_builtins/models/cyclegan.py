"""``cyclegan`` (Zhu et al. 2017): image-to-image translation on unpaired (or paired) data; networks in
models/nets/translation.py (shared with ``pix2pix``)."""

from __future__ import annotations

from ganbench.options import Option, non_negative, positive
from ganbench.specs import ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models.common import translation_images
from ganbench_builtins.models.pix2pix import RECIPE

REFERENCE = ("Zhu, Park, Isola, Efros 2017, Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial "
             "Networks, arXiv:1703.10593")


SPEC = ModelSpec(
    name="cyclegan",
    build=lazy("models.nets.translation", "build_cyclegan"),
    supports=lambda info: translation_images("cyclegan", info, same_shape=True),
    task="translation",
    loss="lsgan",
    description="CycleGAN, paired or unpaired: ResNet generators both ways (instance norm, reflection padding; 9 "
    "blocks from 256 px, 6 below), PatchGAN D per domain, lsgan, cycle λ 10, identity 0.5·λ, a history pool of 50 "
    "generated images per domain for D; Adam 2e-4 (0.5, 0.999), batch 1. ganbench's lsgan carries Mao et al.'s ½: "
    "against the code's MSE the adversarial term weighs half beside the cycle and identity terms.",
    settings={**RECIPE, "pool_size": 50},
    options={
        "width": Option(64, "ngf = ndf (paper: 64)", check=positive),
        "blocks": Option(0, "residual blocks of each G; 0 = by image size (9 from 256 px, 6 below: the paper's)",
                         check=non_negative),
        "lam": Option(10.0, "weight λ of the cycle-consistency terms (paper: 10)", check=non_negative),
        "identity": Option(0.5, "weight of the identity terms, a multiple of λ (paper: 0.5; 0 = none)",
                           check=non_negative),
        "patch_layers": Option(0, "PatchGAN's stride-2 layers (0 = by image size, as pix2pix's)", check=non_negative),
        "d_width": Option(0, "ndf when it differs from width; 0 = width", check=non_negative),
    },
    reference=REFERENCE,
)
