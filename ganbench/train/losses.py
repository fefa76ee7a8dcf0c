"""A loss plugin with its options bound, as the training step calls it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganbench.options import accepted_kwargs, defaults, parameter_names
from ganbench.specs import LossSpec


class BoundLoss:
    """A loss spec with its effective options bound: each function gets the options it accepts."""

    def __init__(self, spec: LossSpec, options: dict[str, Any] | None = None,
                 generator: torch.Generator | None = None):
        self.spec = spec
        self.options = defaults(spec.options) if options is None else dict(options)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        # a g_loss that names d_real (relativistic losses) gets D's real scores, **options or not
        self.g_uses_real = "d_real" in parameter_names(spec.g_loss)
        self.penalty_uses_step = spec.penalty is not None and "step" in parameter_names(spec.penalty)
        self.penalty_uses_d_fake = spec.penalty is not None and "D_fake" in parameter_names(spec.penalty)
        # signatures are inspected once here, not on every step
        self._d_kw = accepted_kwargs(spec.d_loss, self.options)
        self._g_kw = accepted_kwargs(spec.g_loss, self.options)
        self._penalty_kw = (accepted_kwargs(spec.penalty, {"generator": self.generator, **self.options})
                            if spec.penalty is not None else {})
        self._after_kw = accepted_kwargs(spec.after_d_step, self.options) if spec.after_d_step is not None else {}
        #: N: the penalty is its own D phase every N D updates (lazy regularisation); None: part of D's loss
        self.penalty_interval: int | None = None
        if spec.penalty is not None and spec.penalty_interval is not None:
            n = spec.penalty_interval(**accepted_kwargs(spec.penalty_interval, self.options))
            if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
                raise TypeError(f"penalty_interval of loss {spec.name!r} returned {n!r}; expected a positive int or None")
            self.penalty_interval = n

    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        return self.spec.d_loss(d_real, d_fake, **self._d_kw)

    def g_loss(self, d_fake: torch.Tensor, d_real: torch.Tensor | None = None) -> torch.Tensor:
        extra = {"d_real": d_real} if self.g_uses_real else {}
        return self.spec.g_loss(d_fake, **extra, **self._g_kw)

    def penalty(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, step: int = 1,
                D_fake: nn.Module | None = None) -> torch.Tensor | None:
        """The loss's penalty on D (a module, or ``x -> scores`` for a conditional D, with the real batch's
        labels); a penalty that names ``step`` gets the index of this D update (1, 2, ...: lazy
        regularisation), one that names ``D_fake`` gets D as it scores the generated batch (a conditional
        D with the labels that batch was generated for: R2 differentiates that function; ``D`` itself
        when not given)."""
        if self.spec.penalty is None:
            return None
        extra: dict[str, Any] = {"step": step} if self.penalty_uses_step else {}
        if self.penalty_uses_d_fake:
            extra["D_fake"] = D if D_fake is None else D_fake
        value = self.spec.penalty(D, real, fake, **extra, **self._penalty_kw)
        if value is not None and (not isinstance(value, torch.Tensor) or value.dim() != 0):
            shape = f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
            raise TypeError(f"penalty of loss {self.spec.name!r} returned {shape}; expected a scalar tensor (its mean "
                            "over the batch, added to D's loss) or None")
        return value

    def after_d_step(self, D: nn.Module) -> None:
        if self.spec.after_d_step is not None:
            self.spec.after_d_step(D, **self._after_kw)
