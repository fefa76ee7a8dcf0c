"""When training stops early: divergence (non-finite values, loss explosion) and failures inside a step."""

from __future__ import annotations

import math

import torch

#: |d_loss| or |g_loss| above this is a loss explosion: the cell stops as diverged
EXPLOSION = 1e6


class Diverged(Exception):
    """Raised (e.g. by an evaluation callback) when generated samples are NaN/inf: the cell stops as
    ``diverged`` at ``step``."""

    def __init__(self, step: int, message: str):
        super().__init__(message)
        self.step, self.message = step, message


class TrainingError(Exception):
    """An exception inside a training step, with whose code raised it: ``kind`` is ``model``,
    ``loss``, ``ganbench`` (its own code) or None (autograd and the optimiser step: either plugin),
    ``where`` the call (``d_loss``, ``G forward``...)."""

    def __init__(self, kind: str | None, where: str, step: int):
        super().__init__(f"{where} at step {step}")
        self.kind, self.where, self.step = kind, where, step


def nonfinite_samples(samples: torch.Tensor, step: int, where: str) -> None:
    """Raise :class:`Diverged` when ``samples`` hold NaN/inf."""
    if not bool(torch.isfinite(samples).all()):
        raise Diverged(step, f"non-finite generated samples ({where}) at step {step}")


def divergence(rec: dict[str, float], samples_finite: bool = True) -> str | None:
    """Why a step means training diverged (non-finite generated batch or recorded values, loss
    explosion), else None: ``rec`` is a step's record, every value but ``step`` is checked."""
    bad = ([] if samples_finite else ["generated samples"]) + [k for k, v in rec.items()
                                                               if k != "step" and not math.isfinite(v)]
    if bad:
        return f"non-finite {', '.join(bad)}"
    big = [k for k in ("d_loss", "g_loss") if abs(rec[k]) > EXPLOSION]
    if big:
        return "loss explosion: " + ", ".join(f"|{k}| = {abs(rec[k]):.3g}" for k in big) + f" > {EXPLOSION:g}"
    return None
