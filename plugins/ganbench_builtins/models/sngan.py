"""``sngan-proj``: SN-GAN with a projection discriminator (Miyato & Koyama 2018); networks in
models/nets/sngan.py."""

from __future__ import annotations

from ganbench.options import Option, positive
from ganbench.specs import DataInfo, ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models.common import square_images

SIZES = (28, 32, 64)



def supports(info: DataInfo) -> str | None:
    return square_images("sngan-proj", SIZES, info)


SPEC = ModelSpec(
    name="sngan-proj",
    build=lazy("models.nets.sngan", "build"),
    supports=supports,
    condition="class",
    loss="hinge",
    description="ResNet G with conditional BatchNorm (a scale and shift per class) and a spectral-norm ResNet D "
    "with a projection head (score = ψ(h) + ⟨embed(y), h⟩ on the globally sum-pooled features). The paper's "
    "CIFAR-10 nets are 256 (G) / 128 (D) channels wide; the default width 64 keeps a CPU step affordable. "
    "Recipe: hinge loss, 5 D steps, Adam 2e-4 (0, 0.9).",
    settings={"latent_dim": 128, "n_critic": 5, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.9},
    options={"width": Option(64, "channels of every block of G and D (paper: 256 / 128)", check=positive),
             "cbn_start": Option("neutral", "how G's per-class BatchNorm gains and shifts start: neutral (γ = 1, β = 0 "
                                 "for every class, Miyato's chainer code) or studiogan (1 + and an orthogonal "
                                 "table, PyTorch-StudioGAN: classes differ from step 0)",
                                 choices=("neutral", "studiogan")),
             "init": Option("reference", "initialisation: reference (pfnet-research/sngan_projection: Glorot uniform, "
                            "gain √2 on residual convs, 1 on shortcuts, linears and D's class embedding, biases 0) or "
                            "torch (PyTorch's defaults in D, Glorot 1 in G: ganbench before 2026-12-07)",
                            choices=("reference", "torch")),
             "d": Option("projection", "D: projection (the paper's) or concat (cgan's D, label maps beside the image: "
                         "an arm of benchmarks/sngan_proj_start.py)", choices=("projection", "concat"))},
    reference="Miyato & Koyama 2018, cGANs with Projection Discriminator, arXiv:1802.05637; Miyato et al. 2018 "
    "(spectral normalisation), arXiv:1802.05957, appendix (ResNet architectures)",
)
