"""The unit of work: a :class:`CellPlan` says everything a process needs to train and evaluate one
cell — the plugins to discover, the data set to load (and the fingerprint it must have), the resolved
settings and options, the configuration hash, the run directory, the device and torch threads. It is
plain data (JSON-serialisable with :meth:`CellPlan.to_dict`), so a fresh worker process, a Ray task on
another node or a third-party executor can run it from the plan alone.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass, field, replace
from types import ModuleType
from typing import Any

from ganbench.errors import UsageError
from ganbench.suite import Cell

#: a replica group's row carries the rows of the group's other cells under this key, in the order of
#: :meth:`CellPlan.members` (never a column of the table)
GROUP_ROWS_KEY = "_group_rows"


@dataclass(frozen=True)
class PluginSetup:
    """How the driver loaded its plugins, as a worker can repeat it: entry points (``autoload``, or
    only ``enabled``), ``blocked`` names, and ``modules``: extra plugins given as objects that are
    importable modules (by name). Plugin objects that are not modules exist only in the driver's
    process; :func:`plugin_setup` refuses them for executors that start processes."""

    autoload: bool = True
    enabled: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()

    def load(self):
        from ganbench.plugins import load_plugins

        extra = [importlib.import_module(m) for m in self.modules]
        return load_plugins(extra=extra, disabled=self.blocked, autoload=self.autoload, enabled=self.enabled,
                            environment=False)


def plugin_setup(plugins, executor: str) -> PluginSetup:
    """The :class:`PluginSetup` that reproduces ``plugins`` in another process; a
    :class:`UsageError` naming the plugin when one of them cannot be re-created there."""
    request = plugins.request
    modules = []
    for obj in request["extra"]:
        name = getattr(obj, "__name__", None)
        if isinstance(obj, ModuleType) and name and name != "__main__":
            modules.append(name)
        else:
            raise UsageError(f"the '{executor}' executor runs cells in other processes, which find plugins by entry point "
                             f"or module name; plugin {name or type(obj).__name__!r} was given as an object of this "
                             "process only: install it as a plugin (docs/plugins.md), pass its module, or use "
                             "--executor serial")
    return PluginSetup(autoload=request["autoload"], enabled=tuple(sorted(request["enabled"])),
                       blocked=tuple(sorted(request["blocked"])), modules=tuple(modules))


@dataclass
class CellPlan:
    """One cell of a run, resolved: what :func:`ganbench.execution.cell.execute` needs."""

    #: the cell's id in its run (``cells/<key>/``)
    key: str
    #: position in the grid (for progress lines)
    index: int
    dataset: str
    model: str
    loss: str
    seed: int
    run_dir: str
    #: the data set's resolved options, where its files live, and the fingerprint the loaded data
    #: must have (the driver's): a worker that loads other data fails the cell instead of training
    data_options: dict[str, Any]
    data_root: str
    data_fingerprint: str | None
    #: the data set's extractor, or None and why no extractor applies
    extractor: str | None
    extractor_reason: str | None
    extractor_options: dict[str, dict[str, Any]]
    metrics: list[str]
    metric_samples: int
    settings: dict[str, Any]
    model_options: dict[str, Any]
    loss_options: dict[str, Any]
    #: notes for the row's message (a paper option the model cannot take, ...)
    notes: list[str]
    config: dict[str, Any]
    config_hash: str
    #: the row's identity, settings and provenance columns, filled by the driver
    row: dict[str, Any]
    device: str = "cpu"
    #: torch's intra-op threads for this cell (CPU results can depend on it: recorded in the row)
    threads: int = 1
    deterministic: bool = False
    #: see :class:`ganbench.execution.session.Runner`
    checkpoint_every: int | None = None
    plugins: PluginSetup = field(default_factory=PluginSetup)
    #: the loggers the user turned on (``--log``): observer plugins act on their own name
    log: tuple[str, ...] = ()
    #: set by the driver for a data set that failed to load (or whose extractor failed): the
    #: cell fails with it at once
    data_error: str | None = None
    #: the cell's sweep point, ``[[key, value], ...]`` sorted by key (:attr:`ganbench.suite.Cell.point`)
    point: list[list[Any]] = field(default_factory=list)
    #: a replica group's leader (``replicas`` > 1): the plans of the group's other cells (plain data),
    #: which train with this one as one vectorised program; each still gets its own directory and row
    group: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cell(self) -> Cell:
        return Cell(self.dataset, self.model, self.loss, self.seed, tuple((k, v) for k, v in self.point))

    def members(self) -> list[CellPlan]:
        """The cells this plan trains: itself and, for a replica group, the others, on this plan's device
        and threads (where the executor placed the group)."""
        others = [CellPlan.from_dict(d) for d in self.group]
        return [self, *(replace(p, device=self.device, threads=self.threads, row={
            **p.row, "device": self.row.get("device", self.device), "started_at": self.row.get("started_at")})
            for p in others)]

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-compatible data (:meth:`from_dict` restores it)."""
        out = asdict(self)
        json.dumps(out)  # a plan is plain data: fail here, not in a worker, when it is not
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellPlan:
        values = dict(data)
        setup = values.get("plugins") or {}
        values["log"] = tuple(values.get("log") or ())
        values["plugins"] = PluginSetup(**{k: tuple(v) if isinstance(v, list) else v for k, v in setup.items()})
        return cls(**values)


def group_key(dataset: str, model: str, loss: str, config: dict[str, Any]) -> str:
    """What cells of one replica group share: everything of their configuration but the cell (its seed)."""
    return json.dumps([dataset, model, loss, {n: v for n, v in config.items() if n != "cell"}], sort_keys=True,
                      default=str)


def replica_groups(plans: list[CellPlan], grid: list[tuple[str, str, int]] | None = None) -> list[CellPlan]:
    """The plans to hand to an executor: with ``replicas`` = K > 1, the cells that differ only in their seed,
    in groups of up to K, each group as its first plan carrying the others (:attr:`CellPlan.group`); a cell
    left alone (a group of one) stays a plain plan. ``grid``: every cell of the request in grid order as
    ``(cell id, group key, K)``, the cells already done included, so that a re-run forms the groups of
    the first run (and finds their checkpoints) whichever cells have finished since; default: ``plans``."""
    if grid is None:
        grid = [(p.key, group_key(p.dataset, p.model, p.loss, p.config), int(p.settings.get("replicas", 1)))
                for p in plans]
    group_of: dict[str, str] = {}
    filling: dict[str, list[str]] = {}
    for cell_id, key, k in grid:
        members = filling.get(key)
        if k <= 1 or members is None or len(members) >= k:
            members = filling[key] = []
        members.append(cell_id)
        group_of[cell_id] = members[0]
    groups: dict[str, list[CellPlan]] = {}
    for plan in plans:
        groups.setdefault(group_of.get(plan.key, plan.key), []).append(plan)
    return [replace(first, group=[p.to_dict() for p in others]) if others else first
            for first, *others in groups.values()]
