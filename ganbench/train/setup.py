"""The one set-up of a training run, used by every caller (cells, the plan's speed probe, the
contract tests of :mod:`ganbench.testing`, ``benchmarks/``): networks (and the EMA copy), then the
optimisers, the bound loss and the task's random streams."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganbench import seeding
from ganbench.conditioning import build_networks
from ganbench.errors import CellFailure, call_plugin
from ganbench.specs import Data, DataInfo, LossSpec, ModelSpec
from ganbench.train.losses import BoundLoss
from ganbench.train.optim import make_optimizer
from ganbench.train.phases import g_optimizer_interval, ratio
from ganbench.train.state import TrainState
from ganbench.train.task import GenerationTask, TranslationTask


@dataclass
class Built:
    """A model's networks as training takes them: G, D and the EMA copy of G (``g_ema`` > 0, else None)."""

    G: nn.Module
    D: nn.Module
    G_ema: nn.Module | None

    @property
    def G_eval(self) -> nn.Module:
        return self.G_ema if self.G_ema is not None else self.G


def networks(spec: ModelSpec, info: DataInfo, settings: dict[str, Any], options: dict[str, Any], *,
             seed: int | None = None, dataset: str = "", model: str = "", who: str | None = None) -> Built:
    """Build ``spec``'s G and D for ``info`` with ``options``, and G's EMA copy when ``settings["g_ema"]``
    > 0 (it starts as G's copy). With ``seed`` the weights are initialised from the ``init`` stream of
    the cell (``seed``, ``dataset``, ``model``) and torch's global generator is then set to its ``torch``
    stream (dropout, plugins that draw without a generator); neither depends on the loss (common random
    numbers). With ``who`` (the plugin that registered the model) a failure or a wrong return value is
    a :class:`CellFailure` naming it."""
    if seed is not None:
        seeding.seed_global(seed, "init", dataset, model)
    if who is not None:
        built = call_plugin(who, "build", build_networks, spec, info, settings["latent_dim"], dict(options))
    else:
        built = build_networks(spec, info, settings["latent_dim"], dict(options))
    if not (isinstance(built, tuple) and len(built) == 2 and all(isinstance(m, nn.Module) for m in built)):
        message = (f"{who or repr(spec.name)} returned {type(built).__name__} from build; expected (G, D), two "
                   "torch.nn.Module")
        raise CellFailure(message) if who is not None else TypeError(message)
    G, D = built
    out = Built(G, D, copy.deepcopy(G) if settings["g_ema"] > 0 else None)
    if seed is not None:
        seeding.seed_global(seed, "torch", dataset, model)
    return out


def state(G: nn.Module, D: nn.Module, loss: LossSpec, data: Data, settings: dict[str, Any], *, seed: int,
          device: torch.device, loss_options: dict[str, Any] | None = None, conditional: bool = False,
          g_ema: nn.Module | None = None) -> TrainState:
    """A fresh training state at step 0: the networks on ``device`` in training mode (the EMA copy in
    eval mode, without gradients), an optimiser each (rescaled for a lazy regulariser phase), the loss
    bound to its options and ``loss`` stream, the task's streams of ``seed`` (a translation task on a translation
    data set: ``conditional`` then means D looks at G's input, and a G with ``both_ways`` packs both domains)."""
    bound = BoundLoss(loss, loss_options, seeding.generator(seed, "loss", data.info.name))
    G.to(device).train()
    D.to(device).train()
    if g_ema is not None:
        g_ema.to(device).eval().requires_grad_(False)
    if settings.get("channels_last", False):  # 4-d weights (convolutions) only
        for net in (G, D, g_ema):
            if net is not None:
                net.to(memory_format=torch.channels_last)
    opt_g = make_optimizer(G.parameters(), settings, settings["lr_g"], ratio(g_optimizer_interval(G)))
    opt_d = make_optimizer(D.parameters(), settings, settings["lr_d"], ratio(bound.penalty_interval))
    if data.info.task == "translation":
        task = TranslationTask(data, settings, seed, device, conditional, both_ways=bool(getattr(G, "both_ways", False)))
    else:
        task = GenerationTask(data, settings, seed, device, conditional)
    return TrainState(G, D, g_ema, opt_g, opt_d, bound, task, settings, device)
