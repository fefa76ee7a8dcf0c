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
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import torch

from ganbench import __version__, conditioning, options, seeding
from ganbench.errors import CellFailure, StorageError, call_plugin, one_line, safe_str
from ganbench.evaluation import EvalCache, EvalContext
from ganbench.execution.plan import CellPlan, PluginSetup
from ganbench.generators import info_record
from ganbench.observe import CellInfo
from ganbench.specs import Data
from ganbench.store import NETWORK_FILES, POINTS_FILE, RunStore, is_reserved
from ganbench.train import HISTORY_COLUMNS, Diverged, TrainingError, generate, nonfinite_samples, run_training, setup

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
    evaluate`` both draw from."""
    noise = seeding.eval_noise(seed, dataset, model, settings["eval_samples"], settings["latent_dim"], metric_samples)
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
            return _CellRun(plan, state, events).run()
    finally:
        torch.set_num_threads(threads)


class _CellRun:
    def __init__(self, plan: CellPlan, state: WorkerState, events: Events):
        self.plan, self.state, self.events = plan, state, events
        self.device = torch.device(plan.device)
        self.store = RunStore(plan.run_dir)
        self.cell = plan.cell
        #: what the observer hooks get, once training starts
        self.info: CellInfo | None = None
        self.observers = None

    def run(self) -> dict[str, Any]:
        plan, cell = self.plan, self.cell
        row = dict(plan.row)
        row["threads"] = plan.threads
        row["started_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        start = time.perf_counter()
        if plan.data_error is not None:  # the data set (or its extractor) failed in the driver
            row.update(status="failed", failure="error", message=plan.data_error)
            return row
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
            return row
        if reason:
            row.update(status="skipped", message=reason + size_hint(self.registry, cell.dataset, cell.model, data.info))
            return row
        self.store.write_config(cell, plan.config)
        for name in ("error.txt", POINTS_FILE, *NETWORK_FILES):  # from an earlier attempt: never a stale generator
            self.store.remove(cell, name)
        try:
            row.update(self._train_and_evaluate(data))
        except (KeyboardInterrupt, StorageError):
            raise
        except BaseException as exc:  # the cell boundary: SystemExit from a plugin fails this cell only
            self.store.write_error(cell, "".join(traceback.format_exception(exc)))
            row.update(status="failed", **self._failure(exc))
        row["message"] = "; ".join(m for m in (row["message"], *plan.notes) if m)
        row["wall_s"] = time.perf_counter() - start
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
            data=data, device=self.device, n_samples=plan.settings["eval_samples"], registry=self.registry,
            extractor_name=plan.extractor, extractor_options={k: dict(v) for k, v in plan.extractor_options.items()},
            real_samples=plan.settings["real_samples"], cache=self.state.eval_cache, progress=self.events.status,
            **kwargs,
        )

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

    def _train_and_evaluate(self, data: Data) -> dict[str, Any]:
        plan, cell, dev = self.plan, self.cell, self.device
        settings = plan.settings
        model = self.registry.get("model", cell.model)
        loss = self.registry.get("loss", cell.loss)
        # common random numbers: none of the streams of the networks' set-up depends on the loss
        built = setup.networks(model, data.info, settings, plan.model_options, seed=cell.seed, dataset=cell.dataset,
                               model=cell.model, who=self._who("model", cell.model))
        # the EMA generator starts as G's copy; with it on, it is what is evaluated and saved
        G, D, G_ema, G_eval = built.G, built.D, built.G_ema, built.G_eval
        conditional = model.condition is not None
        eval_noise, eval_labels = evaluation_inputs(cell.seed, cell.dataset, cell.model, conditional, data, settings,
                                                    plan.metric_samples)
        applicable, skipped = self._applicable_metrics(data.info, conditional)
        resume, notes = self._checkpoint()
        live = None
        trajectory: list[dict[str, Any]] = list(resume["trajectory"]) if resume else []

        def sample(n: int, step: int) -> torch.Tensor:
            samples = call_plugin(self._who("model", cell.model), f"G forward (evaluation) at step {step}", generate,
                                  G_eval, eval_noise[:n], dev, y=eval_labels[:n] if conditional else None)
            nonfinite_samples(samples, step, "evaluation, eval mode")
            return samples

        def evaluate(step: int) -> dict[str, Any]:
            """Every applicable metric on G now; the random streams are left untouched."""
            if live is not None:
                live.flush()  # the history so far is on disk before a long evaluation
            devices = [dev] if dev.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                ctx = self._context(data, sample=lambda n: sample(n, step), labels=eval_labels)
                values: dict[str, Any] = {}
                for name, metric in applicable:
                    if metric.history:
                        continue
                    values.update(self._compute(name, metric, ctx, f" at step {step}"))
            trajectory.append({"step": step, **{k: v for k, v in values.items() if _is_number(v)}})
            self._observe("ganbench_evaluated", step=step, values=dict(values))
            return values

        live = self.store.history_log(cell, HISTORY_COLUMNS, resume["history"] if resume else [])
        stepping = self.observers.listening("ganbench_step")

        def checkpoint(state: dict[str, Any]) -> None:
            live.flush()
            self.store.save_checkpoint(cell, {**state, "config_hash": plan.config_hash, "trajectory": trajectory})

        def on_step(record: dict[str, float]) -> None:
            live.add(record)
            self.events.step(plan, record)
            if stepping:  # a copy: what an observer does to it never reaches the history
                self.observers("ganbench_step", cell=self.info, record=dict(record))

        self.info = CellInfo(
            run_dir=Path(plan.run_dir), cell_dir=self.store.cell_dir(cell), cell_id=cell.id, dataset=cell.dataset,
            model=cell.model, loss=cell.loss, seed=cell.seed, settings=dict(settings),
            model_options=dict(plan.model_options), loss_options=dict(plan.loss_options), config_hash=plan.config_hash,
            resumed_from=resume["step"] if resume else 0, log=tuple(plan.log), config=copy.deepcopy(plan.config))
        self.events.started(plan, settings["steps"], resume["step"] if resume else 0)
        self._observe("ganbench_cell_started")
        samples = self.observers.listening("ganbench_samples_saved")
        try:
            result = run_training(
                G, D, loss, data, settings, loss_options=plan.loss_options, seed=cell.seed, device=dev,
                eval_noise=eval_noise, sample_dir=self.store.sample_dir(cell), on_step=on_step,
                on_samples=(lambda step, path: self._observe("ganbench_samples_saved", step=step, path=path))
                if samples else None,
                on_eval=evaluate if settings["eval_every"] else None,
                checkpoint_every=plan.checkpoint_every or 0, on_checkpoint=checkpoint, resume=resume,
                checkpoint_seconds=CHECKPOINT_SECONDS if plan.checkpoint_every is None else 0.0,
                conditional=conditional, eval_labels=eval_labels, g_ema=G_ema,
            )
        finally:
            live.flush()  # a failed cell keeps the history it reached
        self.store.write_history(cell, result.history, HISTORY_COLUMNS)
        self.store.save_networks(cell, G_eval.state_dict(), D.state_dict(),
                                 G.state_dict() if G_ema is not None else None, {
                                     "model": cell.model, "model_options": dict(plan.model_options),
                                     "latent_dim": settings["latent_dim"], "condition": model.condition,
                                     "generator": "ema" if G_ema is not None else "trained",
                                     "data": info_record(data.info),
                                     "provenance": str(self.registry.provenance("model", cell.model))})
        out: dict[str, Any] = {
            "status": result.status, "message": result.message, "steps_done": result.steps_done,
            "diverged_at": result.diverged_at, "train_s": result.wall_s, "steps_per_s": result.steps_per_s,
            "resumed_from": resume["step"] if resume else 0, "checkpoint_s": result.checkpoint_s,
        }
        start = time.perf_counter()
        if result.status == "ok":
            try:
                out.update(evaluate(result.steps_done))
                if data.info.modality == "vector" and tuple(data.info.shape) == (2,):  # the report's scatter
                    self.store.write_points(cell, sample(min(POINTS, len(eval_noise)), result.steps_done))
            except Diverged as exc:  # finite while training, NaN/inf in eval mode
                result.status, result.diverged_at = "diverged", exc.step
                out.update(status="diverged", diverged_at=exc.step, message=exc.message)
        ctx = self._context(data, history=result.history, trajectory=trajectory, status=result.status,
                            diverged_at=result.diverged_at)
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

    def _checkpoint(self) -> tuple[dict[str, Any] | None, list[str]]:
        """The cell's checkpoint to continue from (None: start at step 0) and notes for its row."""
        try:
            state = self.store.load_checkpoint(self.cell, self.device)
        except Exception as exc:  # atomic writes make this a damaged disk: say so, train from the start
            return None, [f"checkpoint unreadable ({one_line(exc)}); trained from step 0"]
        if state is None or state.get("config_hash") == self.plan.config_hash:
            return state, []
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
        return metric_values(blame, values, where)

    def _applicable_metrics(self, info, conditional: bool) -> tuple[list[tuple[str, Any]], list[str]]:
        """The plan's metrics that apply to the data set and model and, for the others, ``name: why not``."""
        applicable, skipped = [], []
        for name in self.plan.metrics:
            metric = self.registry.get("metric", name)
            if getattr(metric, "conditional", False) and not conditional:
                continue  # a metric of conditional models: its columns stay empty here (no note in every row)
            reason = supports(self.registry, "metric", name, metric.supports, info)
            if reason is None and metric.features:
                reason = self.plan.extractor_reason if self.plan.extractor is None else None
            if reason:
                skipped.append(f"{name}: {reason}")
            else:
                applicable.append((name, metric))
        return applicable, skipped


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
