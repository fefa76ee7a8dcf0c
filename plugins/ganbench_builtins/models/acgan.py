"""``acgan``: the auxiliary-classifier GAN (Odena, Olah, Shlens 2017) — G conditioned on the class,
D unconditioned with a second head that classifies; networks in models/nets/conditional.py."""

from __future__ import annotations

from ganbench.specs import ModelSpec
from ganbench_builtins import lazy
from ganbench_builtins.models.cgan import arch_options, supports

SPEC = ModelSpec(
    name="acgan",
    build=lazy("models.nets.conditional", "build_acgan"),
    supports=supports,
    condition="class",
    description="AC-GAN: G(z, y) as cgan's; D sees only x and returns a real/fake score and class logits. Both "
    "networks also minimise aux_weight × the cross-entropy of the class head (D on real and generated samples, G "
    "on its own), beside the adversarial loss of the grid. Paper: ImageNet/CIFAR-10 nets with dropout; here the "
    "vanilla/dcgan layouts.",
    settings={"latent_dim": 100, "aux_weight": 1.0},
    options=arch_options(),
    reference="Odena, Olah, Shlens 2017, Conditional Image Synthesis with Auxiliary Classifier GANs, "
    "arXiv:1610.09585, section 3",
)
