"""The adversarial losses on logits: ``minimax``, ``nonsat``, ``label-smooth``, ``lsgan``, ``hinge``
(the table is in the package's docstring)."""

from __future__ import annotations

from ganbench.options import Option, interval, non_negative, positive
from ganbench.specs import LossSpec
from ganbench_builtins.losses.penalties import r1_penalty, r1_r2_penalty
from ganbench_builtins.losses.wasserstein import wasserstein_g_loss

GOODFELLOW = "Goodfellow et al. 2014, Generative Adversarial Nets, arXiv:1406.2661"
LSGAN = "Mao et al. 2017, Least Squares Generative Adversarial Networks, arXiv:1611.04076, eq. 9 (0-1 coding)"
HINGE = "Lim & Ye 2017, Geometric GAN, arXiv:1705.02894; Miyato et al. 2018 (SN-GAN), arXiv:1802.05957"
SALIMANS = "Salimans et al. 2016, Improved Techniques for Training GANs, arXiv:1606.03498, section 3.4"
R3GAN = ("Huang, Gokaslan, Kuleshov, Tompkin 2024, The GAN is dead; long live the GAN! A Modern GAN Baseline "
         "(NeurIPS), eq. 2 and section 3 (RpGAN + R1 + R2); code github.com/brownvc/R3GAN (Trainer.py, train.py)")
R1 = ("Mescheder, Geiger, Nowozin 2018, Which Training Methods for GANs do actually Converge?, arXiv:1801.04406, "
      "eq. 9; lazy regularisation: Karras et al. 2020 (StyleGAN2), arXiv:1912.04958, section 3.1")


def gan_d_loss(d_real, d_fake):
    """-E[log D(x)] - E[log(1 - D(G(z)))] on logits."""
    import torch.nn.functional as F

    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def minimax_g_loss(d_fake):
    """E[log(1 - D(G(z)))] on logits (minimised by G): the saturating form."""
    import torch.nn.functional as F

    return -F.softplus(d_fake).mean()


def r1_phase_interval(interval=16, phase=True):
    """R1 is its own D phase every ``interval`` updates (StyleGAN2), or part of D's loss (``phase=False``)."""
    return interval if phase else None


def nonsat_g_loss(d_fake):
    """-E[log D(G(z))] on logits: the non-saturating heuristic."""
    import torch.nn.functional as F

    return F.softplus(-d_fake).mean()


def rpgan_d_loss(d_real, d_fake):
    """The relativistic pairing GAN's D loss (Jolicoeur-Martineau 2019; R3GAN): E[softplus(-(d_r - d_f))],
    the i-th real sample paired with the i-th generated one."""
    import torch.nn.functional as F

    return F.softplus(d_fake - d_real).mean()


def rpgan_g_loss(d_fake, d_real):
    """RpGAN's G loss: E[softplus(-(d_f - d_r))] against D's scores of real samples."""
    import torch.nn.functional as F

    return F.softplus(d_real - d_fake).mean()


def smoothed_d_loss(d_real, d_fake, real=0.9):
    """Binary cross-entropy with target ``real`` for real samples and 0 for fakes (one-sided), on
    logits: -(s log D(x) + (1-s) log(1-D(x))) - log(1 - D(G(z)))."""
    import torch.nn.functional as F

    return (real * F.softplus(-d_real) + (1 - real) * F.softplus(d_real)).mean() + F.softplus(d_fake).mean()


def lsgan_d_loss(d_real, d_fake, a=0.0, b=1.0):
    return 0.5 * ((d_real - b) ** 2).mean() + 0.5 * ((d_fake - a) ** 2).mean()


def lsgan_g_loss(d_fake, c=1.0):
    return 0.5 * ((d_fake - c) ** 2).mean()


def hinge_d_loss(d_real, d_fake):
    import torch.nn.functional as F

    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


SPECS = (
    LossSpec(
        name="minimax",
        d_loss=gan_d_loss,
        g_loss=minimax_g_loss,
        description="Original minimax GAN: G minimises E[log(1 - D(G(z)))] (saturating).",
        reference=GOODFELLOW + ", eq. 1",
    ),
    LossSpec(
        name="nonsat",
        d_loss=gan_d_loss,
        g_loss=nonsat_g_loss,
        description="Non-saturating GAN: G minimises -E[log D(G(z))].",
        reference=GOODFELLOW + ", section 3",
    ),
    LossSpec(
        name="nonsat-r1",
        d_loss=gan_d_loss,
        g_loss=nonsat_g_loss,
        penalty=r1_penalty,
        penalty_interval=r1_phase_interval,
        description="Non-saturating GAN with the R1 penalty γ/2 E[‖∇D(x)‖²] on real samples, lazily every "
        "`interval` D updates (×interval) as its own D optimiser step, with D's Adam at lr·c and betas^c, "
        "c = interval/(interval+1): StyleGAN2's default loss and lazy regularisation.",
        options={"gamma": Option(10.0, "penalty weight γ (StyleGAN2-ADA's heuristic: 0.0002·pixels/batch)",
                                 check=non_negative),
                 "interval": Option(16, "compute it every N D updates, multiplied by N (1 = every update; with "
                                    "phase still its own step, at c = 1/2)",
                                    check=positive),
                 "phase": Option(True, "R1 as its own D optimiser step with StyleGAN2's lr/betas rescale; false: "
                                 "added into that D update's loss at the plain lr (ganbench before the train package)")},
        reference=R1,
    ),
    LossSpec(
        name="rpgan-r1r2",
        aliases=("r3gan",),
        d_loss=rpgan_d_loss,
        g_loss=rpgan_g_loss,
        penalty=r1_r2_penalty,
        description="R3GAN's loss: the relativistic pairing GAN (D: softplus(d_f - d_r), G: softplus(d_r - d_f), "
        "pairs of the i-th real and generated samples) with zero-centred penalties on real (R1) and generated (R2) "
        "samples, γ/2 each, at every D update; γ may follow R3GAN's cosine schedule (gamma → gamma_ratio·gamma over "
        "gamma_updates D updates). Its paper's Adam and schedules (R3GAN's train.py presets, training_loop.py): β1 0, "
        "lr 2e-4 → 5e-5 and β2 0.9 → 0.99 along a half cosine over 2e7 images, then held (settings schedule_images, "
        "lr_final_ratio, beta2_start); its EMA schedule is the option --set g_ema=5000 --set g_ema_schedule=true "
        "(CIFAR-10), its augmentation schedule --set ada=r3gan --set ada_p=0.55 --set ada_p_schedule=true (ADA's "
        "pipeline, p 0 → 0.55 for CIFAR-10; images only; each penalty pass draws its own augmentation). G's step "
        "scores the last D update's real batch (R3GAN draws a fresh one). R3GAN generates with the real batch's "
        "classes: for a conditional model --set fake_labels=real.",
        settings={"beta1": 0.0, "beta2": 0.99, "lr_g": 2e-4, "lr_d": 2e-4, "schedule_images": 20_000_000,
                  "lr_final_ratio": 0.25, "beta2_start": 0.9},
        options={"gamma": Option(0.05, "penalty weight γ (R3GAN's CIFAR-10 preset starts at 0.05)", check=non_negative),
                 "gamma_ratio": Option(0.1, "γ at the end of its cosine schedule, as a fraction of gamma (every R3GAN "
                                       "preset: 0.1)", check=non_negative),
                 "gamma_updates": Option(0, "D updates over which γ decays to gamma_ratio·gamma (R3GAN: over 20M "
                                         "images, i.e. 20M / batch updates); 0 = constant γ",
                                         check=lambda v: None if v >= 0 else "expects 0 or a positive integer")},
        reference=R3GAN,
    ),
    LossSpec(
        name="label-smooth",
        aliases=("label-smoothed",),
        d_loss=smoothed_d_loss,
        g_loss=nonsat_g_loss,
        description="Non-saturating GAN with one-sided label smoothing: D's target for real samples is "
        "`real` (0.9), fakes stay 0.",
        options={"real": Option(0.9, "D's target for real samples (1 = no smoothing)", check=interval(0, 1, "(]"))},
        reference=SALIMANS,
    ),
    LossSpec(
        name="lsgan",
        d_loss=lsgan_d_loss,
        g_loss=lsgan_g_loss,
        description="Least-squares GAN: D regresses real to b and fakes to a, G pushes fakes to c "
        "(0-1 coding a=0, b=c=1).",
        options={"a": Option(0.0, "D's target for fakes"), "b": Option(1.0, "D's target for real samples"),
                 "c": Option(1.0, "the value G wants D to give its samples")},
        reference=LSGAN,
    ),
    LossSpec(
        name="hinge",
        d_loss=hinge_d_loss,
        g_loss=wasserstein_g_loss,
        description="Hinge loss: D minimises E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], G minimises -E[D(G(z))].",
        reference=HINGE,
    ),
)
