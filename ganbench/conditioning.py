"""Conditional models: how labels reach G and D, where the labels of generated samples come from,
and how an auxiliary classifier's output is split from D's scores.

A conditional model (``ModelSpec.condition == "class"``) is built with ``num_classes`` and called
``G(z, y)`` / ``D(x, y)``. Real samples carry their own labels; generated samples are asked for
labels drawn from a named random stream of the seed (``labels`` while training, ``eval-labels`` for
evaluation), with the data's class frequencies (setting ``fake_labels=data``) or uniformly
(``fake_labels=uniform``) — or, with ``fake_labels=real``, training takes the real batch's own labels
(R3GAN's pairing) and evaluation the data's frequencies. Neither stream depends on the loss, so every
loss sees the same labels: paired comparisons hold for conditional models too. Unconditional models never draw from them, so
their numbers are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ganbench import seeding
from ganbench.specs import Data, ModelSpec

#: how generated samples' labels are drawn (setting ``fake_labels``): ``real`` = the real batch's own labels
FAKE_LABELS = ("data", "uniform", "real")


def build_kwargs(spec: ModelSpec, num_classes: int) -> dict[str, Any]:
    """The keywords the core adds to a model's ``build``: ``num_classes`` for a conditional model."""
    return {"num_classes": num_classes} if spec.condition == "class" else {}


def build_networks(spec: ModelSpec, info, latent_dim: int, options: dict[str, Any]):
    """``spec.build(info, latent_dim=..., **options)`` with what a conditional model also receives: the
    one place the core builds a model (cells, the plan's speed probe, the contract tests, loading a
    saved generator)."""
    return spec.build(info, latent_dim=latent_dim, **build_kwargs(spec, info.num_classes), **options)


def class_probabilities(data: Data, how: str = "data") -> torch.Tensor:
    """``[num_classes]`` float64: the probabilities generated samples' labels are drawn with — the
    training split's class frequencies (``data``; ``real``, where training takes the real batch's labels,
    which follow them: evaluation draws with them) or uniform (``uniform``)."""
    k = data.info.num_classes
    if how == "uniform" or data.y is None:
        return torch.full((k,), 1.0 / k, dtype=torch.float64)
    if how not in ("data", "real"):
        raise ValueError(f"fake_labels is one of {', '.join(FAKE_LABELS)}, not {how!r}")
    counts = torch.bincount(data.y, minlength=k).to(torch.float64)
    return counts / counts.sum()


def draw_labels(probs: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``[n]`` int64 class indices drawn with ``probs`` from ``generator`` (CPU)."""
    return torch.multinomial(probs, n, replacement=True, generator=generator)


def eval_labels(seed: int, dataset: str, model: str, probs: torch.Tensor, n: int, total: int = 0) -> torch.Tensor:
    """The labels of a cell's evaluation samples, one per evaluation noise vector
    (:func:`ganbench.seeding.eval_noise`), with the same prefix rule: the first ``n`` never depend on
    ``total``."""
    stream = seeding.generator(seed, "eval-labels", dataset, model)
    labels = draw_labels(probs, n, stream)
    if total > n:
        labels = torch.cat([labels, draw_labels(probs, total - n, stream)])
    return labels


def split_scores(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """D's output as ``(scores [N], class_logits [N, K] or None)``: a D with an auxiliary classifier
    returns both as a tuple."""
    if isinstance(out, (tuple, list)):
        if len(out) != 2:
            raise TypeError(f"D returned a {type(out).__name__} of {len(out)}; expected scores or "
                            "(scores, class_logits)")
        return out[0].reshape(-1), out[1]
    return out.reshape(-1), None


class Networks:
    """G and D called the way their model declares: ``G(z)`` / ``D(x)``, or ``G(z, y)`` / ``D(x, y)``
    for a conditional model (a translation model whose D looks at the input: ``G(a)`` / ``D(x, a)``);
    ``d`` returns ``(scores [N], class_logits or None)``."""

    def __init__(self, G: nn.Module, D: nn.Module, conditional: bool,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None, *, g_conditional: bool | None = None):
        self.G, self.D, self.conditional = G, D, conditional
        #: whether G takes ``y`` too (default: as D; a translation model's G takes its input only)
        self.g_conditional = conditional if g_conditional is None else g_conditional
        #: a translation G that holds both directions is called on both domains at once (``G.both``)
        self.both_ways = bool(getattr(G, "both_ways", False))
        #: what every input of D goes through first (DiffAugment or ADA: settings ``augment``, ``ada``), or None
        self.augment = augment

    def g(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.both_ways:
            return self.G.both(z)
        return self.G(z, y) if self.g_conditional else self.G(z)

    def d(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.augment is not None:
            x = self.augment(x)
        scores, logits = split_scores(self.D(x, y) if self.conditional else self.D(x))
        if logits is not None and not self.conditional:
            raise TypeError("D returned class logits, but the model is not conditional: an auxiliary classifier "
                            "needs class labels (declare condition='class')")
        return scores, logits

    def d_scores(self, y: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor] | nn.Module:
        """What a loss's ``penalty`` gets as D: D itself for an unconditional model, else
        ``x -> scores [N]`` with the labels ``y`` of the real batch (and through the augmentation, if any:
        the penalty's gradient is taken with respect to the un-augmented samples, as DiffAugment's PyTorch StyleGAN2
        port does)."""
        if not self.conditional and self.augment is None:
            return self.D
        return lambda x: self.d(x, y)[0]


def auxiliary_loss(logits: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor | None:
    """AC-GAN's class term: cross-entropy of an auxiliary classifier's logits with the labels (the
    real samples' own, or the ones generated samples were asked for); None without a classifier."""
    if logits is None:
        return None
    return nn.functional.cross_entropy(logits, y)
