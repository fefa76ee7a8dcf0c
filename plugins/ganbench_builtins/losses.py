"""Built-in losses, written on raw discriminator scores d (logits / critic values), with numerically
stable forms. With D(x) = sigmoid(d): log D = -softplus(-d) and log(1 - D) = -softplus(d).

============  =====================================================  ===================================
name          L_D (minimised by D)                                   L_G (minimised by G)
============  =====================================================  ===================================
minimax       softplus(-d_r) + softplus(d_f)                         -softplus(d_f) = E[log(1 - D(G(z)))]
nonsat        softplus(-d_r) + softplus(d_f)                         softplus(-d_f) = -E[log D(G(z))]
label-smooth  s·softplus(-d_r) + (1-s)·softplus(d_r) + softplus(d_f)  softplus(-d_f)  (s = real target 0.9)
wgan          E[d_f] - E[d_r]; weights clipped to [-c, c] after      -E[d_f]
              each D update
wgan-gp       E[d_f] - E[d_r] + λ E[(‖∇D(x̂)‖₂ - 1)²]                 -E[d_f]
lsgan         ½E[(d_r - b)²] + ½E[(d_f - a)²]                        ½E[(d_f - c)²]
hinge         E[relu(1 - d_r)] + E[relu(1 + d_f)]                    -E[d_f]
============  =====================================================  ===================================

Means over the batch everywhere. ``minimax`` is the true saturating loss (its G gradient
-sigmoid(d_f) vanishes when D confidently rejects fakes); it is never replaced by ``nonsat``.
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.options import Option, interval, non_negative, positive
from ganbench.specs import LossSpec

GOODFELLOW = "Goodfellow et al. 2014, Generative Adversarial Nets, arXiv:1406.2661"
WGAN = "Arjovsky, Chintala, Bottou 2017, Wasserstein GAN, arXiv:1701.07875, Algorithm 1"
WGAN_GP = "Gulrajani et al. 2017, Improved Training of Wasserstein GANs, arXiv:1704.00028, Algorithm 1 and section 4"
LSGAN = "Mao et al. 2017, Least Squares Generative Adversarial Networks, arXiv:1611.04076, eq. 9 (0-1 coding)"
HINGE = "Lim & Ye 2017, Geometric GAN, arXiv:1705.02894; Miyato et al. 2018 (SN-GAN), arXiv:1802.05957"
SALIMANS = "Salimans et al. 2016, Improved Techniques for Training GANs, arXiv:1606.03498, section 3.4"


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


def smoothed_d_loss(d_real, d_fake, real=0.9):
    """Binary cross-entropy with target ``real`` for real samples and 0 for fakes (one-sided), on
    logits: -(s log D(x) + (1-s) log(1-D(x))) - log(1 - D(G(z)))."""
    import torch.nn.functional as F

    return (real * F.softplus(-d_real) + (1 - real) * F.softplus(d_real)).mean() + F.softplus(d_fake).mean()


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


def gradient_penalty(D, real, fake, *, generator, **options):
    """λ E[(‖∇_x̂ D(x̂)‖₂ - 1)²] on x̂ = ε x + (1 - ε) x̃, ε ~ U[0, 1] per sample (λ = option ``lambda``).

    The gradient is per sample over all its values; ``create_graph`` lets D's update differentiate
    through it. ε is drawn on the CPU from the cell's seeded ``loss`` stream.
    """
    import torch

    lam = options.get("lambda", 10.0)
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator).to(real.device, real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)  # [N, *shape]
    scores = D(x_hat).view(-1)  # [N]
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)  # [N]
    return lam * ((norms - 1) ** 2).mean()


def lsgan_d_loss(d_real, d_fake, a=0.0, b=1.0):
    return 0.5 * ((d_real - b) ** 2).mean() + 0.5 * ((d_fake - a) ** 2).mean()


def lsgan_g_loss(d_fake, c=1.0):
    return 0.5 * ((d_fake - c) ** 2).mean()


def hinge_d_loss(d_real, d_fake):
    import torch.nn.functional as F

    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


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
    registry.add_loss(
        LossSpec(
            name="label-smooth",
            aliases=("label-smoothed",),
            d_loss=smoothed_d_loss,
            g_loss=nonsat_g_loss,
            description="Non-saturating GAN with one-sided label smoothing: D's target for real samples is "
            "`real` (0.9), fakes stay 0.",
            options={"real": Option(0.9, "D's target for real samples (1 = no smoothing)", check=interval(0, 1, "(]"))},
            reference=SALIMANS,
        )
    )
    registry.add_loss(
        LossSpec(
            name="wgan",
            aliases=("wasserstein",),
            d_loss=wasserstein_d_loss,
            g_loss=wasserstein_g_loss,
            after_d_step=clip_weights,
            description="Wasserstein GAN: critic maximises E[D(x)] - E[D(G(z))], weights clipped to [-clip, clip].",
            options={"clip": Option(0.01, "critic weights are clamped to [-clip, clip] after each update",
                                    check=positive)},
            settings={"optimizer": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "n_critic": 5, "batch_size": 64},
            reference=WGAN,
        )
    )
    registry.add_loss(
        LossSpec(
            name="wgan-gp",
            d_loss=wasserstein_d_loss,
            g_loss=wasserstein_g_loss,
            penalty=gradient_penalty,
            description="WGAN with gradient penalty λ E[(‖∇D(x̂)‖ - 1)²] on random real/fake interpolates; "
            "critic without BatchNorm (layer norm, as the paper recommends).",
            options={"lambda": Option(10.0, "penalty coefficient λ", check=non_negative)},
            settings={"optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5},
            model_options={"norm": "layer"},
            reference=WGAN_GP,
        )
    )
    registry.add_loss(
        LossSpec(
            name="lsgan",
            d_loss=lsgan_d_loss,
            g_loss=lsgan_g_loss,
            description="Least-squares GAN: D regresses real to b and fakes to a, G pushes fakes to c "
            "(0-1 coding a=0, b=c=1).",
            options={"a": Option(0.0, "D's target for fakes"), "b": Option(1.0, "D's target for real samples"),
                     "c": Option(1.0, "the value G wants D to give its samples")},
            reference=LSGAN,
        )
    )
    registry.add_loss(
        LossSpec(
            name="hinge",
            d_loss=hinge_d_loss,
            g_loss=wasserstein_g_loss,
            description="Hinge loss: D minimises E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], G minimises -E[D(G(z))].",
            reference=HINGE,
        )
    )
