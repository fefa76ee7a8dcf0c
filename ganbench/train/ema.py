"""The exponential moving average of G's weights (``g_ema`` > 0)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.spectral_norm import SpectralNorm as HookSpectralNorm

from ganbench.train.optim import cosine


def ema_beta(settings: dict[str, Any], step: int) -> float:
    """The EMA generator's decay after G step ``step``: half-life ``g_ema`` thousand images (StyleGAN2,
    Karras et al. 2020: 10), at most ``g_ema_rampup`` × the images seen before this step when that is
    > 0 (StyleGAN2-ADA's ramp-up, 0.05: β = 0 at the first step, the average starts as G); β = 0 (a
    copy of G) before step ``g_ema_start`` (BigGAN-PyTorch's ``ema_start``: decay 0 while itr < start).
    With ``g_ema_schedule`` and ``schedule_images`` > 0 the half-life itself follows R3GAN's half cosine
    from 0 to ``g_ema`` over ``schedule_images`` images, then holds (R3GAN ``training_loop.py``:
    ``cur_ema_nimg`` from the images seen before the step)."""
    if step < settings.get("g_ema_start", 0):
        return 0.0
    bs = settings["batch_size"]
    nimg = settings["g_ema"] * 1000.0
    if settings.get("g_ema_schedule", False) and settings.get("schedule_images", 0) > 0:
        nimg = cosine((step - 1) * bs, 0.0, nimg, settings["schedule_images"])
    rampup = settings.get("g_ema_rampup", 0.0)
    if rampup > 0:
        nimg = min(nimg, (step - 1) * bs * rampup)
    return 0.5 ** (bs / max(nimg, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, G: nn.Module, beta: float) -> None:
    """``ema ← beta · ema + (1 - beta) · G`` for every parameter and floating-point buffer (BatchNorm's
    running statistics average with the weights they belong to, as BigGAN's EMA does; StyleGAN2-ADA copies
    buffers instead, so the average's ``w_avg`` here is a running mean of G's, where theirs is G's: nothing
    ganbench draws reads it, every sample is at ψ = 1); integer buffers (BatchNorm's batch count) are copied.

    A spectrally normalised weight (torch's ``parametrizations.spectral_norm``) is the exception: its power
    iteration's vectors ``u``, ``v`` are not averaged. In eval mode, where the EMA generator samples, torch
    divides by ``σ = uᵀ W v`` from the stored vectors without iterating, and an average of G's unit vectors is
    neither a unit vector nor the averaged weight's singular pair, so σ would be wrong. The average's vectors
    track its own weight instead, as G's track G's: one power iteration (the parametrisation's
    ``n_power_iterations``) on the averaged weight at every update, from where they were. Torch's older
    hook-based ``torch.nn.utils.spectral_norm`` (buffers ``<name>_u``, ``<name>_v`` beside ``<name>_orig``),
    which plugins' generators still use, is treated the same way: in eval mode its hook divides by
    ``uᵀ W v`` from the stored vectors as well."""
    def average(a: torch.Tensor, mine: torch.Tensor) -> torch.Tensor:
        if torch.is_tensor(beta) and a.dtype != beta.dtype:  # a device β (CUDA graphs): lerp wants equal dtypes, and
            return a.float().lerp(mine.float(), beta)  # β 0.999 in bf16 is 1.0: computed in float32, as a float β is
        return a.lerp(mine, beta)

    spectral = _spectral_norms(ema) if isinstance(ema, nn.Module) else []
    own = {id(t) for u, v, _ in spectral for t in (u, v)}
    for p_ema, p in zip(ema.parameters(), G.parameters(), strict=True):
        p_ema.copy_(average(p.detach(), p_ema))
    for b_ema, b in zip(ema.buffers(), G.buffers(), strict=True):
        if id(b_ema) in own:
            continue
        if b.is_floating_point():
            b_ema.copy_(average(b, b_ema))
        else:
            b_ema.copy_(b)
    for _, _, track in spectral:
        track()


def _spectral_norms(net: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor, Callable[[], None]]]:
    """Every spectral norm of a weight with vectors in ``net`` (the parametrisation normalises a 1-d weight
    exactly, without them): its vectors ``u``, ``v`` and a function that runs its power iteration on the weight
    it normalises, in place, as its own training forward does."""
    found: list[tuple[torch.Tensor, torch.Tensor, Callable[[], None]]] = []
    for m in net.modules():
        for plist in getattr(m, "parametrizations", {}).values():
            for p in plist:
                if type(p).__name__ == "_SpectralNorm" and hasattr(p, "_u"):
                    found.append((p._u, p._v, partial(_parametrized_iteration, p, plist.original)))
        for hook in m._forward_pre_hooks.values():
            if isinstance(hook, HookSpectralNorm):
                found.append((getattr(m, hook.name + "_u"), getattr(m, hook.name + "_v"),
                              partial(_hook_iteration, hook, m)))
    return found


def _parametrized_iteration(sn: nn.Module, original: torch.Tensor) -> None:
    sn._power_method(sn._reshape_weight_to_matrix(original), sn.n_power_iterations)


def _hook_iteration(hook: HookSpectralNorm, module: nn.Module) -> None:
    """``SpectralNorm.compute_weight``'s power iteration (torch/nn/utils/spectral_norm.py), in place."""
    u, v = getattr(module, hook.name + "_u"), getattr(module, hook.name + "_v")
    mat = hook.reshape_weight_to_matrix(getattr(module, hook.name + "_orig"))
    for _ in range(hook.n_power_iterations):
        v.copy_(F.normalize(torch.mv(mat.t(), u), dim=0, eps=hook.eps))
        u.copy_(F.normalize(torch.mv(mat, v), dim=0, eps=hook.eps))
