"""Optimisers and gradient norms."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def make_optimizer(params, settings: dict[str, Any], lr: float, ratio: float = 1.0) -> torch.optim.Optimizer:
    """The network's optimiser; ``ratio`` c < 1 for a network with a lazy regulariser phase: ``lr · c``
    and Adam's ``betas ** c`` (StyleGAN2's rescale, :mod:`ganbench.train.phases`)."""
    if settings["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr * ratio)
    if ratio == 1.0:
        return torch.optim.Adam(params, lr=lr, betas=(settings["beta1"], settings["beta2"]))
    return torch.optim.Adam(params, lr=lr * ratio, betas=(settings["beta1"] ** ratio, settings["beta2"] ** ratio))


def grad_norm(module: nn.Module) -> torch.Tensor:
    """Global L2 norm of the gradients, as a 0-d tensor on the module's device (no host sync)."""
    grads = [p.grad.detach() for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    # one fused call for the per-tensor norms: on this CPU the loop of vector_norm cost ~13 % of a vanilla step
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
