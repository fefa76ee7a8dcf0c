"""``dcgan`` (Radford et al. 2016); networks in models/nets/dcgan.py."""

from __future__ import annotations

from ganbench.options import Option, non_negative
from ganbench.specs import DataInfo, ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models.common import NORMS, square_images

SIZES = (28, 32, 64)



def supports(info: DataInfo) -> str | None:
    return square_images("dcgan", SIZES, info)


SPEC = ModelSpec(
    name="dcgan",
    build=lazy("models.nets.dcgan", "build"),
    supports=supports,
    description="Transposed-conv generator (BatchNorm, ReLU, tanh) and strided-conv discriminator "
    "(BatchNorm, LeakyReLU 0.2, no sigmoid); 28/32/64 px; width 64 at 64 px (paper), 32 below.",
    settings={"latent_dim": 100},
    options={
        "width": Option(0, "ngf = ndf; 0 = the default (64 at 64 px, 32 below)", check=non_negative),
        "norm": Option("batch", "D's normalisation on every conv but the first and last", choices=NORMS),
    },
    reference="Radford, Metz, Chintala 2016, arXiv:1511.06434",
)
