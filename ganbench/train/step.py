"""The single GAN update: ``n_critic`` discriminator updates, then ``g_steps`` generator updates, as the
phases of :mod:`ganbench.train.phases`.

One *step* is one generator update (``g_steps`` of them: DCGAN-TensorFlow's and PacGAN's stacked-MNIST
code update G twice per D update) preceded by ``n_critic`` discriminator updates, each on a fresh
real batch and fresh noise. A D update minimises ``d_loss + penalty`` (a penalty that is not its own
phase: WGAN-GP's, or a lazy one with ``phase=false``) and is followed by the loss's ``after_d_step``
(if any, e.g. WGAN's weight clipping); a lazy penalty that is its own phase (R1 of ``nonsat-r1``)
then takes its own optimiser step on the same real batch when due. Per step the record holds, for the
last D update, D's loss, the mean raw scores D(real) and D(fake) and D's gradient norm; the penalty
of the step's last D update that computed one (a lazy penalty is not computed at every update); and
the last G update's loss and gradient norm.

A conditional model (see :mod:`ganbench.conditioning`) is called ``G(z, y)`` / ``D(x, y)``: real
batches bring their labels, generated batches are asked for labels drawn from the seed's ``labels``
stream. A D with an auxiliary classifier (AC-GAN) adds ``aux_weight`` × the cross-entropy of its
class logits to D's loss (real and generated samples) and to G's (generated samples). A G with a
``regularization()`` method (BigGAN's orthogonal regularisation) has its value added to G's loss,
or, with a ``regularization_interval``, runs it as its own phase. With an EMA generator it is
updated after the step's last G phase.

A translation task (:class:`~ganbench.train.task.TranslationTask`) gives G its batch of domain A in
place of noise, D the batch of domain B as the real batch (and the A images as ``y`` when D looks at
them); D's generated batch may come through the task's history pool, and a translation G's
``reconstruction(a, fake, target)`` (Pix2Pix's L1 term, CycleGAN's cycle and identity terms) is added to
G's loss, ``target`` being the real batch.

:func:`step` returns device tensors only: the serial loop brings them to the host. The same function
trains a replica group (:mod:`ganbench.train.replicas`): there every value has a leading replica
dimension, and the state's ``grad_norm``, ``all_finite`` and ``auxiliary_loss`` reduce per replica."""

from __future__ import annotations

from typing import Any

import torch

from ganbench.ada import ADA_INTERVAL
from ganbench.ada import probability as ada_probability
from ganbench.train.ema import update_ema
from ganbench.train.optim import schedule, scheduled
from ganbench.train.phases import g_reg_kwargs, simultaneous
from ganbench.train.state import TrainState

HISTORY_COLUMNS = ("step", "d_loss", "g_loss", "d_penalty", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")
#: the values :func:`step` returns, in order: the recorded ones, then 1.0 if the last D update's generated batch
#: and every G update's were finite
STEP_VALUES = (*HISTORY_COLUMNS[1:], "samples_finite")


def backward(loss: torch.Tensor) -> None:
    """Gradients of a 0-d loss; a replica group's ``[K]`` losses are summed first (each replica's gradient is
    its own). A 0-d loss is not summed: the sum and its backward node are two more small kernels a step."""
    (loss if loss.dim() == 0 else loss.sum()).backward()


class Blame:
    """Whose code runs now in a step (``kind``: model, loss, ganbench or None for autograd and the
    optimiser, ``call``: what it is), so that an exception can name it."""

    def __init__(self) -> None:
        self.kind: str | None = None
        self.call = ""

    def at(self, kind: str | None, call: str) -> None:
        self.kind, self.call = kind, call


def _wide(scores: torch.Tensor) -> torch.Tensor:
    """D's scores in float32 when autocast made them half or bf16; as they are otherwise (float32, float64)."""
    return scores.float() if scores.dtype in (torch.bfloat16, torch.float16) else scores


def _unless_nonfinite(grad_norm: torch.Tensor, *phase: torch.Tensor) -> torch.Tensor:
    """The main update's gradient norm, or NaN where a regulariser phase's loss or gradient norm (``phase``)
    is not finite: the step's record then says it diverged at this step (the phase's own optimiser step makes
    the network non-finite, which the next step's values would show only one step later); on the device."""
    ok = torch.isfinite(phase[0].to(grad_norm.device))
    for value in phase[1:]:
        ok = ok & torch.isfinite(value.to(grad_norm.device))
    return torch.where(ok, grad_norm, torch.full_like(grad_norm, float("nan")))


def d_fake_scores(s: TrainState, bound: Any, y_fake: torch.Tensor | None) -> Any:
    """D as a penalty that names ``D_fake`` scores the generated batch with (R2: the labels that batch was
    generated for, not the real batch's), or None when the penalty does not take it."""
    return s.eager.d_scores(y_fake) if bound.penalty_uses_d_fake else None


def _d_loss(s: TrainState, blame: Blame, real: torch.Tensor, y_real: Any, fake: torch.Tensor, y_fake: Any,
            update: int, with_penalty: bool) -> tuple[torch.Tensor, Any, torch.Tensor, torch.Tensor, torch.Tensor,
                                                      torch.Tensor]:
    """D's loss of one D update (in the step's autocast) on a real and a generated batch: its scores of both, the
    loss, AC-GAN's class terms and, ``with_penalty``, the loss's penalty. Returns the loss, the penalty added (or
    None), D's real scores, D's mean raw scores of each batch and whether the generated batch is finite."""
    at, nets, bound = blame.at, s.nets, s.loss
    at("model", "D forward")
    (d_real, c_real), (d_fake, c_fake) = nets.d(real, y_real), nets.d(fake, y_fake)
    # bf16 scores (autocast) as float32: means, hinge and Wasserstein losses and the records are then not
    # rounded to bf16's 3 digits (mean is not on autocast's float32 list)
    d_real, d_fake = _wide(d_real), _wide(d_fake)
    # read now: a CUDA-graph replay of the compiled networks (compile=reduce-overhead) reuses
    # their output memory at the next call
    real_mean, fake_mean = d_real.detach().mean(-1), d_fake.detach().mean(-1)
    if s.ada is not None and s.ada.adaptive:  # r_t of ADA's adaptive p
        s.ada.observe(d_real)
    fake_finite = s.all_finite(fake)
    at("loss", "d_loss")
    d_loss = bound.d_loss(d_real, d_fake)
    if c_real is not None:  # AC-GAN: D also learns to classify real and generated samples
        at(None, "auxiliary classifier loss (D)")
        d_loss = d_loss + s.settings.get("aux_weight", 1.0) * (s.auxiliary_loss(c_real, y_real)
                                                               + s.auxiliary_loss(c_fake, y_fake))
    penalty = None
    if with_penalty:
        at("loss", "penalty")
        penalty = bound.penalty(s.eager.d_scores(y_real), real, fake, update, d_fake_scores(s, bound, y_fake))
        if penalty is not None:
            d_loss = d_loss + penalty
    return d_loss, penalty, d_real, real_mean, fake_mean, fake_finite


def _g_loss(s: TrainState, blame: Blame, fake: torch.Tensor, y_fake: Any, g_input: torch.Tensor, real: torch.Tensor,
            d_real: torch.Tensor | None) -> torch.Tensor:
    """G's loss of one G update (in the step's autocast; D's own weights frozen) through D's scores of the
    generated batch ``fake`` (made from ``g_input``): the loss (``d_real``: D's real scores, for a relativistic
    loss), AC-GAN's class term, a G's own term when it is not a lazy phase, a translation G's reconstruction
    term against the batch's targets ``real``."""
    at, bound = blame.at, s.loss
    at("model", "D forward")
    d_fake, c_fake = s.nets.d(fake, y_fake)
    at("loss", "g_loss")
    g_loss = bound.g_loss(_wide(d_fake), d_real)
    if c_fake is not None:  # AC-GAN: G wants its samples classified as the class they were asked to be
        at(None, "auxiliary classifier loss (G)")
        g_loss = g_loss + s.settings.get("aux_weight", 1.0) * s.auxiliary_loss(c_fake, y_fake)
    if s.g_regularization is not None and s.g_reg is None:  # a G's own term (BigGAN's orthogonal reg.)
        at("model", "G regularization")
        g_loss = g_loss + s.g_regularization()
    if s.reconstruction is not None:  # a translation G's own term against the batch's targets
        at("model", "G reconstruction")
        g_loss = g_loss + s.reconstruction(g_input, fake, real)
    return g_loss


def step(s: TrainState, t: int, blame: Blame) -> torch.Tensor:
    """Step ``t`` (1, 2, ...) of ``s``: its networks, optimisers and streams are updated in place.
    Returns ``[len(STEP_VALUES)]`` float32 on the training device (``[len(STEP_VALUES), K]`` for a
    replica group)."""
    at = blame.at
    settings: dict[str, Any] = s.settings
    if s.cuda_graphs:  # a new step of the compiled networks' CUDA graphs: their earlier outputs are released
        torch.compiler.cudagraph_mark_step_begin()
    task, nets, bound = s.task, s.nets, s.loss
    if scheduled(settings):  # R3GAN's cosine schedules of the learning rates and Adam's β2
        at("ganbench", "schedule")
        schedule(s.opt_g, settings, t)
        schedule(s.opt_d, settings, t)
    if s.ada is not None and not s.ada.adaptive:  # ADA's probability: fixed, or R3GAN's schedule
        s.ada.p = ada_probability(settings, t)
    if simultaneous(settings):
        return _simultaneous(s, t, blame)
    n_critic = settings["n_critic"]
    same_labels = settings.get("fake_labels") == "real"  # generated samples of the real batch's classes (R3GAN)
    recorded = None  # the penalty of the step's last D update that computed one (lazy R1: not every one)
    for k in range(n_critic):
        at("ganbench", "data batch")
        real, y_real = task.real()
        y_fake = y_real if same_labels else task.fake_labels()
        update = (t - 1) * n_critic + k + 1  # D's update, 1, 2, ...
        with s.autocast():
            at("model", "G forward")
            with torch.no_grad():
                fake = nets.g(task.z(), y_fake)
            if task.pool is not None:  # a translation task's history pool (CycleGAN): D sees earlier images
                at("ganbench", "history pool")
                fake = task.pool(fake)
            # the penalty (if any) is part of this update's loss, unless it is its own phase
            d_loss, penalty, _, real_mean, fake_mean, fake_finite = _d_loss(s, blame, real, y_real, fake, y_fake, update,
                                                                             with_penalty=s.d_reg is None)
            if penalty is not None:
                recorded = penalty
        at(None, "D backward")
        s.opt_d.zero_grad(set_to_none=True)
        backward(d_loss)
        gn_d = s.grad_norm(s.D)
        s.opt_d.step()
        at("loss", "after_d_step")
        bound.after_d_step(s.D)
        if s.d_reg is not None and s.d_reg.due(update):  # D's regulariser phase: its own optimiser step
            at("loss", "penalty")
            with s.autocast():
                penalty = bound.penalty(s.eager.d_scores(y_real), real, fake, update, d_fake_scores(s, bound, y_fake))
            if penalty is not None:
                at(None, "D regulariser backward")
                s.opt_d.zero_grad(set_to_none=True)
                backward(penalty)
                gn_d = _unless_nonfinite(gn_d, s.grad_norm(s.D))
                s.opt_d.step()
                recorded = penalty
    g_finite = None
    # G's updates need D's gradients with respect to its inputs only: D's own weights stop recording theirs
    # (as StyleGAN2-ADA's training loop switches requires_grad per phase), which spares the backward pass
    # their products; G's gradients are the same
    frozen = [p for p in s.d_own if p.requires_grad]  # not one a plugin froze itself since (FreezeD-style)
    try:
        for p in frozen:
            p.requires_grad_(False)
        # G's updates of the step, each on fresh noise (and labels; with fake_labels=real the last real batch's)
        for _ in range(settings.get("g_steps", 1)):
            with s.autocast():
                at("model", "D forward")
                d_real_g = _wide(nets.d(real, y_real)[0]) if bound.g_uses_real else None  # relativistic: D's current view
                y_fake_g = y_real if same_labels else task.fake_labels()
                at("model", "G forward")
                g_input = task.z()
                fake_g = nets.g(g_input, y_fake_g)
                finite_g = s.all_finite(fake_g.detach())
                g_finite = finite_g if g_finite is None else g_finite & finite_g
                g_loss = _g_loss(s, blame, fake_g, y_fake_g, g_input, real, d_real_g)
            at(None, "G backward")
            s.opt_g.zero_grad(set_to_none=True)
            backward(g_loss)
            gn_g = s.grad_norm(s.G)
            s.opt_g.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    if s.g_reg is not None and s.g_reg.due(t):  # G's regulariser phase (path length): its own optimiser step
        at("ganbench", "data batch")
        y_reg = y_real if same_labels else task.fake_labels()
        z_reg = task.z()
        at("model", "G regularization")
        with s.autocast():
            reg = s.g_regularization(**g_reg_kwargs(s.G, z_reg, y_reg, t))
        at(None, "G regulariser backward")
        s.opt_g.zero_grad(set_to_none=True)
        backward(reg)
        gn_g = _unless_nonfinite(gn_g, reg.detach(), s.grad_norm(s.G))
        s.opt_g.step()
    return _end(s, t, blame, d_loss, g_loss, recorded, real_mean, fake_mean, gn_d, gn_g, g_finite & fake_finite)


def _end(s: TrainState, t: int, blame: Blame, d_loss: torch.Tensor, g_loss: torch.Tensor, recorded: Any,
         real_mean: torch.Tensor, fake_mean: torch.Tensor, gn_d: torch.Tensor, gn_g: torch.Tensor,
         finite: torch.Tensor) -> torch.Tensor:
    """After a step's updates: G's EMA and ADA's adaptive p; the step's values (:data:`STEP_VALUES`; ``finite``:
    the last D update's generated batch and every G update's)."""
    if s.G_ema is not None:
        blame.at("ganbench", "G EMA update")
        update_ema(s.G_ema, s.G, s.ema_beta(t))
    if s.ada is not None and s.ada.adaptive and t % ADA_INTERVAL == 0:  # after the step, as the code does
        blame.at("ganbench", "ADA's adaptive p")
        s.ada.adjust()
    pen = recorded.detach() if recorded is not None else torch.zeros_like(d_loss.detach())
    return torch.stack([v.float() for v in (
        d_loss.detach(), g_loss.detach(), pen, real_mean, fake_mean, gn_d.to(d_loss.device), gn_g.to(d_loss.device),
        finite)])


def _simultaneous(s: TrainState, t: int, blame: Blame) -> torch.Tensor:
    """Step ``t`` with ``updates=simultaneous`` (ALI's ``ali_algorithm``, which PacGAN's 2-D experiments train
    with: one gradient step of both networks on ``d_loss`` and ``g_loss`` of one graph): one real batch, one
    noise batch and one G forward pass; D's gradient from D's scores of both batches, G's through D's scores of
    the same generated batch at the same D weights; then D's optimiser steps (and the loss's ``after_d_step``),
    then G's. D scores the generated batch twice — detached for its own loss, through G (its weights frozen)
    for G's: the same values at the same weights, each gradient only for its own network (unless D's forward
    pass itself draws or moves: dropout, DiffAugment's or ADA's draws, a spectral norm's power iteration in
    training mode; then G's gradient passes through that second call, where the code's one graph has one).
    A penalty in D's loss
    (WGAN-GP) sees that generated batch; n_critic and g_steps are 1 and there is no lazy regulariser phase
    (:func:`~ganbench.train.phases.simultaneous_refusal`)."""
    at = blame.at
    task, nets, bound, settings = s.task, s.nets, s.loss, s.settings
    at("ganbench", "data batch")
    real, y_real = task.real()
    y_fake = y_real if settings.get("fake_labels") == "real" else task.fake_labels()
    with s.autocast():
        at("model", "G forward")
        g_input = task.z()
        fake = nets.g(g_input, y_fake)
        d_loss, recorded, d_real, real_mean, fake_mean, finite = _d_loss(s, blame, real, y_real, fake.detach(), y_fake,
                                                                         t, with_penalty=True)
    at(None, "D backward")
    s.opt_d.zero_grad(set_to_none=True)
    backward(d_loss)
    gn_d = s.grad_norm(s.D)
    frozen = [p for p in s.d_own if p.requires_grad]  # G's gradient only, through D at its weights before the update
    try:
        for p in frozen:
            p.requires_grad_(False)
        with s.autocast():  # a G's own term (BigGAN's orthogonal reg.) at every step: a lazy one is refused
            g_loss = _g_loss(s, blame, fake, y_fake, g_input, real, d_real.detach() if bound.g_uses_real else None)
        at(None, "G backward")
        s.opt_g.zero_grad(set_to_none=True)
        backward(g_loss)
        gn_g = s.grad_norm(s.G)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    s.opt_d.step()
    at("loss", "after_d_step")
    bound.after_d_step(s.D)
    at(None, "G optimiser step")
    s.opt_g.step()
    return _end(s, t, blame, d_loss, g_loss, recorded, real_mean, fake_mean, gn_d, gn_g, finite)
