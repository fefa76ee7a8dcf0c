"""``pix2pix`` (Isola et al. 2017): image-to-image translation on paired data; networks in
models/nets/translation.py (shared with ``cyclegan``)."""

from __future__ import annotations

from ganbench.options import Option, non_negative, positive
from ganbench.specs import ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models.common import translation_images

PIX2PIX = "Isola, Zhu, Zhou, Efros 2017, Image-to-Image Translation with Conditional Adversarial Networks, arXiv:1611.07004"
#: both papers' optimiser: Adam 2e-4, β = (0.5, 0.999); batch 1 (Pix2Pix's facades, CycleGAN)
RECIPE = {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1, "batch_size": 1}


SPEC = ModelSpec(
    name="pix2pix",
    build=lazy("models.nets.translation", "build_pix2pix"),
    supports=lambda info: translation_images("pix2pix", info, same_shape=False),
    task="translation",
    paired=True,
    condition="source",
    loss="nonsat",
    description="Pix2Pix on paired data: U-Net G with skip connections (BatchNorm, dropout 0.5 as its noise, "
    "sides padded to a power of two), PatchGAN D on (input, output) pairs (16 px patches up to 64 px, 70 px at "
    "256), L1 to the target × 100, nonsat; Adam 2e-4 (0.5, 0.999), batch 1 (the paper's facades).",
    settings=RECIPE,
    options={
        "width": Option(64, "ngf = ndf: channels of G's first and D's first layer (paper: 64)", check=positive),
        "lam": Option(100.0, "weight λ of the L1 term (paper: 100)", check=non_negative),
        "dropout": Option(0.5, "dropout of the three decoder blocks inside the innermost (paper: 0.5; 0 = none)",
                          check=lambda v: None if 0 <= v < 1 else "expects a probability in [0, 1)"),
        "patch_layers": Option(0, "PatchGAN's stride-2 layers: 1 = 16 px patches, 2 = 34, 3 = 70 (the paper's at 256 "
                               "px); 0 = by image size (1 up to 64 px, 2 at 128, 3 from 256)", check=non_negative),
        "d_width": Option(0, "ndf when it differs from width; 0 = width", check=non_negative),
    },
    reference=PIX2PIX,
)
