"""The Python API. The CLI is a thin layer over :func:`run`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.plugins import load_plugins
from ganbench.suite import Suite, parse_seeds, split_names

DEFAULT_DATASETS = ("mnist5k",)
DEFAULT_SEEDS = (0, 1, 2)
RUNS_DIR = Path("results") / "runs"


def default_out(suite: Suite) -> Path:
    """``results/runs/<suite fingerprint>``: the same request maps to the same directory, so
    re-running a command resumes it."""
    return RUNS_DIR / f"run-{suite.fingerprint()}"


def build_suite(
    registry,
    *,
    models: str | Sequence[str] | None = None,
    losses: str | Sequence[str] | None = None,
    datasets: str | Sequence[str] | None = None,
    metrics: str | Sequence[str] | None = None,
    seeds: str | Sequence[int] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Suite:
    """Defaults: every registered model, loss and metric; data set ``mnist5k``; seeds 0,1,2."""
    return Suite(
        datasets=split_names(datasets) or list(DEFAULT_DATASETS),
        models=split_names(models) or registry.names("model"),
        losses=split_names(losses) or registry.names("loss"),
        metrics=split_names(metrics) if metrics is not None else registry.names("metric"),
        seeds=parse_seeds(seeds) if seeds is not None else list(DEFAULT_SEEDS),
        settings={k: v for k, v in (settings or {}).items() if v is not None},
    )


def run(
    models: str | Sequence[str] | None = None,
    losses: str | Sequence[str] | None = None,
    datasets: str | Sequence[str] | None = None,
    seeds: str | Sequence[int] | None = None,
    *,
    metrics: str | Sequence[str] | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    settings: Mapping[str, Any] | None = None,
    device: str = "auto",
    out: str | Path | None = None,
    plugins: Iterable[Any] = (),
    disable_plugins: Iterable[str] = (),
    reporter=None,
) -> pd.DataFrame:
    """Train and evaluate every cell of ``datasets × models × losses × seeds``; one row per cell.

    Mirrors ``ganbench run``: ``steps``/``batch_size`` are shortcuts for ``settings``; other
    settings (``n_critic``, ``lr_g``, ...) are listed in :data:`ganbench.suite.SETTINGS`.
    ``plugins`` registers extra plugin objects; ``disable_plugins`` blocks plugins by name.
    Results are written under ``out`` (default ``results/runs/run-<fingerprint>``), which resumes.
    """
    from ganbench.device import resolve_device
    from ganbench.runner import Runner

    pl = load_plugins(extra=plugins, disabled=disable_plugins)
    merged = dict(settings or {})
    merged.update({k: v for k, v in (("steps", steps), ("batch_size", batch_size)) if v is not None})
    suite = build_suite(
        pl.registry, models=models, losses=losses, datasets=datasets, metrics=metrics, seeds=seeds, settings=merged
    )
    dev = resolve_device(device)
    target = Path(out) if out is not None else default_out(suite)
    return Runner(pl, suite, target, dev, reporter=reporter).run()
