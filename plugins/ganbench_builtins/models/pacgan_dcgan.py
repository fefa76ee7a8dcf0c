"""``pacgan-dcgan``: the DCGAN of PacGAN's stacked-MNIST experiment in the VEEGAN setting (Lin et al. 2018,
Table 2); networks in models/nets/pacgan.py."""

from __future__ import annotations

from ganbench.options import Option, positive
from ganbench.specs import DataInfo, ModelSpec
from ganbench_builtins import lazy


def supports(info: DataInfo) -> str | None:
    if info.modality != "image" or len(info.shape) != 3:
        return f"pacgan-dcgan is PacGAN's stacked-MNIST DCGAN for images; {info.name} holds {info.modality}s"
    if info.shape[-1] != info.shape[-2] or info.shape[-1] < 16:
        return f"pacgan-dcgan needs square images of at least 16 px; {info.name} has {info.shape[1]}×{info.shape[2]}"
    return None


SPEC = ModelSpec(
    name="pacgan-dcgan",
    build=lazy("models.nets.pacgan", "build_stacked"),
    supports=supports,
    description="PacGAN's stacked-MNIST DCGAN (the VEEGAN setting of Table 2), as the authors' released code builds it "
    "(fjxmlzn/PacGAN 190853e, stacked_MNIST_experiments/VEEGAN_experiment/model.py, from DCGAN-TensorFlow): G z → "
    "Linear → 2×2×512, BN, ReLU → 5×5 stride-2 'SAME' transposed convolutions to 4×4×256, 7×7×128, 14×14×64 (BN, "
    "ReLU) → 28×28×C tanh; D 5×5 stride-2 'SAME' convolutions to 64, 128, 256, 512 channels, LeakyReLU 0.2, BN on "
    "all but the first, a Linear logit; every layer with a bias; weights N(0, 0.02) (convolutions truncated at "
    "2σ), biases 0; TensorFlow's asymmetric 'SAME' padding reproduced. Option pack = k is PacGAN-k: k consecutive "
    "samples of a batch concatenated along the channels (the code's 64 packs per batch: batch_size = 64·k). "
    "Recipe: z 100-d uniform on [-1, 1], Adam 2e-4 (β1 0.5), batch 64.",
    settings={"latent_dim": 100, "latent_dist": "uniform", "batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5,
              "beta2": 0.999},
    options={
        "pack": Option(1, "samples per D input (PacGAN-k), concatenated along the channels; 1 = the plain DCGAN",
                       check=positive),
        "g_width": Option(64, "G's channels before the output layer (gf_dim; 8× this after the projection)",
                          check=positive),
        "d_width": Option(64, "D's first layer's channels (df_dim), doubled per layer", check=positive),
    },
    loss="nonsat",
    reference="Lin, Khetan, Fanti, Oh 2018, PacGAN: The power of two samples in GANs (NeurIPS), Table 2 (the VEEGAN "
    "setting of Srivastava et al. 2017); released code github.com/fjxmlzn/PacGAN (stacked_MNIST_experiments)",
)
