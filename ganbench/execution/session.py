"""The driver of a run (the session): checks the request, refuses to mix configurations in one
directory, holds the directory's lock, turns each cell to train into a
:class:`~ganbench.execution.plan.CellPlan`, hands the plans to an executor and writes each row as it
comes back — the only writer of ``result.json`` and ``results.csv``."""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import torch

from ganbench import __version__, options, paths
from ganbench.augment import refusal, requested
from ganbench.errors import CellFailure, GanbenchError, StorageError, UsageError, call_plugin, one_line
from ganbench.evaluation import EvalCache, EvalContext, resolve_extractor
from ganbench.execution.cell import (
    CHECKPOINT_SECONDS,
    WorkerState,
    load_data,
    metric_reason,
    model_supports,
    size_hint,
    who,
)
from ganbench.execution.executors import TRACEBACK_KEY, Event, Executor, ExecutorConfig, group_rows
from ganbench.execution.plan import CellPlan, PluginSetup, group_key, plugin_setup, replica_groups
from ganbench.observe import RunInfo
from ganbench.plugins import GanbenchPlugins
from ganbench.provenance import environment, git_commit
from ganbench.specs import Data, revision_of
from ganbench.store import (
    CHECKPOINT_FILE,
    GROUP_JOURNAL,
    REUSABLE_STATUSES,
    ActiveRuns,
    RunStore,
    in_use,
    is_instrument,
    rows_to_frame,
)
from ganbench.suite import GLOBAL_DEFAULTS, Cell, Suite, hashed_settings, resolve_settings
from ganbench.train import graphs, run_training, setup
from ganbench.train.losses import BoundLoss
from ganbench.train.phases import simultaneous, simultaneous_refusal

__all__ = ["CHECKPOINT_SECONDS", "NullReporter", "Plan", "Reporter", "Runner"]


#: steps a timed probe trains (after one warm-up step) to estimate a cell's speed for the plan
PROBE_STEPS = 5


class Reporter(Protocol):
    """Receives progress events (the CLI shows them with rich; the API default ignores them).
    ``resumed_from`` is the step of the checkpoint a cell continues from (0: from the start).
    ``run_planned`` gets the :class:`Plan` (with time estimates) before anything trains, when the
    reporter's ``wants_plan`` is true; ``status`` announces a long preparation step. With several
    cells running at once, ``cell_started`` gets the ``worker`` and ``step`` the ``cell`` a record is
    of, when they name those parameters (a reporter written for one cell at a time still works)."""

    wants_plan: bool

    def run_planned(self, plan: Plan) -> None: ...
    def status(self, text: str, done: int | None = None, total: int | None = None) -> None: ...
    def run_started(self, cells: list[Cell], out: Path) -> None: ...
    def cell_started(self, cell: Cell, index: int, steps: int, resumed_from: int = 0, worker: str = "") -> None: ...
    def step(self, record: dict[str, float], cell: Cell | None = None) -> None: ...
    def cell_finished(self, cell: Cell, row: dict[str, Any], resumed: bool) -> None: ...
    def warning(self, text: str) -> None: ...


class NullReporter:
    wants_plan = False

    def run_planned(self, plan):
        pass

    def status(self, text, done=None, total=None):
        pass

    def run_started(self, cells, out):
        pass

    def cell_started(self, cell, index, steps, resumed_from=0, worker=""):
        pass

    def step(self, record, cell=None):
        pass

    def cell_finished(self, cell, row, resumed):
        pass

    def warning(self, text):
        pass


@dataclass
class Plan:
    """What a run will do, before it trains: the grid, the cells it reuses, skips or trains, and an
    estimate of the time per cell to train (training + evaluation, seconds) with where it comes from."""

    out: Path
    cells: list[Cell]
    axes: dict[str, int]
    reused: list[Cell]
    skipped: list[Cell]
    #: cell -> estimated seconds (None: unknown, e.g. a cell whose model fails its probe)
    estimates: dict[Cell, float | None]
    #: cell -> the evaluation part of the estimate (None: not measured yet)
    eval_estimates: dict[Cell, float | None]
    sources: list[str]
    #: the executor, its workers (one line each) and how many cells run at once
    executor: str = "serial"
    workers: list[str] = field(default_factory=list)
    capacity: int = 1
    threads: int = 1
    #: why the time is unknown, when it is
    unknown_why: str = "a model could not be probed"

    @property
    def to_train(self) -> list[Cell]:
        return list(self.estimates)

    def total_s(self) -> float | None:
        """The estimated seconds of all cells to train, one after another."""
        values = list(self.estimates.values())
        return None if any(v is None for v in values) else float(sum(values))

    def wall_s(self) -> float | None:
        """The estimated wall time: the cells shared out over the executor's slots (never less than
        the longest cell)."""
        total = self.total_s()
        if total is None or not self.estimates:
            return total
        return max(total / min(self.capacity, len(self.estimates)), max(self.estimates.values()))

    def describe(self) -> list[str]:
        """The plan as lines for the user."""
        from ganbench.progress import duration

        one = {"data sets": "data set", "models": "model", "losses": "loss", "points": "point", "seeds": "seed"}
        grid = " × ".join(f"{n} {axis if n != 1 else one.get(axis, axis)}" for axis, n in self.axes.items())
        lines = [f"ganbench: {len(self.cells)} cells ({grid}) -> {self.out}"]
        parts = [f"{len(self.to_train)} to train"]
        if self.reused:
            parts.append(f"{len(self.reused)} already done (kept)")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped (the model cannot take the data)")
        total = self.wall_s()
        if self.to_train:
            missing_eval = any(v is None for v in self.eval_estimates.values())
            when = (f"estimated {duration(total)}" + (" of training (evaluation is measured by the first cells)"
                                                      if missing_eval else "")) if total is not None else \
                f"time unknown ({self.unknown_why})"
            parts.append(when + (f", from {'; '.join(self.sources)}" if self.sources else ""))
        lines.append("  " + "; ".join(parts))
        if self.to_train and (self.capacity > 1 or self.executor != "serial"):
            lines.append(f"  executor {self.executor}: {len(self.workers)} worker(s), up to {self.capacity} cells at once, "
                         f"{self.threads} torch thread(s) per cell" + (" (the estimate assumes the cells do not slow "
                                                                       "each other down)" if self.capacity > 1 else ""))
            lines.extend(f"    {w}" for w in self.workers)
        return lines


@dataclass
class _Prepared:
    """What a cell needs, resolved before anything trains."""

    cell: Cell
    settings: dict[str, Any]
    sources: dict[str, str]
    model_options: dict[str, Any]
    loss_options: dict[str, Any]
    notes: list[str]
    config: dict[str, Any]
    config_hash: str
    #: ``loss.<option>`` and ``data.<option>``: where each came from (rows only; the values are hashed)
    option_sources: dict[str, str]


def _cores() -> int:
    """CPU cores this process may run on (its affinity, where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class Runner:
    """Runs a suite into the directory ``out``.

    ``checkpoint_every``: save the whole training state every N steps (0: never; None: every
    :data:`CHECKPOINT_SECONDS` of training), so a killed cell continues where it stopped.
    ``fail_fast``: stop at the first failed cell. ``fresh``: replace what an earlier run left in
    ``out`` (without it, a different request for the same directory is refused).
    ``deterministic``: torch's deterministic algorithms (GPU; CPU runs are deterministic).
    ``executor``: where the cells execute (``auto``: ``serial`` for one job on one device, else
    ``local``; or ``ray``, or a plugin's), configured by ``executor_config`` (jobs, devices, torch
    threads per cell: default the driver's threads // jobs)."""

    def __init__(self, plugins: GanbenchPlugins, suite: Suite, out: Path, device: torch.device,
                 reporter: Reporter | None = None, data_root: Path | None = None, *,
                 checkpoint_every: int | None = None, fail_fast: bool = False, fresh: bool = False,
                 deterministic: bool = False, executor: str = "auto", executor_config: ExecutorConfig | None = None,
                 log: tuple[str, ...] | list[str] = ()):
        if checkpoint_every is not None and checkpoint_every < 0:
            raise UsageError(f"--checkpoint-every expects 0 (never) or a positive number of steps, got {checkpoint_every}")
        self.executor_config = executor_config or ExecutorConfig()
        self.executor_name, self.threads = self._choose_executor(plugins.registry, executor, self.executor_config, device)
        if self.executor_config.devices:
            device = torch.device(self.executor_config.devices[0])
        self.checkpoint_every, self.fail_fast, self.fresh = checkpoint_every, fail_fast, fresh
        self.deterministic = deterministic
        #: filled by run(): the cells that failed, and those not run because of --fail-fast
        self.failed: list[Cell] = []
        self.not_run: list[Cell] = []
        self.plugins = plugins
        self.registry = plugins.registry
        self.suite = suite
        self.store = RunStore(out)
        self.device = device
        self.reporter = reporter or NullReporter()
        self.data_root = Path(data_root) if data_root is not None else paths.data_root()
        self.eval_cache = EvalCache()
        #: the code that trains this run's cells, recorded in every row (environment.json describes
        #: only the latest invocation of a resumed run)
        self.commit = git_commit()
        # validate every name and every user option before anything runs: a typo costs nothing
        for kind, names in (("dataset", suite.datasets), ("model", suite.models), ("loss", suite.losses),
                            ("metric", suite.metrics)):
            for name in names:
                self.registry.get(kind, name)
        #: the protocol the request follows: its options sit between the user's and the plugins' defaults
        self.protocol = self.registry.get("protocol", suite.protocol) if suite.protocol is not None else None
        if self.protocol is not None:
            self._check_protocol_names(suite.protocol)
        data = {d: self._data_options(d) for d in suite.datasets}
        self.data_options = {d: opts for d, (opts, _) in data.items()}
        losses = {lo: self._options("loss", lo, suite.loss_options) for lo in suite.losses}
        self.loss_options = {lo: opts for lo, (opts, _) in losses.items()}
        #: where each data set's and loss's option came from (``user``, ``protocol``, ...): rows say it in
        #: ``hp_source`` beside the settings' sources (not hashed: the values themselves are)
        self._option_sources = {("data", d): src for d, (_, src) in data.items()}
        self._option_sources.update({("loss", lo): src for lo, (_, src) in losses.items()})
        for m in suite.models:
            self._options("model", m, suite.model_options)
        if suite.extractor != "auto":
            self.registry.get("extractor", suite.extractor)
        #: the loggers turned on (``--log``), each installed with what it needs
        self.log = tuple(dict.fromkeys(self._logger(name) for name in log))
        for name, opts in suite.extractor_options.items():
            self._options("extractor", name, {name: opts})
        #: per data set: (extractor name, None) or (None, why no extractor applies); set by run()
        self.extractors: dict[str, tuple[str | None, str | None]] = {}
        #: the most generated samples a metric of this run needs by definition (MetricSpec.samples)
        self.metric_samples = max([0, *(self.registry.get("metric", m).samples for m in suite.metrics)])

    def _logger(self, name: str) -> str:
        """A ``--log`` name, checked: a registered logger whose modules are installed."""
        import importlib.util

        spec = self.registry.get("logger", name)
        for module in spec.requires:
            try:
                missing = importlib.util.find_spec(module) is None
            except (ImportError, ValueError):
                missing = True
            if missing:
                raise UsageError(f"--log {spec.name} needs the module '{module}', which is not installed"
                                 + (f": {spec.install}" if spec.install else ""))
        return spec.name

    @staticmethod
    def _choose_executor(registry, name: str, config: ExecutorConfig, device: torch.device) -> tuple[str, int]:
        """The executor's name and the torch threads of each cell, checked: ``--jobs`` at least 1,
        ``--devices`` that exist here and are of one type, options that the executor uses."""
        if config.jobs is None:  # one worker per listed device
            config.jobs = max(1, len(config.devices))
        if not isinstance(config.jobs, int) or config.jobs < 1:
            raise UsageError(f"--jobs expects a positive number of worker processes, got {config.jobs}")
        if config.threads is not None and (not isinstance(config.threads, int) or config.threads < 1):
            raise UsageError(f"--threads expects a positive number of torch threads per cell, got {config.threads}")
        if config.devices:
            from ganbench.device import resolve_device

            if "auto" in [d.strip().lower() for d in config.devices]:
                raise UsageError("--devices lists devices (cpu, cuda:0, cuda:1, ...); 'auto' is for --device")
            resolved = [str(resolve_device(d, "--devices")) for d in config.devices]
            if len({torch.device(d).type for d in resolved}) > 1:
                raise UsageError(f"--devices {','.join(config.devices)} mixes device types: the numbers of one run come "
                                 "from one kind of device")
            config.devices = tuple(resolved)
        if name == "auto":
            name = "local" if config.jobs > 1 or len(config.devices) > 1 else "serial"
        spec = registry.get("executor", name)
        name = spec.name
        if name == "serial" and (config.jobs > 1 or len(config.devices) > 1):
            raise UsageError(f"--executor serial runs one cell at a time on one device; --jobs {config.jobs}"
                             f"{' --devices ' + ','.join(config.devices) if config.devices else ''} needs --executor local "
                             "(or ray)")
        if name != "ray":
            for flag, value in (("--ray-address", config.ray_address), ("--gpus-per-cell", config.gpus_per_cell)):
                if value is not None:
                    raise UsageError(f"{flag} is an option of --executor ray (this run's executor is {name})")
        elif config.gpus_per_cell is not None and not (config.gpus_per_cell >= 0 and (
                config.gpus_per_cell <= 1 or float(config.gpus_per_cell).is_integer())):  # -1 is whole, not a share
            raise UsageError(f"--gpus-per-cell expects 0 (no GPU), a fraction of one GPU (0 < x <= 1) or a whole number "
                             f"of GPUs, got {config.gpus_per_cell:g}")
        elif config.gpus_per_cell == 0 and device.type == "cuda":  # every task would use cuda:0, unaccounted
            raise UsageError("--gpus-per-cell 0 gives the Ray tasks no GPU, but this run trains on CUDA: give each cell "
                             "a share (e.g. --gpus-per-cell 0.5) or run on the CPU (--device cpu)")
        if name == "ray":
            import importlib.util

            try:
                missing = importlib.util.find_spec("ray") is None
            except ValueError:  # ray in sys.modules without a spec: blocked (None) or broken
                missing = True
            if missing:
                raise UsageError("--executor ray needs Ray, which is not installed: pip install 'ganbench[ray]'")
        if name == "ray" and config.jobs > 1:
            raise UsageError("--jobs is for --executor local; Ray runs as many cells at once as its cluster has "
                             "resources for (--threads CPUs and --gpus-per-cell GPUs per cell)")
        if name != "ray" and config.threads is not None and config.threads > _cores():
            raise UsageError(f"--threads {config.threads}: this machine has {_cores()} CPU core(s) for torch threads")
        threads = config.threads or (1 if name == "ray" else max(1, torch.get_num_threads() // config.jobs))
        other = sorted(set(config.options) - {name})
        if other:
            raise UsageError(f"--executor-opt {other[0]}.*: this run's executor is {name}, not {other[0]}")
        config.options = options.resolve("executor", name, spec.options, [("user", config.options.get(name, {}))])[0]
        return name, threads

    def _executor(self) -> Executor:
        """The run's executor, built (a plugin's failure to build one is the user's to see)."""
        spec = self.registry.get("executor", self.executor_name)
        state = WorkerState(self.plugins, {n: d for n, d in self._datasets.items() if isinstance(d, Data)},
                            self.eval_cache)
        return spec.make(self.executor_config, device=str(self.device), threads=self.threads, state=state)

    def _options(self, kind: str, name: str, user: Mapping[str, Mapping[str, Any]],
                 *extra: tuple[str, Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
        spec = self.registry.get(kind, name)
        table = {"model": "model_options", "loss": "loss_options"}.get(kind)
        pinned = [("protocol", self._pinned(table, name))] if table else []
        return options.resolve(kind, name, spec.options, [("user", user.get(name, {})), *pinned, *extra])

    def _check_protocol_names(self, name: str) -> None:
        """Every plugin a protocol's tables name is installed and named by its registered name (an alias or
        a typo would otherwise be ignored without a word)."""
        who = self.registry.provenance("protocol", name)
        for table, kind in (("data_options", "dataset"), ("model_options", "model"), ("loss_options", "loss"),
                            ("loss_settings", "loss")):
            for key in getattr(self.protocol, table):
                try:
                    registered = self.registry.canonical(kind, key)
                except UsageError as exc:
                    raise UsageError(f"protocol '{name}' of {who} names {kind} '{key}' in its {table}: {exc}") from None
                if registered != key:
                    raise UsageError(f"protocol '{name}' of {who} names {kind} '{key}' in its {table}, an alias of "
                                     f"'{registered}': a protocol names plugins by their registered names")

    def _pinned(self, table: str, name: str) -> dict[str, Any]:
        """The protocol's options of plugin ``name`` (``table``: ``model_options``, ...); none without one."""
        return dict(getattr(self.protocol, table).get(name.partition(":")[0], {})) if self.protocol else {}

    def _data_options(self, name: str) -> tuple[dict[str, Any], dict[str, str]]:
        """A data set's options: its ``NAME:VALUE``, then the user's for ``NAME:VALUE``, then for ``NAME``."""
        base = name.partition(":")[0]
        layers = [("name", self.registry.name_options("dataset", name)), ("user", self.suite.data_options.get(name, {}))]
        if base != name:
            layers.append(("user", self.suite.data_options.get(base, {})))
        layers.append(("protocol", self._pinned("data_options", name)))
        return self._options("dataset", name, {}, *layers)

    # -- data -----------------------------------------------------------------------------------
    def _load_data(self) -> dict[str, Data | BaseException]:
        loaded: dict[str, Data | BaseException] = {}
        for name in self.suite.datasets:
            try:
                loaded[name] = load_data(self.registry, name, self.data_options[name], self.data_root)
            except CellFailure as exc:  # recorded on every cell of that data set
                loaded[name] = exc
        return loaded

    def _who(self, kind: str, name: str) -> str:
        return who(self.registry, kind, name)

    def _resolve_extractors(self, datasets: dict[str, Data | BaseException]) -> None:
        """Choose each data set's extractor (cheap: nothing is built)."""
        for name, data in datasets.items():
            if not isinstance(data, Data):
                continue
            try:
                self.extractors[name] = call_plugin("an extractor plugin", f"choosing the extractor of '{name}'",
                                                    resolve_extractor, self.registry, self.suite.extractor, data.info,
                                                    passthrough=(GanbenchError,))
            except CellFailure as exc:  # an extractor's auto() or supports() raised
                datasets[name] = exc

    def _build_extractors(self, datasets: dict[str, Data | BaseException], preps: list[_Prepared] = ()) -> None:
        """Build each data set's extractor now (train, load or download), so a missing weights file
        stops the run before any training rather than after every cell; compute (or load) the real
        features too, a one-time cost that no cell's ``eval_s`` should carry."""
        features = any(self.registry.get("metric", m).features for m in self.suite.metrics)
        for name, data in datasets.items():
            if not isinstance(data, Data) or name not in self.extractors:
                continue
            extractor = self.extractors[name][0]
            if features and extractor is not None:
                try:
                    ctx = self._context(name, data, self._run_settings())
                    ctx.real_features()
                    self._refuse_other_instrument(name, ctx.extractor(), preps)
                except (GanbenchError, KeyboardInterrupt):  # e.g. Inception weights that cannot be had: the user's
                    raise
                except BaseException as exc:  # a plugin's crash: that data set's cells fail, the others run
                    datasets[name] = CellFailure(f"{self._who('extractor', extractor)} failed on '{name}': "
                                                 f"{one_line(exc)}")
                    datasets[name].__cause__ = exc

    def _run_settings(self) -> dict[str, Any]:
        """The settings shared by the run's cells where no loss or model sets them: the defaults, the
        protocol's, the user's (what reference rows and the real side of the metrics are computed with)."""
        return {**GLOBAL_DEFAULTS, **(self.protocol.settings if self.protocol is not None else {}),
                **self.suite.settings}

    def _write_references(self, datasets: dict[str, Data | BaseException]) -> None:
        """The reference rows of every data set that loaded (:mod:`ganbench.references`), with the run's
        metrics that read samples, its extractor and its sample counts; kept when already stored for
        the same inputs. A failure is a warning: the cells' results do not depend on it."""
        from ganbench import references
        from ganbench.execution.cell import metric_values

        settings = self._run_settings()
        n, real = int(settings["eval_samples"]), int(settings["real_samples"])
        for name, data in datasets.items():
            if (not self.fresh and isinstance(data, Data)
                    and self.store.references_rescored(name, data.info.fingerprint, self.suite.seeds)):
                continue  # 'ganbench evaluate' rescored this data set's cells and references together: kept
            if not isinstance(data, Data):
                self.store.write_references(name, "", [])  # no stale rows beside cells that cannot run
                continue
            extractor = self.extractors.get(name, (None, None))[0]
            try:
                metrics = references.metrics_for(self.registry, self.suite.metrics, data, extractor)
                if not metrics:
                    self.store.write_references(name, "", [])
                    continue
                ext_id = self._context(name, data, settings).extractor().id if extractor is not None else ""
                key = references.key(n, real, [m for m, _ in metrics], ext_id, data, self.suite.seeds)
                if not self.fresh and self.store.reference_key(name) == key:
                    continue
                what = f"{name}: reference rows ({references.describe(data.info)}) for {len(self.suite.seeds)} seed(s)"
                self.reporter.status(what, 0, 1)
                rows = references.compute(
                    data, name, self.suite.seeds, n, real,
                    lambda n_samples, name=name, data=data, **kw: self._context(
                        name, data, {**settings, "eval_samples": n_samples}, **kw),
                    metrics, lambda m, values: metric_values(self._who("metric", m), values,
                                                             metric=self.registry.get("metric", m)))
                self.store.write_references(name, key, rows)
                self.reporter.status(what, 1, 1)
            except (KeyboardInterrupt, StorageError):
                raise
            except Exception as exc:  # a metric that cannot take reference samples: the cells are unaffected
                self.reporter.warning(f"{name}: no reference rows ({one_line(exc)})")
                self.store.write_references(name, "", [])  # none, rather than rows of other inputs

    def _refuse_other_instrument(self, dataset: str, ext, preps: list[_Prepared]) -> None:
        """Refuse, in one line, to add cells scored by ``ext`` to rows of ``dataset`` that an extractor
        of the same name but other weights scored (a retrained cache, another machine's classifier,
        rows made before ids hashed the weights): their numbers could not share a table."""
        if self.fresh:
            return
        prefix = f"{ext.name}:"
        for prep in preps:
            if prep.cell.dataset != dataset:
                continue
            row = self.store.peek_result(prep.cell) or {}
            for col, value in row.items():
                if is_instrument(col) and col != "track_extractor" \
                        and isinstance(value, str) and value.startswith(prefix) and value != ext.id:
                    raise UsageError(
                        f"{self.store.root}: cell {prep.cell.id} was scored by {value} ({col}); this machine's {ext.name} "
                        f"extractor for {dataset} is {ext.id}, other weights: rescore the run with 'ganbench evaluate "
                        f"{self.store.root}', or start over with --fresh")

    def _context(self, dataset: str, data: Data, settings: Mapping[str, Any], **kwargs: Any) -> EvalContext:
        """The evaluation context of ``dataset`` (its suite name) under the effective ``settings``."""
        return EvalContext(
            data=data, device=self.device, n_samples=settings["eval_samples"], registry=self.registry,
            extractor_name=self.extractors[dataset][0],
            extractor_options={k: dict(v) for k, v in self.suite.extractor_options.items()},
            real_samples=settings["real_samples"], cache=self.eval_cache, progress=getattr(self.reporter, "status", None),
            **kwargs,
        )

    def _prepare(self, cell: Cell, data: Data | None) -> _Prepared:
        model = self.registry.get("model", cell.model)
        loss = self.registry.get("loss", cell.loss)
        recipe = self.suite.recipe
        protocol = self.protocol
        per_loss = protocol.loss_settings.get(cell.loss, {}) if protocol is not None and recipe == "paper" else {}
        pinned = {**protocol.settings, **per_loss} if protocol is not None else None  # "same": one shared recipe
        user = {**self.suite.settings, **cell.point_settings()}  # a sweep point's values are the user's
        settings, sources = resolve_settings(user, loss.settings, model.settings, recipe, pinned)
        recommended, notes = self._recommended_model_options(cell, model, loss)
        dropped = protocol.loss_settings.get(cell.loss, {}) if protocol is not None and recipe == "same" else {}
        if dropped:  # the protocol's recipe for this loss is a per-loss recipe: "same" leaves it out, saying so
            notes.append(f"--same-settings: protocol {self.suite.protocol}'s {cell.loss} settings are not applied ("
                         + ", ".join(f"{k}={v}" for k, v in sorted(dropped.items())) + "): this cell trains "
                         + ", ".join(f"{k}={settings[k]}" for k in sorted(dropped) if k in settings))
        model_user = _with_point(self.suite.model_options, cell.model, cell.point_options(cell.model))
        model_opts, model_src = self._options("model", cell.model, model_user, ("loss", recommended))
        for key, value in loss.model_options.items():
            if key in model_opts and model_opts[key] != value:
                why = ("the user's setting" if model_src[key] == "user" else
                       f"protocol {self.suite.protocol}, which fixes the networks" if self.protocol is not None
                       else "the 'same' recipe")
                notes.append(f"{cell.loss}'s paper uses model option {key}={value}; this cell runs {key}="
                             f"{model_opts[key]} ({why})")
        sources.update({f"model.{k}": v for k, v in model_src.items()})
        swept_loss = cell.point_options(cell.loss)
        # the model's recipe for this loss (StyleGAN2's R1 γ): paper recipe, no protocol, below the user's values
        by_model = (model.recommended_loss_options(cell.loss, data.info, settings)
                    if recipe == "paper" and protocol is None and data is not None else {})
        if swept_loss or by_model:
            user_loss = _with_point(self.suite.loss_options, cell.loss, swept_loss)
            loss_opts, loss_src = self._options("loss", cell.loss, user_loss, ("model", by_model))
            used = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in loss_opts.items()
                    if loss_src[k] == "model"]
            if used:
                notes.append(f"{cell.model}'s recipe sets {cell.loss} " + ", ".join(used))
        else:
            loss_opts, loss_src = self.loss_options[cell.loss], self._option_sources[("loss", cell.loss)]
        option_sources = {f"loss.{k}": v for k, v in loss_src.items()}
        option_sources.update({f"data.{k}": v for k, v in self._option_sources.get(("data", cell.dataset), {}).items()})
        config = {
            "cell": {"id": cell.id, "dataset": cell.dataset, "model": cell.model, "loss": cell.loss, "seed": cell.seed,
                     **({"point": cell.point_text} if cell.point else {})},
            "recipe": recipe,
            **({"protocol": self.suite.protocol} if self.suite.protocol is not None else {}),
            "settings": settings,
            "settings_source": sources,
            "model_options": model_opts,
            "loss_options": loss_opts,
            "metrics": list(self.suite.metrics),
            "extractor": self.extractors.get(cell.dataset, (None, None))[0],
            "data_fingerprint": data.info.fingerprint if data is not None else None,
            "data_options": dict(data.info.options) if data is not None else None,
            "provenance": {
                kind: str(self.registry.provenance(kind, name))
                for kind, name in (("dataset", cell.dataset), ("model", cell.model), ("loss", cell.loss))
            },
            "ganbench": __version__,
            "device": self.device.type,
            "deterministic": self.deterministic,
        }
        revisions = {kind: rev for kind, rev in (("model", revision_of(model, model_opts)),
                                                 ("loss", revision_of(loss, loss_opts))) if rev}
        if revisions:  # numbers-changing commits of a plugin (its spec's revision): never a row of the older code
            config["revision"] = revisions
        if model.loss is not None and model.loss != loss.name:
            notes.append(f"{cell.model}'s paper trains with the {model.loss} loss; this cell trains {cell.loss}")
        digest = hashlib.sha256(json.dumps(_compared(config), sort_keys=True, default=str).encode()).hexdigest()[:16]
        return _Prepared(cell, settings, sources, model_opts, loss_opts, notes, config, digest, option_sources)

    def _recommended_model_options(self, cell: Cell, model, loss) -> tuple[dict[str, Any], list[str]]:
        """The loss's paper model options that apply to this model (paper recipe only, without a protocol);
        a note for each one the model cannot take."""
        if self.suite.recipe != "paper" or self.protocol is not None:  # a protocol fixes the networks
            return {}, []
        table = options.option_table(model.options)
        usable, notes = {}, []
        for key, value in loss.model_options.items():
            if key not in table:
                notes.append(f"{cell.loss}'s paper uses model option {key}={value}; model '{cell.model}' has no "
                             f"'{key}' option")
                continue
            try:
                usable[key] = options.coerce_option(table[key], value, f"model option {cell.model}.{key}")
            except UsageError as exc:
                notes.append(f"{cell.loss}'s paper uses model option {key}={value}; not applicable: {exc}")
        return usable, notes

    # -- the run --------------------------------------------------------------------------------
    def run_config(self) -> dict[str, Any]:
        """What suite.json records: the request, the device type and determinism (both change the
        numbers), and the extractor options (local paths: kept for --resume, never compared)."""
        return {**self.suite.to_dict(), "device": self.device.type, "deterministic": self.deterministic,
                "extractor_options": {k: dict(v) for k, v in self.suite.extractor_options.items()}}

    def _setup(self) -> tuple[list[Cell], dict[str, Data | BaseException], list[_Prepared]]:
        """Every check of the request that needs no lock and writes nothing in the output folder: the
        folder, the data sets, whether any cell can train, the extractors' choice, each cell's
        configuration."""
        cells = self.suite.cells()
        busy = self.store.busy()
        if busy is not None:
            raise in_use(self.store.root, busy)
        self._refuse_other_contents()
        datasets = self._load_data()
        self._check_runnable(cells, datasets)
        self._resolve_extractors(datasets)
        self._check_measurable(cells, datasets)
        preps = [self._prepare(c, d if isinstance(d, Data) else None) for c, d in
                 ((c, datasets[c.dataset]) for c in cells)]
        for prep in preps:  # DiffAugment's and ADA's ops are for generation on images (augment.refusal)
            data = datasets[prep.cell.dataset]
            try:
                requested(prep.settings)  # settings that contradict each other, whatever the data
                why = refusal(prep.settings, data.info) if isinstance(data, Data) else None
                loss_spec = self.registry.get("loss", prep.cell.loss)
                why = why or graphs.refusal(prep.settings, loss_spec, prep.loss_options, self.device)  # what a
                # captured step cannot hold; what one forward pass for both updates cannot (updates=simultaneous)
                why = why or simultaneous_refusal(prep.settings, BoundLoss(loss_spec, prep.loss_options).penalty_interval
                                                  if simultaneous(prep.settings) else None)
            except (ValueError, TypeError) as e:
                raise UsageError(str(e)) from None
            if why is not None:
                raise UsageError(why)
        self._refuse_other_contents(preps)
        spec = self.registry.get("executor", self.executor_name)
        self.plugin_setup = PluginSetup() if spec.in_process else plugin_setup(self.plugins, spec.name)
        #: the plan's speed probe runs plugin code in this process: only where the cells run too
        self._probe_here = spec.in_process
        self._datasets = datasets
        return cells, datasets, preps

    def plan(self) -> Plan:
        """What :meth:`run` would do (``ganbench run --dry-run``): nothing is trained or written
        (the speed probe trains a few steps of throwaway copies; no extractor is built)."""
        _, datasets, preps = self._setup()
        executor = self._executor()
        try:
            return self._plan(preps, datasets, executor)
        finally:
            executor.close()

    def run(self) -> pd.DataFrame:
        """Check everything, then train the cells that have no reusable row. Refused before anything
        is written or removed: a request that differs from what ``out`` holds (unless ``fresh``), an
        output folder that is not a ganbench run directory and not empty, one that is not writable or
        in use, a grid in which no cell can run."""
        cells, datasets, preps = self._setup()
        executor = self._executor()
        self._reporting, self._others = _Reporting(self.reporter, {}), {}
        try:
            # workers start now: their imports overlap the plan's probe and the extractors' preparation
            executor.start(self._report)
            plan = None
            if getattr(self.reporter, "wants_plan", False) or executor.capacity > 1:
                plan = self._plan(preps, datasets, executor)  # parallel cells are handed out longest first
            if getattr(self.reporter, "wants_plan", False):  # first: the plan, then the slow preparations
                self.reporter.run_planned(plan)
            self._build_extractors(datasets, preps)
            return self._session(cells, datasets, preps, executor, plan)
        except BaseException:  # Ctrl-C, a full disk: stop the workers now (their cells keep their checkpoints)
            executor.cancel()
            raise
        finally:
            executor.close()

    def _session(self, cells: list[Cell], datasets: dict[str, Data | BaseException], preps: list[_Prepared],
                 executor: Executor, plan: Plan | None = None) -> pd.DataFrame:
        with self.store.lock():
            try:
                return self._locked(cells, datasets, preps, executor, plan)
            except BaseException:  # stop the workers while the directory is still ours: none writes after it is free
                executor.cancel()
                raise

    def _locked(self, cells: list[Cell], datasets: dict[str, Data | BaseException], preps: list[_Prepared],
                executor: Executor, plan: Plan | None) -> pd.DataFrame:
        """The run, holding the directory's lock."""
        self._refuse_other_contents(preps)  # again, holding the lock: nobody else writes here now
        self.store.remove_temporaries()  # a killed run's half-done writes (the rows they were for are absent)
        if self.fresh:
            self.store.clear()
        self.store.recover_group_rows()  # a replica group's rows a kill left half written
        self.store.write_run_files(self.run_config(), environment(self.plugins, self.device, self.commit))
        self._write_references(datasets)
        self.reporter.run_started(cells, self.store.root)
        info = RunInfo(run_dir=self.store.root, suite=self.run_config(), log=self.log,
                       cells=tuple(c.id for c in cells))
        self._observe("ganbench_run_started", run=info)
        with ActiveRuns(self.store.root) as self.active:
            others = self.active.others()
            if others:
                self.reporter.warning(
                    f"{len(others)} other ganbench run(s) are training on this machine (pid "
                    f"{', '.join(str(o.get('pid')) for o in others)}): both slow down, so this run's timings are not "
                    "comparable (each row records other_runs); results are unaffected")
            rows = self._run_cells(preps, datasets, executor, plan)
        table = self.store.write_table()
        self._observe("ganbench_run_finished", run=info, table=table)
        return rows_to_frame(rows)

    def _observe(self, hook: str, **kwargs: Any) -> None:
        """A run hook; what an observer raises is a warning line, never the run's end."""
        observers = self.plugins.observers
        if not observers.listening(hook):
            return
        observers.reset()
        observers(hook, **kwargs)
        for line in observers.problems(lambda p: str(self.plugins.provenance_of(p))):
            self.reporter.warning(line)

    # -- the plan -------------------------------------------------------------------------------
    def _reusable(self, prep: _Prepared) -> dict[str, Any] | None:
        """The cell's complete row from an earlier run of this request (read-only), else None."""
        row = None if self.fresh else self.store.peek_result(prep.cell)
        return row if row is not None and _reuses(row, prep) else None

    def _plan(self, preps: list[_Prepared], datasets: dict[str, Data | BaseException], executor: Executor) -> Plan:
        """The plan with time estimates: per cell to train, the speed of an earlier row of the same
        (data set, model, loss) in this folder, else a timed probe of :data:`PROBE_STEPS` steps (one per
        data set, model, batch, critic steps, penalty and model options); evaluation time from earlier
        rows of the same data set and model."""
        import statistics

        earlier: dict[tuple[str, str, str], list[float]] = {}
        evals: dict[tuple[str, str], list[float]] = {}
        done = {prep.cell: self._reusable(prep) for prep in preps}
        for prep in preps:
            row = done[prep.cell]
            if row and row.get("status") == "ok" and (row.get("steps_done") or 0) > 0 and (row.get("train_s") or 0) > 0:
                c = prep.cell
                earlier.setdefault((c.dataset, c.model, c.loss), []).append(row["train_s"] / row["steps_done"])
                if row.get("eval_s") is not None:
                    evals.setdefault((c.dataset, c.model), []).append(float(row["eval_s"]) + float(
                        row.get("trajectory_eval_s") or 0.0))
        reused, skipped, estimates, eval_estimates = [], [], {}, {}
        probes: dict[Any, float | None] = {}
        sources: set[str] = set()
        for prep in preps:
            cell = prep.cell
            data = datasets[cell.dataset]
            if done[cell] is not None:
                reused.append(cell)
                continue
            if isinstance(data, Data):
                try:
                    reason = model_supports(self.registry, cell.model, data.info)
                except CellFailure:
                    reason = None
                if reason:
                    skipped.append(cell)
                    continue
            steps = prep.settings["steps"]
            known = earlier.get((cell.dataset, cell.model, cell.loss))
            if known:
                per_step = statistics.median(known)
                sources.add(f"earlier rows in {self.store.root}")
            elif isinstance(data, Data) and not self._probe_here:
                per_step = None  # cells train in worker processes: no plugin code runs in the driver
            elif isinstance(data, Data):
                loss = self.registry.get("loss", cell.loss)
                key = (cell.dataset, cell.model, prep.settings["batch_size"], prep.settings["n_critic"],
                       prep.settings["latent_dim"], loss.penalty is not None, options.format_options(prep.model_options))
                if key not in probes:
                    probes[key] = self._probe(prep, data)
                per_step = probes[key]
                sources.add(f"a timed probe of {PROBE_STEPS} steps per model and recipe")
            else:
                per_step = 0.0  # a data set that failed to load: its cells fail at once
            ev = evals.get((cell.dataset, cell.model))
            eval_estimates[cell] = statistics.median(ev) if ev else None
            estimates[cell] = None if per_step is None else per_step * steps + (eval_estimates[cell] or 0.0)
        axes = {"data sets": len(self.suite.datasets), "models": len(self.suite.models),
                "losses": len(self.suite.losses), **({"points": len(self.suite.points())} if self.suite.swept() else {}),
                "seeds": len(self.suite.seeds)}
        why = ("cells train in worker processes, so no plugin code is probed in this one (a crash would end the "
               "run); the ETA follows from the first finished cells") if not self._probe_here else None
        return Plan(self.store.root, [p.cell for p in preps], axes, reused, skipped, estimates, eval_estimates,
                    sorted(sources), executor.name, list(executor.workers), executor.capacity, self.threads,
                    why or "a model could not be probed")

    def _probe(self, prep: _Prepared, data: Data) -> float | None:
        """Seconds per step of ``prep``'s cell on this machine: 1 + :data:`PROBE_STEPS` steps of a
        throwaway copy (its own random streams; nothing of the run's is touched); None when the model
        or loss fails (its cell will fail with the message)."""
        cell = prep.cell
        # cuda_graphs: the probe's few steps would be mostly its uncaptured runs and its capture, so it times the
        # uncaptured step (an estimate on the long side)
        settings = {**prep.settings, "steps": 1 + PROBE_STEPS, "sample_every": 0, "eval_every": 0, "cuda_graphs": False}
        stamps: list[float] = []
        threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)  # as the cells will train
        try:
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                model = self.registry.get("model", cell.model)
                built = setup.networks(model, data.info, settings, prep.model_options)
                run_training(built.G, built.D, self.registry.get("loss", cell.loss), data, settings,
                             loss_options=prep.loss_options, seed=cell.seed, device=self.device,
                             eval_noise=torch.zeros(1, settings["latent_dim"]),
                             on_step=lambda record: stamps.append(time.perf_counter()),
                             conditional=model.condition is not None, g_ema=built.G_ema, sync_every=1)
        except KeyboardInterrupt:
            raise
        except BaseException:  # the cell itself will fail and say why
            return None
        finally:
            torch.set_num_threads(threads)
        return (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else None

    def _refuse_other_contents(self, preps: list[_Prepared] | None = None) -> None:
        """Read-only checks of the output folder: it is new, empty or a ganbench run directory, and
        (unless ``fresh``) what it holds was made by this very request — the run's suite and, given
        ``preps``, every cell's configuration."""
        if not self.store.check_target() or self.fresh:
            return
        stored = self.store.read_suite()
        if stored is not None:
            _refuse_changes(self.store.root, "a run", stored, self.run_config(), ignore=("extractor_options",))
        for prep in preps or ():
            old = self.store.read_config(prep.cell)
            if old is not None:
                _refuse_changes(self.store.root, f"cell {prep.cell.label()}", _compared(old), _compared(prep.config))

    def _run_cells(self, preps: list[_Prepared], datasets: dict[str, Data | BaseException], executor: Executor,
                   run_plan: Plan | None = None) -> list[dict[str, Any]]:
        """Reuse the rows that stand, give every other cell to ``executor`` and write each row as it
        comes back (``results.csv`` after each): the only writer of the run's rows. With several
        cells at once, the longest (by the plan's estimate) go first, so that no worker is left with
        a long cell at the end while the others idle; the numbers do not depend on the order."""
        rows: dict[int, dict[str, Any]] = {}
        plans: dict[str, CellPlan] = {}
        for index, prep in enumerate(preps):
            cell = prep.cell
            previous = self.store.load_result(cell)
            if previous and _reuses(previous, prep):
                self.store.remove(cell, CHECKPOINT_FILE)  # left by a kill between the row and its removal
                rows[index] = previous
                self.reporter.cell_finished(cell, previous, True)
                continue
            plans[cell.id] = self._cell_plan(prep, index, datasets[cell.dataset])
        self._reporting.plans.update(plans)
        grid = [(p.cell.id, group_key(p.cell.dataset, p.cell.model, p.cell.loss, p.config),
                 int(p.settings.get("replicas", 1))) for p in preps]
        order = replica_groups(list(plans.values()), grid)  # --replicas K: a group of K seeds is one plan
        if executor.capacity > 1:
            order.sort(key=self._longest_first(run_plan))
        for cell_plan in order:
            executor.submit(cell_plan)
        left = {p.key: p for p in order}
        while left:
            done, returned = executor.next_finished()
            del left[done.key]
            failed = False
            members = group_rows(done, returned)
            for plan, row in members:
                traceback_text = row.pop(TRACEBACK_KEY, None)
                if traceback_text:  # a failure outside the cell's own code (the worker's, Ray's)
                    self.store.write_error(plan.cell, traceback_text)
                row["executor"] = executor.name
                row["other_runs"] = max(self._others.get(plan.key, 0), len(self.active.others()))
            # a replica group's rows are committed together: first a journal of all of them (a re-run after a kill
            # between the rows writes the rest from it), then the rows, then the checkpoints (the group's is in its
            # first cell's directory: removed with the first row, it left the others to train again from step 0)
            if len(members) > 1:
                self.store.write_group_journal(members[0][0].cell, [row for _, row in members])
            for plan, row in members:
                self.store.write_result(plan.cell, row)
            for plan, row in members:
                if row["status"] != "failed":  # a failed cell keeps its checkpoint: the re-run continues there
                    self.store.remove(plan.cell, CHECKPOINT_FILE)
            if len(members) > 1:
                self.store.remove(members[0][0].cell, GROUP_JOURNAL)
            self.store.write_table()
            for plan, row in members:
                cell = plan.cell
                rows[plan.index] = row
                self._reporting.finished(cell, row)
                if row["status"] == "failed":
                    self.failed.append(cell)
                    failed = True
            if failed and self.fail_fast and left:
                executor.cancel()
                self.not_run = [p.cell for p in sorted((m for g in left.values() for m in g.members()),
                                                       key=lambda p: p.index)]
                break
        return [rows[i] for i in sorted(rows)]

    @staticmethod
    def _longest_first(run_plan: Plan | None):
        """The sort key that hands out cells longest first: the plan's estimates when every cell has
        one, else the number of network updates (steps × (critic steps + 1))."""
        estimates = {c.id: e for c, e in run_plan.estimates.items()} if run_plan is not None else {}
        known = bool(estimates) and all(e is not None for e in estimates.values())

        def key(plan: CellPlan) -> float:
            if known and plan.key in estimates:
                return -estimates[plan.key]
            return -float(plan.settings["steps"] * (plan.settings["n_critic"] + 1))

        return key

    def _report(self, event: Event) -> None:
        """An executor's event: to the reporter; a cell's start also counts the other runs."""
        if event.kind == "started":
            self._others[event.key] = len(self.active.others())
        self._reporting(event)

    def _cell_plan(self, prep: _Prepared, index: int, data: Data | BaseException) -> CellPlan:
        """``prep`` as a plan an executor can run anywhere (absolute paths: a worker's working
        directory may be another)."""
        cell = prep.cell
        extractor, reason = self.extractors.get(cell.dataset, (None, "no extractor"))
        data_error = None
        if isinstance(data, BaseException):  # the data set (or its extractor) failed before any cell
            self.store.write_error(cell, "".join(traceback.format_exception(data.__cause__ or data)))
            data_error = str(data)
        return CellPlan(
            key=cell.id, index=index, dataset=cell.dataset, model=cell.model, loss=cell.loss, seed=cell.seed,
            run_dir=str(self.store.root.resolve()), data_options=dict(self.data_options[cell.dataset]),
            data_root=str(self.data_root.expanduser().resolve()),
            data_fingerprint=data.info.fingerprint if isinstance(data, Data) else None,
            extractor=extractor, extractor_reason=reason,
            extractor_options={k: dict(v) for k, v in self.suite.extractor_options.items()},
            metrics=list(self.suite.metrics), metric_samples=self.metric_samples, settings=dict(prep.settings),
            model_options=dict(prep.model_options), loss_options=dict(prep.loss_options), notes=list(prep.notes),
            config=prep.config, config_hash=prep.config_hash, row=self._base_row(prep), device=str(self.device),
            threads=self.threads, deterministic=self.deterministic, checkpoint_every=self.checkpoint_every,
            plugins=self.plugin_setup, data_error=data_error, log=self.log, point=[[k, v] for k, v in cell.point],
        )

    def _check_runnable(self, cells: list[Cell], datasets: dict[str, Data | BaseException]) -> None:
        """A grid in which every cell would be skipped, or whose data sets all failed to load, is a
        request that cannot work: refused with the reasons (e.g. an image size the model cannot take,
        and the size that would work; a data set whose files are missing)."""
        if not any(isinstance(d, Data) for d in datasets.values()):  # not one data set to train on
            raise UsageError("no data set of this run could be loaded: " + "; ".join(dict.fromkeys(map(str,
                                                                                                    datasets.values()))))
        reasons: list[str] = []
        for cell in cells:
            data = datasets[cell.dataset]
            if not isinstance(data, Data):
                return  # a data set that did not load fails its cells: that is reported per cell
            try:
                reason = model_supports(self.registry, cell.model, data.info)
            except CellFailure:
                return  # the cell fails with that message when it runs
            if reason is None:
                return
            reason += size_hint(self.registry, cell.dataset, cell.model, data.info)
            if reason not in reasons:
                reasons.append(reason)
        raise UsageError("no cell of this run can train: " + "; ".join(reasons))

    def _check_measurable(self, cells: list[Cell], datasets: dict[str, Data | BaseException]) -> None:
        """A metric the request names (``--metrics``, not the default of every registered one) that applies to
        no cell of the run — an extractor that cannot take the data, a metric for other data — is refused
        before anything trains, with each data set's reason: the run would train and measure nothing of it."""
        if set(self.suite.metrics) == set(self.registry.names("metric")):
            return  # every metric, as by default: each applies where it can
        if (self.store.root / "suite.json").is_file():
            try:
                stored = self.store.stored_suite()[0].get("metrics")
            except UsageError:
                stored = None
            if stored == list(self.suite.metrics):  # accepted before (--resume: the registry's list of then)
                return
        pairs = {(c.dataset, c.model) for c in cells if isinstance(datasets.get(c.dataset), Data)}
        if not pairs:
            return  # no data set loaded: every cell fails with that reason
        for name in self.suite.metrics:
            reasons: dict[str, str] = {}
            for dataset, model in sorted(pairs):
                info = datasets[dataset].info
                extractor, why = self.extractors.get(dataset, (None, "no extractor"))
                conditional = self.registry.get("model", model).condition is not None
                try:
                    reason = metric_reason(self.registry, name, info, conditional, extractor, why)
                except CellFailure:
                    reason = None  # a plugin's supports() that raises: its cells say so
                if reason is None:
                    break
                reasons.setdefault(dataset, reason or f"not a metric of {model}'s cells on it")
            else:
                raise UsageError(f"metric '{name}' applies to no cell of this run: " + "; ".join(
                    f"{d}: {r}" for d, r in reasons.items()))

    def _base_row(self, prep: _Prepared) -> dict[str, Any]:
        c = prep.cell
        row: dict[str, Any] = {
            "cell_id": c.id, "dataset": c.dataset, "model": c.model, "loss": c.loss, "seed": c.seed,
            "status": None, "message": "", "device": str(self.device), "config_hash": prep.config_hash,
            "ganbench_version": __version__, "git_commit": self.commit,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        row.update({f"hp_{k}": v for k, v in prep.settings.items()})
        row["recipe"] = self.suite.recipe
        if c.point:
            row["point"] = c.point_text
        if self.suite.protocol is not None:
            row["protocol"] = self.suite.protocol
        row["model_options"] = options.format_options(prep.model_options)
        row["loss_options"] = options.format_options(prep.loss_options)
        if prep.config.get("revision"):  # the plugins' numbers-changing revisions (absent: all 0)
            row["revision"] = ";".join(f"{k}={v}" for k, v in sorted(prep.config["revision"].items()))
        row["hp_source"] = ";".join(f"{k}={v}" for k, v in {**prep.sources, **prep.option_sources}.items()
                                    if v != "default")
        return row


def _with_point(table: Mapping[str, Mapping[str, Any]], name: str, point: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A user options table with a sweep point's values of plugin ``name`` added."""
    out = {k: dict(v) for k, v in table.items()}
    if point:
        out.setdefault(name, {}).update(point)
    return out


def _reuses(row: Mapping[str, Any], prep: _Prepared) -> bool:
    """Whether ``row`` (a cell's stored result) stands for ``prep``: same configuration, and a result
    (ok, diverged, skipped) rather than a failure to retry."""
    return row.get("config_hash") == prep.config_hash and row.get("status") in REUSABLE_STATUSES


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, Mapping):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(_flatten(v, key) if isinstance(v, Mapping) and v else {key: v})
    return out


def _compared(config: Mapping[str, Any]) -> dict[str, Any]:
    """A cell's configuration as it is hashed and compared with a stored one: settings added after
    ganbench 0.1.0 (:data:`ganbench.suite.HASH_NEUTRAL`) are left out at their neutral value, with their
    sources, so cells trained before those settings existed are still this request's cells."""
    settings = config.get("settings")
    if not isinstance(settings, Mapping):
        return dict(config)
    kept = hashed_settings(settings)
    sources = config.get("settings_source")
    if isinstance(sources, Mapping):
        sources = {k: v for k, v in sources.items() if k in kept or k not in settings}
    return {**config, "settings": kept, "settings_source": sources}


def _refuse_changes(root: Path, what: str, old: Mapping[str, Any], new: Mapping[str, Any],
                    ignore: tuple[str, ...] = ()) -> None:
    """Refuse (one line, naming each difference) to add results of ``new`` to a directory holding
    results of ``old``: a run directory holds one configuration, never a mix."""
    def flat(d: Mapping[str, Any]) -> dict[str, Any]:  # as stored in JSON, dotted keys, ``ignore`` left out
        return {k: v for k, v in _flatten(json.loads(json.dumps(d, default=str))).items() if k.split(".")[0] not in ignore}

    a, b = flat(old), flat(new)
    diffs = [f"{k}: {_show(a.get(k))} -> {_show(b.get(k))}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if diffs:
        shown = "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
        raise UsageError(f"{root} holds {what} with another configuration ({shown}); use --fresh to replace it, "
                         "or another --out")


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


class _Reporting:
    """An executor's :class:`Event` s, as calls of the run's reporter (``worker`` and ``cell`` passed
    only to a reporter whose methods name them)."""

    def __init__(self, reporter: Reporter, plans: Mapping[str, CellPlan]):
        self.reporter, self.plans = reporter, plans
        self._worker = "worker" in options.parameter_names(reporter.cell_started)
        self._cell = "cell" in options.parameter_names(reporter.step)

    def __call__(self, event: Event) -> None:
        plan = self.plans.get(event.key) if event.key is not None else None
        if event.kind == "warning":
            self.reporter.warning(event.data["text"])
        elif event.kind == "status":
            status = getattr(self.reporter, "status", None)
            if status is not None:
                status(event.data["text"], event.data.get("done"), event.data.get("total"))
        elif plan is None:
            return
        elif event.kind == "started":
            extra = {"worker": event.worker} if self._worker else {}
            self.reporter.cell_started(plan.cell, plan.index, event.data["steps"], event.data["resumed_from"], **extra)
        elif event.kind == "step":
            extra = {"cell": plan.cell} if self._cell else {}
            self.reporter.step(event.data["record"], **extra)

    def finished(self, cell: Cell, row: dict[str, Any]) -> None:
        self.reporter.cell_finished(cell, row, False)
