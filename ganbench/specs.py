"""The small contracts between the core and plugins.

This module imports without torch: tensors and modules only appear in annotations.
A plugin builds these specs and hands them to the registry in its ``ganbench_register_*`` hook.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from ganbench.evaluation import EvalContext

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

Modality = Literal["vector", "image"]


@dataclass(frozen=True)
class DataInfo:
    """What a model and a metric need to know about a data set.

    ``shape`` is the shape of one sample: ``(d,)`` for vectors, ``(C, H, W)`` for images.
    ``value_range`` is the range generators must produce (``None``: unbounded, e.g. 2-D mixtures).
    ``modes``/``mode_std`` describe the known mixture components (centres ``[K, d]``), if any.
    ``fingerprint`` is a stable hash of the training data: it keys cached classifiers and statistics.
    """

    name: str
    modality: Modality
    shape: tuple[int, ...]
    value_range: tuple[float, float] | None
    size: int
    num_classes: int = 0
    modes: tuple[tuple[float, ...], ...] | None = None
    mode_std: float | None = None
    fingerprint: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Data:
    """A loaded data set: a training split (what GANs learn from) and an optional held-out split.

    ``x``: float32 ``[N, *info.shape]`` in ``info.value_range``; ``y``: int64 ``[N]`` labels or ``None``.
    The held-out split (``x_test``/``y_test``) is only used to measure the domain classifier.
    """

    info: DataInfo
    x: torch.Tensor
    y: torch.Tensor | None = None
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None


def always_supported(info: DataInfo) -> str | None:
    """A ``supports`` callable that accepts every data set."""
    return None


@dataclass(frozen=True)
class ModelSpec:
    """A generator/discriminator family.

    ``build(info, latent_dim=..., **options) -> (G, D)`` where ``G(z: [N, latent_dim]) -> [N, *info.shape]``
    within ``info.value_range`` and ``D(x: [N, *info.shape]) -> [N]`` *raw scores* (logits or critic
    values, never probabilities). ``supports(info)`` returns ``None`` or the reason the model cannot
    handle that data. ``settings`` are training settings the model recommends (e.g. ``latent_dim``);
    ``options`` are its own hyper-parameters, passed to ``build`` as keywords (``{"norm": Option(...)}``;
    by convention ``norm`` is the discriminator's normalisation: batch / layer / spectral / none).
    """

    name: str
    build: Callable[..., tuple[nn.Module, nn.Module]]
    description: str = ""
    supports: Callable[[DataInfo], str | None] = always_supported
    settings: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    reference: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class LossSpec:
    """An adversarial loss written on raw discriminator scores.

    Called by the training loop (keyword arguments a function does not accept are not passed, so
    each function takes only the ``options`` it uses)::

        d_loss(d_real, d_fake, **options) -> scalar        minimised by D
        g_loss(d_fake, **options) -> scalar                minimised by G; a g_loss that accepts
                                                           ``d_real`` (relativistic losses) also gets
                                                           D's scores of the last real batch
        penalty(D, real, fake, *, generator, **options)    optional, added to D's loss (e.g. WGAN-GP);
                                                           ``generator`` is the seeded torch.Generator
                                                           for its randomness (CPU)
        after_d_step(D, **options) -> None                 optional, after each D update (e.g. clipping)

    ``options`` are the loss's hyper-parameters (``{"real": Option(0.9, ...)}``). ``settings`` are the
    training settings of the loss's paper (n_critic, optimizer, lr_d, ...) and ``model_options`` the
    model options it needs (``{"norm": "layer"}``); both apply with the ``paper`` recipe only, and
    never over an explicit user setting.
    """

    name: str
    d_loss: Callable[..., torch.Tensor]
    g_loss: Callable[..., torch.Tensor]
    description: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    model_options: Mapping[str, Any] = field(default_factory=dict)
    penalty: Callable[..., torch.Tensor] | None = None
    after_d_step: Callable[..., None] | None = None
    reference: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricSpec:
    """A metric computed on a trained generator.

    ``compute(ctx: EvalContext) -> {column: value}``; the ``primary`` column is the headline number
    and ``higher_is_better`` its direction. ``supports(info)`` returns ``None`` or why the metric does
    not apply to that data (the reason is recorded with the result).
    """

    name: str
    compute: Callable[[EvalContext], Mapping[str, Any]]
    primary: str
    higher_is_better: bool
    description: str = ""
    supports: Callable[[DataInfo], str | None] = always_supported
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    """A data set. ``load(root=..., **options) -> Data``; ``options`` declares the options it accepts
    with their defaults (``{"std": Option(0.01, ...)}``)."""

    name: str
    load: Callable[..., Data]
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    reference: str = ""
    aliases: tuple[str, ...] = ()
