"""The serial driver: calls :func:`ganbench.train.step.step` once per step and brings the steps' values
to the host every ``sync_every`` steps in one transfer (and before each sample grid, evaluation and
checkpoint, and at the end), so a GPU is never made to wait for the host inside that window; the
task's batches are drawn as far ahead. Each step's record then goes to the history and ``on_step`` in
order, and the first diverged step ends training *at that step*: its history, status and metrics are
those of a loop that synchronised every step (the networks of a diverged cell are those of the end of
its window, at most ``sync_every - 1`` steps later). Samples, evaluations and checkpoints go through
callbacks (it writes no file of the run itself but the sample pictures it is given a folder for)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.evaluation import translation_inputs
from ganbench.render import GRID_SAMPLES, SCATTER_SAMPLES, TRANSLATION_SAMPLES, save_samples, save_translations
from ganbench.specs import Data, LossSpec
from ganbench.train import setup
from ganbench.train.divergence import Diverged, TrainingError, divergence, nonfinite_samples
from ganbench.train.graphs import GraphedStep
from ganbench.train.phases import simultaneous
from ganbench.train.step import HISTORY_COLUMNS, Blame, step
from ganbench.train.task import generate, translate_back

#: steps whose recorded values stay on the device before one transfer brings them to the host
SYNC_EVERY = 32


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
    #: ADA's probability p at the end (setting ``ada``), or None
    ada_p: float | None = None

    @property
    def steps_per_s(self) -> float:
        return self.steps_done / self.wall_s if self.wall_s > 0 else float("nan")


def run_training(
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
    sync_every: int = SYNC_EVERY,
) -> TrainResult:
    """Train G and D in place. Randomness comes only from the seed's named streams (see seeding);
    ``loss_options`` default to the loss's declared defaults. ``on_eval(step)`` is called every
    ``settings["eval_every"]`` steps before the last (the metric trajectory); ``on_samples(step, path)``
    after each sample picture is written; its time is reported
    as ``eval_s``, not as training time, and it must leave G, D and the random streams as they were.

    A step whose recorded values or generated batch are not finite, or whose |D loss| or |G loss|
    exceeds :data:`~ganbench.train.divergence.EXPLOSION`, ends training as ``diverged`` at that step;
    so does ``on_eval`` raising :class:`Diverged`. An exception inside a step is raised as
    :class:`TrainingError` (from the original) naming the call that failed.

    Every ``checkpoint_every`` steps, or at the first step ``checkpoint_seconds`` after the last
    checkpoint (both: before the last step), ``on_checkpoint(state)`` receives the whole training
    state: G, D, both optimisers, every random stream, the history and the time spent.
    ``run_training(..., resume=state)`` continues from it and ends with the same weights and history,
    bit for bit on the CPU, as a run that was never interrupted.

    ``conditional``: G and D are called with labels (``eval_labels``: the labels of ``eval_noise``).
    ``g_ema``: a copy of G that becomes the moving average of its weights (``settings["g_ema"]`` > 0);
    it draws the sample grids and is part of the checkpoints.

    ``sync_every``: steps between transfers of the recorded values to the host (1: every step, as a
    timing probe that stamps ``on_step`` needs); ``on_step`` is called for each step, in order, when its
    window's values arrive. The numbers do not depend on it."""
    s = setup.state(G, D, loss, data, settings, seed=seed, device=device, loss_options=loss_options,
                    conditional=conditional, g_ema=g_ema)
    if resume is not None:
        s.load_state_dict(resume)
    steps, every, eval_every = settings["steps"], settings["sample_every"], settings.get("eval_every", 0)
    grid_noise = eval_noise[: GRID_SAMPLES if data.info.modality == "image" else SCATTER_SAMPLES]
    shown = None  # a translation grid: held-out inputs, their outputs, and their targets or round trips
    if data.info.task == "translation":
        shown = translation_inputs(data, TRANSLATION_SAMPLES)
        grid_noise = shown.sources
    grid_labels = eval_labels[: len(grid_noise)] if conditional and eval_labels is not None else None
    blame = Blame()
    # cuda_graphs: the step captured once per due pattern and replayed (ganbench.train.graphs)
    advance = (GraphedStep(s, blame, step) if settings.get("cuda_graphs", False)
               else lambda t: step(s, t, blame))
    idle = 0.0  # seconds of this call not spent training: on_eval and writing checkpoints
    start = last_checkpoint = time.perf_counter()

    def result(status: str, at: int, message: str = "") -> TrainResult:
        return TrainResult(status, at, s.train_s + time.perf_counter() - start - idle, s.history,
                           at if status == "diverged" else None, message, s.eval_s, s.checkpoint_s,
                           s.ada.p if s.ada is not None else None)

    if sync_every < 1:
        raise ValueError(f"sync_every must be a positive number of steps, not {sync_every}")
    s.task.fetch_ahead(sync_every, settings["n_critic"], 0 if simultaneous(settings) else settings.get("g_steps", 1),
                       s.g_reg.interval if s.g_reg is not None else None)
    pending: list[tuple[int, torch.Tensor]] = []  # steps done whose values are still on the device

    def arrive() -> TrainResult | None:
        """The pending steps' values in one device-to-host transfer, into the history and ``on_step``
        in order; the first diverged step ends training there."""
        if not pending:
            return None
        done = [t for t, _ in pending]
        try:
            rows = torch.stack([values for _, values in pending]).tolist()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # an asynchronous device error of one of the window's steps surfaces here
            pending.clear()
            raise TrainingError(None, f"steps {done[0]}-{done[-1]} (a device error, reported when their values "
                                "came to the host)", done[-1]) from exc
        pending.clear()
        for t, values in zip(done, rows, strict=True):
            rec = {"step": t, **dict(zip(HISTORY_COLUMNS[1:], values[:-1], strict=True))}
            s.history.append(rec)
            if on_step is not None:
                on_step(rec)
            problem = divergence(rec, values[-1] == 1.0)
            if problem:
                return result("diverged", t, f"{problem} at step {t}")
        return None

    def checkpoint_due() -> bool:
        return bool(on_checkpoint is not None and t < steps and (
            (checkpoint_every and t % checkpoint_every == 0)
            or (checkpoint_seconds and time.perf_counter() - last_checkpoint >= checkpoint_seconds)))

    for t in range(s.step + 1, steps + 1):
        try:
            pending.append((t, advance(t)))
        except KeyboardInterrupt:
            arrive()  # the steps done are recorded (a checkpoint, not these, is what a re-run continues from)
            raise
        except BaseException as exc:  # the plugins' code runs here: SystemExit included, it fails this cell only
            stopped = arrive()  # an earlier step of the window diverged: training stopped there, not here
            if stopped is not None:
                return stopped
            raise TrainingError(blame.kind, blame.call, t) from exc
        s.step = t
        grid_due = sample_dir is not None and (t == steps or (every and t % every == 0))
        eval_due = on_eval is not None and eval_every and t % eval_every == 0 and t < steps
        if not (grid_due or eval_due or checkpoint_due() or t == steps or len(pending) >= sync_every):
            continue
        stopped = arrive()
        if stopped is not None:
            return stopped
        try:
            if grid_due:
                try:
                    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # a G that draws
                        grid = generate(s.G_eval, grid_noise, device, y=grid_labels)  # leaves training's streams
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    raise TrainingError("model", "G forward (sample grid)", t) from exc
                nonfinite_samples(grid, t, "sample grid, eval mode")
                picture = sample_dir / f"step_{t:06d}.png"
                if shown is not None:
                    back = translate_back(s.G_eval, device)
                    third = shown.targets if shown.targets is not None else back(grid) if back is not None else None
                    save_translations([c for c in (shown.sources, grid, third) if c is not None], data, picture)
                else:
                    save_samples(grid, data, picture)
                if on_samples is not None and picture.is_file():
                    on_samples(t, picture)
            if eval_due:
                t0 = time.perf_counter()
                try:
                    on_eval(t)
                finally:
                    s.eval_s += time.perf_counter() - t0
                    idle += time.perf_counter() - t0
        except Diverged as exc:
            return result("diverged", exc.step, exc.message)
        if checkpoint_due():  # after an evaluation too: its time counts towards checkpoint_seconds
            t0 = time.perf_counter()
            on_checkpoint(s.state_dict(s.train_s + t0 - start - idle))
            last_checkpoint = time.perf_counter()
            idle += last_checkpoint - t0  # writing a checkpoint is not training time
            s.checkpoint_s += last_checkpoint - t0
    return result("ok", steps)
