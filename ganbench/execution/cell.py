"""Executing one :class:`~ganbench.execution.plan.CellPlan`: build, train, evaluate, write the cell's
own files, return its row. The same code runs in the driver (``serial``), in a worker process
(``local``) and in a Ray task; it writes only inside ``cells/<cell id>/`` — the row goes back to the
driver, the only writer of ``result.json`` and ``results.csv``.

Everything a plugin does happens behind the cell boundary: whatever it raises (``SystemExit``
included) fails this cell only, with a message naming the plugin and its version.
"""

from __future__ import annotations

import copy
import json
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import torch

from ganbench import __version__, conditioning, options, seeding
from ganbench.errors import CellFailure, StorageError, call_plugin, one_line, safe_str
from ganbench.evaluation import EvalCache, EvalContext, TranslationEval, translation_inputs
from ganbench.execution.plan import GROUP_ROWS_KEY, CellPlan, PluginSetup
from ganbench.generators import info_record
from ganbench.observe import CellInfo
from ganbench.specs import Data, LossSpec, ModelSpec
from ganbench.store import NETWORK_FILES, POINTS_FILE, RunStore, is_reserved
from ganbench.train import HISTORY_COLUMNS, Diverged, TrainingError, generate, nonfinite_samples, run_training, setup
from ganbench.train.loop import TrainResult
from ganbench.train.replicas import Member, run_replicas, why_not
from ganbench.train.task import translate_back

#: without ``--checkpoint-every``: a checkpoint at the first step after this many seconds of training
#: (a checkpoint of a 28×28 DCGAN with its Adam states is 4.4 MiB and takes ~10 ms to write)
CHECKPOINT_SECONDS = 60.0
#: generated 2-D points saved at the final evaluation (the modes metric's sample count)
POINTS = 2500


class Events(Protocol):
    """What a running cell tells its executor (the driver's reporter shows it)."""

    def started(self, plan: CellPlan, steps: int, resumed_from: int) -> None: ...
    def step(self, plan: CellPlan, record: dict[str, float]) -> None: ...
    def status(self, text: str, done: int | None = None, total: int | None = None) -> None: ...


class NoEvents:
    def started(self, plan, steps, resumed_from):
        pass

    def step(self, plan, record):
        pass

    def status(self, text, done=None, total=None):
        pass


def evaluation_inputs(seed: int, dataset: str, model: str, conditional: bool, data: Data,
                      settings: Mapping[str, Any], metric_samples: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A cell's evaluation noise and, for a conditional model, the classes its samples are asked to be:
    the same for every loss on (data set, model, seed) — what the cell's evaluation and ``ganbench
    evaluate`` both draw from. A translation data set's "noise" is its held-out domain-A images
    (:func:`ganbench.evaluation.translation_inputs`), the same for every seed too."""
    if data.info.task == "translation":
        return translation_inputs(data, max(settings["eval_samples"], metric_samples)).sources, None
    noise = seeding.eval_noise(seed, dataset, model, settings["eval_samples"], settings["latent_dim"], metric_samples,
                               settings.get("latent_dist", "normal"))
    labels = (conditioning.eval_labels(seed, dataset, model,
                                       conditioning.class_probabilities(data, settings.get("fake_labels", "data")),
                                       settings["eval_samples"], metric_samples) if conditional else None)
    return noise, labels


def who(registry, kind: str, name: str) -> str:
    """``loss 'wgan' of plugin 'builtin-losses' (ganbench 0.1.0)``: who to blame for a failure."""
    return f"{kind} '{name}' of {registry.provenance(kind, name)}"


def supports(registry, kind: str, name: str, fn, info) -> str | None:
    """A plugin's ``supports(info)``: None or the reason it cannot take ``info``; a
    :class:`CellFailure` when it raises or answers something else."""
    blame = who(registry, kind, name)
    reason = call_plugin(blame, "supports", fn, info)
    if reason is not None and not isinstance(reason, str):
        raise CellFailure(f"{blame} returned {type(reason).__name__} from supports; expected None or a reason (str)")
    return reason or None


#: how a measured cell's row names the metrics it could not be measured by (``name: why | ...``)
NOT_APPLICABLE = "metrics not applicable: "


def metric_reason(registry, name: str, info, conditional: bool, extractor: str | None,
                  extractor_reason: str | None) -> str | None:
    """None when metric ``name`` applies to a cell on ``info`` (of a conditional model or not, whose data set's
    extractor is ``extractor``, else None for ``extractor_reason``); else why not, or "" for a metric that is
    not for such cells at all (a conditional model's metric, another task's), which rows leave unsaid."""
    metric = registry.get("metric", name)
    if getattr(metric, "conditional", False) and not conditional:
        return ""  # a metric of conditional models: its columns stay empty here (no note in every row)
    if getattr(metric, "task", None) not in (None, info.task):
        return ""  # a metric of another task's data (translation): the same
    reason = supports(registry, "metric", name, metric.supports, info)
    if reason is None and metric.features and extractor is None:
        reason = extractor_reason or "no feature extractor"
    return reason


def model_supports(registry, name: str, info) -> str | None:
    """None, or why model ``name`` cannot take ``info``: what its spec declares (a conditional model
    needs labelled data), then its own ``supports``."""
    spec = registry.get("model", name)
    return spec.mismatch(info) or supports(registry, "model", name, spec.supports, info)


def size_hint(registry, dataset: str, model_name: str, info) -> str:
    """When the data set can be requested at an image size the model accepts, say how."""
    table = options.option_table(registry.get("dataset", dataset).options)
    if "image_size" not in table or info.modality != "image" or len(info.shape) != 3:
        return ""

    def fits(size: int) -> bool:
        resized = replace(info, shape=(info.shape[0], size, size))
        try:
            return model_supports(registry, model_name, resized) is None
        except CellFailure:
            return False

    sizes = [s for s in table["image_size"].choices or () if s != info.shape[-1] and fits(s)]
    if not sizes:
        return ""
    return (f" ({model_name} accepts {dataset} at image_size {'/'.join(map(str, sizes))}: "
            f"--data-opt {dataset.partition(':')[0]}.image_size={sizes[0]})")


def load_data(registry, name: str, data_options: Mapping[str, Any], root: Path) -> Data:
    """Data set ``name`` loaded with its resolved options; a :class:`CellFailure` naming the plugin
    when it raises or returns something that is not usable :class:`Data`."""
    blame = who(registry, "dataset", name)
    try:
        data = call_plugin(blame, "load", registry.get("dataset", name).load, root=root, **data_options)
        problem = Data.problem(data)
        if problem:
            raise CellFailure(f"{blame} returned unusable data from load: {problem}")
        return data
    except CellFailure as exc:
        cause = exc.__cause__ or exc
        failure = CellFailure(f"{blame} failed to load: {one_line(cause)}" if exc.__cause__ is not None else str(exc))
        failure.__cause__ = cause
        raise failure from cause


class WorkerState:
    """What a process keeps from one plan to the next: the plugins of each setup, the data sets it
    loaded and the evaluation cache (extractors, real features). Each is keyed by what determines it
    and checked against the plan (the data's fingerprint), so a plan never depends on which plans
    ran in the process before it; the random streams, torch threads and determinism are set per plan.

    The ``serial`` executor hands over the driver's plugins and loaded data."""

    def __init__(self, plugins=None, datasets: Mapping[str, Data] | None = None, eval_cache: EvalCache | None = None):
        self._plugins: dict[PluginSetup, Any] = {}
        self._given = plugins
        self._data: dict[str, Data] = {}
        self._given_data = dict(datasets or {})
        self.eval_cache = eval_cache or EvalCache()

    def plugins(self, setup: PluginSetup):
        if self._given is not None:
            return self._given
        if setup not in self._plugins:
            self._plugins[setup] = setup.load()
        return self._plugins[setup]

    def data(self, plan: CellPlan, registry) -> Data:
        if plan.dataset in self._given_data:
            return self._given_data[plan.dataset]
        key = json.dumps([plan.dataset, plan.data_options, plan.data_root, plan.plugins.modules], sort_keys=True,
                         default=str)
        data = self._data.get(key)
        if data is None or (plan.data_fingerprint is not None and data.info.fingerprint != plan.data_fingerprint):
            data = self._data[key] = load_data(registry, plan.dataset, plan.data_options, Path(plan.data_root))
        if plan.data_fingerprint is not None and data.info.fingerprint != plan.data_fingerprint:
            raise CellFailure(f"data set '{plan.dataset}' loaded here has fingerprint {data.info.fingerprint}, the "
                              f"run's is {plan.data_fingerprint}: this machine sees other files under {plan.data_root}")
        return data


def execute(plan: CellPlan, state: WorkerState, events: Events | None = None) -> dict[str, Any]:
    """Train and evaluate ``plan``'s cell; its row. Writes only inside the cell's directory."""
    events = events or NoEvents()
    threads = torch.get_num_threads()
    torch.set_num_threads(plan.threads)
    device = torch.device(plan.device)
    if device.type == "cuda":  # the plan's GPU is the current one (empty_cache, a plugin's default device)
        torch.cuda.set_device(device)
        torch.cuda.reset_peak_memory_stats(device)  # an OOM message reports this cell's peak
    try:
        with seeding.deterministic_algorithms(plan.deterministic):
            if plan.group:
                return _GroupRun(plan, state, events).run()
            return _CellRun(plan, state, events).run()
    finally:
        torch.set_num_threads(threads)


@dataclass
class _Training:
    """A cell's training as prepared by :meth:`_CellRun.prepare`: what it trains and what it writes."""

    model: ModelSpec
    loss: LossSpec
    data: Data
    G: torch.nn.Module
    D: torch.nn.Module
    G_ema: torch.nn.Module | None
    conditional: bool
    eval_noise: torch.Tensor
    eval_labels: torch.Tensor | None
    applicable: list[tuple[str, Any]]
    skipped: list[str]
    resume: dict[str, Any] | None
    notes: list[str]
    trajectory: list[dict[str, Any]]
    live: Any = None

    @property
    def G_eval(self) -> torch.nn.Module:
        return self.G_ema if self.G_ema is not None else self.G

    @property
    def resumed_from(self) -> int:
        return self.resume["step"] if self.resume else 0


class _CellRun:
    def __init__(self, plan: CellPlan, state: WorkerState, events: Events):
        self.plan, self.state, self.events = plan, state, events
        self.device = torch.device(plan.device)
        self.store = RunStore(plan.run_dir)
        self.cell = plan.cell
        #: what the observer hooks get, once training starts
        self.info: CellInfo | None = None
        self.observers = None
        self.tr: _Training | None = None
        self._stepping = False

    def run(self) -> dict[str, Any]:
        row, data = self.begin()
        if data is None:
            return row
        self.train(row, data)
        return self.end(row)

    def begin(self) -> tuple[dict[str, Any], Data | None]:
        """The row so far and the loaded data; no data when the row is already final (the data set failed,
        the model cannot take it, the plugins do not load here): nothing is trained then."""
        plan, cell = self.plan, self.cell
        row = dict(plan.row)
        row["threads"] = plan.threads
        row["started_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.start = time.perf_counter()
        if plan.data_error is not None:  # the data set (or its extractor) failed in the driver
            row.update(status="failed", failure="error", message=plan.data_error)
            return row, None
        try:
            plugins = self.state.plugins(plan.plugins)
            self.registry = plugins.registry
            self.observers, self._plugins = plugins.observers, plugins
            self.observers.reset()
            data = self.state.data(plan, self.registry)
            reason = model_supports(self.registry, cell.model, data.info)
        except (KeyboardInterrupt, StorageError):
            raise
        except BaseException as exc:  # CellFailure, or plugins that do not load here (PluginError)
            self.store.write_error(cell, "".join(traceback.format_exception(exc)))
            row.update(status="failed", failure="error", message=safe_str(exc))
            return row, None
        if reason:
            row.update(status="skipped", message=reason + size_hint(self.registry, cell.dataset, cell.model, data.info))
            return row, None
        self.store.write_config(cell, plan.config)
        for name in ("error.txt", POINTS_FILE, *NETWORK_FILES):  # from an earlier attempt: never a stale generator
            self.store.remove(cell, name)
        return row, data

    def train(self, row: dict[str, Any], data: Data) -> None:
        """Train this cell alone and evaluate it, into ``row``."""
        try:
            tr = self.prepare(data, *self._checkpoint())
            row.update(self.finish(tr, self.train_alone(tr)))
        except (KeyboardInterrupt, StorageError):
            raise
        except BaseException as exc:  # the cell boundary: SystemExit from a plugin fails this cell only
            self.fail(row, exc)

    def fail(self, row: dict[str, Any], exc: BaseException) -> None:
        self.store.write_error(self.cell, "".join(traceback.format_exception(exc)))
        row.update(status="failed", **self._failure(exc))

    def end(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row of a cell that trained (or failed training): notes, wall time, the observers' word."""
        row["message"] = "; ".join(m for m in (row["message"], *self.plan.notes) if m)
        row["wall_s"] = time.perf_counter() - self.start
        if self.info is not None:
            self._observe("ganbench_cell_finished", row=dict(row))
        problems = self.observers.problems(lambda p: str(self._plugins.provenance_of(p)))
        if problems:  # an observer's failure is said in the row, the cell's result stands
            row["message"] = "; ".join(m for m in (row["message"], *problems) if m)
        return row

    def _observe(self, hook: str, **kwargs: Any) -> None:
        if self.observers.listening(hook):
            self.observers(hook, cell=self.info, **kwargs)

    def _who(self, kind: str, name: str) -> str:
        return who(self.registry, kind, name)

    def _context(self, data: Data, **kwargs: Any) -> EvalContext:
        plan = self.plan
        return EvalContext(
            data=data, device=self.device, n_samples=self._n_samples(data), registry=self.registry,
            extractor_name=plan.extractor, extractor_options={k: dict(v) for k, v in plan.extractor_options.items()},
            real_samples=plan.settings["real_samples"], cache=self.state.eval_cache, progress=self.events.status,
            **kwargs,
        )

    def _n_samples(self, data: Data) -> int:
        """The evaluation's sample count: ``eval_samples``, at most a translation set's held-out inputs."""
        n = self.plan.settings["eval_samples"]
        return min(n, len(translation_inputs(data, n).sources)) if data.info.task == "translation" else n

    def _translation(self, data: Data, n: int) -> TranslationEval | None:
        """What a translation cell's metrics compare with (None on generation data): the held-out inputs, their
        targets and labels, and G's way back (``G.back``, CycleGAN), called like G in eval mode."""
        if data.info.task != "translation":
            return None
        inputs = translation_inputs(data, n)
        inputs.back = translate_back(self.tr.G_eval, self.device)
        return inputs

    def _failure(self, exc: BaseException) -> dict[str, str]:
        """``failure`` (``oom`` or ``error``) and a one-line ``message`` naming the plugin (and its
        version) whose code raised, where, and the error."""
        cell = self.cell
        cause = exc.__cause__ if isinstance(exc, (TrainingError, CellFailure)) and exc.__cause__ else exc
        if isinstance(exc, TrainingError):
            if exc.kind == "ganbench":
                blame = f"ganbench {__version__}"
            elif exc.kind is None:
                blame = f"{self._who('model', cell.model)} / {self._who('loss', cell.loss)}"
            else:
                blame = self._who(exc.kind, cell.model if exc.kind == "model" else cell.loss)
            text = f"{blame} raised in {exc.where} at step {exc.step}: {one_line(cause)}"
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

    def prepare(self, data: Data, resume: dict[str, Any] | None, notes: list[str]) -> _Training:
        """The cell's networks (built from its seed), evaluation inputs, metrics, history log and the
        callbacks training calls; ``resume``: the checkpoint it continues from (``step``, ``history``,
        ``trajectory``), or None."""
        plan, cell = self.plan, self.cell
        settings = plan.settings
        model = self.registry.get("model", cell.model)
        # common random numbers: none of the streams of the networks' set-up depends on the loss
        built = setup.networks(model, data.info, settings, plan.model_options, seed=cell.seed, dataset=cell.dataset,
                               model=cell.model, who=self._who("model", cell.model))
        conditional = model.conditional  # class labels: evaluation asks for classes
        eval_noise, eval_labels = evaluation_inputs(cell.seed, cell.dataset, cell.model, conditional, data, settings,
                                                    plan.metric_samples)
        applicable, skipped = self._applicable_metrics(data.info, conditional)
        # the EMA generator starts as G's copy; with it on, it is what is evaluated and saved
        tr = _Training(model, self.registry.get("loss", cell.loss), data, built.G, built.D, built.G_ema, conditional,
                       eval_noise, eval_labels, applicable, skipped, resume, notes,
                       list(resume["trajectory"]) if resume else [])
        tr.live = self.store.history_log(cell, HISTORY_COLUMNS, resume["history"] if resume else [])
        self._stepping = self.observers.listening("ganbench_step")
        self.info = CellInfo(
            run_dir=Path(plan.run_dir), cell_dir=self.store.cell_dir(cell), cell_id=cell.id, dataset=cell.dataset,
            model=cell.model, loss=cell.loss, seed=cell.seed, settings=dict(settings),
            model_options=dict(plan.model_options), loss_options=dict(plan.loss_options), config_hash=plan.config_hash,
            resumed_from=tr.resumed_from, log=tuple(plan.log), config=copy.deepcopy(plan.config))
        self.events.started(plan, settings["steps"], tr.resumed_from)
        self._observe("ganbench_cell_started")
        self.tr = tr
        return tr

    def sample(self, n: int, step: int) -> torch.Tensor:
        tr = self.tr
        samples = call_plugin(self._who("model", self.cell.model), f"G forward (evaluation) at step {step}", generate,
                              tr.G_eval, tr.eval_noise[:n], self.device,
                              y=tr.eval_labels[:n] if tr.conditional else None)
        nonfinite_samples(samples, step, "evaluation, eval mode")
        return samples

    def evaluate(self, step: int) -> dict[str, Any]:
        """Every applicable metric on G now; the random streams are left untouched."""
        tr, dev = self.tr, self.device
        tr.live.flush()  # the history so far is on disk before a long evaluation
        devices = [dev] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            ctx = self._context(tr.data, sample=lambda n: self.sample(n, step), labels=tr.eval_labels,
                                translation=self._translation(tr.data, len(tr.eval_noise)))
            values: dict[str, Any] = {}
            for name, metric in tr.applicable:
                if metric.history:
                    continue
                values.update(self._compute(name, metric, ctx, f" at step {step}"))
        tr.trajectory.append({"step": step, **{k: v for k, v in values.items() if _is_number(v)}})
        self._observe("ganbench_evaluated", step=step, values=dict(values))
        return values

    def on_step(self, record: dict[str, float]) -> None:
        self.tr.live.add(record)
        self.events.step(self.plan, record)
        if self._stepping:  # a copy: what an observer does to it never reaches the history
            self.observers("ganbench_step", cell=self.info, record=dict(record))

    def on_samples(self) -> Any:
        """What training calls after a sample picture is written (None: no observer listens)."""
        if not self.observers.listening("ganbench_samples_saved"):
            return None
        return lambda step, path: self._observe("ganbench_samples_saved", step=step, path=path)

    def train_alone(self, tr: _Training) -> TrainResult:
        plan, cell = self.plan, self.cell
        settings = plan.settings

        def checkpoint(state: dict[str, Any]) -> None:
            tr.live.flush()
            self.store.save_checkpoint(cell, {**state, "config_hash": plan.config_hash, "trajectory": tr.trajectory,
                                              "written_by": written_by(plan)})

        try:
            return run_training(
                tr.G, tr.D, tr.loss, tr.data, settings, loss_options=plan.loss_options, seed=cell.seed,
                device=self.device, eval_noise=tr.eval_noise, sample_dir=self.store.sample_dir(cell),
                on_step=self.on_step, on_samples=self.on_samples(),
                on_eval=self.evaluate if settings["eval_every"] else None,
                checkpoint_every=plan.checkpoint_every or 0, on_checkpoint=checkpoint, resume=tr.resume,
                checkpoint_seconds=CHECKPOINT_SECONDS if plan.checkpoint_every is None else 0.0,
                conditional=tr.model.condition is not None, eval_labels=tr.eval_labels, g_ema=tr.G_ema,
            )
        finally:
            tr.live.flush()  # a failed cell keeps the history it reached

    def finish(self, tr: _Training, result: TrainResult) -> dict[str, Any]:
        """After training: the history, the networks, the final evaluation; the row's columns."""
        plan, cell = self.plan, self.cell
        settings, data = plan.settings, tr.data
        self.store.write_history(cell, result.history, HISTORY_COLUMNS)
        self.store.save_networks(cell, tr.G_eval.state_dict(), tr.D.state_dict(),
                                 tr.G.state_dict() if tr.G_ema is not None else None, {
                                     "model": cell.model, "model_options": dict(plan.model_options),
                                     "latent_dim": settings["latent_dim"], "condition": tr.model.condition,
                                     **({"latent_dist": settings["latent_dist"]}
                                        if settings.get("latent_dist", "normal") != "normal" else {}),
                                     "generator": "ema" if tr.G_ema is not None else "trained",
                                     "data": info_record(data.info),
                                     "provenance": str(self.registry.provenance("model", cell.model))})
        out: dict[str, Any] = {
            "status": result.status, "message": result.message, "steps_done": result.steps_done,
            "diverged_at": result.diverged_at, "train_s": result.wall_s, "steps_per_s": result.steps_per_s,
            "resumed_from": tr.resumed_from, "checkpoint_s": result.checkpoint_s,
            # a diverged cell's p is that of the end of its sync window: not reported
            **({"ada_p_end": result.ada_p} if result.ada_p is not None and result.status == "ok" else {}),
        }
        start = time.perf_counter()
        if result.status == "ok":
            try:
                out.update(self.evaluate(result.steps_done))
                if data.info.modality == "vector" and tuple(data.info.shape) == (2,):  # the report's scatter
                    self.store.write_points(cell, self.sample(min(POINTS, len(tr.eval_noise)), result.steps_done))
            except Diverged as exc:  # finite while training, NaN/inf in eval mode
                result.status, result.diverged_at = "diverged", exc.step
                out.update(status="diverged", diverged_at=exc.step, message=exc.message)
        ctx = self._context(data, history=result.history, trajectory=tr.trajectory, status=result.status,
                            diverged_at=result.diverged_at)
        for name, metric in tr.applicable:
            if metric.history:
                out.update(self._compute(name, metric, ctx))
        out["eval_s"] = time.perf_counter() - start
        out["trajectory_eval_s"] = result.eval_s
        out["eval_points"] = len(tr.trajectory)
        if tr.trajectory:
            self.store.write_trajectory(cell, tr.trajectory)
        if tr.skipped and result.status == "ok":  # also on its own, for a rescoring to rewrite (rescore.py)
            out["metrics_skipped"] = " | ".join(tr.skipped)
            out["message"] = NOT_APPLICABLE + out["metrics_skipped"]
        out["message"] = "; ".join(m for m in (out["message"], *tr.notes) if m)
        return out

    def _checkpoint(self) -> tuple[dict[str, Any] | None, list[str]]:
        """The cell's checkpoint to continue from (None: start at step 0) and notes for its row."""
        try:
            state = self.store.load_checkpoint(self.cell, self.device)
        except Exception as exc:  # atomic writes make this a damaged disk: say so, train from the start
            return None, [f"checkpoint unreadable ({one_line(exc)}); trained from step 0"]
        if state is not None and "group" in state:  # of a replica group this cell was part of
            return None, ["checkpoint of a replica group ignored; trained from step 0"]
        if state is None or state.get("config_hash") == self.plan.config_hash:
            return state, resumed_otherwise(state, self.plan)
        return None, ["checkpoint of another configuration ignored; trained from step 0"]

    def _compute(self, name: str, metric, ctx: EvalContext, where: str = "") -> dict[str, Any]:
        """``metric.compute(ctx)``, checked (:func:`metric_values`); a failure names the metric, its
        plugin and ``where`` in one line."""
        blame = self._who("metric", name)
        try:
            values = metric.compute(ctx)
        except (Diverged, CellFailure, KeyboardInterrupt):
            raise
        except BaseException as exc:  # the cell boundary (a write of the plugin's own that fails too)
            raise CellFailure(f"{blame} raised{where}: {one_line(exc)}") from exc
        return metric_values(blame, values, where, metric)

    def _applicable_metrics(self, info, conditional: bool) -> tuple[list[tuple[str, Any]], list[str]]:
        """The plan's metrics that apply to the data set and model and, for the others, ``name: why not``."""
        applicable, skipped = [], []
        for name in self.plan.metrics:
            reason = metric_reason(self.registry, name, info, conditional, self.plan.extractor,
                                   self.plan.extractor_reason)
            if reason is None:
                applicable.append((name, self.registry.get("metric", name)))
            elif reason:
                skipped.append(f"{name}: {reason}")
        return applicable, skipped


class _GroupRun:
    """A replica group's plan (``replicas`` > 1): its cells' seeds trained as one vectorised program
    (:mod:`ganbench.train.replicas`), each cell then evaluated and written as it is alone. A model,
    loss or setting that cannot be vectorised trains its cells one after another, and each row says why.
    The group's checkpoint lives in its first cell's directory; a failure inside training fails every
    cell of the group (their checkpoint stays for the re-run)."""

    def __init__(self, plan: CellPlan, state: WorkerState, events: Events):
        self.runs = [_CellRun(p, state, events) for p in plan.members()]

    def run(self) -> dict[str, Any]:
        begun = [(r, *r.begin()) for r in self.runs]
        ready = [(r, row, data) for r, row, data in begun if data is not None]
        rows = {id(r): row for r, row, _ in begun}
        reason = self._why_alone(ready)
        if reason is not None:
            for r, row, data in ready:
                r.train(row, data)
                if len(ready) > 1:
                    row["message"] = "; ".join(m for m in (row["message"], f"trained alone, not as replicas: {reason}")
                                               if m)
        else:
            self._train_together(ready)
        out = [r.end(rows[id(r)]) if data is not None else rows[id(r)] for r, _, data in begun]
        first, *others = out
        return {**first, GROUP_ROWS_KEY: others}

    @staticmethod
    def _why_alone(ready: list[tuple[_CellRun, dict[str, Any], Data]]) -> str | None:
        """Why these cells train one after another (None: as replicas): fewer than two to train, or what
        :func:`~ganbench.train.replicas.why_not` says of a throwaway build of the model (a model that fails
        to build fails each cell with its own message)."""
        if len(ready) < 2:
            return "one cell of the group left to train"
        r, _, data = ready[0]
        plan = r.plan
        model = r.registry.get("model", plan.model)
        try:
            with torch.random.fork_rng(devices=[r.device] if r.device.type == "cuda" else []):  # this GPU's only
                built = setup.networks(model, data.info, plan.settings, plan.model_options)
        except (KeyboardInterrupt, StorageError):
            raise
        except BaseException as exc:
            return f"the model failed to build ({one_line(exc)})"
        return why_not(built.G, r.registry.get("loss", plan.loss), plan.settings, model.condition is not None, built.D,
                       data.info.task)

    def _train_together(self, ready: list[tuple[_CellRun, dict[str, Any], Data]]) -> None:
        lead, _, data = ready[0]
        plan = lead.plan
        ids = [r.cell.id for r, _, _ in ready]
        for _, row, _ in ready:  # every row says its group, a failed one too (empty means: trained alone)
            row["replica_group"] = lead.cell.id
        resume, notes = self._checkpoint(lead, ids)
        trainings: list[_Training] = []
        try:
            for k, (r, _, _) in enumerate(ready):
                member = ({"step": resume["step"], "history": resume["members"][k]["history"],
                           "trajectory": resume["trajectories"][k]} if resume else None)
                trainings.append(r.prepare(data, member, notes))
            members = [Member(r.cell.seed, tr.G, tr.D, tr.G_ema, eval_noise=tr.eval_noise, eval_labels=tr.eval_labels,
                              sample_dir=r.store.sample_dir(r.cell), on_step=r.on_step, on_samples=r.on_samples(),
                              on_eval=r.evaluate if plan.settings["eval_every"] else None)
                       for (r, _, _), tr in zip(ready, trainings, strict=True)]

            def checkpoint(state: dict[str, Any]) -> None:
                for tr in trainings:
                    tr.live.flush()
                lead.store.save_checkpoint(lead.cell, {**state, "config_hash": plan.config_hash, "group": ids,
                                                       "written_by": written_by(plan),
                                                       "trajectories": [tr.trajectory for tr in trainings]})

            try:
                results = run_replicas(
                    members, trainings[0].loss, data, plan.settings, device=lead.device, loss_options=plan.loss_options,
                    checkpoint_every=plan.checkpoint_every or 0, on_checkpoint=checkpoint, resume=resume,
                    checkpoint_seconds=CHECKPOINT_SECONDS if plan.checkpoint_every is None else 0.0,
                    conditional=trainings[0].conditional)
            finally:
                for tr in trainings:
                    tr.live.flush()  # failed cells keep the history they reached
        except (KeyboardInterrupt, StorageError):
            raise
        except BaseException as exc:  # the cell boundary, for every cell of the group
            for r, row, _ in ready:
                r.fail(row, exc)
            return
        for (r, row, _), tr, result in zip(ready, trainings, results, strict=True):
            try:
                row.update(r.finish(tr, result))
            except (KeyboardInterrupt, StorageError):
                raise
            except BaseException as exc:
                r.fail(row, exc)

    @staticmethod
    def _checkpoint(lead: _CellRun, ids: list[str]) -> tuple[dict[str, Any] | None, list[str]]:
        """The group's checkpoint (in its first cell's directory) to continue from, and notes for the rows."""
        try:
            state = lead.store.load_checkpoint(lead.cell, lead.device)
        except Exception as exc:
            return None, [f"checkpoint unreadable ({one_line(exc)}); trained from step 0"]
        if state is None:
            return None, []
        if state.get("config_hash") != lead.plan.config_hash:
            return None, ["checkpoint of another configuration ignored; trained from step 0"]
        if state.get("group") != ids:
            return None, ["checkpoint of another replica group ignored; trained from step 0"]
        return state, resumed_otherwise(state, lead.plan)


def written_by(plan: CellPlan) -> dict[str, Any]:
    """What a checkpoint records of the code and threads that wrote it (CPU results depend on both)."""
    return {"git_commit": plan.row.get("git_commit"), "threads": plan.threads, "torch": str(torch.__version__)}


def resumed_otherwise(state: dict[str, Any] | None, plan: CellPlan) -> list[str]:
    """A note for the row when the checkpoint it continues from was written by other code (git commit, torch) or
    another number of threads: the configuration is the same, but the steps after it may differ in their last
    digits from a run that never stopped (an empty list otherwise, and for checkpoints that do not record it)."""
    before = (state or {}).get("written_by")
    if not isinstance(before, dict):
        return []
    now = written_by(plan)
    changed = [f"{k} {before.get(k)} (now {now[k]})" for k in now if before.get(k) != now[k]]
    return [f"resumed from a checkpoint written with {', '.join(changed)}: the steps after step {state.get('step')} "
            "may differ in their last digits from an uninterrupted run"] if changed else []


def metric_values(who: str, values: Any, where: str = "", metric: Any = None) -> dict[str, Any]:
    """What a metric's ``compute`` returned, checked (``who`` names the metric in the error): a mapping
    of new columns — never one of the runner's (identity, status, settings, timings, provenance) — to
    numbers, text, true/false or None, where a column ``metric`` ranks (a direction in its spec) holds no
    text; a :class:`CellFailure` otherwise. ``ganbench.testing`` runs the same check on every metric."""
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
    out = {k: _scalar(who, k, v) for k, v in values.items()}
    ranked = {c for c, d in metric.directions().items() if d is not None} if metric is not None else set()
    text = [k for k in ranked if isinstance(out.get(k), str)]
    if text:  # a ranked column is averaged and compared: text there would be refused by every report
        raise CellFailure(f"{who} returned text for its ranked column '{text[0]}'{where} ({out[text[0]]!r}); expected "
                          "a number, true/false or None")
    return out


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
