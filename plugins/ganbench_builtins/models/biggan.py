"""``biggan``: BigGAN (Brock, Donahue, Simonyan 2019) at 32 px — shared class embedding and a
hierarchical latent into conditional BatchNorm, self-attention, spectral norm in G and D, a
projection D and orthogonal regularisation; networks in models/nets/biggan.py."""

from __future__ import annotations

from ganbench.options import Option, non_negative, positive
from ganbench.specs import DataInfo, ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models.common import square_images

SIZES = (32,)



def supports(info: DataInfo) -> str | None:
    return square_images("biggan", SIZES, info)  # the runner's skip reason adds the --data-opt that fixes a size


SPEC = ModelSpec(
    name="biggan",
    build=lazy("models.nets.biggan", "build"),
    supports=supports,
    condition="class",
    loss="hinge",
    description="BigGAN at 32 px: z split into 4 chunks (one for the first linear layer, one per G block), each G "
    "block's conditional BatchNorm gets [shared class embedding, its chunk] through spectral-norm linear maps; "
    "self-attention at 16×16 in G and D; spectral norm in G and D; a projection D; orthogonal regularisation "
    "β‖WWᵀ⊙(1−I)‖²/2 on G's weights (option ortho, the paper's 1e-4). Width 4·ch (paper's CIFAR nets: ch = 64, "
    "default here ch = 16 for the CPU). Recipe: hinge, 2 D steps, Adam (0, 0.999), lr D 2e-4 / G 5e-5 (the "
    "paper's ImageNet settings); the paper's G EMA (decay 0.9999) is the g_ema setting, off by default.",
    settings={"latent_dim": 128, "n_critic": 2, "lr_g": 5e-5, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.999},
    options={
        "ch": Option(16, "channel multiplier: blocks are 4·ch wide (paper, CIFAR-10: 64)", check=positive),
        "shared": Option(128, "size of the shared class embedding", check=positive),
        "attention": Option(True, "self-attention at 16×16 in G and D"),
        "ortho": Option(1e-4, "orthogonal regularisation β of G's weights (0 = off)", check=non_negative),
    },
    reference="Brock, Donahue, Simonyan 2019, Large Scale GAN Training for High Fidelity Natural Image Synthesis, "
    "arXiv:1809.11096, sections 3-4 and appendix B",
)
