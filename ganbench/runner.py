"""Runs the cells of a suite: skip incompatible cells with a reason, resume finished ones, isolate
failures, write every cell's files and the run's table."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import torch

from ganbench import __version__, options, paths, seeding
from ganbench.errors import CellFailure, GanbenchError, StorageError, UsageError, call_plugin, one_line, safe_str
from ganbench.evaluation import EvalCache, EvalContext, resolve_extractor
from ganbench.plugins import GanbenchPlugins
from ganbench.specs import Data
from ganbench.store import (
    CHECKPOINT_FILE,
    REUSABLE_STATUSES,
    ActiveRuns,
    RunStore,
    in_use,
    is_reserved,
    read_json,
    row_problem,
    rows_to_frame,
)
from ganbench.suite import GLOBAL_DEFAULTS, Cell, Suite, resolve_settings
from ganbench.training import HISTORY_COLUMNS, Diverged, TrainingError, generate, nonfinite_samples, train

#: without ``--checkpoint-every``: a checkpoint at the first step after this many seconds of training
#: (a checkpoint of a 28×28 DCGAN with its Adam states is 4.4 MiB and takes ~10 ms to write)
CHECKPOINT_SECONDS = 60.0


#: steps a timed probe trains (after one warm-up step) to estimate a cell's speed for the plan
PROBE_STEPS = 5


class Reporter(Protocol):
    """Receives progress events (the CLI shows them with rich; the API default ignores them).
    ``resumed_from`` is the step of the checkpoint a cell continues from (0: from the start).
    ``run_planned`` gets the :class:`Plan` (with time estimates) before anything trains, when the
    reporter's ``wants_plan`` is true; ``status`` announces a long preparation step."""

    wants_plan: bool

    def run_planned(self, plan: Plan) -> None: ...
    def status(self, text: str, done: int | None = None, total: int | None = None) -> None: ...
    def run_started(self, cells: list[Cell], out: Path) -> None: ...
    def cell_started(self, cell: Cell, index: int, steps: int, resumed_from: int = 0) -> None: ...
    def step(self, record: dict[str, float]) -> None: ...
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

    def cell_started(self, cell, index, steps, resumed_from=0):
        pass

    def step(self, record):
        pass

    def cell_finished(self, cell, row, resumed):
        pass

    def warning(self, text):
        pass


def git_commit() -> str | None:
    """The commit of the ganbench checkout that is running, with ``-dirty`` when tracked files have
    uncommitted changes (``None`` outside a git checkout, e.g. an installed wheel)."""
    here = Path(__file__).parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if out.returncode != 0 or not out.stdout.strip():
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + ("-dirty" if status.returncode == 0 and status.stdout.strip() else "")


def environment(plugins: GanbenchPlugins, device: torch.device, commit: str | None = None) -> dict[str, Any]:
    import torchvision

    return {
        "ganbench": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "torch_threads": torch.get_num_threads(),
        "git_commit": commit,
        "plugins": {
            p.name: f"{p.provenance.distribution} {p.provenance.version}" if p.provenance.distribution else p.module
            for p in plugins.info()
        },
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


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

    @property
    def to_train(self) -> list[Cell]:
        return list(self.estimates)

    def total_s(self) -> float | None:
        values = list(self.estimates.values())
        return None if any(v is None for v in values) else float(sum(values))

    def describe(self) -> list[str]:
        """The plan as lines for the user."""
        from ganbench.progress import duration

        one = {"data sets": "data set", "models": "model", "losses": "loss", "seeds": "seed"}
        grid = " × ".join(f"{n} {axis if n != 1 else one.get(axis, axis)}" for axis, n in self.axes.items())
        lines = [f"ganbench: {len(self.cells)} cells ({grid}) -> {self.out}"]
        parts = [f"{len(self.to_train)} to train"]
        if self.reused:
            parts.append(f"{len(self.reused)} already done (kept)")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped (the model cannot take the data)")
        total = self.total_s()
        if self.to_train:
            missing_eval = any(v is None for v in self.eval_estimates.values())
            when = (f"estimated {duration(total)}" + (" of training (evaluation is measured by the first cells)"
                                                      if missing_eval else "")) if total is not None else \
                "time unknown (a model could not be probed)"
            parts.append(when + (f", from {'; '.join(self.sources)}" if self.sources else ""))
        lines.append("  " + "; ".join(parts))
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


class Runner:
    """Runs a suite into the directory ``out``.

    ``checkpoint_every``: save the whole training state every N steps (0: never; None: every
    :data:`CHECKPOINT_SECONDS` of training), so a killed cell continues where it stopped.
    ``fail_fast``: stop at the first failed cell. ``fresh``: replace what an earlier run left in
    ``out`` (without it, a different request for the same directory is refused).
    ``deterministic``: torch's deterministic algorithms (GPU; CPU runs are deterministic)."""

    def __init__(self, plugins: GanbenchPlugins, suite: Suite, out: Path, device: torch.device,
                 reporter: Reporter | None = None, data_root: Path | None = None, *,
                 checkpoint_every: int | None = None, fail_fast: bool = False, fresh: bool = False,
                 deterministic: bool = False):
        if checkpoint_every is not None and checkpoint_every < 0:
            raise UsageError(f"--checkpoint-every expects 0 (never) or a positive number of steps, got {checkpoint_every}")
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
        self.data_options = {d: self._data_options(d) for d in suite.datasets}
        self.loss_options = {lo: self._options("loss", lo, suite.loss_options)[0] for lo in suite.losses}
        for m in suite.models:
            self._options("model", m, suite.model_options)
        if suite.extractor != "auto":
            self.registry.get("extractor", suite.extractor)
        for name, opts in suite.extractor_options.items():
            self._options("extractor", name, {name: opts})
        #: per data set: (extractor name, None) or (None, why no extractor applies); set by run()
        self.extractors: dict[str, tuple[str | None, str | None]] = {}
        #: the most generated samples a metric of this run needs by definition (MetricSpec.samples)
        self.metric_samples = max([0, *(self.registry.get("metric", m).samples for m in suite.metrics)])

    def _options(self, kind: str, name: str, user: Mapping[str, Mapping[str, Any]],
                 *extra: tuple[str, Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
        spec = self.registry.get(kind, name)
        return options.resolve(kind, name, spec.options, [("user", user.get(name, {})), *extra])

    def _data_options(self, name: str) -> dict[str, Any]:
        """A data set's options: its ``NAME:VALUE``, then the user's for ``NAME:VALUE``, then for ``NAME``."""
        base = name.partition(":")[0]
        layers = [("name", self.registry.name_options("dataset", name)), ("user", self.suite.data_options.get(name, {}))]
        if base != name:
            layers.append(("user", self.suite.data_options.get(base, {})))
        return self._options("dataset", name, {}, *layers)[0]

    # -- data -----------------------------------------------------------------------------------
    def _load_data(self) -> dict[str, Data | BaseException]:
        loaded: dict[str, Data | BaseException] = {}
        for name in self.suite.datasets:
            spec = self.registry.get("dataset", name)
            try:
                data = call_plugin(self._who("dataset", name), "load", spec.load, root=self.data_root,
                                   **self.data_options[name])
                problem = Data.problem(data)
                if problem:
                    raise CellFailure(f"{self._who('dataset', name)} returned unusable data from load: {problem}")
                loaded[name] = data
            except CellFailure as exc:  # recorded on every cell of that data set
                cause = exc.__cause__ or exc
                loaded[name] = CellFailure(f"{self._who('dataset', name)} failed to load: {one_line(cause)}"
                                           if exc.__cause__ is not None else str(exc))
                loaded[name].__cause__ = cause
        return loaded

    def _supports(self, kind: str, name: str, fn, info) -> str | None:
        """A plugin's ``supports(info)``: None or the reason it cannot take ``info``; a
        :class:`CellFailure` when it raises or answers something else."""
        who = self._who(kind, name)
        reason = call_plugin(who, "supports", fn, info)
        if reason is not None and not isinstance(reason, str):
            raise CellFailure(f"{who} returned {type(reason).__name__} from supports; expected None or a reason (str)")
        return reason or None

    def _who(self, kind: str, name: str) -> str:
        """``loss 'wgan' of plugin 'builtin-losses' (ganbench 0.1.0)``: who to blame for a failure."""
        return f"{kind} '{name}' of {self.registry.provenance(kind, name)}"

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

    def _build_extractors(self, datasets: dict[str, Data | BaseException]) -> None:
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
                    self._context(name, data, {**GLOBAL_DEFAULTS, **self.suite.settings}).real_features()
                except (GanbenchError, KeyboardInterrupt):  # e.g. Inception weights that cannot be had: the user's
                    raise
                except BaseException as exc:  # a plugin's crash: that data set's cells fail, the others run
                    datasets[name] = CellFailure(f"{self._who('extractor', extractor)} failed on '{name}': "
                                                 f"{one_line(exc)}")
                    datasets[name].__cause__ = exc

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
        settings, sources = resolve_settings(self.suite.settings, loss.settings, model.settings, recipe)
        recommended, notes = self._recommended_model_options(cell, model, loss)
        model_opts, model_src = self._options("model", cell.model, self.suite.model_options, ("loss", recommended))
        for key, value in loss.model_options.items():
            if key in model_opts and model_opts[key] != value:
                why = "the user's setting" if model_src[key] == "user" else "the 'same' recipe"
                notes.append(f"{cell.loss}'s paper uses model option {key}={value}; this cell runs {key}="
                             f"{model_opts[key]} ({why})")
        sources.update({f"model.{k}": v for k, v in model_src.items()})
        loss_opts = self.loss_options[cell.loss]
        config = {
            "cell": {"id": cell.id, "dataset": cell.dataset, "model": cell.model, "loss": cell.loss, "seed": cell.seed},
            "recipe": recipe,
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
        digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return _Prepared(cell, settings, sources, model_opts, loss_opts, notes, config, digest)

    def _recommended_model_options(self, cell: Cell, model, loss) -> tuple[dict[str, Any], list[str]]:
        """The loss's paper model options that apply to this model (paper recipe only); a note for
        each one the model cannot take."""
        if self.suite.recipe != "paper":
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
        preps = [self._prepare(c, d if isinstance(d, Data) else None) for c, d in
                 ((c, datasets[c.dataset]) for c in cells)]
        self._refuse_other_contents(preps)
        return cells, datasets, preps

    def plan(self) -> Plan:
        """What :meth:`run` would do (``ganbench run --dry-run``): nothing is trained or written
        (the speed probe trains a few steps of throwaway copies; no extractor is built)."""
        _, datasets, preps = self._setup()
        return self._plan(preps, datasets)

    def run(self) -> pd.DataFrame:
        """Check everything, then train the cells that have no reusable row. Refused before anything
        is written or removed: a request that differs from what ``out`` holds (unless ``fresh``), an
        output folder that is not a ganbench run directory and not empty, one that is not writable or
        in use, a grid in which no cell can run."""
        cells, datasets, preps = self._setup()
        if getattr(self.reporter, "wants_plan", False):  # first: the plan, then the slow preparations
            self.reporter.run_planned(self._plan(preps, datasets))
        self._build_extractors(datasets)
        with self.store.lock():
            self._refuse_other_contents(preps)  # again, holding the lock: nobody else writes here now
            self.store.remove_temporaries()  # a killed run's half-done writes (the rows they were for are absent)
            if self.fresh:
                self.store.clear()
            self.store.write_run_files(self.run_config(), environment(self.plugins, self.device, self.commit))
            self.reporter.run_started(cells, self.store.root)
            with ActiveRuns(self.store.root) as self.active, seeding.deterministic_algorithms(self.deterministic):
                others = self.active.others()
                if others:
                    self.reporter.warning(
                        f"{len(others)} other ganbench run(s) are training on this machine (pid "
                        f"{', '.join(str(o.get('pid')) for o in others)}): both slow down, so this run's timings are not "
                        "comparable (each row records other_runs); results are unaffected")
                rows = self._run_cells(preps, datasets)
            self.store.write_table()
        return rows_to_frame(rows)

    # -- the plan -------------------------------------------------------------------------------
    def _reusable(self, prep: _Prepared) -> dict[str, Any] | None:
        """The cell's complete row from an earlier run of this request (read-only), else None."""
        path = self.store.cell_dir(prep.cell) / "result.json"
        if self.fresh or not path.is_file():
            return None
        try:
            row = read_json(path, "result row")
        except UsageError:
            return None
        return row if row_problem(row, prep.cell.id) is None and _reuses(row, prep) else None

    def _plan(self, preps: list[_Prepared], datasets: dict[str, Data | BaseException]) -> Plan:
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
                    reason = self._supports("model", cell.model, self.registry.get("model", cell.model).supports,
                                            data.info)
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
                "losses": len(self.suite.losses), "seeds": len(self.suite.seeds)}
        return Plan(self.store.root, [p.cell for p in preps], axes, reused, skipped, estimates, eval_estimates,
                    sorted(sources))

    def _probe(self, prep: _Prepared, data: Data) -> float | None:
        """Seconds per step of ``prep``'s cell on this machine: 1 + :data:`PROBE_STEPS` steps of a
        throwaway copy (its own random streams; nothing of the run's is touched); None when the model
        or loss fails (its cell will fail with the message)."""
        cell = prep.cell
        settings = {**prep.settings, "steps": 1 + PROBE_STEPS, "sample_every": 0, "eval_every": 0}
        stamps: list[float] = []
        try:
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                G, D = self.registry.get("model", cell.model).build(data.info, latent_dim=settings["latent_dim"],
                                                                   **prep.model_options)
                train(G, D, self.registry.get("loss", cell.loss), data, settings, loss_options=prep.loss_options,
                      seed=cell.seed, device=self.device, eval_noise=torch.zeros(1, settings["latent_dim"]),
                      on_step=lambda record: stamps.append(time.perf_counter()))
        except KeyboardInterrupt:
            raise
        except BaseException:  # the cell itself will fail and say why
            return None
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
                _refuse_changes(self.store.root, f"cell {prep.cell.label()}", old, prep.config)

    def _run_cells(self, preps: list[_Prepared], datasets: dict[str, Data | BaseException]) -> list[dict[str, Any]]:
        rows = []
        for index, prep in enumerate(preps):
            cell = prep.cell
            previous = self.store.load_result(cell)
            if previous and _reuses(previous, prep):
                self.store.remove(cell, CHECKPOINT_FILE)  # left by a kill between the row and its removal
                rows.append(previous)
                self.reporter.cell_finished(cell, previous, True)
                continue
            before = len(self.active.others())
            row = self._run_cell(prep, datasets[cell.dataset], index)
            row["other_runs"] = max(before, len(self.active.others()))
            self.store.write_result(cell, row)
            if row["status"] != "failed":  # a failed cell keeps its checkpoint: the re-run continues there
                self.store.remove(cell, CHECKPOINT_FILE)
            self.store.write_table()
            rows.append(row)
            self.reporter.cell_finished(cell, row, False)
            if row["status"] == "failed":
                self.failed.append(cell)
                if self.fail_fast:
                    self.not_run = [p.cell for p in preps[index + 1:]]
                    break
        return rows

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
            model = self.registry.get("model", cell.model)
            try:
                reason = self._supports("model", cell.model, model.supports, data.info)
            except CellFailure:
                return  # the cell fails with that message when it runs
            if reason is None:
                return
            reason += self._size_hint(cell, model, data.info)
            if reason not in reasons:
                reasons.append(reason)
        raise UsageError("no cell of this run can train: " + "; ".join(reasons))

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
        row["model_options"] = options.format_options(prep.model_options)
        row["loss_options"] = options.format_options(prep.loss_options)
        row["hp_source"] = ";".join(f"{k}={v}" for k, v in prep.sources.items() if v != "default")
        return row

    def _run_cell(self, prep: _Prepared, data: Data | BaseException, index: int) -> dict[str, Any]:
        cell = prep.cell
        row = self._base_row(prep)
        start = time.perf_counter()
        if isinstance(data, BaseException):  # the data set (or its extractor) failed before any cell
            self.store.write_error(cell, "".join(traceback.format_exception(data.__cause__ or data)))
            row.update(status="failed", failure="error", message=str(data))
            return row
        model = self.registry.get("model", cell.model)
        try:
            reason = self._supports("model", cell.model, model.supports, data.info)
        except CellFailure as exc:
            self.store.write_error(cell, "".join(traceback.format_exception(exc)))
            row.update(status="failed", failure="error", message=str(exc))
            return row
        if reason:
            row.update(status="skipped", message=reason + self._size_hint(cell, model, data.info))
            return row
        self.store.write_config(cell, prep.config)
        self.store.remove(cell, "error.txt")  # from an earlier attempt
        try:
            row.update(self._train_and_evaluate(prep, data, index))
        except (KeyboardInterrupt, StorageError):
            raise
        except BaseException as exc:  # the cell boundary: SystemExit from a plugin fails this cell only
            self.store.write_error(cell, "".join(traceback.format_exception(exc)))
            row.update(status="failed", **self._failure(prep, exc))
        row["message"] = "; ".join(m for m in (row["message"], *prep.notes) if m)
        row["wall_s"] = time.perf_counter() - start
        return row

    def _failure(self, prep: _Prepared, exc: BaseException) -> dict[str, str]:
        """``failure`` (``oom`` or ``error``) and a one-line ``message`` naming the plugin (and its
        version) whose code raised, where, and the error."""
        cell = prep.cell
        cause = exc.__cause__ if isinstance(exc, (TrainingError, CellFailure)) and exc.__cause__ else exc
        if isinstance(exc, TrainingError):
            if exc.kind == "ganbench":
                who = f"ganbench {__version__}"
            elif exc.kind is None:
                who = f"{self._who('model', cell.model)} / {self._who('loss', cell.loss)}"
            else:
                who = self._who(exc.kind, cell.model if exc.kind == "model" else cell.loss)
            text = f"{who} raised in {exc.where} at step {exc.step}: {one_line(cause)}"
        elif isinstance(exc, CellFailure):
            text = str(exc)
        else:  # outside any plugin's code: ganbench's own (the traceback is in error.txt)
            text = one_line(exc)
        if _out_of_memory(cause):
            host = not isinstance(cause, torch.cuda.OutOfMemoryError)
            where = "host" if host else str(self.device)
            peak = (f" (peak {torch.cuda.max_memory_allocated(self.device) / 2**30:.2f} GiB allocated)"
                    if self.device.type == "cuda" else "")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()  # the next cell starts with the memory this one held
            return {"failure": "oom", "message": f"out of memory on {where}{peak}: {text}"}
        return {"failure": "error", "message": text}

    def _size_hint(self, cell: Cell, model, info) -> str:
        """When the data set can be requested at an image size the model accepts, say how."""
        table = options.option_table(self.registry.get("dataset", cell.dataset).options)
        if "image_size" not in table or info.modality != "image" or len(info.shape) != 3:
            return ""
        def fits(size: int) -> bool:
            resized = replace(info, shape=(info.shape[0], size, size))
            try:
                return self._supports("model", cell.model, model.supports, resized) is None
            except CellFailure:
                return False

        sizes = [s for s in table["image_size"].choices or () if s != info.shape[-1] and fits(s)]
        if not sizes:
            return ""
        return (f" ({cell.model} accepts {cell.dataset} at image_size {'/'.join(map(str, sizes))}: "
                f"--data-opt {cell.dataset.partition(':')[0]}.image_size={sizes[0]})")

    def _train_and_evaluate(self, prep: _Prepared, data: Data, index: int) -> dict[str, Any]:
        cell, settings, dev = prep.cell, prep.settings, self.device
        model = self.registry.get("model", cell.model)
        loss = self.registry.get("loss", cell.loss)
        # common random numbers: none of these streams depends on the loss
        seeding.seed_global(cell.seed, "init", cell.dataset, cell.model)
        built = call_plugin(self._who("model", cell.model), "build", model.build, data.info,
                            latent_dim=settings["latent_dim"], **prep.model_options)
        if not (isinstance(built, tuple) and len(built) == 2 and all(isinstance(m, torch.nn.Module) for m in built)):
            raise CellFailure(f"{self._who('model', cell.model)} returned {type(built).__name__} from build; expected "
                              "(G, D), two torch.nn.Module")
        G, D = built
        seeding.seed_global(cell.seed, "torch", cell.dataset, cell.model)
        eval_noise = seeding.eval_noise(cell.seed, cell.dataset, cell.model, settings["eval_samples"],
                                        settings["latent_dim"], self.metric_samples)
        applicable, skipped = self._applicable_metrics(cell.dataset, data.info)
        resume, notes = self._checkpoint(prep)
        trajectory: list[dict[str, Any]] = list(resume["trajectory"]) if resume else []

        def sample(n: int, step: int) -> torch.Tensor:
            samples = call_plugin(self._who("model", cell.model), f"G forward (evaluation) at step {step}", generate, G,
                                  eval_noise[:n], dev)
            nonfinite_samples(samples, step, "evaluation, eval mode")
            return samples

        def evaluate(step: int) -> dict[str, Any]:
            """Every applicable metric on G now; the random streams are left untouched."""
            devices = [dev] if dev.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                ctx = self._context(cell.dataset, data, settings, sample=lambda n: sample(n, step))
                values: dict[str, Any] = {}
                for name, metric in applicable:
                    if metric.history:
                        continue
                    values.update(self._compute(name, metric, ctx, f" at step {step}"))
            trajectory.append({"step": step, **{k: v for k, v in values.items() if _is_number(v)}})
            return values

        def checkpoint(state: dict[str, Any]) -> None:
            self.store.save_checkpoint(cell, {**state, "config_hash": prep.config_hash, "trajectory": trajectory})

        self.reporter.cell_started(cell, index, settings["steps"], resume["step"] if resume else 0)
        result = train(
            G, D, loss, data, settings, loss_options=prep.loss_options, seed=cell.seed, device=dev, eval_noise=eval_noise,
            sample_dir=self.store.cell_dir(cell) / "samples", on_step=self.reporter.step,
            on_eval=evaluate if settings["eval_every"] else None,
            checkpoint_every=self.checkpoint_every or 0, on_checkpoint=checkpoint, resume=resume,
            checkpoint_seconds=CHECKPOINT_SECONDS if self.checkpoint_every is None else 0.0,
        )
        self.store.write_history(cell, result.history, HISTORY_COLUMNS)
        self.store.save_generator(cell, G.state_dict())
        out: dict[str, Any] = {
            "status": result.status, "message": result.message, "steps_done": result.steps_done,
            "diverged_at": result.diverged_at, "train_s": result.wall_s, "steps_per_s": result.steps_per_s,
            "resumed_from": resume["step"] if resume else 0, "checkpoint_s": result.checkpoint_s,
        }
        start = time.perf_counter()
        if result.status == "ok":
            try:
                out.update(evaluate(result.steps_done))
            except Diverged as exc:  # finite while training, NaN/inf in eval mode
                result.status, result.diverged_at = "diverged", exc.step
                out.update(status="diverged", diverged_at=exc.step, message=exc.message)
        ctx = self._context(cell.dataset, data, settings, history=result.history, trajectory=trajectory,
                            status=result.status, diverged_at=result.diverged_at)
        for name, metric in applicable:
            if metric.history:
                out.update(self._compute(name, metric, ctx))
        out["eval_s"] = time.perf_counter() - start
        out["trajectory_eval_s"] = result.eval_s
        out["eval_points"] = len(trajectory)
        if trajectory:
            self.store.write_trajectory(cell, trajectory)
        if skipped and result.status == "ok":
            out["message"] = "metrics not applicable: " + " | ".join(skipped)
        out["message"] = "; ".join(m for m in (out["message"], *notes) if m)
        return out

    def _checkpoint(self, prep: _Prepared) -> tuple[dict[str, Any] | None, list[str]]:
        """The cell's checkpoint to continue from (None: start at step 0) and notes for its row."""
        try:
            state = self.store.load_checkpoint(prep.cell, self.device)
        except Exception as exc:  # atomic writes make this a damaged disk: say so, train from the start
            return None, [f"checkpoint unreadable ({one_line(exc)}); trained from step 0"]
        if state is None or state.get("config_hash") == prep.config_hash:
            return state, []
        return None, ["checkpoint of another configuration ignored; trained from step 0"]

    def _compute(self, name: str, metric, ctx: EvalContext, where: str = "") -> dict[str, Any]:
        """``metric.compute(ctx)``, checked: a mapping of new columns (never one of the runner's:
        identity, status, settings, timings, provenance) to numbers, strings, booleans or None. A
        failure names the metric, its plugin and ``where`` in one line."""
        who = self._who("metric", name)
        try:
            values = metric.compute(ctx)
        except (Diverged, CellFailure, KeyboardInterrupt):
            raise
        except BaseException as exc:  # the cell boundary (a write of the plugin's own that fails too)
            raise CellFailure(f"{who} raised{where}: {one_line(exc)}") from exc
        return metric_values(who, values, where)

    def _applicable_metrics(self, dataset: str, info) -> tuple[list[tuple[str, Any]], list[str]]:
        """The suite's metrics that apply to ``dataset`` and, for the others, ``name: why not``."""
        applicable, skipped = [], []
        for name in self.suite.metrics:
            metric = self.registry.get("metric", name)
            reason = self._supports("metric", name, metric.supports, info)
            if reason is None and metric.features:
                reason = self.extractors.get(dataset, (None, "no extractor"))[1]
            if reason:
                skipped.append(f"{name}: {reason}")
            else:
                applicable.append((name, metric))
        return applicable, skipped


def _reuses(row: Mapping[str, Any], prep: _Prepared) -> bool:
    """Whether ``row`` (a cell's stored result) stands for ``prep``: same configuration, and a result
    (ok, diverged, skipped) rather than a failure to retry."""
    return row.get("config_hash") == prep.config_hash and row.get("status") in REUSABLE_STATUSES


def metric_values(who: str, values: Any, where: str = "") -> dict[str, Any]:
    """What a metric's ``compute`` returned, checked (``who`` names the metric in the error): a mapping
    of new columns — never one of the runner's (identity, status, settings, timings, provenance) — to
    numbers, text, true/false or None; a :class:`CellFailure` otherwise. ``ganbench.testing`` runs the
    same check on every metric."""
    if not isinstance(values, Mapping):
        raise CellFailure(f"{who} returned {type(values).__name__}{where}; expected a mapping of column -> value")
    keys = list(values)
    odd = [repr(k) for k in keys if not isinstance(k, str) or not k]
    if odd:
        raise CellFailure(f"{who} returned column names that are not text{where}: {', '.join(odd[:3])}")
    reserved = [k for k in keys if is_reserved(k)]
    if reserved:
        raise CellFailure(f"{who} returned the runner's column(s) {', '.join(reserved)}{where}: identity, status, "
                          "settings, timings and provenance belong to the runner; a metric adds columns of its own")
    return {k: _scalar(who, k, v) for k, v in values.items()}


def _scalar(who: str, column: str, value: Any) -> Any:
    """A metric's value as JSON can store it: None, bool, int, float or str (a one-element tensor or a
    numpy scalar is unwrapped); anything else fails the cell, naming the column."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    one = isinstance(value, torch.Tensor) and value.numel() == 1
    if one or (getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None))):  # numpy scalars
        out = value.item()
        if isinstance(out, (bool, int, float, str)):
            return out
    raise CellFailure(f"{who} returned a {type(value).__name__} for column '{column}'; expected a number, text, "
                      "true/false or None")


#: how torch reports a failed allocation on the host (a RuntimeError, not a MemoryError)
_HOST_OOM = ("DefaultCPUAllocator: can't allocate memory", "DefaultCPUAllocator: not enough memory")


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(text in safe_str(exc) for text in _HOST_OOM)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, Mapping):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(_flatten(v, key) if isinstance(v, Mapping) and v else {key: v})
    return out


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
