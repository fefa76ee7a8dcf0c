"""Observers: calling the observer hooks of :mod:`ganbench.hookspecs` (``ganbench_run_started``,
``ganbench_cell_started``, ``ganbench_step``, ``ganbench_evaluated``, ``ganbench_samples_saved``,
``ganbench_cell_finished``, ``ganbench_run_finished``) so that a logger is a plugin.

A hook no plugin implements costs one attribute test per call. What an implementation raises never
reaches training: it is counted, and :meth:`Observers.problems` says who failed where (the cell's
message, or a warning line for run hooks). Run hooks are called in the driver, cell hooks in the
process that trains the cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench.errors import one_line

OBSERVER_HOOKS = ("ganbench_run_started", "ganbench_cell_started", "ganbench_step", "ganbench_evaluated",
                  "ganbench_samples_saved", "ganbench_cell_finished", "ganbench_run_finished")


@dataclass(frozen=True)
class RunInfo:
    """What run hooks receive."""

    #: the run directory
    run_dir: Path
    #: the request (as ``suite.json`` holds it)
    suite: dict[str, Any]
    #: ids of the grid's cells (those with a row from an earlier invocation are not trained again)
    cells: tuple[str, ...]
    #: the loggers the user turned on (``--log``)
    log: tuple[str, ...] = ()

    def log_dir(self, logger: str) -> Path:
        """Where logger ``logger`` writes for this run: ``RUN_DIR/logs/<logger>`` (created by the
        logger). ``--fresh`` removes ``RUN_DIR/logs``, so an appending logger never duplicates lines."""
        return log_dir(self.run_dir, logger)


def log_dir(run_dir: Path | str, logger: str) -> Path:
    """``RUN_DIR/logs/<logger>``: the one folder a logger plugin writes into (see :meth:`RunInfo.log_dir`)."""
    from ganbench.paths import safe_name

    return Path(run_dir) / LOGS_DIR / safe_name(logger)


#: the folder of a run directory that logger plugins write into, one subfolder each
LOGS_DIR = "logs"


@dataclass(frozen=True)
class CellInfo:
    """What cell hooks receive: one cell of a run, resolved."""

    run_dir: Path
    cell_dir: Path
    cell_id: str
    dataset: str
    model: str
    loss: str
    seed: int
    #: effective training settings (``steps``, ``batch_size``, ``lr_g``, ...)
    settings: dict[str, Any]
    model_options: dict[str, Any]
    loss_options: dict[str, Any]
    config_hash: str
    #: the step a resumed cell continues after (0: from the start)
    resumed_from: int = 0
    log: tuple[str, ...] = ()
    #: the cell's config.json as written (settings, their sources, provenance)
    config: dict[str, Any] = field(default_factory=dict)

    def log_dir(self, logger: str) -> Path:
        """Where logger ``logger`` writes for this run (``RUN_DIR/logs/<logger>``; one folder per run,
        a file or subfolder per cell is the logger's choice: ``cell_id`` is safe as a file name)."""
        return log_dir(self.run_dir, logger)


class Observers:
    """The observer hooks of one plugin manager, called safely."""

    def __init__(self, pm) -> None:
        self.pm = pm
        self._impls = {name: list(getattr(pm.hook, name).get_hookimpls()) for name in OBSERVER_HOOKS}
        self._failures: dict[tuple[str, str], tuple[int, str]] = {}

    def listening(self, hook: str) -> bool:
        """Whether any plugin implements ``hook``."""
        return bool(self._impls[hook])

    def __call__(self, hook: str, **kwargs: Any) -> None:
        for impl in self._impls[hook]:
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames if k in kwargs})
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # an observer never stops training, SystemExit included
                key = (impl.plugin_name, hook)
                count, first = self._failures.get(key, (0, one_line(exc)))
                self._failures[key] = (count + 1, first)

    def problems(self, provenance=None) -> list[str]:
        """One line per (plugin, hook) that raised: how often and the first error; ``provenance``
        (``name -> text``) names the plugin's distribution."""
        out = []
        for (plugin, hook), (count, first) in self._failures.items():
            who = provenance(plugin) if provenance is not None else f"plugin '{plugin}'"
            out.append(f"observer {who} raised in {hook}{f' ({count} times)' if count > 1 else ''}: {first}")
        return out

    def reset(self) -> None:
        self._failures.clear()
