"""Everything a cell's training is at one step: networks, optimisers, random streams, history and
time spent; what a checkpoint holds (:meth:`TrainState.state_dict`) and a resume loads."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganbench.ada import AdaPipe
from ganbench.augment import d_augmentation, refusal
from ganbench.conditioning import Networks, auxiliary_loss
from ganbench.train import graphs
from ganbench.train.ema import ema_beta
from ganbench.train.losses import BoundLoss
from ganbench.train.optim import grad_norm, own_parameters
from ganbench.train.phases import phases, simultaneous_refusal
from ganbench.train.task import GenerationTask, TranslationTask


def uses_cuda_graphs(mode: str, device: torch.device) -> bool:
    """Whether ``torch.compile(mode=mode)`` replays CUDA graphs on ``device`` (``reduce-overhead`` and
    ``max-autotune`` do on CUDA): the step then marks where each of its steps begins."""
    if mode == "none" or device.type != "cuda":
        return False
    import torch._inductor

    return bool(torch._inductor.list_mode_options(mode).get("triton.cudagraphs", False))


@dataclass
class TrainState:
    G: nn.Module
    D: nn.Module
    G_ema: nn.Module | None  # the moving average of G's weights (g_ema > 0), else None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    loss: BoundLoss  # owns the ``loss`` random stream
    task: GenerationTask | TranslationTask  # owns the ``data``, ``noise`` and ``labels`` streams
    settings: dict[str, Any]
    device: torch.device
    step: int = 0  # the last step done
    history: list[dict[str, float]] = field(default_factory=list)
    eval_s: float = 0.0  # seconds spent in evaluations since the cell started (a resumed cell: before too)
    train_s: float = 0.0  # training seconds before the checkpoint this state was loaded from
    checkpoint_s: float = 0.0  # seconds spent writing checkpoints since the cell started

    def __post_init__(self) -> None:
        #: how the step calls G and D: compiled (``compile``) or as they are; penalties that differentiate D
        #: twice, the regulariser phases and sampling call the modules themselves (``eager``)
        why = (refusal(self.settings, self.task.data.info)  # the session refuses the same before anything trains
               or graphs.refusal(self.settings, self.loss.spec, self.loss.options, self.device, self.G))
        if why is not None:
            raise ValueError(why)
        augment = d_augmentation(self.settings, self.task.augment)
        #: ADA's pipeline, whose probability the step sets (setting ``ada``), or None
        self.ada = augment if isinstance(augment, AdaPipe) else None
        # a translation G takes its domain-A batch only; D may look at it too (``condition="source"``)
        g_conditional = self.task.conditional and self.task.kind == "generation"
        self.eager = Networks(self.G, self.D, self.task.conditional, augment, g_conditional=g_conditional)
        mode = self.settings.get("compile", "none")
        self.cuda_graphs = uses_cuda_graphs(mode, self.device)
        if mode != "none":
            self.nets = Networks(torch.compile(self.G, mode=mode), torch.compile(self.D, mode=mode),
                                 self.task.conditional, augment, g_conditional=g_conditional)
        else:
            self.nets = self.eager
        reg = getattr(self.G, "regularization", None)
        self.g_regularization = reg if callable(reg) else None  # a G's own term (BigGAN's orthogonal reg.)
        rec = getattr(self.G, "reconstruction", None)  # a translation G's own term (Pix2Pix's L1, CycleGAN's cycle)
        self.reconstruction = rec if callable(rec) and self.task.kind == "translation" else None
        self._params: dict[int, list[torch.Tensor]] = {}  # each network's parameters, for grad_norm
        self.d_own = own_parameters(self.D, self.G)  # what G's updates stop D recording gradients for
        self.phases = phases(self.loss, self.G)
        by_name = {p.name: p for p in self.phases}
        self.d_reg, self.g_reg = by_name.get("Dreg"), by_name.get("Greg")  # lazy regulariser phases, or None
        why = simultaneous_refusal(self.settings, self.loss.penalty_interval, self.G, self.D)  # the session: some
        if why is not None:
            raise ValueError(why)
        if self.g_reg is not None and self.settings.get("g_steps", 1) > 1:
            raise ValueError("a G with a lazy regulariser phase (regularization_interval) counts its interval in steps "
                             "of one G update: train it with g_steps 1")

    def grad_norm(self, net: nn.Module) -> torch.Tensor:
        """The global L2 norm of ``net``'s gradients, a 0-d device tensor (a replica group's: one per replica),
        over its parameter list taken once."""
        params = self._params.get(id(net))
        if params is None:
            params = self._params[id(net)] = list(net.parameters())
        return grad_norm(params)
    #: AC-GAN's class term (a replica group's: one per replica)
    auxiliary_loss = staticmethod(auxiliary_loss)

    @staticmethod
    def all_finite(x: torch.Tensor) -> torch.Tensor:
        """0-d: whether every value of the batch ``x`` is finite (a replica group's: one per replica). Exact
        for every floating dtype: 0·inf and 0·NaN are NaN, 0·x is 0 otherwise; ~5× faster than
        ``isfinite(x).all()`` on this CPU, and on image batches than a float64 sum (which converts the batch
        first, and which MPS cannot hold) or max |x|."""
        return (x * 0).sum() == 0

    def autocast(self):
        """The context of the step's forward passes and losses: bf16 autocast with ``amp=bf16`` (without its
        cache of cast weights under ``cuda_graphs``, as graph capture requires)."""
        if self.settings.get("amp", "none") == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16,
                                  cache_enabled=not self.settings.get("cuda_graphs", False))
        return contextlib.nullcontext()

    def ema_beta(self, t: int) -> float:
        """The EMA generator's decay after step ``t`` (:func:`~ganbench.train.ema.ema_beta`)."""
        return ema_beta(self.settings, t)

    @property
    def G_eval(self) -> nn.Module:
        """The generator that draws sample grids and is evaluated: the EMA copy when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    def random_state(self) -> dict[str, Any]:
        """Every random stream training draws from: the task's (batches, noise, generated samples' labels;
        a translation task's batches of both domains and its history pool), the loss's, torch's global CPU
        (and CUDA) state (dropout, plugins that draw without a generator)."""
        return {**self.task.random_state(), "loss": self.loss.generator.get_state(), "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None}

    def state_dict(self, train_s: float) -> dict[str, Any]:
        """The checkpoint of this state, ``train_s`` training seconds in (``train(resume=...)``
        continues from it bit for bit on the CPU)."""
        return {
            "step": self.step, "G": self.G.state_dict(), "D": self.D.state_dict(), "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(), "random": self.random_state(),
            **({"G_ema": self.G_ema.state_dict()} if self.G_ema is not None else {}),
            "history": self.history, "eval_s": self.eval_s, "train_s": train_s, "checkpoint_s": self.checkpoint_s,
            **({"ada": self.ada.state_dict()} if self.ada is not None and self.ada.adaptive else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_networks(self, state)
        random = on_cpu(state["random"])  # generator states are CPU byte tensors, wherever it was loaded to
        self.task.set_random_state(random)
        self.loss.generator.set_state(random["loss"])
        torch.set_rng_state(random["torch"])
        if self.device.type == "cuda" and random["cuda"] is not None:
            torch.cuda.set_rng_state(random["cuda"], self.device)
        self.history = list(state["history"])
        if self.ada is not None and self.ada.adaptive:
            self.ada.load_state_dict(state["ada"], self.device)
        self.eval_s, self.train_s, self.checkpoint_s = state["eval_s"], state["train_s"], state["checkpoint_s"]
        self.step = state["step"]


def load_networks(s: Any, state: dict[str, Any]) -> None:
    """G, D, the EMA copy and both optimisers of a training state (a cell's or a replica group's) from
    its checkpoint."""
    s.G.load_state_dict(state["G"])
    s.D.load_state_dict(state["D"])
    if s.G_ema is not None:
        s.G_ema.load_state_dict(state["G_ema"])
    s.opt_g.load_state_dict(state["opt_g"])
    s.opt_d.load_state_dict(state["opt_d"])


def on_cpu(value: Any) -> Any:
    """``value`` with every tensor in it (nested dicts) on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: on_cpu(v) for k, v in value.items()}
    return value
