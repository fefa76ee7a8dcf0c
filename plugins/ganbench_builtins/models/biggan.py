"""``biggan``: BigGAN (Brock, Donahue, Simonyan 2019) at 32 px — shared class embedding and a
hierarchical latent into conditional BatchNorm, spectral norm in G and D, a projection D, optional
self-attention and orthogonal regularisation; trained with the authors' CIFAR-10 settings; networks in
models/nets/biggan.py."""

from __future__ import annotations

import math

from ganbench.options import Option, non_negative, positive
from ganbench.specs import DataInfo, ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models.common import square_images

SIZES = (32,)



def supports(info: DataInfo) -> str | None:
    return square_images("biggan", SIZES, info)  # the runner's skip reason adds the --data-opt that fixes a size


#: the G EMA of the CIFAR-10 script (decay 0.9999 per step at batch 50) as a half-life in thousands of
#: images (ganbench's g_ema): 0.5 ** (50 / (K·1000)) = 0.9999  ->  K = 50 / (1000 · log(0.9999) / log(0.5))
EMA_HALF_LIFE_KIMG = round(50 / (1000 * math.log(0.9999) / math.log(0.5)), 1)  # 346.6

SPEC = ModelSpec(
    name="biggan",
    build=lazy("models.nets.biggan", "build"),
    supports=supports,
    condition="class",
    loss="hinge",
    description="BigGAN at 32 px, the paper's architecture: z split into 4 chunks (one for the first linear layer, one "
    "per G block), each G block's conditional BatchNorm gets [shared class embedding, its chunk] through spectral-norm "
    "linear maps; spectral norm in G and D; a projection D; optional self-attention at 16×16 and orthogonal "
    "regularisation β‖WWᵀ⊙(1−I)‖²/2 of G (the shared embedding excluded, as the authors' code does). Width 4·ch "
    "(CIFAR-10 nets: ch = 64; default here ch = 16 for the CPU). Recipe: the authors' CIFAR-10 script "
    "(BigGAN-PyTorch scripts/launch_cifar_ema.sh): hinge, batch 50, 4 D steps, Adam lr 2e-4 for G and D, betas "
    "(0, 0.999), N(0, 0.02) init, no attention, no orthogonal regularisation, G EMA (decay 0.9999) from step 1,000 "
    "(g_ema 346.6 k images, g_ema_start 1000). Unlike that script it keeps the paper's shared embedding and "
    "hierarchical latent (the script runs without both) and dim_z 128 as the script. The paper's ImageNet settings: "
    "--set lr_g=5e-5 --set n_critic=2 --set g_ema_start=20000 --model-opt biggan.attention=true "
    "--model-opt biggan.ortho=1e-4 --model-opt biggan.init=ortho.",
    settings={"latent_dim": 128, "batch_size": 50, "n_critic": 4, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0,
              "beta2": 0.999, "g_ema": EMA_HALF_LIFE_KIMG, "g_ema_start": 1000},
    options={
        "ch": Option(16, "channel multiplier: blocks are 4·ch wide (paper, CIFAR-10: 64)", check=positive),
        "shared": Option(128, "size of the shared class embedding", check=positive),
        "attention": Option(False, "self-attention at 16×16 in G and D (the paper's ImageNet nets; off in the authors' "
                            "CIFAR-10 script)"),
        "ortho": Option(0.0, "orthogonal regularisation β of G's weights (0 = off, as the CIFAR-10 script; the paper: "
                        "1e-4)", check=non_negative),
        "init": Option("N02", "weight initialisation: N02 = N(0, 0.02) (CIFAR-10 script) or ortho (paper, ImageNet)",
                       choices=("N02", "ortho")),
    },
    reference="Brock, Donahue, Simonyan 2019, Large Scale GAN Training for High Fidelity Natural Image Synthesis, "
    "arXiv:1809.11096, sections 3-4 and appendix B; training settings from the authors' BigGAN-PyTorch "
    "scripts/launch_cifar_ema.sh (batch 50, 4 D steps, lr 2e-4, N02 init, G_ortho 0, no attention, EMA from 1,000)",
    revision=1,  # 1 (2026-12-07): the EMA generator's spectral norms divide by its own σ (afc22f2)
)
