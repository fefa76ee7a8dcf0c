"""Optimisers and gradient norms."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def make_optimizer(params, settings: dict[str, Any], lr: float, ratio: float = 1.0) -> torch.optim.Optimizer:
    """The network's optimiser; ``ratio`` c < 1 for a network with a lazy regulariser phase: ``lr · c``
    and Adam's ``betas ** c`` (StyleGAN2's rescale, :mod:`ganbench.train.phases`). Its parameter group
    keeps the unscaled ``base_lr`` and ``ratio`` for :func:`schedule`."""
    params = list(params)
    # a captured step (cuda_graphs) keeps the optimiser's step counts on the device: the same update up to float32
    # rounding of its bias corrections (computed on the device)
    graphed = {"capturable": True} if settings.get("cuda_graphs", False) and any(p.is_cuda for p in params) else {}
    if settings["optimizer"] == "rmsprop":
        opt: torch.optim.Optimizer = torch.optim.RMSprop(params, lr=lr * ratio, **graphed)
    elif ratio == 1.0:
        opt = torch.optim.Adam(params, lr=lr, betas=(settings["beta1"], settings["beta2"]), **graphed)
    else:
        opt = torch.optim.Adam(params, lr=lr * ratio, betas=(settings["beta1"] ** ratio, settings["beta2"] ** ratio),
                               **graphed)
    for group in opt.param_groups:
        group["base_lr"], group["ratio"] = lr, ratio
    return opt


def cosine(t: float, start: float, end: float, total: float) -> float:
    """R3GAN's schedule (``training_loop.py``, ``cosine_decay_with_warmup`` without warmup): a half cosine
    from ``start`` at t = 0 to ``end`` at t = ``total``, then ``end``."""
    if t >= total:
        return end
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * t / total))


def scheduled(settings: dict[str, Any]) -> bool:
    """Whether ``settings`` ask for the cosine schedules (``schedule_images`` > 0)."""
    return settings.get("schedule_images", 0) > 0


def schedule(opt: torch.optim.Optimizer, settings: dict[str, Any], step: int) -> None:
    """Set ``opt``'s learning rate and Adam β2 for ``step`` (1, 2, ...) from the images seen before it,
    (step − 1) · batch_size, as R3GAN does before each iteration: lr from its value to ``lr_final_ratio``
    times it and (with ``beta2_start`` > 0) β2 from ``beta2_start`` to ``beta2``, each a half cosine over
    ``schedule_images``; a lazy phase's rescale (lr · c, betas ** c) applies on top."""
    total = settings["schedule_images"]
    seen = (step - 1) * settings["batch_size"]
    scale = cosine(seen, 1.0, settings.get("lr_final_ratio", 1.0), total)
    start = settings.get("beta2_start", 0.0)
    for group in opt.param_groups:
        c = group["ratio"]
        group["lr"] = group["base_lr"] * scale * c
        if "betas" in group and start > 0:
            group["betas"] = (settings["beta1"] ** c, cosine(seen, start, settings["beta2"], total) ** c)


def own_parameters(net, other) -> list[torch.Tensor]:
    """``net``'s parameters that train and are not ``other``'s too (``parameters()`` of modules or of replica
    stacks), in ``net``'s order."""
    theirs = {id(p) for p in other.parameters()}
    return [p for p in net.parameters() if p.requires_grad and id(p) not in theirs]


def grad_norm(module: nn.Module | list[torch.Tensor]) -> torch.Tensor:
    """Global L2 norm of the gradients of a module's parameters (or of a list of them, which a training
    state keeps: walking the module tree each step cost ~4 % of a vanilla step on this CPU), as a 0-d
    tensor on their device (no host sync)."""
    params = list(module.parameters()) if isinstance(module, nn.Module) else module
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:  # on the parameters' device: a captured step (cuda_graphs) cannot copy from the host
        return torch.zeros((), device=params[0].device if params else None)
    # one fused call for the per-tensor norms: on this CPU the loop of vector_norm cost ~13 % of a vanilla step
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
