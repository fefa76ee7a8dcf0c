"""The alternating D/G training loop.

One *step* is one generator update preceded by ``n_critic`` discriminator updates, each on a fresh
real batch and fresh noise. A D update minimises ``d_loss + penalty`` (if the loss has a penalty) and
is followed by the loss's ``after_d_step`` (if any, e.g. WGAN's weight clipping). Per step the history
records, for the last D update, D's total loss, the mean raw scores D(real) and D(fake) and D's
gradient norm; the penalty of the step's last D update that computed one (a lazy penalty such as R1
is not computed at every update); and G's loss and gradient norm. Sample grids are drawn from the fixed
evaluation noise, so grids of different losses are directly comparable.

A conditional model (see :mod:`ganbench.conditioning`) is called ``G(z, y)`` / ``D(x, y)``: real
batches bring their labels, generated batches are asked for labels drawn from the seed's ``labels``
stream. A D with an auxiliary classifier (AC-GAN) adds ``aux_weight`` × the cross-entropy of its
class logits to D's loss (real and generated samples) and to G's (generated samples). A G with a
``regularization()`` method (BigGAN's orthogonal regularisation) has its value added to G's loss.

With ``g_ema`` > 0 an exponential moving average of G's weights (StyleGAN2's: half-life ``g_ema``
thousand images, optionally ramped up) is updated after each G step; it draws the sample grids and is
what the cell evaluates and saves.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench import seeding
from ganbench.conditioning import Networks, auxiliary_loss, class_probabilities, draw_labels
from ganbench.options import accepted_kwargs, defaults, parameter_names
from ganbench.specs import Data, DataInfo, LossSpec
from ganbench.store import atomic_write_bytes

HISTORY_COLUMNS = ("step", "d_loss", "g_loss", "d_penalty", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")
#: |d_loss| or |g_loss| above this is a loss explosion: the cell stops as diverged
EXPLOSION = 1e6
GRID_SAMPLES = 64  # images in a sample grid
SCATTER_SAMPLES = 1000  # points in a 2-D scatter


def make_optimizer(params, settings: dict[str, Any], lr: float) -> torch.optim.Optimizer:
    if settings["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=(settings["beta1"], settings["beta2"]))


def grad_norm(module: nn.Module) -> torch.Tensor:
    """Global L2 norm of the gradients, as a 0-d tensor on the module's device (no host sync)."""
    grads = [p.grad.detach() for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor, device: torch.device, batch: int = 500,
             y: torch.Tensor | None = None) -> torch.Tensor:
    """G's samples for noise ``z`` (CPU) — and labels ``y`` for a conditional G, ``G(z, y)`` — in eval
    mode (BatchNorm uses running statistics), on CPU."""
    was_training = G.training
    G.eval()
    try:
        if y is None:
            return torch.cat([G(z[i : i + batch].to(device)).float().cpu() for i in range(0, len(z), batch)])
        return torch.cat([G(z[i : i + batch].to(device), y[i : i + batch].to(device)).float().cpu()
                          for i in range(0, len(z), batch)])
    finally:
        G.train(was_training)


def ema_beta(settings: dict[str, Any], step: int) -> float:
    """The EMA generator's decay after G step ``step``: half-life ``g_ema`` thousand images (StyleGAN2,
    Karras et al. 2020: 10), at most ``g_ema_rampup`` × the images seen before this step when that is
    > 0 (StyleGAN2-ADA's ramp-up, 0.05: β = 0 at the first step, the average starts as G); β = 0 (a
    copy of G) before step ``g_ema_start`` (BigGAN-PyTorch's ``ema_start``: decay 0 while itr < start)."""
    if step < settings.get("g_ema_start", 0):
        return 0.0
    bs = settings["batch_size"]
    nimg = settings["g_ema"] * 1000.0
    rampup = settings.get("g_ema_rampup", 0.0)
    if rampup > 0:
        nimg = min(nimg, (step - 1) * bs * rampup)
    return 0.5 ** (bs / max(nimg, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, G: nn.Module, beta: float) -> None:
    """``ema ← beta · ema + (1 - beta) · G`` for every parameter and floating-point buffer (BatchNorm's
    running statistics average with the weights they belong to, as BigGAN's EMA does — StyleGAN2 has no
    BatchNorm and copies its buffers); integer buffers (BatchNorm's batch count) are copied."""
    for p_ema, p in zip(ema.parameters(), G.parameters(), strict=True):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(ema.buffers(), G.buffers(), strict=True):
        if b.is_floating_point():
            b_ema.copy_(b.lerp(b_ema, beta))
        else:
            b_ema.copy_(b)


def render_points(fake: torch.Tensor, real: torch.Tensor, size: int = 256) -> torch.Tensor:
    """A [3, size, size] picture of 2-D samples: real in blue, generated in orange, on the real extent."""
    lo = real.min(0).values
    hi = real.max(0).values
    pad = (hi - lo).clamp(min=1e-6) * 0.25
    lo, hi = lo - pad, hi + pad
    img = torch.ones(3, size, size)
    for pts, colour in ((real, (0.2, 0.4, 0.9)), (fake, (1.0, 0.5, 0.0))):
        p = ((pts[:, :2] - lo[:2]) / (hi[:2] - lo[:2]) * (size - 1)).round().long()
        keep = ((p >= 0) & (p < size)).all(1)
        p = p[keep]
        for c in range(3):
            img[c, size - 1 - p[:, 1], p[:, 0]] = colour[c]
    return img


def save_samples(samples: torch.Tensor, data: Data, path: Path) -> None:
    """A PNG of samples (written atomically): an 8-wide grid (torchvision make_grid) for images, a scatter for 2-D
    vectors; nothing for other data."""
    from torchvision.utils import make_grid, save_image

    info: DataInfo = data.info
    if info.modality == "image":
        picture = make_grid(samples[:GRID_SAMPLES], nrow=8, normalize=True, value_range=info.value_range, padding=2)
    elif info.shape == (2,):
        picture = render_points(samples, data.x[:5000])
    else:
        return
    buf = io.BytesIO()
    save_image(picture, buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


class BoundLoss:
    """A loss spec with its effective options bound: each function gets the options it accepts."""

    def __init__(self, spec: LossSpec, options: dict[str, Any] | None = None,
                 generator: torch.Generator | None = None):
        self.spec = spec
        self.options = defaults(spec.options) if options is None else dict(options)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        # a g_loss that names d_real (relativistic losses) gets D's real scores, **options or not
        self.g_uses_real = "d_real" in parameter_names(spec.g_loss)
        self.penalty_uses_step = spec.penalty is not None and "step" in parameter_names(spec.penalty)
        # signatures are inspected once here, not on every step
        self._d_kw = accepted_kwargs(spec.d_loss, self.options)
        self._g_kw = accepted_kwargs(spec.g_loss, self.options)
        self._penalty_kw = (accepted_kwargs(spec.penalty, {"generator": self.generator, **self.options})
                            if spec.penalty is not None else {})
        self._after_kw = accepted_kwargs(spec.after_d_step, self.options) if spec.after_d_step is not None else {}

    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        return self.spec.d_loss(d_real, d_fake, **self._d_kw)

    def g_loss(self, d_fake: torch.Tensor, d_real: torch.Tensor | None = None) -> torch.Tensor:
        extra = {"d_real": d_real} if self.g_uses_real else {}
        return self.spec.g_loss(d_fake, **extra, **self._g_kw)

    def penalty(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, step: int = 1) -> torch.Tensor | None:
        """The loss's penalty on D (a module, or ``x -> scores`` for a conditional D); a penalty that
        names ``step`` gets the index of this D update (1, 2, ...: lazy regularisation)."""
        if self.spec.penalty is None:
            return None
        extra = {"step": step} if self.penalty_uses_step else {}
        return self.spec.penalty(D, real, fake, **extra, **self._penalty_kw)

    def after_d_step(self, D: nn.Module) -> None:
        if self.spec.after_d_step is not None:
            self.spec.after_d_step(D, **self._after_kw)


@dataclass
class TrainResult:
    status: str  # "ok" or "diverged"
    steps_done: int
    wall_s: float
    history: list[dict[str, float]] = field(default_factory=list)
    diverged_at: int | None = None
    message: str = ""
    #: seconds spent in ``on_eval`` (not part of ``wall_s``)
    eval_s: float = 0.0
    #: seconds spent in ``on_checkpoint`` (not part of ``wall_s``)
    checkpoint_s: float = 0.0

    @property
    def steps_per_s(self) -> float:
        return self.steps_done / self.wall_s if self.wall_s > 0 else float("nan")


class BatchSampler:
    """Index batches over a fresh permutation each epoch (the last incomplete batch is dropped).
    Its position and generator are part of a checkpoint, so a resumed cell sees the same batches."""

    def __init__(self, n: int, batch_size: int, gen: torch.Generator):
        self.n, self.batch_size, self.gen = n, min(batch_size, n), gen
        self.perm: torch.Tensor | None = None
        self.pos = 0

    def __next__(self) -> torch.Tensor:
        if self.perm is None or self.pos + self.batch_size > self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
        self.pos += self.batch_size
        return self.perm[self.pos - self.batch_size : self.pos]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.gen.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["generator"])
        self.perm, self.pos = state["perm"], state["pos"]


class Diverged(Exception):
    """Raised (e.g. by an evaluation callback) when generated samples are NaN/inf: the cell stops as
    ``diverged`` at ``step``."""

    def __init__(self, step: int, message: str):
        super().__init__(message)
        self.step, self.message = step, message


class TrainingError(Exception):
    """An exception inside a training step, with whose code raised it: ``kind`` is ``model``,
    ``loss``, ``ganbench`` (its own code) or None (autograd and the optimiser step: either plugin),
    ``where`` the call (``d_loss``, ``G forward``...)."""

    def __init__(self, kind: str | None, where: str, step: int):
        super().__init__(f"{where} at step {step}")
        self.kind, self.where, self.step = kind, where, step


def nonfinite_samples(samples: torch.Tensor, step: int, where: str) -> None:
    """Raise :class:`Diverged` when ``samples`` hold NaN/inf."""
    if not bool(torch.isfinite(samples).all()):
        raise Diverged(step, f"non-finite generated samples ({where}) at step {step}")


def train(
    G: nn.Module,
    D: nn.Module,
    loss: LossSpec,
    data: Data,
    settings: dict[str, Any],
    *,
    loss_options: dict[str, Any] | None = None,
    seed: int,
    device: torch.device,
    eval_noise: torch.Tensor,
    sample_dir: Path | None = None,
    on_step: Callable[[dict[str, float]], None] | None = None,
    on_samples: Callable[[int, Path], None] | None = None,
    on_eval: Callable[[int], None] | None = None,
    checkpoint_every: int = 0,
    checkpoint_seconds: float = 0.0,
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
    conditional: bool = False,
    eval_labels: torch.Tensor | None = None,
    g_ema: nn.Module | None = None,
) -> TrainResult:
    """Train G and D in place. Randomness comes only from the seed's named streams (see seeding);
    ``loss_options`` default to the loss's declared defaults. ``on_eval(step)`` is called every
    ``settings["eval_every"]`` steps before the last (the metric trajectory); ``on_samples(step, path)``
    after each sample picture is written; its time is reported
    as ``eval_s``, not as training time, and it must leave G, D and the random streams as they were.

    A step whose recorded values or generated batch are not finite, or whose |D loss| or |G loss|
    exceeds :data:`EXPLOSION`, ends training as ``diverged`` at that step; so does ``on_eval``
    raising :class:`Diverged`. An exception inside a step is raised as :class:`TrainingError` (from
    the original) naming the call that failed.

    Every ``checkpoint_every`` steps, or at the first step ``checkpoint_seconds`` after the last
    checkpoint (both: before the last step), ``on_checkpoint(state)`` receives the whole training
    state: G, D, both optimisers, every random stream, the history and the time spent.
    ``train(..., resume=state)`` continues from it and ends with the same weights and history, bit
    for bit on the CPU, as a run that was never interrupted.

    ``conditional``: G and D are called with labels (``eval_labels``: the labels of ``eval_noise``).
    ``g_ema``: a copy of G that becomes the moving average of its weights (``settings["g_ema"]`` > 0);
    it draws the sample grids and is part of the checkpoints."""
    bound = BoundLoss(loss, loss_options, seeding.generator(seed, "loss", data.info.name))
    G.to(device).train()
    D.to(device).train()
    nets = Networks(G, D, conditional)
    if g_ema is not None:
        g_ema.to(device).eval().requires_grad_(False)
    G_eval = g_ema if g_ema is not None else G  # draws the sample grids
    g_regularization = getattr(G, "regularization", None)
    g_regularization = g_regularization if callable(g_regularization) else None
    opt_g = make_optimizer(G.parameters(), settings, settings["lr_g"])
    opt_d = make_optimizer(D.parameters(), settings, settings["lr_d"])
    x_all = data.x.to(device)  # [N, *shape]
    if conditional and data.y is None:
        raise ValueError(f"a conditional model needs labelled data; {data.info.name} has no labels")
    y_all = data.y.to(device) if conditional else None  # [N] class indices
    labels = seeding.generator(seed, "labels", data.info.name)
    probs = class_probabilities(data, settings.get("fake_labels", "data")) if conditional else None
    aux_weight = settings.get("aux_weight", 1.0)
    batches = BatchSampler(len(x_all), settings["batch_size"], seeding.generator(seed, "data", data.info.name))
    noise = seeding.generator(seed, "noise", data.info.name)
    bs, latent, steps = settings["batch_size"], settings["latent_dim"], settings["steps"]
    every = settings["sample_every"]
    grid_noise = eval_noise[: GRID_SAMPLES if data.info.modality == "image" else SCATTER_SAMPLES]
    grid_labels = eval_labels[: len(grid_noise)] if conditional and eval_labels is not None else None

    def z_batch() -> torch.Tensor:
        return torch.randn(bs, latent, generator=noise).to(device)

    def y_batch() -> torch.Tensor | None:
        """Labels the next generated batch is asked for (conditional models only: the stream is untouched
        otherwise)."""
        return draw_labels(probs, bs, labels).to(device) if conditional else None

    history: list[dict[str, float]] = []
    eval_every = settings.get("eval_every", 0)
    eval_s = 0.0  # seconds spent in on_eval (a resumed cell: since the cell started)
    idle = 0.0  # seconds of this call not spent training: on_eval and writing checkpoints
    done_s = 0.0  # training seconds before the checkpoint we resume from
    checkpoint_s = 0.0  # seconds spent writing checkpoints (a resumed cell: since the cell started)
    first = 1
    if resume is not None:
        G.load_state_dict(resume["G"])
        D.load_state_dict(resume["D"])
        if g_ema is not None:
            g_ema.load_state_dict(resume["G_ema"])
        opt_g.load_state_dict(resume["opt_g"])
        opt_d.load_state_dict(resume["opt_d"])
        _set_random_state(resume["random"], batches, noise, bound.generator, device, labels)
        history, eval_s, done_s = list(resume["history"]), resume["eval_s"], resume["train_s"]
        checkpoint_s = resume["checkpoint_s"]
        first = resume["step"] + 1
    where: list[Any] = [None, ""]  # (kind, call) running now: who to blame for an exception

    def at(kind: str | None, call: str) -> None:
        where[0], where[1] = kind, call

    def one_step(step: int) -> tuple[dict[str, float], bool]:
        recorded = None  # the penalty of the step's last D update that computed one (lazy R1: not every one)
        for k in range(settings["n_critic"]):
            at("ganbench", "data batch")
            index = next(batches)
            real = x_all[index]
            y_real = y_all[index] if conditional else None
            y_fake = y_batch()
            at("model", "G forward")
            with torch.no_grad():
                fake = nets.g(z_batch(), y_fake)
            at("model", "D forward")
            (d_real, c_real), (d_fake, c_fake) = nets.d(real, y_real), nets.d(fake, y_fake)
            at("loss", "d_loss")
            d_loss = bound.d_loss(d_real, d_fake)
            if c_real is not None:  # AC-GAN: D also learns to classify real and generated samples
                at(None, "auxiliary classifier loss (D)")
                d_loss = d_loss + aux_weight * (auxiliary_loss(c_real, y_real) + auxiliary_loss(c_fake, y_fake))
            at("loss", "penalty")
            penalty = bound.penalty(nets.d_scores(y_real), real, fake, (step - 1) * settings["n_critic"] + k + 1)
            if penalty is not None:
                d_loss = d_loss + penalty
                recorded = penalty
            at(None, "D backward")
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            gn_d = grad_norm(D)
            opt_d.step()
            at("loss", "after_d_step")
            bound.after_d_step(D)
        at("model", "D forward")
        d_real_g = nets.d(real, y_real)[0] if bound.g_uses_real else None  # relativistic losses: D's current view
        y_fake_g = y_batch()
        at("model", "G forward")
        fake_g = nets.g(z_batch(), y_fake_g)
        at("model", "D forward")
        d_fake_g, c_fake_g = nets.d(fake_g, y_fake_g)
        at("loss", "g_loss")
        g_loss = bound.g_loss(d_fake_g, d_real_g)
        if c_fake_g is not None:  # AC-GAN: G wants its samples classified as the class they were asked to be
            at(None, "auxiliary classifier loss (G)")
            g_loss = g_loss + aux_weight * auxiliary_loss(c_fake_g, y_fake_g)
        if g_regularization is not None:  # a G's own term (BigGAN's orthogonal regularisation)
            at("model", "G regularization")
            g_loss = g_loss + g_regularization()
        at(None, "G backward")
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        gn_g = grad_norm(G)
        opt_g.step()
        if g_ema is not None:
            at("ganbench", "G EMA update")
            update_ema(g_ema, G, ema_beta(settings, step))
        # one device-to-host transfer per step for all recorded values and the samples' finiteness
        pen = recorded.detach() if recorded is not None else torch.zeros((), device=d_loss.device)
        values = torch.stack([
            d_loss.detach(), g_loss.detach(), pen.to(d_loss.dtype), d_real.detach().mean(), d_fake.detach().mean(),
            gn_d.to(d_loss.device), gn_g.to(d_loss.device),
            torch.isfinite(fake_g.detach()).all().to(d_loss.dtype) * torch.isfinite(fake).all().to(d_loss.dtype),
        ]).float().tolist()
        return {"step": step, **dict(zip(HISTORY_COLUMNS[1:], values[:-1], strict=True))}, values[-1] == 1.0

    start = last_checkpoint = time.perf_counter()

    def result(status: str, step: int, message: str = "") -> TrainResult:
        return TrainResult(status, step, done_s + time.perf_counter() - start - idle, history,
                           step if status == "diverged" else None, message, eval_s, checkpoint_s)

    for step in range(first, steps + 1):
        try:
            rec, samples_finite = one_step(step)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the plugins' code runs here: SystemExit included, it fails this cell only
            raise TrainingError(where[0], where[1], step) from exc
        history.append(rec)
        if on_step is not None:
            on_step(rec)
        problem = divergence(rec, samples_finite)
        if problem:
            return result("diverged", step, f"{problem} at step {step}")
        try:
            if sample_dir is not None and (step == steps or (every and step % every == 0)):
                try:
                    grid = generate(G_eval, grid_noise, device, y=grid_labels)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    raise TrainingError("model", "G forward (sample grid)", step) from exc
                nonfinite_samples(grid, step, "sample grid, eval mode")
                picture = sample_dir / f"step_{step:06d}.png"
                save_samples(grid, data, picture)
                if on_samples is not None and picture.is_file():
                    on_samples(step, picture)
            if on_eval is not None and eval_every and step % eval_every == 0 and step < steps:
                t0 = time.perf_counter()
                try:
                    on_eval(step)
                finally:
                    eval_s += time.perf_counter() - t0
                    idle += time.perf_counter() - t0
        except Diverged as exc:
            return result("diverged", exc.step, exc.message)
        due = (checkpoint_every and step % checkpoint_every == 0) or (
            checkpoint_seconds and time.perf_counter() - last_checkpoint >= checkpoint_seconds)
        if on_checkpoint is not None and due and step < steps:
            t0 = time.perf_counter()
            on_checkpoint({
                "step": step, "G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(), "random": _random_state(batches, noise, bound.generator, device, labels),
                **({"G_ema": g_ema.state_dict()} if g_ema is not None else {}),
                "history": history, "eval_s": eval_s, "train_s": done_s + t0 - start - idle,
                "checkpoint_s": checkpoint_s,
            })
            last_checkpoint = time.perf_counter()
            idle += last_checkpoint - t0  # writing a checkpoint is not training time
            checkpoint_s += last_checkpoint - t0
    return result("ok", steps)


def _random_state(batches: BatchSampler, noise: torch.Generator, loss: torch.Generator,
                  device: torch.device, labels: torch.Generator) -> dict[str, Any]:
    """Every random stream training draws from: batches, noise, the loss's, generated samples' labels,
    torch's global CPU (and CUDA) state (dropout, plugins that draw without a generator)."""
    return {"batches": batches.state_dict(), "noise": noise.get_state(), "loss": loss.get_state(),
            "labels": labels.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _set_random_state(state: dict[str, Any], batches: BatchSampler, noise: torch.Generator, loss: torch.Generator,
                      device: torch.device, labels: torch.Generator) -> None:
    batches.load_state_dict(state["batches"])
    noise.set_state(state["noise"])
    loss.set_state(state["loss"])
    if "labels" in state:  # checkpoints of ganbench before conditional models have none (never drawn from)
        labels.set_state(state["labels"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def divergence(rec: dict[str, float], samples_finite: bool = True) -> str | None:
    """Why a step means training diverged (non-finite generated batch or recorded values, loss
    explosion), else None."""
    bad = ([] if samples_finite else ["generated samples"]) + [k for k in HISTORY_COLUMNS[1:] if not math.isfinite(rec[k])]
    if bad:
        return f"non-finite {', '.join(bad)}"
    big = [k for k in ("d_loss", "g_loss") if abs(rec[k]) > EXPLOSION]
    if big:
        return "loss explosion: " + ", ".join(f"|{k}| = {abs(rec[k]):.3g}" for k in big) + f" > {EXPLOSION:g}"
    return None
