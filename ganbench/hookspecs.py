"""Hook specifications: the whole interface between ganbench and its plugins.

A plugin is a module (or object) with functions decorated by :data:`ganbench.hookimpl` whose names
are the hooks below. Implementations may accept fewer arguments than the spec (pluggy passes the
ones they name), so specs can grow without breaking plugins. All calls are keyword-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from ganbench.registry import Registry

PROJECT = "ganbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ganbench_register_models(registry: Registry) -> None:
    """Register model families (generator + discriminator).

    :param registry: call ``registry.add_model(ModelSpec(...))`` once per model.
    """


@hookspec
def ganbench_register_losses(registry: Registry) -> None:
    """Register adversarial losses.

    :param registry: call ``registry.add_loss(LossSpec(...))`` once per loss.
    """


@hookspec
def ganbench_register_datasets(registry: Registry) -> None:
    """Register data sets.

    :param registry: call ``registry.add_dataset(DatasetSpec(...))`` once per data set.
    """


@hookspec
def ganbench_register_metrics(registry: Registry) -> None:
    """Register metrics.

    :param registry: call ``registry.add_metric(MetricSpec(...))`` once per metric.
    """


@hookspec
def ganbench_register_extractors(registry: Registry) -> None:
    """Register feature extractors (what FID, KID and precision/recall compare).

    :param registry: call ``registry.add_extractor(ExtractorSpec(...))`` once per extractor.
    """


@hookspec
def ganbench_register_executors(registry: Registry) -> None:
    """Register executors (where the cells of a run execute: serial, local workers, Ray, a cluster
    scheduler).

    :param registry: call ``registry.add_executor(ExecutorSpec(...))`` once per executor.
    """
