"""Built-in losses, written on raw discriminator scores (logits) with softplus, so nothing saturates
numerically. With D(x) = sigmoid(d): log D = -softplus(-d) and log(1 - D) = -softplus(d).

- ``minimax`` (Goodfellow et al. 2014, eq. 1): L_D = softplus(-d_real) + softplus(d_fake);
  L_G = E[log(1 - D(G(z)))] = -softplus(d_fake). This is the true saturating generator loss: its
  gradient -sigmoid(d_fake) vanishes when D confidently rejects fakes.
- ``nonsat`` (same paper, section 3): same L_D; L_G = -E[log D(G(z))] = softplus(-d_fake).
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.specs import LossSpec

GOODFELLOW = "Goodfellow et al. 2014, Generative Adversarial Nets, arXiv:1406.2661"


def gan_d_loss(d_real, d_fake):
    """-E[log D(x)] - E[log(1 - D(G(z)))] on logits."""
    import torch.nn.functional as F

    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def minimax_g_loss(d_fake):
    """E[log(1 - D(G(z)))] on logits (minimised by G): the saturating form."""
    import torch.nn.functional as F

    return -F.softplus(d_fake).mean()


def nonsat_g_loss(d_fake):
    """-E[log D(G(z))] on logits: the non-saturating heuristic."""
    import torch.nn.functional as F

    return F.softplus(-d_fake).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add_loss(
        LossSpec(
            name="minimax",
            d_loss=gan_d_loss,
            g_loss=minimax_g_loss,
            description="Original minimax GAN: G minimises E[log(1 - D(G(z)))] (saturating).",
            reference=GOODFELLOW + ", eq. 1",
        )
    )
    registry.add_loss(
        LossSpec(
            name="nonsat",
            d_loss=gan_d_loss,
            g_loss=nonsat_g_loss,
            description="Non-saturating GAN: G minimises -E[log D(G(z))].",
            reference=GOODFELLOW + ", section 3",
        )
    )
