"""Penalties added to D's loss, one implementation each: the WGAN-GP gradient penalty."""

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
