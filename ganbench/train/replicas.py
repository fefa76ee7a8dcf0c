"""K seeds of one (data set, model, loss) trained as one vectorised program: a *replica group*.

The K replicas' networks are stacked (``torch.func.stack_module_state``: every parameter and buffer
becomes ``[K, ...]``) and called through ``functional_call`` under ``vmap``; each replica draws its
batches, noise and (for a penalty) its loss randomness from its own seed's streams, so replica k sees
exactly what seed k's cell sees alone. The update is :func:`ganbench.train.step.step` itself, on a
:class:`GroupState`: every value it handles has a leading replica dimension, the losses are ``vmap``
of the loss's functions, and their sum is differentiated once — replica k's gradient is its own. One
Adam (or RMSprop) over the stacked parameters is K optimisers (their updates are elementwise).

Per replica, as alone: BatchNorm (running statistics are stacked buffers, updated under ``vmap``);
a penalty (WGAN-GP, R1 — in D's loss or as its own lazy phase: called once per replica, on that
replica's weights, since a gradient penalty differentiates D twice); an ``after_d_step`` (WGAN's
clipping: called on each replica's own module, whose weights are views of the stacked ones); the EMA
generator (an elementwise average of stacked weights). A replica's record is its own, and so is its
divergence: a replica whose values turn NaN/inf or explode stops *its* history at that step (its
networks keep the weights of the end of that window, as a cell alone keeps them), while the others go
on. Each replica's modules see its current weights throughout (their tensors are views of the stacked
ones): sample grids, evaluations and the cell's saved networks read them as they read a lone cell's.

Conditional models too: each replica draws its labels from its seed's ``labels`` stream, G and D take
them under ``vmap``, an AC-GAN's class term is each replica's own. ``compile`` compiles the vmapped calls
of G and D (:meth:`Stacked.compiled`; with ``reduce-overhead`` on CUDA, inductor's CUDA graphs replay the
whole group's forward passes). Not (yet) vectorised, each said in one line by :func:`why_not`: a G with its
own ``regularization()`` or dropout, ``amp``/``channels_last``/``augment``/``ada``.
"""

from __future__ import annotations

import contextlib
import copy
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench import seeding
from ganbench.conditioning import split_scores
from ganbench.render import GRID_SAMPLES, SCATTER_SAMPLES, save_samples
from ganbench.specs import Data, LossSpec
from ganbench.train.divergence import Diverged, TrainingError, divergence, nonfinite_samples
from ganbench.train.ema import ema_beta
from ganbench.train.loop import SYNC_EVERY, TrainResult
from ganbench.train.losses import BoundLoss
from ganbench.train.optim import make_optimizer, own_parameters
from ganbench.train.phases import g_optimizer_interval, phases, ratio, simultaneous, simultaneous_refusal
from ganbench.train.state import load_networks, on_cpu, uses_cuda_graphs
from ganbench.train.step import HISTORY_COLUMNS, Blame, step
from ganbench.train.task import GenerationTask, generate


class NotVectorisable(Exception):
    """Why a model, loss or setting cannot train as replicas (one line): its seeds train separately."""


def _spectral(module: nn.Module) -> bool:
    """Whether ``module`` is spectrally normalised by torch (the parametrization or the older hook)."""
    parametrizations = getattr(module, "parametrizations", None)
    if parametrizations is not None and any(type(p).__name__ == "_SpectralNorm"
                                            for plist in parametrizations.values() for p in plist):
        return True
    return any(type(h).__name__ == "SpectralNorm" for h in module._forward_pre_hooks.values())


def why_not(G: nn.Module, loss: LossSpec, settings: dict[str, Any], conditional: bool,
            D: nn.Module | None = None, task: str = "generation") -> str | None:
    """The reason these networks, loss and settings (on a data set of ``task``) cannot train as replicas, or
    None."""
    if task != "generation":  # the group's task draws noise: a translation G takes domain A's images
        return f"its data set is a {task} task (a replica group feeds G noise, not a batch of inputs)"
    if callable(getattr(G, "reconstruction", None)) or getattr(G, "both_ways", False):
        return "it is a translation model (its G's own terms act on a module)"
    if callable(getattr(G, "regularization", None)):
        return "its G has a regularization() (it acts on a module)"
    if D is not None and {id(p) for p in G.parameters()} & {id(p) for p in D.parameters()}:
        return ("its G and D share parameters (a group stacks each network's own: one tensor would become two, "
                "each updated by one optimiser)")
    for name, net in (("G", G), ("D", D)):
        if net is not None and any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum is None
                                   and m.track_running_stats for m in net.modules()):
            return (f"its {name} uses BatchNorm with momentum=None (a cumulative average, whose count vmap cannot "
                    "read)")
        reason = getattr(net, "not_vectorisable", None)  # a network that says why (StyleGAN2's G draws inside)
        if isinstance(reason, str):
            return reason
        if net is not None and any(isinstance(m, nn.modules.dropout._DropoutNd) for m in net.modules()):
            return f"its {name} uses dropout (a draw from torch's global generator, not the replica's own)"
        if net is not None and any(_spectral(m) for m in net.modules()):
            return (f"its {name} uses spectral normalisation (its power iteration writes its vectors in place, "
                    "which vmap cannot batch)")
    for key, neutral in (("amp", "none"), ("channels_last", False), ("augment", "none"), ("ada", "none")):
        if settings.get(key, neutral) != neutral:
            return f"setting {key}={settings[key]} is not vectorised yet"
    if settings.get("cuda_graphs", False):
        return ("setting cuda_graphs captures one cell's step (a replica group replays CUDA graphs with compile="
                "reduce-overhead)")
    return None


def _vmapped(base: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
             *inputs: torch.Tensor) -> Any:
    """``base``'s structure run with each replica's slice of ``params``/``buffers`` on its slice of ``inputs``."""
    return torch.func.vmap(lambda p, b, *xs: torch.func.functional_call(base, (p, b), xs))(params, buffers, *inputs)


class Stacked:
    """K modules as one: stacked parameters (the optimiser's leaves) and buffers, and a meta copy of the
    module's structure that ``functional_call`` runs them through. Each module's own tensors become
    views of its replica's slice (:meth:`bind`), so the modules always hold their replica's weights."""

    #: stacks compiled so far in this process (each gets its own code object: :meth:`compiled`)
    _compiled = 0

    def __init__(self, modules: list[nn.Module]):
        self.modules = modules
        self.params, self.bufs = torch.func.stack_module_state(modules)
        self.base = copy.deepcopy(modules[0]).to("meta")
        self.bind()

    def bind(self, which: list[int] | None = None) -> None:
        """Replica k's module (each of ``which``, default all) reads and writes its slice of the stack."""
        with torch.no_grad():
            for k in range(len(self.modules)) if which is None else which:
                for name, tensor in (*self.modules[k].named_parameters(), *self.modules[k].named_buffers()):
                    tensor.data = self.params[name][k] if name in self.params else self.bufs[name][k]

    def release(self, k: int) -> None:
        """Replica k's module keeps its current weights in tensors of its own (a stopped replica; the end)."""
        with torch.no_grad():
            for tensor in (*self.modules[k].parameters(), *self.modules[k].buffers()):
                tensor.data = tensor.data.clone()

    def __call__(self, *inputs: torch.Tensor) -> Any:
        """``[K, N, ...]`` inputs (a batch, and its labels for a conditional network), each replica through
        its own weights; ``[K, N, ...]`` out (a tuple of them for a D with class logits)."""
        return _vmapped(self.base, self.params, self.bufs, *inputs)

    def compiled(self, mode: str) -> Callable[..., Any]:
        """The call of :meth:`__call__` through ``torch.compile(mode=mode)``. The stacked tensors are
        marked as static addresses: the optimiser and ``load_state_dict`` update them in place, and the CUDA
        graphs of ``reduce-overhead`` read them where they are instead of copying them in at every replay."""
        for tensor in (*self.params.values(), *self.bufs.values()):
            torch._dynamo.mark_static_address(tensor)
        base = self.base

        def call(params, buffers, *inputs):
            return _vmapped(base, params, buffers, *inputs)

        # a code object of its own per stack: dynamo keys its cache, recompile budget and shape history on
        # the code, and G's and D's (and another group's) shapes must not mark each other's sizes dynamic
        Stacked._compiled += 1
        name = f"replicas_{Stacked._compiled}"
        call = types.FunctionType(call.__code__.replace(co_name=name), call.__globals__, name,
                                  call.__defaults__, call.__closure__)
        fn = torch.compile(call, mode=mode, dynamic=False)
        return lambda *inputs: fn(self.params, self.bufs, *inputs)

    def replica(self, k: int, y: torch.Tensor | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """``x -> D(x)`` (``D(x, y[k])`` with the labels of a conditional D: its scores) through replica k's
        slice of the stack, differentiable into the stacked leaves."""
        params = {n: p[k] for n, p in self.params.items()}
        buffers = {n: b[k] for n, b in self.bufs.items()}
        if y is None:
            return lambda x: torch.func.functional_call(self.base, (params, buffers), (x,))
        return lambda x: split_scores(torch.func.functional_call(self.base, (params, buffers), (x, y[k])))[0]

    # what update_ema walks: the stacked tensors in the modules' order
    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def buffers(self) -> list[torch.Tensor]:
        return list(self.bufs.values())

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"params": dict(self.params), "buffers": dict(self.bufs)}

    def load_state_dict(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        with torch.no_grad():
            for name, tensor in (*self.params.items(), *self.bufs.items()):
                tensor.copy_(state["params" if name in self.params else "buffers"][name])


class _GroupNetworks:
    """The replicas' G and D as the step calls them: ``[K, N, ...]`` batches (and ``[K, N]`` labels for a
    conditional model), ``[K, N]`` scores and ``[K, N, classes]`` class logits or None. ``G``/``D`` are the
    stacks, or their compiled calls (:meth:`Stacked.compiled`)."""

    def __init__(self, G: Stacked | Callable[..., Any], D: Stacked | Callable[..., Any], conditional: bool):
        self.G, self.D, self.conditional = G, D, conditional

    def g(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.G(z, y) if self.conditional else self.G(z)

    def d(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.D(x, y) if self.conditional else self.D(x)
        if isinstance(out, (tuple, list)):
            if not self.conditional:
                raise TypeError("D returned class logits, but the model is not conditional: an auxiliary "
                                "classifier needs class labels (declare condition='class')")
            return out[0].reshape(out[0].shape[0], -1), out[1]
        return out.reshape(out.shape[0], -1), None

    def d_scores(self, y: torch.Tensor | None) -> Any:
        return self.D if not self.conditional else _WithLabels(self.D, y)


class _WithLabels:
    """A conditional D's replicas with one batch's labels (the real batch's, or the generated batch's for a
    penalty's ``D_fake``), as a penalty takes them (per replica)."""

    def __init__(self, D: Stacked, y: torch.Tensor):
        self.D, self.y = D, y

    def replica(self, k: int) -> Callable[[torch.Tensor], torch.Tensor]:
        return self.D.replica(k, self.y)


class _GroupLoss:
    """The loss for K replicas: ``d_loss``/``g_loss`` under ``vmap`` (``[K]`` values), the penalty and
    ``after_d_step`` once per replica with its own loss stream and module."""

    def __init__(self, bound: list[BoundLoss], Ds: list[nn.Module]):
        self.bound, self.Ds = bound, Ds
        #: whether each replica still trains: a stopped (diverged) one's penalty and after_d_step are not
        #: called any more (its slice of the stack goes on being updated, its numbers are no longer read)
        self.alive = [True] * len(bound)
        first = bound[0]
        self.g_uses_real, self.penalty_interval = first.g_uses_real, first.penalty_interval
        self.penalty_uses_d_fake = first.penalty_uses_d_fake
        self._d = torch.func.vmap(first.d_loss)
        self._g = torch.func.vmap(first.g_loss) if first.g_uses_real else torch.func.vmap(lambda f: first.g_loss(f))

    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        return self._d(d_real, d_fake)

    def g_loss(self, d_fake: torch.Tensor, d_real: torch.Tensor | None = None) -> torch.Tensor:
        return self._g(d_fake, d_real) if self.g_uses_real else self._g(d_fake)

    def penalty(self, D: Any, real: torch.Tensor, fake: torch.Tensor, step: int = 1,
                D_fake: Any = None) -> torch.Tensor | None:
        values = {k: b.penalty(D.replica(k), real[k], fake[k], step, None if D_fake is None else D_fake.replica(k))
                  for k, b in enumerate(self.bound) if self.alive[k]}
        if all(v is None for v in values.values()):
            return None
        if any(v is None for v in values.values()):
            raise TypeError(f"loss {self.bound[0].spec.name!r}'s penalty returned None for some replicas and a value "
                            "for others at the same update")
        zero = torch.zeros((), device=real.device)
        return torch.stack([values[k].reshape(()) if k in values else zero for k in range(len(self.bound))])

    def after_d_step(self, D: Stacked) -> None:
        for k, (b, module) in enumerate(zip(self.bound, self.Ds, strict=True)):
            if self.alive[k]:
                b.after_d_step(module)


class _GroupTask:
    """The K replicas' tasks as one: each draws from its own seed's streams, the batches are stacked."""

    kind = "generation"
    pool = None

    def __init__(self, tasks: list[GenerationTask]):
        self.tasks = tasks
        self.conditional = tasks[0].conditional

    def fetch_ahead(self, steps: int, n_critic: int, g_steps: int = 1) -> None:
        for task in self.tasks:
            task.fetch_ahead(steps, n_critic, g_steps)

    def real(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        batches = [task.real() for task in self.tasks]
        x = torch.stack([b[0] for b in batches])
        return x, torch.stack([b[1] for b in batches]) if self.conditional else None

    def fake_labels(self) -> torch.Tensor | None:
        return torch.stack([task.fake_labels() for task in self.tasks]) if self.conditional else None

    def z(self) -> torch.Tensor:
        return torch.stack([task.z() for task in self.tasks])


@dataclass
class GroupState:
    """What :func:`~ganbench.train.step.step` needs of a :class:`~ganbench.train.state.TrainState`, for K
    replicas at once (the same names; every value with a leading replica dimension)."""

    G: Stacked
    D: Stacked
    G_ema: Stacked | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    loss: _GroupLoss
    task: _GroupTask
    settings: dict[str, Any]
    device: torch.device
    step: int = 0
    cuda_graphs = False
    g_regularization = None
    reconstruction = None  # translation models train one seed at a time (why_not)
    g_reg = None
    ada = None  # D's augmentation is not vectorised (why_not)
    train_s: float = 0.0
    checkpoint_s: float = 0.0
    d_reg: Any = field(init=False)
    d_own: list[torch.Tensor] = field(init=False)

    def __post_init__(self) -> None:
        #: how the step calls G and D (compiled with ``compile``); penalties and sampling use ``eager``
        self.eager = _GroupNetworks(self.G, self.D, self.task.conditional)
        mode = self.settings.get("compile", "none")
        self.cuda_graphs = uses_cuda_graphs(mode, self.device)
        self.nets = self.eager if mode == "none" else _GroupNetworks(
            self.G.compiled(mode), self.D.compiled(mode), self.task.conditional)
        self.d_reg = {p.name: p for p in phases(self.loss.bound[0], self.G.modules[0])}.get("Dreg")
        self.d_own = own_parameters(self.D, self.G)  # as TrainState's
        why = simultaneous_refusal(self.settings, self.loss.bound[0].penalty_interval)  # as TrainState's
        if why is not None:
            raise ValueError(why)

    @staticmethod
    def grad_norm(net: Stacked) -> torch.Tensor:
        """``[K]``: each replica's global L2 norm of its network's gradients."""
        params = list(net.parameters())
        grads = [p.grad.detach() for p in params if p.grad is not None]
        k = len(net.modules)
        if not grads:  # on the group's device, as a lone cell's zero is (a CPU tensor beside CUDA ones fails)
            return torch.zeros(k, device=params[0].device if params else None)
        return torch.linalg.vector_norm(torch.stack([g.reshape(k, -1).norm(dim=1) for g in grads]), dim=0)

    @staticmethod
    def auxiliary_loss(logits: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor | None:
        """``[K]``: each replica's AC-GAN class term (the cross-entropy of its ``[N, classes]`` logits)."""
        if logits is None:
            return None
        k, n = y.shape
        return torch.nn.functional.cross_entropy(logits.reshape(k * n, -1), y.reshape(-1), reduction="none").view(
            k, n).mean(1)

    @staticmethod
    def all_finite(x: torch.Tensor) -> torch.Tensor:
        """``[K]``: whether each replica's batch is finite (as :meth:`TrainState.all_finite`)."""
        return (x * 0).flatten(1).sum(1) == 0

    def autocast(self):
        return contextlib.nullcontext()

    def ema_beta(self, t: int) -> float:
        return ema_beta(self.settings, t)


@dataclass
class Member:
    """One replica of a group: its seed, networks (built and initialised as its cell builds them) and what
    its cell does while it trains; after :func:`run_replicas`, its modules hold its weights."""

    seed: int
    G: nn.Module
    D: nn.Module
    G_ema: nn.Module | None = None
    #: noise of the sample grids (the cell's evaluation noise) and where they go (None: no grids)
    eval_noise: torch.Tensor | None = None
    #: a conditional model's labels of ``eval_noise``
    eval_labels: torch.Tensor | None = None
    sample_dir: Path | None = None
    on_step: Callable[[dict[str, float]], None] | None = None
    on_samples: Callable[[int, Path], None] | None = None
    #: the cell's evaluation during training; may raise Diverged (this replica stops there)
    on_eval: Callable[[int], None] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: tuple[int, str] | None = None  # (step, message) of its divergence
    #: its training seconds (its row's ``train_s``): the group's up to the host sync that saw its divergence,
    #: prorated to the step it diverged at (so its steps/s is the group's rate)
    stopped_s: float | None = None
    eval_s: float = 0.0

    @property
    def G_eval(self) -> nn.Module:
        return self.G_ema if self.G_ema is not None else self.G


def group_state(members: list[Member], loss: LossSpec, data: Data, settings: dict[str, Any], *,
                device: torch.device, loss_options: dict[str, Any] | None = None,
                conditional: bool = False) -> GroupState:
    """The group at step 0: every replica's networks on ``device`` (the EMA copies in eval mode without
    gradients), stacked; one optimiser per network over the stack; each replica's loss and task streams."""
    for m in members:
        m.G.to(device).train()
        m.D.to(device).train()
        if m.G_ema is not None:
            m.G_ema.to(device).eval().requires_grad_(False)
    G, D = Stacked([m.G for m in members]), Stacked([m.D for m in members])
    ema = Stacked([m.G_ema for m in members]) if members[0].G_ema is not None else None
    name = data.info.name
    bound = [BoundLoss(loss, loss_options, seeding.generator(m.seed, "loss", name)) for m in members]
    opt_g = make_optimizer(G.parameters(), settings, settings["lr_g"], ratio(g_optimizer_interval(members[0].G)))
    opt_d = make_optimizer(D.parameters(), settings, settings["lr_d"], ratio(bound[0].penalty_interval))
    tasks = _GroupTask([GenerationTask(data, settings, m.seed, device, conditional=conditional) for m in members])
    return GroupState(G, D, ema, opt_g, opt_d, _GroupLoss(bound, [m.D for m in members]), tasks, settings, device)


def _group_checkpoint(s: GroupState, members: list[Member], train_s: float) -> dict[str, Any]:
    return {
        "step": s.step, "seeds": [m.seed for m in members], "G": s.G.state_dict(), "D": s.D.state_dict(),
        **({"G_ema": s.G_ema.state_dict()} if s.G_ema is not None else {}),
        "opt_g": s.opt_g.state_dict(), "opt_d": s.opt_d.state_dict(), "torch": torch.get_rng_state(),
        "random": [{**t.random_state(), "loss": b.generator.get_state()}
                   for t, b in zip(s.task.tasks, s.loss.bound, strict=True)],
        "members": [{"history": m.history, "stopped": m.stopped, "stopped_s": m.stopped_s, "eval_s": m.eval_s,
                     **({"G": m.G.state_dict(), "D": m.D.state_dict(),
                         **({"G_ema": m.G_ema.state_dict()} if m.G_ema is not None else {})} if m.stopped else {})}
                    for m in members],
        "train_s": train_s, "checkpoint_s": s.checkpoint_s,
    }


def _load_group_checkpoint(s: GroupState, members: list[Member], state: dict[str, Any]) -> None:
    if state["seeds"] != [m.seed for m in members]:
        raise ValueError(f"the checkpoint is of a replica group of seeds {state['seeds']}, not "
                         f"{[m.seed for m in members]}")
    load_networks(s, state)
    torch.set_rng_state(state["torch"].cpu())
    for task, bound, random in zip(s.task.tasks, s.loss.bound, state["random"], strict=True):
        random = on_cpu(random)
        task.set_random_state(random)
        bound.generator.set_state(random["loss"])
    for k, (m, saved) in enumerate(zip(members, state["members"], strict=True)):
        m.history, m.eval_s = list(saved["history"]), saved["eval_s"]
        m.stopped = tuple(saved["stopped"]) if saved["stopped"] else None
        m.stopped_s = saved.get("stopped_s")  # None in a checkpoint from before it was kept: the group's time
        if m.stopped:  # it keeps the weights it stopped with, apart from the stack that trains on
            s.loss.alive[k] = False
            for net in ("G", "D", "G_ema"):
                if net in saved:
                    s_net = {"G": s.G, "D": s.D, "G_ema": s.G_ema}[net]
                    s_net.release(k)
                    getattr(m, net).load_state_dict(saved[net])
    s.step, s.train_s, s.checkpoint_s = state["step"], state["train_s"], state["checkpoint_s"]


def run_replicas(members: list[Member], loss: LossSpec, data: Data, settings: dict[str, Any], *,
                 device: torch.device, loss_options: dict[str, Any] | None = None, sync_every: int = SYNC_EVERY,
                 checkpoint_every: int = 0, checkpoint_seconds: float = 0.0,
                 on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
                 resume: dict[str, Any] | None = None, conditional: bool = False) -> list[TrainResult]:
    """Train every member on its seed's streams, all at once, as
    :func:`~ganbench.train.loop.run_training` trains one: its records go to its ``on_step`` in order
    every ``sync_every`` steps, its grids to its ``sample_dir``, its ``on_eval`` every ``eval_every``
    steps; checkpoints of the whole group (``on_checkpoint``, ``resume``) as there. One
    :class:`TrainResult` per member, in order (``wall_s``: the group's training time; a member that diverged,
    the group's up to the host sync that saw it, prorated to its step). Raises
    :class:`NotVectorisable` (one line) for what :func:`why_not` refuses; an exception inside a step is
    a :class:`TrainingError` for the whole group."""
    first = members[0]
    reason = why_not(first.G, loss, settings, conditional=conditional, D=first.D, task=data.info.task)
    if reason is not None:
        raise NotVectorisable(f"{len(members)} seeds cannot train as replicas: {reason}")
    if sync_every < 1:
        raise ValueError(f"sync_every must be a positive number of steps, not {sync_every}")
    s = group_state(members, loss, data, settings, device=device, loss_options=loss_options, conditional=conditional)
    if resume is not None:
        _load_group_checkpoint(s, members, resume)
    steps, every, eval_every = settings["steps"], settings["sample_every"], settings.get("eval_every", 0)
    grids = GRID_SAMPLES if data.info.modality == "image" else SCATTER_SAMPLES
    blame = Blame()
    pending: list[tuple[int, torch.Tensor]] = []
    idle = 0.0
    start = last_checkpoint = time.perf_counter()
    s.task.fetch_ahead(sync_every, settings["n_critic"], 0 if simultaneous(settings) else settings.get("g_steps", 1))
    nets = ("G", "D", "G_ema")

    def release(k: int) -> None:
        for net in nets:
            stacked = getattr(s, net)
            if stacked is not None:
                stacked.release(k)

    def stop(k: int, at: int, message: str) -> None:
        members[k].stopped = (at, message)
        now = s.train_s + time.perf_counter() - start - idle  # seen up to step s.step (a host sync after `at`)
        members[k].stopped_s = now * at / max(s.step, at, 1)
        s.loss.alive[k] = False
        release(k)

    def live() -> list[int]:
        return [k for k, m in enumerate(members) if m.stopped is None]

    def arrive() -> None:
        if not pending:
            return
        done = [t for t, _ in pending]
        try:
            rows = torch.stack([v.T for _, v in pending]).tolist()  # [window, K, values]
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            pending.clear()
            raise TrainingError(None, f"steps {done[0]}-{done[-1]} (a device error, reported when their values "
                                "came to the host)", done[-1]) from exc
        pending.clear()
        for t, per_replica in zip(done, rows, strict=True):
            for k in live():
                values, m = per_replica[k], members[k]
                rec = {"step": t, **dict(zip(HISTORY_COLUMNS[1:], values[:-1], strict=True))}
                m.history.append(rec)
                if m.on_step is not None:
                    m.on_step(rec)
                problem = divergence(rec, values[-1] == 1.0)
                if problem:
                    stop(k, t, f"{problem} at step {t}")

    def checkpoint_due() -> bool:
        return bool(on_checkpoint is not None and t < steps and (
            (checkpoint_every and t % checkpoint_every == 0)
            or (checkpoint_seconds and time.perf_counter() - last_checkpoint >= checkpoint_seconds)))

    for t in range(s.step + 1, steps + 1):
        if not live():
            break
        try:
            pending.append((t, step(s, t, blame)))
        except KeyboardInterrupt:
            arrive()
            raise
        except BaseException as exc:  # plugin code: it fails the group (every member's cell)
            arrive()
            raise TrainingError(blame.kind, blame.call, t) from exc
        s.step = t
        grid_due = t == steps or bool(every and t % every == 0)
        eval_due = bool(eval_every and t % eval_every == 0 and t < steps)
        if not (grid_due or eval_due or checkpoint_due() or t == steps or len(pending) >= sync_every):
            continue
        arrive()
        for k in live():
            m = members[k]
            try:
                if grid_due and m.sample_dir is not None and m.eval_noise is not None:
                    try:
                        labels = m.eval_labels[:grids] if conditional and m.eval_labels is not None else None
                        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                            grid = generate(m.G_eval, m.eval_noise[:grids], device, y=labels)
                    except KeyboardInterrupt:
                        raise
                    except BaseException as exc:
                        raise TrainingError("model", "G forward (sample grid)", t) from exc
                    nonfinite_samples(grid, t, "sample grid, eval mode")
                    picture = m.sample_dir / f"step_{t:06d}.png"
                    save_samples(grid, data, picture)
                    if m.on_samples is not None and picture.is_file():
                        m.on_samples(t, picture)
                if eval_due and m.on_eval is not None:
                    t0 = time.perf_counter()
                    try:
                        m.on_eval(t)
                    finally:
                        m.eval_s += time.perf_counter() - t0
                        idle += time.perf_counter() - t0
            except Diverged as exc:
                stop(k, exc.step, exc.message)
        if checkpoint_due() and live():
            t0 = time.perf_counter()
            on_checkpoint(_group_checkpoint(s, members, s.train_s + t0 - start - idle))
            last_checkpoint = time.perf_counter()
            idle += last_checkpoint - t0
            s.checkpoint_s += last_checkpoint - t0
    for k in live():
        release(k)  # every module keeps its weights in tensors of its own
    wall = s.train_s + time.perf_counter() - start - idle
    return [TrainResult("diverged", m.stopped[0], wall if m.stopped_s is None else m.stopped_s, m.history,
                        m.stopped[0], m.stopped[1], m.eval_s, s.checkpoint_s) if m.stopped
            else TrainResult("ok", steps, wall, m.history, None, "", m.eval_s, s.checkpoint_s) for m in members]
