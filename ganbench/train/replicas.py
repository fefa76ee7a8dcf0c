"""K seeds of one (data set, model, loss) trained as one vectorised program.

The K replicas' networks are stacked (``torch.func.stack_module_state``: every parameter and buffer
becomes ``[K, ...]``) and called through ``functional_call`` under ``vmap``; each replica draws its
batches and noise from its own seed's streams (:class:`~ganbench.train.task.GenerationTask`), so
replica k sees exactly what seed k's cell sees alone. One Adam (or RMSprop) over the stacked
parameters is K optimisers: their updates are elementwise. A replica's losses are computed per
replica (``vmap`` of the loss's functions) and their sum is differentiated once: replica k's gradient
is its own. Its record is its own, and so is its divergence: a replica whose values turn NaN/inf or
explode stops *its* history at that step (its numbers are no longer read), while the others go on.
BatchNorm works per replica (its running statistics are stacked buffers, updated under ``vmap``).

Not (yet) vectorised, each said in one line by :func:`why_not`: conditional models, losses with a
penalty or an ``after_d_step`` (gradient penalties differentiate D twice; clipping acts on a module),
a G with its own ``regularization()`` or dropout, an EMA generator, ``amp``/``compile``/``channels_last``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganbench.specs import Data, LossSpec
from ganbench.train.divergence import divergence
from ganbench.train.loop import TrainResult
from ganbench.train.losses import BoundLoss
from ganbench.train.optim import make_optimizer
from ganbench.train.step import HISTORY_COLUMNS
from ganbench.train.task import GenerationTask


class NotVectorisable(Exception):
    """Why a model, loss or setting cannot train as replicas (one line): its seeds train separately."""


def why_not(G: nn.Module, loss: LossSpec, settings: dict[str, Any], conditional: bool,
            D: nn.Module | None = None) -> str | None:
    """The reason these networks, loss and settings cannot train as replicas, or None."""
    if conditional:
        return "a conditional model (its labels are not vectorised yet)"
    if loss.penalty is not None:
        return f"loss {loss.name!r} has a penalty (a gradient penalty differentiates D twice, not under vmap)"
    if loss.after_d_step is not None:
        return f"loss {loss.name!r} has an after_d_step (it acts on a module, not on stacked weights)"
    if callable(getattr(G, "regularization", None)):
        return "its G has a regularization() (it acts on a module)"
    for name, net in (("G", G), ("D", D)):
        if net is not None and any(isinstance(m, nn.modules.dropout._DropoutNd) for m in net.modules()):
            return f"its {name} uses dropout (a draw from torch's global generator, not the replica's own)"
    for key, neutral in (("g_ema", 0.0), ("amp", "none"), ("compile", "none"), ("channels_last", False)):
        if settings.get(key, neutral) != neutral:
            return f"setting {key}={settings[key]} is not vectorised yet"
    return None


@dataclass
class _Stacked:
    """K modules as one: stacked parameters (leaves of the optimiser) and buffers, and a meta copy of
    the module's structure that ``functional_call`` runs them through."""

    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    base: nn.Module
    base_device: torch.device

    @classmethod
    def of(cls, modules: list[nn.Module]) -> _Stacked:
        params, buffers = torch.func.stack_module_state(modules)
        device = next(iter(params.values())).device
        return cls(params, buffers, copy.deepcopy(modules[0]).to("meta"), device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``[K, N, ...]`` in, each replica through its own weights, ``[K, N, ...]`` out."""
        return torch.func.vmap(lambda p, b, xk: torch.func.functional_call(self.base, (p, b), (xk,)))(
            self.params, self.buffers, x)

    def grad_norms(self) -> torch.Tensor:
        """``[K]``: each replica's global L2 norm of its gradients."""
        k = next(iter(self.params.values())).shape[0]
        norms = [p.grad.detach().reshape(k, -1).norm(dim=1) for p in self.params.values() if p.grad is not None]
        return torch.stack(norms).norm(dim=0) if norms else torch.zeros(k, device=self.base_device)

    def write_back(self, modules: list[nn.Module]) -> None:
        """Each replica's weights and buffers into its own module."""
        with torch.no_grad():
            for k, module in enumerate(modules):
                for name, tensor in (*module.named_parameters(), *module.named_buffers()):
                    stacked = self.params.get(name, self.buffers.get(name))
                    if stacked is not None:
                        tensor.copy_(stacked[k])


def run_replicas(Gs: list[nn.Module], Ds: list[nn.Module], loss: LossSpec, data: Data, settings: dict[str, Any], *,
                 seeds: list[int], device: torch.device, loss_options: dict[str, Any] | None = None,
                 sync_every: int = 32) -> list[TrainResult]:
    """Train replica k (``Gs[k]``, ``Ds[k]``, built and initialised as seed ``seeds[k]``'s cell builds them)
    on seed ``seeds[k]``'s streams, all K at once; each module ends with its replica's weights. One
    :class:`TrainResult` per replica, in order (``wall_s``: the group's). Raises
    :class:`NotVectorisable` (one line) for what :func:`why_not` refuses."""
    reason = why_not(Gs[0], loss, settings, conditional=False, D=Ds[0])
    if reason is not None:
        raise NotVectorisable(f"{len(seeds)} seeds cannot train as replicas: {reason}")
    k_all = len(seeds)
    for module in (*Gs, *Ds):
        module.to(device).train()
    G, D = _Stacked.of(Gs), _Stacked.of(Ds)
    opt_g = make_optimizer(list(G.params.values()), settings, settings["lr_g"])
    opt_d = make_optimizer(list(D.params.values()), settings, settings["lr_d"])
    bound = BoundLoss(loss, loss_options)
    d_loss, g_loss = torch.func.vmap(bound.d_loss), torch.func.vmap(
        (lambda fake, real: bound.g_loss(fake, real)) if bound.g_uses_real else (lambda fake: bound.g_loss(fake)))
    tasks = [GenerationTask(data, settings, seed, device, conditional=False) for seed in seeds]
    n_critic, steps = settings["n_critic"], settings["steps"]
    for task in tasks:
        task.fetch_ahead(sync_every, n_critic)
    histories: list[list[dict[str, float]]] = [[] for _ in seeds]
    stopped: dict[int, tuple[int, str]] = {}  # replica -> (step, message) of its divergence
    pending: list[tuple[int, torch.Tensor]] = []
    start = time.perf_counter()

    def arrive() -> None:
        if not pending:
            return
        rows = torch.stack([v for _, v in pending]).tolist()  # [window, K, values]
        for (t, _), per_replica in zip(pending, rows, strict=True):
            for k, values in enumerate(per_replica):
                if k in stopped:
                    continue
                rec = {"step": t, **dict(zip(HISTORY_COLUMNS[1:], values[:-1], strict=True))}
                histories[k].append(rec)
                problem = divergence(rec, values[-1] == 1.0)
                if problem:
                    stopped[k] = (t, f"{problem} at step {t}")
        pending.clear()

    for t in range(1, steps + 1):
        for _ in range(n_critic):
            real = torch.stack([task.real()[0] for task in tasks])  # [K, batch, ...]
            z = torch.stack([task.z() for task in tasks])
            with torch.no_grad():
                fake = G(z)
            d_real, d_fake = D(real).flatten(1), D(fake).flatten(1)  # [K, batch]
            dl = d_loss(d_real, d_fake)  # [K]
            opt_d.zero_grad(set_to_none=True)
            dl.sum().backward()
            gn_d = D.grad_norms()
            opt_d.step()
        z = torch.stack([task.z() for task in tasks])
        fake_g = G(z)
        d_fake_g = D(fake_g).flatten(1)
        gl = g_loss(d_fake_g, D(real).flatten(1)) if bound.g_uses_real else g_loss(d_fake_g)
        opt_g.zero_grad(set_to_none=True)
        gl.sum().backward()
        gn_g = G.grad_norms()
        opt_g.step()
        finite = (torch.isfinite(fake_g.detach().flatten(1)).all(1) & torch.isfinite(fake.flatten(1)).all(1)).float()
        pending.append((t, torch.stack([dl.detach(), gl.detach(), torch.zeros_like(dl), d_real.detach().mean(1),
                                        d_fake.detach().mean(1), gn_d, gn_g, finite], dim=1).float()))
        if len(pending) >= sync_every or t == steps:
            arrive()
            if len(stopped) == k_all:
                break
    G.write_back(Gs)
    D.write_back(Ds)
    wall = time.perf_counter() - start
    return [TrainResult("diverged", stopped[k][0], wall, histories[k], stopped[k][0], stopped[k][1]) if k in stopped
            else TrainResult("ok", steps, wall, histories[k]) for k in range(k_all)]
