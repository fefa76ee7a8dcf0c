"""A ganbench plugin that fails on purpose (installed by tests/test_reliability.py as the
distribution ``ganbench-faulty 0.2.0``): every way a third-party plugin can break a cell.

- loss ``raise-at-3``: the non-saturating loss, whose ``after_d_step`` raises at step 3;
- model ``nan-at-5``: a 64-unit ``vanilla`` MLP whose generator outputs NaN from step 5 on (training mode);
- model ``nan-in-eval``: trains like ``vanilla`` but generates NaN in eval mode (sampling/evaluation);
- model ``oom-at-2``: raises torch's CUDA out-of-memory error in G's forward at step 2;
- metric ``fragile``: the mean of the generated samples, but raises on data set ``grid25``;
- extractor ``crashing``: its build raises (every feature metric of a data set needs it).

Hostile in other ways (each must fail only its own cells, with a message naming it):

- loss ``exits``: its ``g_loss`` calls ``sys.exit(3)``; model ``exits-in-build``: ``sys.exit(4)`` in build;
- model ``supports-raises``: its ``supports`` raises; metric ``supports-raises``: likewise;
- loss ``unprintable``: raises an exception whose ``__str__`` raises;
- losses ``penalty-raises`` and ``g-loss-raises``: raise in ``penalty`` / ``g_loss``;
- models ``build-raises`` (ValueError in build), ``backward-raises`` (D's backward pass raises),
  ``memory-error`` (``MemoryError`` in G), ``cpu-oom`` (a real failed host allocation: 1 PiB);
- data set ``not-data``: ``load`` returns an int;
- data set ``elsewhere``: ring8, but another sample of it in any process but the one that started the
  run (as a worker on a machine with other files under the data root sees other data);
- losses ``dies-once`` and ``dies-always``: the process SIGKILLs itself in ``after_d_step`` at its 3rd
  call (as the OOM killer would) — ``dies-once`` only where ``$GANBENCH_FAULTY_MARKS/dies-once`` does
  not exist yet (it creates it); for ``--jobs`` runs (under ``serial`` they kill the run itself);
- loss ``hangs-always``: ``after_d_step`` sleeps for a day at its 3rd call (a deadlock, a hung device);
- metric ``hijack``: returns the runner's columns ``loss``, ``seed``, ``cell_id``, ``config_hash``;
  metric ``listy``: returns a list as a value.
  metric ``wordy``: returns text in its ranked (primary) column.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganbench import hookimpl
from ganbench.specs import DatasetSpec, ExtractorSpec, LossSpec, MetricSpec, ModelSpec


class Faulty(nn.Module):
    """Wraps a generator; ``mode`` says how it breaks after ``at`` training steps (2 G calls per step)."""

    def __init__(self, inner: nn.Module, mode: str, at: int):
        super().__init__()
        self.inner, self.mode, self.at, self.calls = inner, mode, at, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.inner(z)
        if not self.training:
            return out * float("nan") if self.mode == "eval-nan" else out
        self.calls += 1
        step = (self.calls + 1) // 2
        if self.mode == "oom" and step >= self.at:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
        if self.mode == "nan" and step >= self.at:
            return out * float("nan")
        if self.mode == "memory-error" and step >= self.at:
            raise MemoryError("injected host allocation failure")
        if self.mode == "cpu-oom" and step >= self.at:
            torch.empty(2**50, dtype=torch.uint8)  # 1 PiB: torch's CPU allocator refuses it
        return out


class BackwardRaises(nn.Module):
    """A discriminator whose backward pass raises (a hook on its output's gradient)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        if out.requires_grad:
            out.register_hook(_raise_in_backward)
        return out


def _raise_in_backward(grad):
    raise RuntimeError("injected failure in the backward pass")


class Unprintable(RuntimeError):  # a RuntimeError: the out-of-memory check reads its text too
    def __str__(self) -> str:
        raise ValueError("this exception cannot be printed")


def _model(name: str, mode: str, at: int, supports=None) -> ModelSpec:
    from ganbench_builtins.models.nets.vanilla import build as vanilla

    def build(info, latent_dim):
        if mode == "exit-in-build":
            sys.exit(4)
        if mode == "raise-in-build":
            raise ValueError("injected failure in build")
        G, D = vanilla(info, latent_dim, hidden=64)
        return Faulty(G, mode, at), BackwardRaises(D) if mode == "backward" else D

    kw = {"supports": supports} if supports is not None else {}
    return ModelSpec(name=name, build=build, description=f"a 64-unit vanilla MLP GAN, broken on purpose ({mode})", **kw)


def _supports_raises(info):
    raise RuntimeError(f"supports cannot decide about {info.name}")


def _raise_at_3(D: nn.Module) -> None:
    D.faulty_steps = getattr(D, "faulty_steps", 0) + 1
    if D.faulty_steps == 3:
        raise RuntimeError("injected failure at step 3")


def _dies(once: bool):
    def after_d_step(D: nn.Module) -> None:
        D.faulty_steps = getattr(D, "faulty_steps", 0) + 1
        if D.faulty_steps != 3:
            return
        if once:
            mark = Path(os.environ["GANBENCH_FAULTY_MARKS"]) / "dies-once"
            if mark.exists():
                return
            mark.touch()
        os.kill(os.getpid(), signal.SIGKILL)

    return after_d_step


def _hangs(D: nn.Module) -> None:
    D.faulty_steps = getattr(D, "faulty_steps", 0) + 1
    if D.faulty_steps == 3:
        time.sleep(86400)


def _fragile(ctx) -> dict[str, float]:
    if ctx.info.name == "grid25":
        raise ValueError("fragile metric cannot handle grid25")
    return {"fragile": float(ctx.generated().mean())}


def _d_loss(d_real, d_fake):
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def _g_loss(d_fake):
    return F.softplus(-d_fake).mean()


def _exits(d_fake):
    sys.exit(3)


def _unprintable(d_real, d_fake):
    raise Unprintable()


def _g_loss_raises(d_fake):
    raise RuntimeError("injected failure in g_loss")


def _penalty_raises(D, real, fake, *, generator):
    raise RuntimeError("injected failure in penalty")


@hookimpl
def ganbench_register_losses(registry):
    registry.add_loss(LossSpec(name="raise-at-3", d_loss=_d_loss, g_loss=_g_loss, after_d_step=_raise_at_3,
                               description="non-saturating; after_d_step raises at step 3"))
    registry.add_loss(LossSpec(name="dies-once", d_loss=_d_loss, g_loss=_g_loss, after_d_step=_dies(True),
                               description="non-saturating; its process is SIGKILLed at step 3, once"))
    registry.add_loss(LossSpec(name="dies-always", d_loss=_d_loss, g_loss=_g_loss, after_d_step=_dies(False),
                               description="non-saturating; its process is SIGKILLed at the 3rd step of every attempt"))
    registry.add_loss(LossSpec(name="hangs-always", d_loss=_d_loss, g_loss=_g_loss, after_d_step=_hangs,
                               description="non-saturating; after_d_step sleeps for a day at step 3"))
    registry.add_loss(LossSpec(name="exits", d_loss=_d_loss, g_loss=_exits, description="g_loss calls sys.exit(3)"))
    registry.add_loss(LossSpec(name="unprintable", d_loss=_unprintable, g_loss=_g_loss,
                               description="raises an exception that cannot be printed"))
    registry.add_loss(LossSpec(name="g-loss-raises", d_loss=_d_loss, g_loss=_g_loss_raises,
                               description="g_loss raises"))
    registry.add_loss(LossSpec(name="penalty-raises", d_loss=_d_loss, g_loss=_g_loss, penalty=_penalty_raises,
                               description="penalty raises"))


@hookimpl
def ganbench_register_models(registry):
    registry.add_model(_model("nan-at-5", "nan", 5))
    registry.add_model(_model("nan-in-eval", "eval-nan", 0))
    registry.add_model(_model("oom-at-2", "oom", 2))
    registry.add_model(_model("exits-in-build", "exit-in-build", 0))
    registry.add_model(_model("build-raises", "raise-in-build", 0))
    registry.add_model(_model("supports-raises", "none", 0, supports=_supports_raises))
    registry.add_model(_model("backward-raises", "backward", 0))
    registry.add_model(_model("memory-error", "memory-error", 2))
    registry.add_model(_model("cpu-oom", "cpu-oom", 2))


def _hijack(ctx):
    return {"hijack": 1.0, "loss": "hacked", "seed": 99, "cell_id": "../../elsewhere", "config_hash": "forged"}


@hookimpl
def ganbench_register_metrics(registry):
    registry.add_metric(MetricSpec(name="fragile", compute=_fragile, primary="fragile", higher_is_better=True,
                                   description="mean of the generated samples; raises on grid25"))
    registry.add_metric(MetricSpec(name="hijack", compute=_hijack, primary="hijack", higher_is_better=True,
                                   description="returns the runner's identity columns"))
    registry.add_metric(MetricSpec(name="listy", compute=lambda ctx: {"listy": [1, 2]}, primary="listy",
                                   higher_is_better=True, description="returns a list as a value"))
    registry.add_metric(MetricSpec(name="wordy", compute=lambda ctx: {"wordy": "high", "wordy_note": "fine"},
                                   primary="wordy", higher_is_better=True,
                                   description="returns text in its ranked column (text in another is fine)"))
    registry.add_metric(MetricSpec(name="supports-raises", compute=lambda ctx: {"never": 1.0}, primary="never",
                                   higher_is_better=True, supports=_supports_raises, description="supports raises"))


def _elsewhere(root):
    import multiprocessing
    from dataclasses import replace

    from ganbench.plugins import load_plugins

    ring = load_plugins().registry.get("dataset", "ring8").load(root=root)
    worker = multiprocessing.parent_process() is not None
    return replace(ring, x=ring.x + 0.01 if worker else ring.x,
                   info=replace(ring.info, name="elsewhere", fingerprint=ring.info.fingerprint + ("-w" if worker else "")))


@hookimpl
def ganbench_register_datasets(registry):
    registry.add_dataset(DatasetSpec(name="not-data", load=lambda root: 42, description="load returns an int"))
    registry.add_dataset(DatasetSpec(name="elsewhere", load=_elsewhere, description="other data in a worker process"))


def _crash(data, *, device, cache_root):
    raise OSError("feature weights are corrupt (injected)")


@hookimpl
def ganbench_register_extractors(registry):
    registry.add_extractor(ExtractorSpec(name="crashing", build=_crash, description="its build raises"))
