"""``cgan``: the conditional GAN (Mirza & Osindero 2014) — a class embedding concatenated to G's noise
and to D's input — as an MLP (``arch=mlp``) or DCGAN-style convolutional networks (``arch=dcgan``);
networks in models/nets/conditional.py."""

from __future__ import annotations

from ganbench.options import Option, non_negative, positive
from ganbench.specs import DataInfo, ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models import dcgan, vanilla
from ganbench_builtins.models.common import NORMS

ARCHS = ("auto", "mlp", "dcgan")


def arch_for(info: DataInfo, arch: str) -> str:
    """``auto``: DCGAN-style networks for the images dcgan takes, the MLP otherwise."""
    if arch != "auto":
        return arch
    return "dcgan" if dcgan.supports(info) is None else "mlp"


def arch_problem(info: DataInfo, arch: str) -> str | None:
    """Why ``arch`` cannot take ``info`` (the family's own ``supports``), else None."""
    return (dcgan.supports if arch_for(info, arch) == "dcgan" else vanilla.supports)(info)



def supports(info: DataInfo) -> str | None:
    return arch_problem(info, "auto")


def arch_options() -> dict[str, Option]:
    """The options cgan and acgan share."""
    return {
        "arch": Option("auto", "mlp, dcgan (28/32/64 px images), or auto: dcgan where it applies", choices=ARCHS),
        "embed": Option(0, "class code: 0 = one-hot (the paper's), N = a learned embedding of N values",
                        check=non_negative),
        "hidden": Option(256, "arch=mlp: units per hidden layer", check=positive),
        "width": Option(0, "arch=dcgan: ngf = ndf; 0 = dcgan's default", check=non_negative),
        "norm": Option("auto", "D's normalisation; auto = the family's default (dcgan: batch, mlp: none)",
                       choices=("auto", *NORMS)),
    }


SPEC = ModelSpec(
    name="cgan",
    build=lazy("models.nets.conditional", "build_cgan"),
    supports=supports,
    condition="class",
    description="Conditional GAN: the class code (one-hot, or a learned embedding) is concatenated to z and to "
    "D's input (an MLP: to the flattened sample; convolutional: as constant feature maps); MLP or DCGAN-style "
    "networks. The paper's MNIST nets were maxout MLPs trained by SGD with momentum; here Adam and the "
    "vanilla/dcgan layouts, so only the conditioning is the paper's.",
    settings={"latent_dim": 100},
    options=arch_options(),
    reference="Mirza & Osindero 2014, Conditional Generative Adversarial Nets, arXiv:1411.1784",
)
