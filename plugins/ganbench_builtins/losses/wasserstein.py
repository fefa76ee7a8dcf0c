"""The Wasserstein losses: ``wgan`` (weight clipping) and ``wgan-gp`` (gradient penalty, in penalties.py)."""

from __future__ import annotations

from ganbench.options import Option, non_negative, positive
from ganbench.specs import LossSpec
from ganbench_builtins.losses.penalties import gradient_penalty

WGAN = "Arjovsky, Chintala, Bottou 2017, Wasserstein GAN, arXiv:1701.07875, Algorithm 1"
WGAN_GP = "Gulrajani et al. 2017, Improved Training of Wasserstein GANs, arXiv:1704.00028, Algorithm 1 and section 4"


def wasserstein_d_loss(d_real, d_fake):
    """E[D(G(z))] - E[D(x)]: minus the critic's estimate of the Wasserstein-1 distance."""
    return d_fake.mean() - d_real.mean()


def wasserstein_g_loss(d_fake):
    return -d_fake.mean()


def clip_weights(D, clip=0.01):
    """WGAN's Lipschitz constraint: every parameter of the critic clamped to [-clip, clip]."""
    import torch

    with torch.no_grad():
        for p in D.parameters():
            p.clamp_(-clip, clip)


SPECS = (
    LossSpec(
        name="wgan",
        aliases=("wasserstein",),
        d_loss=wasserstein_d_loss,
        g_loss=wasserstein_g_loss,
        after_d_step=clip_weights,
        description="Wasserstein GAN: critic maximises E[D(x)] - E[D(G(z))], weights clipped to [-clip, clip] after "
        "each critic update (Algorithm 1; Arjovsky et al.'s released code clamps before it). Recipe: Algorithm 1's "
        "RMSprop 5e-5 and n_critic 5 throughout — that code's 100 critic updates for the first 25 and every 500th G "
        "update are not run.",
        options={"clip": Option(0.01, "critic weights are clamped to [-clip, clip] after each update",
                                check=positive)},
        settings={"optimizer": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "n_critic": 5},  # m 64: the default batch
        reference=WGAN,
    ),
    LossSpec(
        name="wgan-gp",
        d_loss=wasserstein_d_loss,
        g_loss=wasserstein_g_loss,
        penalty=gradient_penalty,
        description="WGAN with gradient penalty λ E[(‖∇D(x̂)‖ - 1)²] on random real/fake interpolates; "
        "critic without BatchNorm (layer norm, as the paper recommends in its place: a model whose norm option "
        "defaults to none, such as vanilla, gains a layer norm the paper's toy and MNIST critics do not have). A "
        "conditional critic scores the interpolates with the real batch's labels (exact with --set fake_labels=real).",
        options={"lambda": Option(10.0, "penalty coefficient λ", check=non_negative)},
        settings={"optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5},
        model_options={"norm": "layer"},
        reference=WGAN_GP,
    ),
)
