"""Penalties added to D's loss, one implementation each: the WGAN-GP gradient penalty, and the
zero-centred gradient penalty on real samples (R1, Mescheder et al. 2018) with StyleGAN2's lazy
regularisation. R2 (the same on generated samples) and RpGAN's R1 + R2 (R3GAN) reuse
:func:`zero_centred_penalty`."""

from __future__ import annotations


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


def zero_centred_penalty(D, x):
    """E[‖∇_x D(x)‖²] over the samples ``x`` (each sample's gradient over all its values), with the
    graph kept so D's update differentiates through it (a double backward)."""
    import torch

    x = x.detach().requires_grad_(True)  # [N, *shape]
    scores = D(x).reshape(-1)  # [N]
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


def r1_penalty(D, real, fake, *, step, gamma=10.0, interval=16):
    """R1 (Mescheder et al. 2018, eq. 9): γ/2 · E_real[‖∇_x D(x)‖²], computed lazily every ``interval``-th
    D update (the 1st, the (1+interval)-th, ...) and multiplied by ``interval`` there, as StyleGAN2
    (Karras et al. 2020, section 3.1) does; ``interval`` = 1 is the penalty at every update. None
    (nothing added) on the other updates, and at every update with ``gamma`` 0: a lazy phase then takes no
    optimiser step (a step on zero gradients would still move D by Adam's momentum), as StyleGAN2-ADA skips
    its ``Dr1`` phase when ``r1_gamma`` is 0."""
    if gamma == 0 or (step - 1) % interval:
        return None
    return (gamma / 2) * zero_centred_penalty(D, real) * interval


def cosine_schedule(start, final, updates, step):
    """R3GAN's schedule (``training_loop.py``: ``cosine_decay_with_warmup`` without warm-up): from ``start``
    at the first update to ``final`` after ``updates`` updates along half a cosine, ``final`` after;
    ``updates`` = 0: ``start`` throughout."""
    import math

    if not updates:
        return start
    t = min(max(step - 1, 0), updates) / updates
    return start + (1 - 0.5 * (1 + math.cos(math.pi * t))) * (final - start)


def r1_r2_penalty(D, real, fake, *, step, D_fake=None, gamma=0.05, gamma_ratio=0.1, gamma_updates=0):
    """R3GAN's penalties (Huang et al. 2024, ``R3GAN/Trainer.py``): γ/2 · (E_real‖∇D‖² + E_fake‖∇D‖²), R1 on
    real and R2 on generated samples, at every D update; with ``gamma_updates`` > 0, γ follows
    :func:`cosine_schedule` from ``gamma`` to ``gamma_ratio`` · ``gamma`` over that many D updates (every
    R3GAN preset ends at a tenth of its start: CIFAR-10 0.05 → 0.005 over 20M images). R2 differentiates
    ``D_fake``, D with the labels the generated batch was made for (a conditional D; ``D`` when None), the
    function D's loss scores those samples with."""
    g = cosine_schedule(gamma, gamma * gamma_ratio, gamma_updates, step)
    return (g / 2) * (zero_centred_penalty(D, real) + zero_centred_penalty(D if D_fake is None else D_fake, fake))
