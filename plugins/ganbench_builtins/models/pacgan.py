"""``pacgan``: PacGAN's MLPs for the 2-D mixtures (Lin et al. 2018); networks in models/nets/pacgan.py."""

from __future__ import annotations

from ganbench.options import Option, positive
from ganbench.specs import DataInfo, ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models.common import low_dimensional_vectors


def revision(options) -> int:
    """1 for PacGAN-k (pack > 1): its G normalises each pack slot on its own since revision 1 (before, the whole
    batch of 100·k); the plain GAN (pack 1) computes what it always did and keeps its hash."""
    return 1 if options.get("pack", 1) > 1 else 0


def supports(info: DataInfo) -> str | None:
    return low_dimensional_vectors("pacgan is PacGAN's MLP", info)


SPEC = ModelSpec(
    name="pacgan",
    build=lazy("models.nets.pacgan", "build"),
    supports=supports,
    description="PacGAN's 2-D mixture networks, from the authors' released code: G 2 → 4×400 (Linear without "
    "bias, BatchNorm, ReLU) → 2; D 3 maxout layers of 200 units × 5 pieces and a linear logit; weights N(0, 0.02), "
    "biases 0. Option pack = k is PacGAN-k: D scores packs of k consecutive samples of a batch concatenated, so "
    "a batch of N samples gives N/k packs (the paper's 100 packs per batch: batch_size = 100·k), and G's BatchNorm "
    "normalises each pack slot on its own (the code calls G once per slot). pack = 1 is "
    "the plain GAN of the paper's Table 1. Recipe: latent 2, Adam 1e-4 (β1 0.8), batch 100.",
    settings={"latent_dim": 2, "batch_size": 100, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.8, "beta2": 0.999},
    options={
        "pack": Option(1, "samples per D input (PacGAN-k); 1 = the plain GAN", check=positive),
        "g_hidden": Option(400, "units per hidden layer of G", check=positive),
        "g_layers": Option(4, "hidden layers of G", check=positive),
        "d_hidden": Option(200, "maxout units per layer of D", check=positive),
        "d_layers": Option(3, "maxout layers of D", check=positive),
        "pieces": Option(5, "linear pieces per maxout unit", check=positive),
    },
    loss="nonsat",
    revision=revision,
    reference="Lin, Khetan, Fanti, Oh 2018, PacGAN: The power of two samples in GANs (NeurIPS), Table 1; "
    "released code github.com/fjxmlzn/PacGAN (synthetic_data_experiments)",
)
