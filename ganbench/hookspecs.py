"""Hook specifications: the whole interface between ganbench and its plugins.

A plugin is a module (or object) with functions decorated by :data:`ganbench.hookimpl` whose names
are the hooks below. Implementations may accept fewer arguments than the spec (pluggy passes the
ones they name), so specs can grow without breaking plugins. All calls are keyword-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import pandas as pd

    from ganbench.observe import CellInfo, RunInfo
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


@hookspec
def ganbench_register_protocols(registry: Registry) -> None:
    """Register protocols: papers' experimental set-ups, pinned (``ganbench run --protocol NAME``).

    :param registry: call ``registry.add_protocol(ProtocolSpec(...))`` once per protocol.
    """


@hookspec
def ganbench_register_loggers(registry: Registry) -> None:
    """Register loggers, the names ``ganbench run --log NAME`` turns on (the logging itself is done by
    the observer hooks below).

    :param registry: call ``registry.add_logger(LoggerSpec(...))`` once per logger.
    """


# -- observer hooks ----------------------------------------------------------------------------------
# Called with keyword arguments only; cheap when no plugin implements them (nothing is built for a
# hook nobody listens to). Run hooks are called in the driver; cell hooks in the process that trains
# the cell (a worker of --jobs, a Ray task), which discovers the same installed plugins. What an
# observer raises never fails a cell or a run: it becomes a note in the cell's message (cell hooks)
# or a warning line (run hooks).


@hookspec
def ganbench_run_started(run: RunInfo) -> None:
    """A run starts training (after its request was accepted and its plan printed).

    :param run: the run directory, the request (``suite``), the plan's cells and the ``log`` names.
    """


@hookspec
def ganbench_cell_started(cell: CellInfo) -> None:
    """A cell starts (or resumes) training, in the process that trains it.

    :param cell: the cell's identity, directory, effective settings and options, config hash, the
        step it resumes from, and the run's ``log`` names.
    """


@hookspec
def ganbench_step(cell: CellInfo, record: dict[str, float]) -> None:
    """One training step finished.

    :param cell: as in :func:`ganbench_cell_started`.
    :param record: the step's history line: ``step`` (int), ``d_loss``, ``g_loss``, ``d_penalty``,
        ``d_real``, ``d_fake``, ``grad_norm_d``, ``grad_norm_g`` (floats; the same values as
        ``history.csv``; a copy).
    """


@hookspec
def ganbench_evaluated(cell: CellInfo, step: int, values: dict[str, Any]) -> None:
    """The metrics were computed at ``step`` (each ``eval_every`` and at the end).

    :param cell: as in :func:`ganbench_cell_started`.
    :param step: the generator step evaluated.
    :param values: the metrics' columns (the same values as ``trajectory.csv``, with non-numbers).
    """


@hookspec
def ganbench_samples_saved(cell: CellInfo, step: int, path: Path) -> None:
    """A sample picture was written (``samples/step_NNNNNN.png``).

    :param cell: as in :func:`ganbench_cell_started`.
    :param step: its generator step.
    :param path: the PNG file.
    """


@hookspec
def ganbench_cell_finished(cell: CellInfo, row: dict[str, Any]) -> None:
    """A cell finished (ok, diverged or failed), in the process that trained it.

    :param cell: as in :func:`ganbench_cell_started`.
    :param row: its result row as the cell produced it (the driver adds no metric).
    """


@hookspec
def ganbench_run_finished(run: RunInfo, table: pd.DataFrame) -> None:
    """A run finished (also when cells failed; not when it was interrupted).

    :param run: as in :func:`ganbench_run_started`.
    :param table: the run's results table (``results.csv``).
    """
