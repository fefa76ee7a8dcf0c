"""The updates of one training step, listed as data (StyleGAN2-ADA's ``training_loop`` builds the same
list): D's main update and, for a loss with a lazy penalty, D's regulariser; G's main update and, for a
G with a lazy regulariser, G's regulariser.

A regulariser *phase* (StyleGAN2, Karras et al. 2020, section 3.1, "lazy regularization") is its own
optimiser step on the optimiser its network's main phase uses, every ``interval``-th update of that
network, on the regulariser alone (multiplied by ``interval`` by the regulariser itself). That
network's optimiser then runs with ``lr · c`` and ``betas ** c``, c = interval / (interval + 1), for both
of its phases, so that the moments see the same effective rate as without laziness
(StyleGAN2-ADA ``training_loop.py``: ``mb_ratio``).

- D: a loss whose ``penalty_interval(**options)`` returns N (nonsat-r1: its ``interval`` when its
  option ``phase`` is true). ``None``: the penalty is added into D's loss of the updates it returns
  a value at, as before phases.
- G: a G with an integer attribute ``regularization_interval`` N runs its ``regularization()`` as
  its own phase every N G steps; it may name ``z``, ``y`` (a fresh generated batch's noise and labels,
  from the seed's streams) and ``step`` (the G step, 1, 2, ...), keep its state in buffers (they are
  checkpointed with G) and run its own forward passes. Without the attribute ``regularization()``
  is added to G's loss at every step (BigGAN's orthogonal regularisation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from ganbench.options import parameter_names
from ganbench.train.losses import BoundLoss


@dataclass(frozen=True)
class Phase:
    name: str  # "D", "Dreg", "G", "Greg"
    network: str  # "D" or "G"
    interval: int = 1  # every interval-th update of its network (1, 1 + interval, ...)

    def due(self, update: int) -> bool:
        """Whether this phase runs at its network's ``update``-th update (1, 2, ...)."""
        return (update - 1) % self.interval == 0


def g_interval(G: nn.Module) -> int | None:
    """The interval of G's lazy regulariser phase, or None (no ``regularization()``, or one added into
    G's loss at every step)."""
    return g_optimizer_interval(G) if callable(getattr(G, "regularization", None)) else None


def g_optimizer_interval(G: nn.Module) -> int | None:
    """The interval G's optimiser is rescaled for (lr · c, betas ** c): G's ``regularization_interval``,
    also without a ``regularization()`` — a G whose regulariser is switched off but whose recipe keeps
    the rescale (StyleGAN2-ADA's cifar config: path length off, G_reg_interval still 4, so G's Adam runs
    at lr · 4/5 and betas ** (4/5) with an empty regulariser phase). None: no rescale."""
    interval = getattr(G, "regularization_interval", None)
    if interval is None:
        return None
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise TypeError(f"G.regularization_interval must be a positive int, not {interval!r}")
    return interval


def phases(loss: BoundLoss, G: nn.Module) -> list[Phase]:
    """The step's phases in order: D (n_critic times, each followed by Dreg when due), then G, Greg."""
    out = [Phase("D", "D")]
    if loss.penalty_interval is not None:
        out.append(Phase("Dreg", "D", loss.penalty_interval))
    out.append(Phase("G", "G"))
    g = g_interval(G)
    if g is not None:
        out.append(Phase("Greg", "G", g))
    return out


def ratio(interval: int | None) -> float:
    """StyleGAN2's c = interval / (interval + 1) for a network with a lazy regulariser phase, else 1."""
    return 1.0 if interval is None else interval / (interval + 1)


def g_reg_kwargs(G: nn.Module, z, y, step: int) -> dict[str, Any]:
    """What G's regulariser phase names of ``z``, ``y`` and ``step``."""
    names = parameter_names(G.regularization)
    return {k: v for k, v in (("z", z), ("y", y), ("step", step)) if k in names}


def simultaneous(settings: dict[str, Any]) -> bool:
    """Whether ``settings`` ask for simultaneous updates (setting ``updates``)."""
    return settings.get("updates", "alternating") == "simultaneous"


def simultaneous_refusal(settings: dict[str, Any], penalty_interval: int | None = None,
                         G: nn.Module | None = None, D: nn.Module | None = None) -> str | None:
    """Why the step of ``settings`` cannot update D and G simultaneously (one line), or None. A simultaneous
    step is one D and one G update from one forward pass: ``n_critic`` and ``g_steps`` more than 1, a lazy
    regulariser phase of D (``penalty_interval``, e.g. nonsat-r1's R1) or of G (once G is built), a history
    pool (its images are D's, not the batch G's gradient comes from) or parameters G and D share (once built:
    each network's optimiser steps its own gradient) have no meaning there."""
    if not simultaneous(settings):
        return None
    for key in ("n_critic", "g_steps"):
        if settings.get(key, 1) != 1:
            return f"setting updates=simultaneous updates D and G once per step from one forward pass: {key} must be 1"
    if settings.get("pool_size", 0):
        return "setting updates=simultaneous: D must score the batch G's gradient comes from; pool_size must be 0"
    if penalty_interval is not None:
        return ("setting updates=simultaneous has no lazy regulariser phase of D: make the penalty part of D's loss "
                "(nonsat-r1: --loss-opt nonsat-r1.phase=false)")
    if G is not None and g_interval(G) is not None:
        return "setting updates=simultaneous has no lazy regulariser phase of G (its regularization_interval)"
    if G is not None and D is not None and {id(p) for p in G.parameters()} & {id(p) for p in D.parameters()}:
        return ("setting updates=simultaneous: G and D share parameters, whose two gradients one step cannot keep "
                "apart (train them alternating)")
    return None
