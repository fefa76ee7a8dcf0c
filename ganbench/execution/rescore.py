"""``ganbench evaluate RUN_DIR``: rescore the saved generators of a run without retraining.

Each measured cell (status ``ok``) that saved its generator is evaluated again with the same
evaluation noise and labels the cell used (:func:`ganbench.execution.cell.evaluation_inputs`), the
same metric code and an extractor built as a run builds it; the new values replace the metric
columns of its row, and the row records the rescoring (``rescored_at``, ``rescored_by``,
``rescored_metrics``). For the same metric, extractor and sample count the values are the original
evaluation's, bit for bit, on the CPU. Rows are written under the run directory's lock through the
store's one writer of rows (each row atomically: a kill leaves every row file whole, the old one or the
new), and ``results.csv`` is rebuilt at the end. The cells' configurations are not touched, so a later
``ganbench run`` of the same request keeps the rescored rows.

What cannot be recomputed from a saved generator is left as it was and marked: the metric trajectory
(``trajectory.csv``) and the ``track_*`` columns derived from it keep the extractor they were computed
with in ``track_extractor`` when the rescoring uses another. History metrics (stability) read the
training history, which rescoring does not change: they are not recomputed.

Refused in one line, before any row is written: a folder that is not a run directory, a cell to
rescore that has no saved generator (rows made before ganbench saved generators), a data set that
no longer loads with the fingerprint its rows were made on, unknown metric or extractor names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ganbench import __version__
from ganbench.errors import GanbenchError, UsageError, one_line
from ganbench.evaluation import EvalCache, EvalContext, resolve_extractor, translation_inputs
from ganbench.store import is_instrument
from ganbench.suite import Cell

#: columns the rescoring adds to a row
RESCORE_COLUMNS = ("rescored_at", "rescored_by", "rescored_metrics")


@dataclass
class Rescored:
    """What :func:`rescore` did: the cells rescored and the cells left as they were, with why."""

    run_dir: Path
    rescored: list[str] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)


def _cell(row: dict[str, Any]) -> Cell:
    from ganbench.sweeps import parse_text

    point = row.get("point")
    return Cell(str(row["dataset"]), str(row["model"]), str(row["loss"]), int(row["seed"]),
                parse_text(point) if isinstance(point, str) else ())


def _skipped_message(row: Mapping[str, Any], computed: Sequence[str], skipped: Mapping[str, str]) -> dict[str, str]:
    """A measured row's ``message`` and ``metrics_skipped`` after rescoring ``computed``: the list of metrics it
    could not be measured by keeps what it said of other metrics and says of these why they were not measured now
    (``skipped``; scored ones drop out), inside the message as the cell wrote it (its notes after it untouched).
    A row from before ``metrics_skipped`` is rewritten only when its message is that list alone (a note after it
    could not be told apart from a reason); otherwise the message stays and ``rescored_metrics`` says what holds."""
    from ganbench.execution.cell import NOT_APPLICABLE

    message = str(row.get("message") or "")
    old = row.get("metrics_skipped")
    if not isinstance(old, str):
        if not message.startswith(NOT_APPLICABLE) or "; " in message:
            return {"message": message}
        old = message.removeprefix(NOT_APPLICABLE)
    parts = [p for p in old.split(" | ") if p and p.split(":")[0] not in computed]
    parts += [f"{name}: {why}" for name, why in skipped.items()]
    new = " | ".join(parts)
    if old and message.startswith(NOT_APPLICABLE + old):
        rest = message.removeprefix(NOT_APPLICABLE + old).removeprefix("; ")
    else:
        rest = message
    message = "; ".join(m for m in ((NOT_APPLICABLE + new) if new else "", rest) if m)
    return {"message": message, "metrics_skipped": new}


def rescore(run_dir: Path | str, *, metrics: Sequence[str] | None = None, extractor: str | None = None,
            eval_samples: int | None = None, device: str | torch.device = "cpu", data_root: Path | str | None = None,
            plugins=None, progress: Callable[[str], None] | None = None) -> Rescored:
    """Rescore the measured cells of ``run_dir`` (see the module doc). ``metrics``: metric names
    (default: the run's, less history metrics); ``extractor``: a registered name or ``auto`` (default:
    the run's choice); ``eval_samples``: generated samples per cell (default: each cell's own)."""
    from ganbench.errors import CellFailure
    from ganbench.execution.cell import evaluation_inputs, metric_reason, metric_values, who
    from ganbench.generators import cell_data, load_generator
    from ganbench.plugins import load_plugins
    from ganbench.provenance import git_commit
    from ganbench.store import RunStore
    from ganbench.train import Diverged, generate, nonfinite_samples
    from ganbench.train.task import translate_back

    if data_root is not None and not Path(data_root).expanduser().is_dir():  # as run refuses it
        raise UsageError(f"data root {data_root} is not an existing directory")
    store = RunStore(run_dir)
    store.require_run()
    suite, _ = store.stored_suite()
    plugins = plugins or load_plugins()
    registry = plugins.registry
    names = list(metrics) if metrics else list(suite.get("metrics") or [])
    names = [registry.canonical("metric", m) for m in names]
    computed = [m for m in names if not registry.get("metric", m).history]
    if not computed:
        raise UsageError("nothing to rescore: the metrics asked for read only the training history "
                         f"({', '.join(names) or 'none'}); name metrics computed from samples, e.g. --metrics fid")
    if (eval_samples is not None or extractor is not None) and metrics:
        # the sample count and the extractor are the row's and its reference rows': rescoring some metrics
        # at another N or with other weights would leave the others measured otherwise under the same labels
        run_metrics = [registry.canonical("metric", m) for m in suite.get("metrics") or []]
        left = [m for m in run_metrics if not registry.get("metric", m).history and m not in computed]
        if left:
            flags = " and ".join(f for f, v in (("--eval-samples", eval_samples), ("--extractor", extractor))
                                 if v is not None)
            verb = "change" if " and " in flags else "changes"
            raise UsageError(f"{flags} {verb} what every sample-based metric of the run measures, and --metrics "
                             f"leaves out {', '.join(left)}: rescore them too (--metrics "
                             f"{','.join(dict.fromkeys([*computed, *left]))}) or leave --metrics out")
    choice = extractor or suite.get("extractor") or "auto"
    if choice != "auto":
        choice = registry.canonical("extractor", choice)
    if eval_samples is not None and (not isinstance(eval_samples, int) or eval_samples < 2):
        raise UsageError(f"--eval-samples expects a whole number of at least 2, got {eval_samples}")
    extractor_options = {k: dict(v) for k, v in (suite.get("extractor_options") or {}).items()}
    device = torch.device(device)
    metric_samples = max([0, *(registry.get("metric", m).samples for m in computed)])
    done = Rescored(Path(run_dir))
    with store.lock():
        store.remove_temporaries()  # a killed run's or rescoring's half-done writes
        rows = store.rows()
        targets = []
        for row in rows:
            if row.get("status") != "ok":
                done.left[row["cell_id"]] = f"status {row.get('status')}: nothing was measured"
                continue
            targets.append(row)
        missing = [r["cell_id"] for r in targets if not store.has_generator(r["cell_id"])]
        if missing:
            raise UsageError(f"{store.root}: {len(missing)} measured cell(s) saved no generator (e.g. {missing[0]}: made "
                             "before ganbench saved generators), so they cannot be rescored; re-run the run's command "
                             "with --fresh to train and score them anew")
        # every check first: each data set loads as the version its rows were made on
        data_of: dict[tuple[str, str], Any] = {}
        configs = {}
        for row in targets:
            config = store.read_cell_config(row["cell_id"]) or {}
            key = (row["dataset"], str(config.get("data_fingerprint")))
            if key not in data_of:
                data_of[key], config = cell_data(store, row["cell_id"], registry, data_root)
            configs[row["cell_id"]] = config
        unmeasured: dict[str, str] = {}  # a metric not measured on some cell, and why (the first)
        measured: set[str] = set()
        for row in targets:  # before anything is scored: metrics that apply to no measured cell are refused
            data = data_of[(row["dataset"], str(configs[row["cell_id"]].get("data_fingerprint")))]
            ext_name, why = resolve_extractor(registry, choice, data.info)
            conditional = registry.get("model", row["model"]).conditional
            for name in computed:
                try:
                    reason = metric_reason(registry, name, data.info, conditional, ext_name, why)
                except CellFailure:  # a plugin's supports() that raises: scoring it stops with that, in one line
                    reason = None
                if reason is None:
                    measured.add(name)
                elif reason:
                    unmeasured.setdefault(name, f"{row['dataset']}: {reason}")
        # named metrics each (as run refuses them), the run's own only when not one of them applies
        never = [m for m in computed if m not in measured] if metrics else ([] if measured else computed)
        if targets and never:
            why = "; ".join(f"{k}: {unmeasured[k]}" for k in never if k in unmeasured) or "not metrics of these cells"
            raise UsageError(f"{store.root}: {', '.join(never)} applies to none of its measured cells ({why}); no "
                             "row was changed")
        cache = EvalCache()
        commit = git_commit()
        stamp = {"rescored_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "rescored_by": f"ganbench {__version__}" + (f" ({commit})" if commit else "")}
        rescored: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for i, row in enumerate(targets):
            cell_id, config = row["cell_id"], configs[row["cell_id"]]
            data = data_of[(row["dataset"], str(config.get("data_fingerprint")))]
            settings = dict(config.get("settings") or {})
            n = eval_samples or int(row.get("hp_eval_samples") or settings["eval_samples"])
            settings["eval_samples"] = n
            ext_name, why = resolve_extractor(registry, choice, data.info)
            loaded = load_generator(store.root / "cells" / cell_id, device, plugins=plugins)
            conditional = registry.get("model", row["model"]).conditional
            noise, labels = evaluation_inputs(int(row["seed"]), row["dataset"], row["model"], conditional, data,
                                              settings, metric_samples)

            step = int(row.get("steps_done") or 0)

            def sample(k: int, G=loaded.G, noise=noise, labels=labels, step=step) -> torch.Tensor:
                out = generate(G, noise[:k], device, y=labels[:k] if labels is not None else None)
                nonfinite_samples(out, step, "rescoring, eval mode")
                return out

            translation = None
            if data.info.task == "translation":  # the held-out inputs: as many as there are
                translation = translation_inputs(data, len(noise))
                translation.back = translate_back(loaded.G, device)
            ctx = EvalContext(data=data, device=device, n_samples=min(n, len(noise)), sample=sample, labels=labels,
                              registry=registry, extractor_name=ext_name, extractor_options=extractor_options,
                              real_samples=int(settings.get("real_samples", 10000)), cache=cache,
                              translation=translation)
            values: dict[str, Any] = {}
            scored: list[str] = []
            skipped: dict[str, str] = {}
            for name in computed:
                metric = registry.get("metric", name)
                reason = metric_reason(registry, name, data.info, conditional, ext_name, why)
                if reason is not None:
                    if reason:
                        skipped[name] = reason
                    continue
                blame = who(registry, "metric", name)
                try:
                    with torch.random.fork_rng(devices=[]):
                        values.update(metric_values(blame, metric.compute(ctx), metric=metric))
                except (KeyboardInterrupt, GanbenchError):
                    raise
                except Exception as exc:  # a metric's or a generator's failure: one line, no row rewritten
                    where = "non-finite samples" if isinstance(exc, Diverged) else f"{blame} raised: {one_line(exc)}"
                    raise UsageError(f"{store.root}: rescoring cell {cell_id} stopped ({where}); no row was changed") \
                        from exc
                scored.append(name)
            old_ext = row.get("fid_extractor")
            new_ext = values.get("fid_extractor")
            new = {**row, **values, **stamp, "rescored_metrics": ",".join(scored), "hp_eval_samples": n}
            new.update(_skipped_message(row, computed, skipped))
            if old_ext and new_ext and old_ext != new_ext and (
                    int(row.get("eval_points") or 0) or any(k.startswith("track_") for k in row)):
                new.setdefault("track_extractor", old_ext)
            _refuse_mixed_instruments(store.root, cell_id, new, set(values))
            rescored.append((row, new))
            if progress is not None:
                progress(f"[{i + 1}/{len(targets)}] {cell_id}: " + ", ".join(
                    f"{k} {v:.4g}" for k, v in values.items() if k in computed and isinstance(v, float)))
        names_for_references = list(dict.fromkeys([*(suite.get("metrics") or []), *computed]))
        try:
            refs = _references(registry, suite, data_of, configs, targets, choice, extractor_options, eval_samples,
                               names_for_references, device)
        except (KeyboardInterrupt, GanbenchError):
            raise
        except Exception as exc:  # one line; nothing written yet
            raise UsageError(f"{store.root}: the reference rows could not be recomputed ({one_line(exc)}); no row "
                             "was changed") from exc
        for row, new in rescored:  # every cell scored and checked: now the rows, each atomically
            store.write_result(_cell(row), new)
            done.rescored.append(row["cell_id"])
        for dataset, (key, rows) in refs.items():
            store.write_references(dataset, key, [{**r, **stamp} for r in rows])
        store.write_table()
    return done


def _refuse_mixed_instruments(root: Path, cell_id: str, row: dict[str, Any], new_columns: set[str]) -> None:
    """Refuse, in one line, a rescored row whose columns would name two weights of one extractor: the
    new metrics by the rescoring's, columns it did not recompute by the old one (``track_extractor``
    labels what cannot be recomputed and is exempt)."""
    ids = {c: v for c, v in row.items() if is_instrument(c) and c != "track_extractor" and isinstance(v, str)
           and ":" in v}
    for col, value in ids.items():
        if col in new_columns:
            continue
        name = value.split(":", 1)[0]
        fresh = sorted({v for c, v in ids.items() if c in new_columns and v.split(":", 1)[0] == name and v != value})
        if fresh:
            raise UsageError(f"{root}: rescoring cell {cell_id} would leave {col} = {value} beside {fresh[0]} (other "
                             f"weights of the {name} extractor); rescore its metric too (--metrics), no row was changed")


def _references(registry, suite, data_of, configs, targets, choice, extractor_options, eval_samples,
                computed, device) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """``{data set: (key, reference rows)}`` of each rescored data set, recomputed with the rescoring's
    extractor and sample count (they are compared with the rows, so they follow them) for the run's
    metrics and the rescored ones."""
    from ganbench import references
    from ganbench.execution.cell import metric_values, who

    seeds = [int(s) for s in suite.get("seeds") or []]
    done: set[str] = set()
    out: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for row in targets:
        config = configs[row["cell_id"]]
        data = data_of[(row["dataset"], str(config.get("data_fingerprint")))]
        if row["dataset"] in done or not seeds:
            continue
        done.add(row["dataset"])
        settings = config.get("settings") or {}
        n = eval_samples or int(row.get("hp_eval_samples") or settings["eval_samples"])
        real = int(settings.get("real_samples", 10000))
        ext_name, _ = resolve_extractor(registry, choice, data.info)
        metrics = references.metrics_for(registry, computed, data, ext_name)
        if not metrics:
            out[row["dataset"]] = ("", [])  # none, rather than rows of the old extractor
            continue
        cache = EvalCache()

        def context(n_samples, data=data, ext_name=ext_name, real=real, cache=cache, **kw):
            return EvalContext(data=data, device=device, n_samples=n_samples, registry=registry, extractor_name=ext_name,
                               extractor_options=extractor_options, real_samples=real, cache=cache, **kw)

        ext_id = context(1).extractor().id if ext_name is not None else ""
        rows = references.compute(data, row["dataset"], seeds, n, real, context, metrics,
                                  lambda m, values: metric_values(who(registry, "metric", m), values,
                                                                                metric=registry.get("metric", m)))
        out[row["dataset"]] = (references.key(n, real, [m for m, _ in metrics], ext_id, data, seeds), rows)
    return out
