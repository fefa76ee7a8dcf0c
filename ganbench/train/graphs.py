"""Whole-step CUDA graphs (setting ``cuda_graphs``, ``ganbench run --cuda-graphs``): the training step of
:func:`ganbench.train.step.step`, every D and G update with its optimiser steps, captured as a CUDA graph
and replayed, so a small GAN's step costs one launch instead of hundreds (the GPU no longer waits for
Python). ``--compile reduce-overhead`` replays inductor's graphs of the networks' forward and backward
passes; this captures the optimisers, losses, records and EMA update too (Adam and RMSprop with
``capturable=True``), with the networks as they are.

How a step becomes a graph:

- What changes from step to step outside the device — the real batches, the noise and the generated
  samples' labels, all drawn from the seed's CPU streams in a fixed order — is drawn before each replay,
  exactly as the uncaptured step draws it (the same calls in the same order: the streams, and so the
  numbers, are those of the uncaptured step), and copied into the graph's static input tensors.
- The step's Python decisions are the due pattern of its lazy regulariser phases (D's per D update, G's
  per step): one graph per pattern (``nonsat-r1``: two). The EMA decay of the step is a device scalar set
  before each replay (ramp-ups and schedules stay exact).
- The first :data:`EAGER_RUNS` steps of each pattern run uncaptured (on a side stream on CUDA, as graph
  capture requires: they create the optimisers' state and warm the libraries up); the next is captured
  and replayed at once (capturing runs nothing).
- The step's values (losses, scores, gradient norms, finiteness) are the graph's output: copied out after
  each replay, brought to the host every ``sync_every`` steps as for any step.

What cannot be captured is refused in one line before anything trains (:func:`refusal`): a draw or a value
that the host makes per step inside the step (a loss stream's draw in a penalty, a penalty that depends on
the D update without being its own phase, cosine schedules of lr and β2, ADA, DiffAugment's and the history
pool's draws), ``compile`` (its own graphs), another device than CUDA. A model whose forward pass
synchronises with the host or draws on the CPU fails its cell at capture, naming the call. A replica group
trains its seeds as separate cells with this setting (it has its own CUDA graphs: ``--compile
reduce-overhead``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ganbench.options import parameter_names

#: uncaptured runs of each due pattern before it is captured
EAGER_RUNS = 2


def refusal(settings: dict[str, Any], loss: Any, loss_options: dict[str, Any] | None = None,
            device: torch.device | None = None, G: torch.nn.Module | None = None) -> str | None:
    """Why ``cuda_graphs`` cannot capture the step of ``settings`` with the loss ``loss`` (a
    :class:`~ganbench.specs.LossSpec`, with ``loss_options``) on ``device`` (and, once built, with the
    generator ``G``), in one line, or None. The one rule, asked by the session before anything trains and
    when a train state is built."""
    if not settings.get("cuda_graphs", False):
        return None
    if device is not None and device.type != "cuda":
        return f"setting cuda_graphs captures the training step on a CUDA device; this run trains on {device.type}"
    if settings.get("compile", "none") != "none":
        return ("settings cuda_graphs and compile both capture CUDA graphs: choose one (compile=reduce-overhead "
                "replays the networks' graphs, cuda_graphs the whole step's)")
    for key, neutral, why in (
            ("schedule_images", 0, "R3GAN's schedules set lr and β2 on the host at every step"),
            ("ada", "none", "ADA's augmentations draw on the host and its p moves with D's outputs"),
            ("augment", "none", "DiffAugment draws its colour, translation and cutout on the host at every D input"),
            ("pool_size", 0, "the history pool draws which images D sees on the host"),
            ("updates", "alternating", "the simultaneous step's capture is not yet checked on a GPU")):
        if settings.get(key, neutral) != neutral:
            return f"setting cuda_graphs cannot capture a step with {key}={settings[key]}: {why}"
    penalty = getattr(loss, "penalty", None)
    if penalty is not None:
        from ganbench.train.losses import BoundLoss

        names = parameter_names(penalty)
        if "generator" in names:
            return (f"setting cuda_graphs cannot capture loss '{loss.name}': its penalty draws from the loss's CPU "
                    "stream at every D update, and a graph would replay one draw")
        if "step" in names and BoundLoss(loss, loss_options).penalty_interval is None:
            return (f"setting cuda_graphs cannot capture loss '{loss.name}': its penalty is a function of the D "
                    "update (step) and not its own phase, so a graph would replay one update's value")
    reg = getattr(G, "regularization", None)
    if callable(reg) and "step" in parameter_names(reg):
        return ("setting cuda_graphs cannot capture this G's regularization(step=...): a graph would replay one "
                "step's value")
    return None


class CudaBackend:
    """Capture and replay with :class:`torch.cuda.CUDAGraph` on the state's device (also when another GPU is
    the current one); uncaptured runs on a side stream of that device."""

    def __init__(self, device: torch.device):
        self.device = device
        self.stream = torch.cuda.Stream(device)

    def eager(self, fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.cuda.device(self.device):
            current = torch.cuda.current_stream(self.device)
            self.stream.wait_stream(current)
            with torch.cuda.stream(self.stream):
                out = fn()
            current.wait_stream(self.stream)
        return out

    def capture(self, fn: Callable[[], torch.Tensor]) -> tuple[Callable[[], None], torch.Tensor]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.device(self.device):
            torch.cuda.synchronize(self.device)
            with torch.cuda.graph(graph, stream=self.stream):
                out = fn()

        def replay() -> None:
            with torch.cuda.device(self.device):
                graph.replay()
        return replay, out


class _Feed:
    """The task as the step sees it: the real task (``draw``: uncaptured steps, recording the order of its
    calls) or the graph's static inputs, in the recorded order (``static``: while capturing)."""

    def __init__(self, task: Any):
        self._task = task
        self.calls: list[str] = []
        self.static: list[Any] | None = None

    def __getattr__(self, name: str) -> Any:  # pool, data, kind, conditional, ...: the task's own
        return getattr(self._task, name)

    def _next(self, name: str) -> Any:
        if self.static is None:
            self.calls.append(name)
            return getattr(self._task, name)()
        i = len(self.calls) % len(self.static)  # (a stand-in that replays by running the step again starts over)
        self.calls.append(name)
        if self.static[i][0] != name:
            raise RuntimeError(f"the captured step asked the task for {name} as call {i + 1}, where its uncaptured "
                               "runs asked for something else: its Python path depends on more than its due phases")
        return self.static[i][1]

    def real(self) -> Any:
        return self._next("real")

    def fake_labels(self) -> Any:
        return self._next("fake_labels")

    def z(self) -> Any:
        return self._next("z")


class _Captured:
    """The train state the step sees while capturing or drawing: the state itself, with the task behind a
    :class:`_Feed` and the EMA decay from the graph's device scalar when one is set."""

    def __init__(self, s: Any, feed: _Feed):
        self._s = s
        self.task = feed
        self.beta: torch.Tensor | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s, name)

    def ema_beta(self, t: int) -> Any:
        return self._s.ema_beta(t) if self.beta is None else self.beta


def _copy_into(static: Any, value: Any) -> None:
    if isinstance(static, torch.Tensor):
        static.copy_(value)
    elif isinstance(static, tuple):
        for a, b in zip(static, value, strict=True):
            _copy_into(a, b)


def _clone(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    return value


class GraphedStep:
    """``step(s, t, blame)`` captured once per due pattern and replayed (module docstring). ``backend``:
    how to capture and replay (:class:`CudaBackend` on CUDA; the tests give one that replays by running
    the captured function again, which checks the inputs' order and copies on the CPU)."""

    def __init__(self, s: Any, blame: Any, step: Callable[..., torch.Tensor], backend: Any = None):
        self.s, self.blame, self._step = s, blame, step
        self.backend = backend if backend is not None else CudaBackend(s.device)
        #: per due pattern: uncaptured runs so far, the recorded calls, and once captured (replay, inputs, beta, out)
        self.runs: dict[tuple[bool, ...], int] = {}
        self.calls: dict[tuple[bool, ...], list[str]] = {}
        self.graphs: dict[tuple[bool, ...], tuple[Callable[[], None], list[tuple[str, Any]], torch.Tensor | None,
                                                  torch.Tensor]] = {}

    def pattern(self, t: int) -> tuple[bool, ...]:
        """The step's Python decisions: whether D's regulariser phase is due at each of its D updates, and G's."""
        s, n = self.s, self.s.settings["n_critic"]
        d = tuple(s.d_reg.due((t - 1) * n + k + 1) for k in range(n)) if s.d_reg is not None else ()
        return (*d, s.g_reg.due(t) if s.g_reg is not None else False)

    def __call__(self, t: int) -> torch.Tensor:
        key = self.pattern(t)
        if key in self.graphs:
            replay, inputs, beta, out = self.graphs[key]
            self._fill(inputs, beta, t)
            replay()
            return out.clone()
        feed = _Feed(self.s.task)
        view = _Captured(self.s, feed)
        if self.runs.get(key, 0) < EAGER_RUNS:
            out = self.backend.eager(lambda: self._step(view, t, self.blame))
            self.runs[key] = self.runs.get(key, 0) + 1
            if self.calls.setdefault(key, feed.calls) != feed.calls:
                raise RuntimeError(f"step {t} asked the task for {feed.calls}, an earlier step of its due pattern for "
                                   f"{self.calls[key]}: its Python path depends on more than its due phases")
            return out
        # capture: static inputs hold this step's draws (made now, in the recorded order), the graph reads them
        self.blame.at("ganbench", "data batch")
        inputs = [(name, _clone(getattr(self.s.task, name)())) for name in self.calls[key]]
        beta = torch.tensor(self.s.ema_beta(t), device=self.s.device) if self.s.G_ema is not None else None
        feed.static, view.beta = inputs, beta
        replay, out = self.backend.capture(lambda: self._step(view, t, self.blame))
        self.graphs[key] = (replay, inputs, beta, out)
        replay()  # capturing ran nothing: this is step t
        return out.clone()

    def _fill(self, inputs: list[tuple[str, Any]], beta: torch.Tensor | None, t: int) -> None:
        self.blame.at("ganbench", "data batch")
        for name, static in inputs:
            _copy_into(static, getattr(self.s.task, name)())
        if beta is not None:
            beta.fill_(self.s.ema_beta(t))
