"""A suite: the grid ``datasets × models × losses × seeds`` plus training settings -> Cells.

Settings precedence (highest first): explicit user setting > the loss's paper settings > the model's
defaults > :data:`GLOBAL_DEFAULTS`. The *effective* settings, and where each came from, are recorded
with every result.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ganbench.errors import UsageError

#: One defaults table shared by the CLI, the Python API and the docs: name -> (default, help).
SETTINGS: dict[str, tuple[Any, str]] = {
    "steps": (1200, "generator updates per cell (each preceded by n_critic discriminator updates)"),
    "batch_size": (64, "samples per batch, real and fake"),
    "n_critic": (1, "discriminator updates per generator update"),
    "optimizer": ("adam", "adam or rmsprop, for both networks"),
    "lr_g": (2e-4, "generator learning rate (DCGAN: 2e-4)"),
    "lr_d": (2e-4, "discriminator learning rate (DCGAN: 2e-4)"),
    "beta1": (0.5, "Adam beta1 (DCGAN: 0.5)"),
    "beta2": (0.999, "Adam beta2"),
    "latent_dim": (100, "size of the noise vector z ~ N(0, I)"),
    "sample_every": (100, "save a sample grid every N steps (and at the last step); 0 = only the last"),
    "eval_samples": (2000, "generated samples used by the metrics at the end of training"),
}
GLOBAL_DEFAULTS: dict[str, Any] = {k: v for k, (v, _) in SETTINGS.items()}
OPTIMIZERS = ("adam", "rmsprop")


def coerce_setting(key: str, value: Any, origin: str = "setting") -> Any:
    """Validate one setting against the defaults table; UsageError names key and expectation."""
    if key not in SETTINGS:
        raise UsageError(f"unknown {origin} '{key}'; known settings: {', '.join(SETTINGS)}")
    default = GLOBAL_DEFAULTS[key]
    try:
        if isinstance(default, bool):
            raise TypeError
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            out: Any = int(value)
        elif isinstance(default, float):
            out = float(value)
        else:
            out = str(value).lower()
    except (TypeError, ValueError):
        kind = type(default).__name__
        raise UsageError(f"{origin} '{key}' expects {kind}, got {value!r}") from None
    if key == "optimizer" and out not in OPTIMIZERS:
        raise UsageError(f"{origin} 'optimizer' expects one of {', '.join(OPTIMIZERS)}, got {value!r}")
    if key in ("steps", "batch_size", "n_critic", "latent_dim", "eval_samples") and out < 1:
        raise UsageError(f"{origin} '{key}' expects a positive integer, got {value!r}")
    if key == "eval_samples" and out < 2:
        raise UsageError(f"{origin} 'eval_samples' expects at least 2, got {value!r}")
    if key == "sample_every" and out < 0:
        raise UsageError(f"{origin} 'sample_every' expects 0 or a positive integer, got {value!r}")
    if key in ("lr_g", "lr_d") and not out > 0:
        raise UsageError(f"{origin} '{key}' expects a positive number, got {value!r}")
    return out


def resolve_settings(
    user: Mapping[str, Any], loss_settings: Mapping[str, Any], model_defaults: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Effective settings and the source of each (``user``/``loss``/``model``/``default``)."""
    effective, source = {}, {}
    for key in SETTINGS:
        for origin, table in (("user", user), ("loss", loss_settings), ("model", model_defaults)):
            if key in table and table[key] is not None:
                effective[key] = coerce_setting(key, table[key], f"{origin} setting")
                source[key] = origin
                break
        else:
            effective[key], source[key] = GLOBAL_DEFAULTS[key], "default"
    return effective, source


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, order=True)
class Cell:
    """One training run of the grid. ``id`` is stable and safe as a directory name."""

    dataset: str
    model: str
    loss: str
    seed: int

    @property
    def id(self) -> str:
        parts = [_UNSAFE.sub("_", p) for p in (self.dataset, self.model, self.loss)]
        return "__".join(parts) + f"__s{self.seed}"

    def label(self) -> str:
        return f"{self.dataset}/{self.model}/{self.loss} seed {self.seed}"


@dataclass
class Suite:
    """The resolved request: names are validated against the registry by the runner."""

    datasets: Sequence[str]
    models: Sequence[str]
    losses: Sequence[str]
    seeds: Sequence[int]
    metrics: Sequence[str] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for axis in ("datasets", "models", "losses", "seeds"):
            values = list(getattr(self, axis))
            if not values:
                raise UsageError(f"--{axis} is empty: give at least one value")
            dupes = sorted({str(v) for v in values if values.count(v) > 1})
            if dupes:
                raise UsageError(f"--{axis} lists {', '.join(dupes)} more than once")
        for s in self.seeds:
            if not isinstance(s, int) or s < 0:
                raise UsageError(f"--seeds expects non-negative integers, got {s!r}")
        self.settings = {k: coerce_setting(k, v, "setting") for k, v in dict(self.settings).items()}

    def cells(self) -> list[Cell]:
        return [Cell(d, m, lo, s) for d, m, lo, s in itertools.product(self.datasets, self.models, self.losses, self.seeds)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "datasets": list(self.datasets),
            "models": list(self.models),
            "losses": list(self.losses),
            "seeds": list(self.seeds),
            "metrics": list(self.metrics),
            "settings": dict(sorted(self.settings.items())),
        }

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


def split_names(value: str | Sequence[str] | None) -> list[str] | None:
    """``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]``; None stays None (meaning: the default)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(v).strip() for v in items if str(v).strip()]


def parse_seeds(value: str | Sequence[int]) -> list[int]:
    """``"0,1,2"``, ``"0-4"`` or a list of ints."""
    if not isinstance(value, str):
        return [int(v) for v in value]
    seeds: list[int] = []
    for part in split_names(value) or []:
        m = re.fullmatch(r"(\d+)-(\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise UsageError(f"--seeds range '{part}' is empty")
            seeds.extend(range(lo, hi + 1))
        elif part.isdigit():
            seeds.append(int(part))
        else:
            raise UsageError(f"--seeds expects comma-separated non-negative integers or ranges like 0-4, got '{part}'")
    return seeds
