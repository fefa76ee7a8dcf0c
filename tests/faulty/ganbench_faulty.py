"""A ganbench plugin that fails on purpose (installed by tests/test_reliability.py as the
distribution ``ganbench-faulty 0.2.0``): every way a third-party plugin can break a cell.

- loss ``raise-at-3``: the non-saturating loss, whose ``after_d_step`` raises at step 3;
- model ``nan-at-5``: a 64-unit ``vanilla`` MLP whose generator outputs NaN from step 5 on (training mode);
- model ``nan-in-eval``: trains like ``vanilla`` but generates NaN in eval mode (sampling/evaluation);
- model ``oom-at-2``: raises torch's CUDA out-of-memory error in G's forward at step 2;
- metric ``fragile``: the mean of the generated samples, but raises on data set ``grid25``;
- extractor ``crashing``: its build raises (every feature metric of a data set needs it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganbench import hookimpl
from ganbench.specs import ExtractorSpec, LossSpec, MetricSpec, ModelSpec


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
        return out


def _model(name: str, mode: str, at: int) -> ModelSpec:
    from ganbench_builtins.nets_vanilla import build as vanilla

    def build(info, latent_dim):
        G, D = vanilla(info, latent_dim, hidden=64)
        return Faulty(G, mode, at), D

    return ModelSpec(name=name, build=build, description=f"a 64-unit vanilla MLP GAN, broken on purpose ({mode})")


def _raise_at_3(D: nn.Module) -> None:
    D.faulty_steps = getattr(D, "faulty_steps", 0) + 1
    if D.faulty_steps == 3:
        raise RuntimeError("injected failure at step 3")


def _fragile(ctx) -> dict[str, float]:
    if ctx.info.name == "grid25":
        raise ValueError("fragile metric cannot handle grid25")
    return {"fragile": float(ctx.generated().mean())}


def _d_loss(d_real, d_fake):
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def _g_loss(d_fake):
    return F.softplus(-d_fake).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add_loss(LossSpec(name="raise-at-3", d_loss=_d_loss, g_loss=_g_loss, after_d_step=_raise_at_3,
                               description="non-saturating; after_d_step raises at step 3"))


@hookimpl
def ganbench_register_models(registry):
    registry.add_model(_model("nan-at-5", "nan", 5))
    registry.add_model(_model("nan-in-eval", "eval-nan", 0))
    registry.add_model(_model("oom-at-2", "oom", 2))


@hookimpl
def ganbench_register_metrics(registry):
    registry.add_metric(MetricSpec(name="fragile", compute=_fragile, primary="fragile", higher_is_better=True,
                                   description="mean of the generated samples; raises on grid25"))


def _crash(data, *, device, cache_root):
    raise OSError("feature weights are corrupt (injected)")


@hookimpl
def ganbench_register_extractors(registry):
    registry.add_extractor(ExtractorSpec(name="crashing", build=_crash, description="its build raises"))
