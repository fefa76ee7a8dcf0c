"""Comparison tables: load run directories, check that they measured the same thing, aggregate result
rows over seeds, compare losses seed by seed, and render the table in every format.

Aggregation, per group (``--by``, default data set, model, loss):

- ``seeds`` and ``n_ok`` / ``n_diverged`` / ``n_failed`` / ``n_skipped``;
- per metric column: ``_mean``, ``_std`` (sample, ddof=1), ``_ci95`` (half-width of the Student-t 95%
  interval, ``t(0.975, n-1) · std / √n``) and ``_n`` over the rows whose status is ``ok`` or
  ``diverged`` and that have a finite value (a diverged cell has no FID, but it has its stability
  columns; ``diverged`` itself averages to the fraction of seeds that diverged);
- ``_rank`` within each data set (1 = best, ties share the smaller rank) for columns whose direction
  is known (a metric plugin declares it: :attr:`MetricSpec.directions`);
- ``_best``: **best only where the evidence holds.** Per data set, the row with the top mean is best
  (among the rows measured on at least :data:`MIN_PAIRED` seeds, where any is), and so is every row not
  significantly worse than it: each other row is compared with the top row
  seed by seed (seeds are paired by common random numbers) by the one-sided Wilcoxon signed-rank test
  (is this row worse?) over the seeds both have (``_p_best``), and all of a table's comparisons — every metric, every data
  set — are adjusted together by Benjamini–Hochberg (``_q_best``, ``scipy.stats.false_discovery_control``);
  a row is separated from the best when ``q <`` :data:`BEST_FDR`. Below :data:`MIN_PAIRED` shared seeds
  a row is never separated (a rule kept conservative: one-sided, five pairs could reach p = 1/32): it is
  tied for best. One
  row is best alone only when every other row is separated from it. ``summary.attrs["evidence"]``
  lists what weakens the table (fewer than :data:`MIN_PAIRED` seeds, missing cells, timings taken
  while other runs shared the machine); every rendering states it.

Paired comparison (``baseline=LOSS``): seeds are paired because every loss trains from the same
weights, data order and noise (common random numbers). For each group and seed where both the loss
and the baseline have a value: the difference ``loss − baseline``; per group its mean, the number of
seeds on which the loss is better, and — from :data:`MIN_PAIRED` pairs on — the two-sided sign test
and Wilcoxon signed-rank p-values (with fewer pairs no two-sided test can reach p < 0.05: the
smallest possible p is 2/2ⁿ).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganbench.errors import UsageError
from ganbench.store import LOCK_FILE, RUN_FILES, SETTINGS_COLUMNS, is_instrument

GROUP = ["dataset", "model", "loss"]
STATUSES = ("ok", "diverged", "failed", "skipped")
#: statuses whose rows carry metric values
MEASURED = ("ok", "diverged")
#: fewest seed pairs for which the paired tests are reported and can separate a row from the best (two-sided,
#: 2/2**6 = 0.031 < 0.05; the best's one-sided test could with five, 1/2**5: kept at six, conservatively)
MIN_PAIRED = 6
#: the false discovery rate (Benjamini–Hochberg) below which a row is separated from the best
BEST_FDR = 0.05
#: what must be equal for rows of one data set to be compared: result column -> its name in messages
PROTOCOL = {
    "hp_steps": "steps",
    "hp_eval_samples": "generated samples (eval_samples)",
    "hp_real_samples": "real samples (real_samples)",
    "extractor": "feature extractor",
    "data_fingerprint": "data set version",
}
FORMATS = ("rich", "md", "csv", "latex", "json", "html")
#: what follows ± (``--interval``): how the table's notes name it (:func:`spread` computes it)
SPREADS = {"std": ("_std", "sample std (ddof=1)"), "se": ("_std", "standard error (std/√n)"),
           "ci": ("_ci95", "95% CI half-width (Student t)")}


def spread(row: Mapping[str, Any], col: str, interval: str) -> float:
    """What follows ± for ``col`` in a :func:`summarize` row: its std, standard error (std / √n) or 95% CI."""
    value = float(row[col + SPREADS[interval][0]])
    return value / math.sqrt(float(row[f"{col}_n"])) if interval == "se" else value


# -- loading --------------------------------------------------------------------------------------

#: the file of a published board that keeps the rows it was built from (:func:`board_runs`)
BOARD_RUNS = "runs.json"


@dataclass
class Run:
    """One run directory (or the rows of one that a published board kept): its result rows and the files
    that describe how they were made."""

    path: Path
    rows: pd.DataFrame
    suite: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    #: the rows as read, before framing (what a published board keeps in its ``runs.json``)
    records: list[dict[str, Any]] = field(default_factory=list)
    #: the published board whose ``runs.json`` kept these rows; None for a run directory
    kept_by: Path | None = None

    @property
    def label(self) -> str:
        """How tables, messages and the provenance name the run (its rows' ``run`` column)."""
        return str(self.path) if self.kept_by is None else f"{self.path} (rows kept by {self.kept_by})"


def load_run(path: Path | str, references: bool = False) -> Run:
    """Read a run directory; each row gains ``run`` (the directory), ``data_fingerprint`` (from its
    cell's config.json) and ``extractor`` (the feature extractor ids its metrics used). ``references``:
    the run's reference rows (:mod:`ganbench.references`, ``reference = true``) come after the cells'."""
    from ganbench.store import RunStore, rows_to_frame

    path = Path(path)
    store = RunStore(path)
    store.require_run()
    rows = store.rows() + (store.reference_rows() if references else [])
    for row in rows:
        config = store.read_cell_config(row["cell_id"]) or {}
        row.setdefault("data_fingerprint", config.get("data_fingerprint"))
        ids = sorted({str(v) for k, v in row.items() if is_instrument(k) and v})
        row["extractor"] = ",".join(ids) if ids else None
        row["run"] = str(path)
    return Run(path, rows_to_frame(rows), store.suite(), store.environment(), rows)


def board_records(runs: Sequence[Run], rows: pd.DataFrame, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a published board keeps of its runs (``runs.json``): per run directory, its suite, environment
    and the rows of it that the board counted (``rows``, from :func:`load_runs`: reference rows included, a
    cell found twice once; a directory whose rows came from several inputs, e.g. a board's kept copy and new
    cells trained into it since, is one entry with all of them), and the board's own ``options`` (title,
    notes, metrics, ...: what ``ganbench leaderboard`` takes again when the board is extended), so that the
    board can be rebuilt, re-tested or extended after the run directories (checkpoints, histories) are gone."""
    entries: dict[str, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: r.kept_by is not None):  # a run directory's suite before a kept copy's
        used = set(rows.loc[rows["run"] == run.label, "cell_id"]) if "run" in rows else set()
        entry = entries.setdefault(str(run.path), {"path": str(run.path), "suite": run.suite,
                                                   "environment": run.environment, "rows": []})
        have = {r["cell_id"] for r in entry["rows"]}
        entry["rows"] += [{k: v for k, v in r.items() if k != "run"} for r in run.records
                          if r.get("cell_id") in used and r.get("cell_id") not in have]
    order = [str(r.path) for r in runs]
    kept = sorted((e for e in entries.values() if e["rows"]), key=lambda e: order.index(e["path"]))
    return {"format": 1, "options": dict(options or {}), "runs": kept}


def _is_reference(row: Mapping[str, Any]) -> bool:
    return row.get("reference") is True


def board_runs(folder: Path | str, references: bool = False) -> list[Run]:
    """The runs a published board kept (its ``runs.json``, :func:`board_records`); each row's ``run`` names
    the run directory it came from and the board. A damaged file is a one-line error naming it."""
    from ganbench.store import read_json, row_problem, rows_to_frame

    folder = Path(folder)
    path = folder / BOARD_RUNS
    doc = read_json(path, "board's kept rows")
    redo = "publish the board again from its run directories"
    entries = doc.get("runs")
    if doc.get("format") != 1 or not isinstance(entries, list) or not entries or not isinstance(
            doc.get("options", {}), dict):
        raise UsageError(f"{path}: expected {{\"format\": 1, \"runs\": [...]}} with at least one run; {redo}")
    out = []
    for i, entry in enumerate(entries):
        ok = (isinstance(entry, dict) and isinstance(entry.get("path"), str) and isinstance(entry.get("rows"), list)
              and all(isinstance(entry.get(k, {}), dict) for k in ("suite", "environment")))
        if not ok:
            raise UsageError(f"{path}: runs[{i}] is not a kept run (path, suite, environment, rows); {redo}")
        run = Run(Path(entry["path"]), pd.DataFrame(), entry.get("suite", {}), entry.get("environment", {}),
                  kept_by=folder)
        for j, row in enumerate(entry["rows"]):
            problem = ("not an object" if not isinstance(row, dict) else
                       None if _is_reference(row) and "dataset" in row else row_problem(row, row.get("cell_id")))
            if problem:
                raise UsageError(f"{path}: runs[{i}].rows[{j}]: {problem}; {redo}")
            if references or not _is_reference(row):
                run.records.append({**row, "run": run.label})
        run.rows = rows_to_frame(run.records)
        out.append(run)
    return out


def board_options(paths: Sequence[Path | str]) -> tuple[Path, dict[str, Any]] | None:
    """The first published board among ``paths`` and how it was asked for (its ``runs.json``'s options:
    title, notes, metrics, by, baseline, best_setting, select_seeds), or None."""
    from ganbench.store import read_json

    for path in map(Path, paths):
        if not (path / "cells").is_dir() and (path / BOARD_RUNS).is_file():
            options = read_json(path / BOARD_RUNS, "board's kept rows").get("options")
            options = dict(options) if isinstance(options, dict) else {}
            for key, value in options.items():
                expected = _BOARD_OPTIONS.get(key)
                if expected is not None and not expected[0](value):
                    raise UsageError(f"{path / BOARD_RUNS}: options.{key} is {json.dumps(value)[:60]}; expected "
                                     f"{expected[1]}")
            return path, options
    return None


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


#: what each option a board keeps may hold (None: not given): a check and its description
_BOARD_OPTIONS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "title": (lambda v: v is None or isinstance(v, str), "text or null"),
    "baseline": (lambda v: v is None or isinstance(v, str), "a loss's name or null"),
    "notes": (lambda v: v is None or _texts(v), "a list of lines of text"),
    "metrics": (lambda v: v is None or _texts(v), "a list of metric columns or null"),
    "by": (lambda v: v is None or _texts(v), "a list of columns or null"),
    "best_setting": (lambda v: isinstance(v, bool), "true or false"),
    "select_seeds": (lambda v: v is None or (isinstance(v, list) and all(
        isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)),
        "a list of seeds (whole numbers ≥ 0) or null"),
}


def runs_at(path: Path | str, references: bool = False) -> list[Run]:
    """A run directory, or the runs a published board kept; one line naming the folder otherwise."""
    path = Path(path)
    if (path / "cells").is_dir():
        return [load_run(path, references)]
    if (path / BOARD_RUNS).is_file():
        return board_runs(path, references)
    if (path / "provenance.json").is_file() and (path / "leaderboard.md").is_file():
        raise UsageError(f"{path} is a board published before boards kept their rows (it has no {BOARD_RUNS}): give "
                         "the run directories it was built from (its provenance names them), or train them again")
    return [load_run(path, references)]


def protocol(df: pd.DataFrame) -> dict[str, dict[str, tuple[str, ...]]]:
    """Per data set, the distinct values of every :data:`PROTOCOL` column among measured rows."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    measured = df[df["status"].isin(MEASURED)] if "status" in df else df.iloc[0:0]
    for dataset, g in measured.groupby("dataset"):
        out[str(dataset)] = {
            col: tuple(sorted({_plain(v) for v in g[col].dropna()})) for col in PROTOCOL if col in g
        }
    return out


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def paper_protocols(df: pd.DataFrame) -> tuple[str, ...]:
    """The paper protocols (``--protocol``) of rows, ``none`` for rows made without one."""
    if "reference" in df:  # reference rows (real data, a Gaussian) belong to no protocol
        df = df[df["reference"].astype("boolean").fillna(False) == False]  # noqa: E712
    if "protocol" not in df:
        return ("none",) if len(df) else ()
    return tuple(sorted({str(v) if isinstance(v, str) and v else "none" for v in df["protocol"]}))


def protocol_interval(registry, df: pd.DataFrame) -> str:
    """The statistic the rows' paper protocol reports (``std``, ``se`` or ``ci``); ``std`` without one (or
    for a protocol this installation does not have)."""
    followed = [p for p in paper_protocols(df) if p != "none"]
    if len(followed) != 1 or followed[0] not in registry.names("protocol"):
        return "std"
    return registry.get("protocol", followed[0]).interval


def check_protocols(runs: Sequence[Run]) -> None:
    """Refuse to merge runs whose rows of a common data set differ in a :data:`PROTOCOL` item, or that
    follow different paper protocols (``--protocol``; or one and none)."""
    followed = {run.label: paper_protocols(run.rows) for run in runs}
    kinds = {p for ps in followed.values() for p in ps}
    if len(kinds) > 1:
        shown = "; ".join(f"{path}: {', '.join(ps)}" for path, ps in followed.items())
        raise UsageError(f"cannot merge runs of different protocols ({shown}): a protocol's numbers are compared "
                         "only with the same protocol's; report them separately")
    seen: dict[str, tuple[Run, dict[str, tuple[str, ...]]]] = {}
    for run in runs:
        for dataset, items in protocol(run.rows).items():
            if dataset not in seen:
                seen[dataset] = (run, items)
                continue
            first, first_items = seen[dataset]
            for col, words in PROTOCOL.items():
                a, b = first_items.get(col, ()), items.get(col, ())
                if a and b and a != b:
                    raise UsageError(
                        f"cannot merge {first.label} and {run.label}: {words} differ on {dataset} "
                        f"({', '.join(a)} vs {', '.join(b)}); report them separately"
                    )


def load_runs(paths: Sequence[Path | str], references: bool = False,
              by: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[Run]]:
    """The rows of every run directory or published board (the runs it kept: :func:`runs_at`; with
    ``references``, their reference rows too), after
    :func:`check_protocols`. A cell (data set, model, loss, seed) found in two runs is an error unless
    both rows come from the same configuration; it is then counted once."""
    from ganbench.store import rows_to_frame

    runs = [run for p in paths for run in runs_at(p, references)]
    check_protocols(runs)
    frames = [r.rows for r in runs if not r.rows.empty]
    if not frames:
        return rows_to_frame([]), runs
    df = pd.concat(frames, ignore_index=True)
    dup = df[df.duplicated("cell_id", keep=False)]
    for cell_id, g in dup.groupby("cell_id"):
        if "config_hash" in g and g["config_hash"].nunique() > 1:
            raise UsageError(f"cell {cell_id} is in {' and '.join(g['run'])} with different configurations; "
                             "a seed may be counted once: report them separately")
        # reference rows have no configuration hash: what each was computed from (its N, data, version, extractors;
        # not the request's seeds or metric list, which its reference_key also hashes)
        inputs = [c for c in ("reference_n", "data_fingerprint", "reference_version") if c in g]
        inputs += [c for c in g.columns if c.endswith("_extractor") and g[c].notna().all()]  # metrics both have
        made = {tuple(str(v) for v in r) for r in g[inputs].itertuples(index=False)} if inputs else set()
        if bool(reference_mask(g).all()) and len(made) > 1:
            raise UsageError(f"reference row {cell_id} is in {' and '.join(g['run'])} computed from different inputs "
                             "(sample counts, metrics, extractor or data): rescore the older run (ganbench evaluate) "
                             "or report them separately")
    kept = df["run"].isin([run.label for run in runs if run.kept_by is not None])
    first = df.assign(_kept=kept).sort_values("_kept", kind="stable").drop_duplicates("cell_id").index
    # one row per cell, in the runs' order; a run directory's before a board's kept copy (it has the plots' files)
    df = df.loc[sorted(first)].reset_index(drop=True)
    counted = set(df["run"])  # a board's kept copy that a run directory replaced entirely is not a source
    check_groups(df, by)
    df.attrs["absent_cells"] = absent_cells(runs, set(df["cell_id"]))
    return df, [run for run in runs if run.kept_by is None or run.label in counted]


def absent_cells(runs: Sequence[Run], have: set[str]) -> int:
    """How many cells the run directories' requests (their suite.json) hold that have no row among ``have``:
    not trained yet, or their result.json is gone. A board's kept rows are what it counted: not checked."""
    from ganbench.suite import Suite

    absent = set()
    for run in runs:
        if run.kept_by is not None or not run.suite:
            continue
        try:
            cells = Suite.from_dict(run.suite, str(run.path / "suite.json")).cells()
        except UsageError:  # a request this version no longer reads: its rows still count
            continue
        absent |= {c.id for c in cells} - have
    return len(absent)


#: settings in which the seeds of one row of a table may differ: how seeds were batched (replicas), how often
#: pictures and curves were drawn, and the execution options whose results agree within floating-point
#: tolerance (compile, CUDA graphs, channels-last; bf16 autocast does not, and is compared)
NEUTRAL_COLUMNS = ("hp_replicas", "hp_sample_every", "hp_eval_every", "hp_compile", "hp_cuda_graphs",
                   "hp_channels_last")


#: the settings columns that seeds of one table line must share (the protocol is checked for the whole merge,
#: the point is a key of its own, hp_source says where values came from, not what they are)
COMPARED_SETTINGS = tuple(c for c in SETTINGS_COLUMNS if c not in ("protocol", "point", "hp_source"))


def check_groups(df: pd.DataFrame, by: Sequence[str] | None = None) -> None:
    """Refuse (one line) rows that a table would average as seeds of one configuration — one group of
    :func:`group_columns` (by default the same data set, model, loss and sweep point; ``--by`` may add
    columns) — but that ran with different settings, model or loss options or recipe (merged runs: seeds
    0-4 at one learning rate, 5-9 at another). A ``--by`` without model and loss averages configurations
    on purpose and is not checked; a setting a row does not record (a run from before it existed) counts at
    its neutral value where it has one (:data:`ganbench.suite.HASH_NEUTRAL`: what that run trained with), else
    is not compared; a row without ``revision`` ran every plugin at revision 0 (the plugins' numbers-changing
    revisions, :class:`ganbench.specs.ModelSpec`)."""
    if df.empty:
        return
    df = with_points(df[~reference_mask(df)])
    if df.empty:
        return
    key_cols = group_columns(df, by)
    if not {"model", "loss"} <= set(key_cols):
        return
    cols = [c for c in df.columns if ((c.startswith("hp_") and c not in NEUTRAL_COLUMNS and c != "hp_source")
                                      or c in COMPARED_SETTINGS)
            and c not in key_cols]
    if "revision" in cols:  # a row without one trained with every plugin at revision 0
        df = df.assign(revision=df["revision"].astype(object).where(df["revision"].notna(), "0"))
    # a setting added later is absent from older rows, which trained at its neutral value (as the hash reads it)
    from ganbench.suite import HASH_NEUTRAL

    df = df.assign(**{c: df[c].astype(object).where(df[c].notna(), HASH_NEUTRAL[c.removeprefix("hp_")])
                      for c in cols if c.removeprefix("hp_") in HASH_NEUTRAL})
    for key, g in df.groupby(key_cols, sort=False, dropna=False):
        where = "/".join(str(k) for k in (key if isinstance(key, tuple) else (key,)) if k and not pd.isna(k))
        points = list(dict.fromkeys(g["point"].fillna(""))) if "point" in g and "point" not in key_cols else []
        if len(points) > 1:  # one run's too: a swept run's points are not seeds
            raise UsageError(f"the seeds of {where} ran at different sweep points "
                             f"({' vs '.join(p or 'unswept' for p in points[:3])}), and a table averages them as one "
                             "configuration: keep point in --by")
        if g["run"].nunique() < 2:  # one run's cells of one point share a configuration by construction
            continue
        for col in cols:
            values = list(dict.fromkeys(_plain(v) or "—" for v in g[col] if v is not None and not pd.isna(v)))
            if len(values) > 1:
                runs = " and ".join(dict.fromkeys(g["run"]))
                raise UsageError(f"cannot merge {runs}: the seeds of {where} ran with different {col.removeprefix('hp_')} "
                                 f"({' vs '.join(values)}), and a table averages them as one configuration; report "
                                 "them separately, or sweep the setting")


# -- which columns --------------------------------------------------------------------------------

def directions(registry) -> dict[str, bool | None]:
    """``{column: higher_is_better or None}`` over every registered metric."""
    out: dict[str, bool | None] = {}
    for _, spec, _ in registry.items("metric"):
        for col, d in spec.directions().items():
            out.setdefault(col, d)
    return out


def baseline_rule(registry) -> tuple[tuple[str, bool], ...]:
    """``(column, higher_is_better)`` of the columns on which a translation model must beat its data set's
    baselines (identity, mean target) to be ranked: FID against the target domain and every column with a
    direction of the translation metrics (``MetricSpec.task == "translation"``); a column the baselines have
    no value of (cycle error) is not compared."""
    cols = {"fid": False}
    for _, spec, _ in registry.items("metric"):
        if getattr(spec, "task", None) == "translation":
            cols.update({c: d for c, d in spec.directions().items() if d is not None and c not in cols})
    return tuple(cols.items())


def _has_values(df: pd.DataFrame, col: str) -> bool:
    return col in df.columns and pd.to_numeric(df[col], errors="coerce").notna().any()


def metric_columns(registry, df: pd.DataFrame, names: Iterable[str] | None = None) -> list[tuple[str, bool | None]]:
    """The metric columns to report as ``(column, higher_is_better or None)``.

    Default: the primary column of every registered metric that has a value in ``df``. ``names``
    (``--metrics``): result columns (``fid``, ``diverged``, ``precision``) or metric names (``prdc``
    → its primary and its columns with a direction)."""
    dirs = directions(registry)
    _refuse_damaged(df, dirs)
    if names is None:
        return _with_companions(df, dirs, [(spec.primary, spec.higher_is_better) for _, spec, _ in registry.items("metric")
                                           if _has_values(df, spec.primary)])
    out: list[tuple[str, bool | None]] = []
    for name in names:
        if _has_values(df, name) or name in dirs:  # a declared column with no value (every cell diverged): shown as —
            cols = [name]
        elif name in registry.names("metric") and registry.get("metric", name).primary != name:
            spec = registry.get("metric", name)
            cols = [c for c, d in spec.directions().items() if (d is not None or c == spec.primary) and _has_values(df, c)]
        else:
            cols = []
        if not cols:
            known = sorted({c for c in dirs if _has_values(df, c)})
            raise UsageError(f"no metric column '{name}' in these results; columns with values: {', '.join(known)}")
        out += [(c, dirs.get(c)) for c in cols if c not in dict(out)]
    return _with_companions(df, dirs, out)


def _refuse_damaged(df: pd.DataFrame, dirs: Mapping[str, bool | None]) -> None:
    """Refuse (one line, naming the row) a ranked metric's value that is not a number: a damaged result row
    would otherwise drop out of its line's mean unseen (or be published as it is)."""
    for col, direction in dirs.items():
        if direction is None or col not in df:
            continue
        for i, value in df[col].items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if isinstance(value, str) or not isinstance(value, (int, float, np.number, bool, np.bool_)):
                where = f"{df.at[i, 'run']}: cell {df.at[i, 'cell_id']}" if "run" in df else f"cell {df.at[i, 'cell_id']}"
                raise UsageError(f"{where} has {col} {value!r}, not a number: its result row is damaged (train the "
                                 "cell again, or remove the row, before reporting)")


#: columns never shown without others: a count of modes says little alone (a Gaussian reaches half of
#: ring8's modes; any classifier gives every sample some class), its quality and balance do; a translation's
#: L1 is read beside PSNR and SSIM
COMPANIONS = {"modes": ("hq_pct", "mode_kl"), "l1": ("psnr", "ssim")}


def _with_companions(df: pd.DataFrame, dirs: Mapping[str, bool | None],
                     cols: list[tuple[str, bool | None]]) -> list[tuple[str, bool | None]]:
    """``cols`` with each column's :data:`COMPANIONS` (those with values) right after it."""
    out: list[tuple[str, bool | None]] = []
    for col, higher in cols:
        if col not in dict(out):
            out.append((col, higher))
        out += [(c, dirs.get(c)) for c in COMPANIONS.get(col, ()) if _has_values(df, c) and c not in dict(out)
                and c not in dict(cols)]
    return out


def with_points(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with an empty ``point`` ("") on the rows of cells outside a sweep (unswept runs, losses a sweep's
    keys do not apply to, reference rows), so that they group, match and pair like any other value."""
    if "point" not in df or not df["point"].isna().any():
        return df
    return df.assign(point=df["point"].astype(object).where(df["point"].notna(), ""))


def group_columns(df: pd.DataFrame, by: Sequence[str] | None) -> list[str]:
    """``--by``: the grouping columns. Data sets are never averaged together."""
    if by is None:  # a sweep's points are groups of their own: never averaged together as if they were seeds
        swept = "point" in df and bool((df["point"].fillna("") != "").any())
        return list(GROUP) + (["point"] if swept else [])
    by = list(by)
    unknown = [c for c in by if c not in df.columns]
    if unknown:
        meta = [c for c in df.columns if not pd.api.types.is_float_dtype(df[c])]
        raise UsageError(f"--by {','.join(unknown)}: no such column; choose from {', '.join(meta)}")
    if "dataset" not in by and df["dataset"].nunique() > 1:
        raise UsageError(f"the rows span data sets {', '.join(sorted(df['dataset'].unique()))}; add 'dataset' to "
                         "--by (metrics of different data sets are not comparable)")
    return by


# -- aggregation ----------------------------------------------------------------------------------

def t_quantile(n: int) -> float:
    """t(0.975, n-1), the multiplier of the 95% interval of a mean of ``n`` values."""
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) if n > 1 else float("nan")


def _values(g: pd.DataFrame, col: str) -> pd.Series:
    if col not in g:
        return pd.Series(dtype=float)
    rows = g[g["status"].isin(MEASURED)]
    vals = pd.to_numeric(rows[col].map(lambda v: float(v) if isinstance(v, bool) else v), errors="coerce")
    return vals[vals.map(lambda v: math.isfinite(v) if pd.notna(v) else False)]


def summarize(df: pd.DataFrame, metrics: Sequence[tuple[str, bool | None]] = (("fid", False),),
              by: Sequence[str] | None = None, baseline: str | None = None,
              rule: Sequence[tuple[str, bool]] = ()) -> pd.DataFrame:
    """One row per group: ``seeds``, ``n_<status>``, and per metric ``_mean``, ``_std``, ``_ci95``,
    ``_n``, ``_rank``, ``_best``; with ``baseline`` also the paired columns (see the module doc).
    ``rule`` (:func:`baseline_rule`): on a data set with baseline rows (a translation data set's identity and
    mean-target references), a row whose mean does not beat every baseline's on each of these columns that
    both have — shown or not — is ``failing`` (its note says where) and, like a reference, never ranked nor
    marked."""
    by = group_columns(df, by) if not df.empty else list(by or GROUP)
    if df.empty:
        return pd.DataFrame(columns=by)
    absent = int(df.attrs.get("absent_cells", 0))
    df = with_points(df)
    _check_extractors(df)
    is_ref = reference_mask(df)
    if is_ref.any() and not {"model", "loss"} <= set(by):  # references are rows of their own kind, or none
        df, is_ref = df[~is_ref], is_ref[~is_ref]
    out = []
    fractional: set[str] = set()  # metric columns with a value that is not a whole number
    for key, g in df.groupby(by, sort=False, dropna=False):
        rec: dict[str, Any] = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        rec["seeds"] = len(g)
        for s in STATUSES:
            rec[f"n_{s}"] = int((g["status"] == s).sum())
        for col, _ in metrics:
            vals = _values(g, col)
            n = len(vals)
            rec[f"{col}_mean"] = vals.mean() if n else float("nan")
            rec[f"{col}_std"] = vals.std(ddof=1) if n > 1 else float("nan")
            rec[f"{col}_ci95"] = t_quantile(n) * rec[f"{col}_std"] / math.sqrt(n) if n > 1 else float("nan")
            rec[f"{col}_n"] = n
            if n and not (vals == vals.round()).all():
                fractional.add(col)
        if "extractor" in g and g["extractor"].notna().any():
            rec["extractor"] = ",".join(sorted(set(g["extractor"].dropna())))
        for col in ("steps_per_s", "train_s", "eval_s"):
            vals = _values(g, col)
            rec[col] = vals.mean() if len(vals) else float("nan")
        for col, _ in rule:  # the baselines' rule reads every rule column, whichever are shown
            if f"{col}_mean" not in rec and col in g:
                vals = _values(g, col)
                rec[f"_rule_{col}"] = vals.mean() if len(vals) else float("nan")
        rec["reference"] = bool(is_ref[g.index].all())
        shown = g["message"] if rec["reference"] else g.loc[g["status"].isin(["skipped", "failed"]), "message"]
        notes = shown.dropna().unique()
        rec["note"] = "; ".join(str(n) for n in notes if n)
        out.append(rec)
    summary = pd.DataFrame(out)
    scope = ["dataset"] if "dataset" in by else []
    _fail_baselines(summary, rule, scope)
    summary = summary.drop(columns=[c for c in summary.columns if c.startswith("_rule_")])
    ranked = summary[~summary["reference"] & ~summary["failing"]]  # references are shown, never ranked
    for col, higher in metrics:
        if higher is None:
            continue
        ranks = (ranked.groupby(scope)[f"{col}_mean"] if scope else ranked[f"{col}_mean"]).rank(
            ascending=not higher, method="min")
        summary[f"{col}_rank"] = ranks  # NaN on reference rows
    _mark_best(df[~is_ref], summary, metrics, by, scope)
    if not summary["failing"].any():  # tables without a failing row keep their columns
        summary = summary.drop(columns="failing")
    summary.attrs["evidence"] = evidence(df[~is_ref], summary[~summary["reference"]], metrics, absent)
    if baseline is not None:
        summary = _paired(df, summary, metrics, by, baseline)
    if metrics:  # within a data set: the cells by the first metric, then the references (real, then Gaussian)
        from ganbench.references import KINDS

        col, higher = metrics[0]
        order = (summary["loss"].map(lambda k: KINDS.index(k) if k in KINDS else 0) * summary["reference"]
                 if "loss" in summary else 0)
        summary = summary.assign(_order=order).sort_values(
            [*scope, "reference", "_order", f"{col}_mean"], ascending=[True] * len(scope) + [True, True, higher is False],
            na_position="last", kind="stable").drop(columns="_order")
    summary = summary.reset_index(drop=True)
    #: columns whose every value is a whole number (counts such as modes): shown without decimals
    summary.attrs["whole"] = [col for col, _ in metrics if col not in fractional]
    return summary


def _fail_baselines(summary: pd.DataFrame, rule: Sequence[tuple[str, bool]], scope: Sequence[str]) -> None:
    """``failing`` (and the note saying why), in place: rows that do not beat their data set's baselines on
    the ``rule`` columns (see :func:`summarize`)."""
    from ganbench.references import BASELINES

    summary["failing"] = False
    if "loss" not in summary or not rule:
        return
    is_base = summary["reference"] & summary["loss"].isin(BASELINES)
    parts = [part for _, part in summary.groupby(list(scope), sort=False)] if scope else [summary]
    for part in parts:
        bases = part[is_base[part.index]]
        if bases.empty:
            continue
        for i in part.index[~part["reference"]]:
            lost = []
            for col, higher in rule:
                key = f"{col}_mean" if f"{col}_mean" in summary else f"_rule_{col}"
                if key not in summary:
                    continue
                mine = summary.at[i, key]
                for _, b in bases.iterrows():
                    theirs = b[key]
                    if pd.isna(mine) or pd.isna(theirs):
                        continue
                    if not (mine > theirs if higher else mine < theirs):
                        lost.append(f"{col} {mine:.4g} vs {b['loss']} {theirs:.4g}")
            if lost:
                summary.at[i, "failing"] = True
                why = "fails its baselines, not ranked: " + ", ".join(lost)
                summary.at[i, "note"] = "; ".join(n for n in (summary.at[i, "note"], why) if n)


def _per_seed(rows: pd.DataFrame, rec: Mapping[str, Any], by: Sequence[str], col: str) -> pd.Series:
    """The group ``rec``'s value of ``col`` per seed (the mean of a seed's rows)."""
    mine = rows[_match(rows, rec, by)]
    return _values(mine, col).groupby(mine["seed"]).mean()


def _mark_best(df: pd.DataFrame, summary: pd.DataFrame, metrics: Sequence[tuple[str, bool | None]],
               by: Sequence[str], scope: Sequence[str]) -> None:
    """``_best``, ``_p_best`` and ``_q_best`` (see the module doc), in place."""
    from scipy import stats

    rows = df[df["status"].isin(MEASURED)]
    claims: list[tuple[int, str, float]] = []  # (summary row, metric, p of 'worse than the top row')
    for col, higher in metrics:
        if higher is None:
            continue
        summary[f"{col}_best"] = False
        summary[f"{col}_p_best"] = float("nan")
        summary[f"{col}_q_best"] = float("nan")
        cells = summary[~summary["reference"] & ~summary["failing"]]
        parts = [part for _, part in cells.groupby(list(scope), sort=False)] if scope else [cells]
        for part in parts:
            part = part[part[f"{col}_mean"].notna()]
            if part.empty:
                continue
            per_seed = {i: _per_seed(rows, summary.loc[i], by, col) for i in part.index}
            # the top row among those measured on enough seeds to be compared (a row of one lucky seed,
            # others diverged, would tie every row with itself); any row where none is
            full = part[[per_seed[i].size >= MIN_PAIRED for i in part.index]]
            pool = full if not full.empty else part
            top = pool[f"{col}_mean"].idxmax() if higher else pool[f"{col}_mean"].idxmin()
            summary.at[top, f"{col}_best"] = True
            best = per_seed[top]
            for i in part.index:
                if i == top:
                    continue
                mine = per_seed[i]
                seeds = sorted(set(mine.index) & set(best.index))
                p = float("nan")
                if len(seeds) >= MIN_PAIRED:  # one-sided: is this row worse than the top row, seed by seed?
                    d = [float(mine[s] - best[s]) for s in seeds]
                    worse = "greater" if not higher else "less"
                    p = wilcoxon_p(d, worse)
                summary.at[i, f"{col}_p_best"] = p
                claims.append((i, col, p))
    tested = [(i, col, p) for i, col, p in claims if not math.isnan(p)]
    qs = stats.false_discovery_control([p for _, _, p in tested], method="bh") if tested else []
    q_of = {(i, col): float(q) for (i, col, _), q in zip(tested, qs, strict=True)}
    for i, col, _ in claims:
        q = q_of.get((i, col), float("nan"))
        summary.at[i, f"{col}_q_best"] = q
        summary.at[i, f"{col}_best"] = bool(math.isnan(q) or q >= BEST_FDR)


def evidence(df: pd.DataFrame, summary: pd.DataFrame, metrics: Sequence[tuple[str, bool | None]],
             absent: int = 0) -> list[str]:
    """What weakens the claims of a table, one sentence each (empty when nothing does); ``absent``: cells of
    the requests without a row (:func:`absent_cells`)."""
    notes = []
    if absent:
        notes.append(f"{absent} cell(s) of the request have no row (not trained yet, or their result.json is gone): "
                     "the table shows the others")
    ranked = [col for col, higher in metrics if higher is not None and f"{col}_n" in summary]
    counts = [summary.loc[summary[f"{col}_n"] > 0, f"{col}_n"] for col in ranked]  # rows the metric applies to
    counts = [c for c in counts if len(c)]
    if counts:
        fewest = int(min(c.min() for c in counts))
        if len(summary) > 1 and fewest < MIN_PAIRED:
            notes.append(f"weak evidence: {fewest} seed(s) per row at the fewest; a row needs {MIN_PAIRED} seeds paired "
                         "with the top row to be separated from it, so rows with fewer are marked as tied for best")
    missing = int(summary[["n_failed", "n_skipped"]].to_numpy().sum()) if "n_failed" in summary else 0
    # a value that some seeds of a row have and others lack (a metric that never applies to a row, such as
    # a conditional metric of an unconditional model, is not missing)
    unmeasured = int(sum(((summary["n_ok"] + summary["n_diverged"] - summary[f"{col}_n"]).clip(lower=0)
                          * (summary[f"{col}_n"] > 0)).sum() for col in ranked)) if ranked else 0
    if missing or unmeasured:
        notes.append(f"missing cells: {missing} failed or skipped, {unmeasured} metric value(s) absent from "
                     "measured cells")
    if "other_runs" in df:
        shared = int((pd.to_numeric(df["other_runs"], errors="coerce").fillna(0) > 0).sum())
        if shared:
            notes.append(f"{shared} cell(s) trained while other runs shared the machine: their timings "
                         "(steps/s) are not comparable")
    return notes


def reference_mask(df: pd.DataFrame) -> pd.Series:
    """Which rows are reference rows (:mod:`ganbench.references`), not cells."""
    if "reference" not in df:
        return pd.Series(False, index=df.index)
    return df["reference"].map(lambda v: v is True or v == 1 or str(v).lower() == "true")


def _check_extractors(df: pd.DataFrame) -> None:
    for col in [c for c in df.columns if is_instrument(c)]:
        per_dataset = df.dropna(subset=[col]).groupby("dataset")[col].nunique()
        mixed = per_dataset[per_dataset > 1]
        if not mixed.empty:
            raise UsageError(
                f"results for {', '.join(mixed.index)} mix feature extractors in '{col}' "
                "(e.g. a retrained domain classifier); report them separately"
            )


def paired_test(deltas: Sequence[float], higher: bool) -> dict[str, Any]:
    """Mean difference, seeds better than the baseline and (from :data:`MIN_PAIRED` pairs) the two-sided
    sign test and Wilcoxon signed-rank p-values of per-seed differences ``loss − baseline``."""
    from scipy import stats

    d = [float(x) for x in deltas]
    n = len(d)
    better = sum(1 for x in d if (x > 0 if higher else x < 0))
    worse = sum(1 for x in d if (x < 0 if higher else x > 0))
    out: dict[str, Any] = {"delta": sum(d) / n if n else float("nan"), "pairs": n, "better": better,
                           "p_sign": float("nan"), "p_wilcoxon": float("nan")}
    if n >= MIN_PAIRED:
        nonzero = better + worse
        out["p_sign"] = float(stats.binomtest(better, nonzero, 0.5).pvalue) if nonzero else 1.0
        out["p_wilcoxon"] = wilcoxon_p(d)
    return out


#: up to this many non-zero differences the signed-rank test enumerates every sign pattern (exact, ties and zeros
#: included: 2**16 patterns); above it scipy's own choice (exact without ties, else its normal approximation)
EXACT_PAIRS = 16


def wilcoxon_p(d: Sequence[float], alternative: str = "two-sided") -> float:
    """The Wilcoxon signed-rank p-value of the differences ``d`` (zeros dropped, as Wilcoxon's test does;
    1 when every difference is 0). Exact over the non-zero ones up to :data:`EXACT_PAIRS` of them: scipy's
    default switches to its normal approximation from 14 pairs with ties or zeros, which made 4 non-zero
    differences among 20 seeds 'significant' (p 0.023; exactly 1/16)."""
    from scipy import stats

    nz = [x for x in d if x]
    if not nz:
        return 1.0
    if len(nz) == 1:  # two equally likely signs (scipy's permutation method wants two values at least)
        if alternative == "two-sided":
            return 1.0
        return 0.5 if (nz[0] < 0) == (alternative == "less") else 1.0
    if len(nz) <= EXACT_PAIRS:
        method = stats.PermutationMethod(n_resamples=2 ** len(nz))  # every sign pattern: exact
        return float(stats.wilcoxon(nz, alternative=alternative, method=method).pvalue)
    return float(stats.wilcoxon(nz, alternative=alternative).pvalue)  # scipy's choice: exact without ties


def _paired(df: pd.DataFrame, summary: pd.DataFrame, metrics, by: list[str], baseline: str) -> pd.DataFrame:
    if "loss" not in by:
        raise UsageError("--baseline compares losses: keep 'loss' in --by")
    others = [c for c in by if c != "loss"]
    rows = df[df["status"].isin(MEASURED) & ~reference_mask(df)]
    losses = sorted(df.loc[~reference_mask(df), "loss"].unique())
    if baseline not in losses:
        raise UsageError(f"--baseline {baseline}: no such loss in these results; losses: {', '.join(losses)}")
    summary = summary.copy()
    for col, higher in metrics:
        if higher is None or col not in rows:
            continue
        for name in ("delta", "pairs", "better", "p_sign", "p_wilcoxon", "deltas"):
            summary[f"{col}_{name}"] = None
        for i, rec in summary.iterrows():
            if rec["loss"] == baseline or bool(rec.get("reference", False)):
                continue
            mine = rows[(rows["loss"] == rec["loss"]) & _match(rows, rec, others)]
            base = rows[(rows["loss"] == baseline) & _match(rows, rec, others)]
            trained = df[(df["loss"] == baseline) & ~reference_mask(df) & _match(df, rec, others)]
            if trained.empty and "point" in others:  # a point of keys the baseline lacks: its cells outside the sweep
                rest = [c for c in others if c != "point"]
                base = rows[(rows["loss"] == baseline) & _match(rows, rec, rest) & (rows["point"] == "")]
            a = _values(mine, col).groupby(mine["seed"]).mean()
            b = _values(base, col).groupby(base["seed"]).mean()
            seeds = sorted(set(a.index) & set(b.index))
            deltas = [float(a[s] - b[s]) for s in seeds]
            if not deltas:
                continue
            for name, value in paired_test(deltas, higher).items():
                summary.at[i, f"{col}_{name}"] = value
            summary.at[i, f"{col}_deltas"] = ";".join(f"{s}:{d:.6g}" for s, d in zip(seeds, deltas, strict=True))
    summary.attrs["baseline"] = baseline
    return summary


def _match(rows: pd.DataFrame, rec: Mapping[str, Any], cols: Sequence[str]) -> pd.Series:
    mask = pd.Series(True, index=rows.index)
    for c in cols:
        value = rec[c]
        if not isinstance(value, (list, tuple)) and pd.isna(value):  # a value older runs lack matches its absence
            mask &= rows[c].isna()
        else:
            mask &= rows[c] == value
    return mask


# -- the displayed table --------------------------------------------------------------------------

@dataclass
class Display:
    """A table as text cells, shared by every text format: ``best`` holds the (row, column) cells to
    mark, ``tips`` an optional longer text per cell (the 95% interval, shown as a tooltip in HTML)."""

    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    best: set[tuple[int, int]] = field(default_factory=set)
    tips: dict[tuple[int, int], str] = field(default_factory=dict)
    caption: str = ""


def _decimals(values: Iterable[float]) -> int:
    finite = [abs(float(v)) for v in values if v is not None and pd.notna(v) and math.isfinite(float(v))]
    top = max(finite, default=0.0)
    return 0 if top >= 1000 else 1 if top >= 100 else 2 if top >= 1 else 3


def _num(value: Any, digits: int, whole: bool = False) -> str:
    """``value`` with ``digits`` decimals; a whole number of a column of whole numbers (a count such
    as modes or classes) without them: ``10``, ``8 ± 0``, but ``9.33 ± 1.15``."""
    if value is None or pd.isna(value):
        return "—"
    if whole and float(value).is_integer():
        digits = 0
    return f"{float(value):.{digits}f}".replace("-", "−")


def header(col: str, higher: bool | None) -> str:
    return col + ("" if higher is None else " ↑" if higher else " ↓")


def display(summary: pd.DataFrame, metrics: Sequence[tuple[str, bool | None]], by: Sequence[str] | None = None,
            interval: str = "std") -> Display:
    """The text table of a :func:`summarize` result: ``mean ± std`` (``interval='ci'``: ± the 95%
    half-width) per metric, the seed statuses, the paired columns when there is a baseline."""
    by = list(by or [c for c in [*GROUP, "point"] if c in summary.columns])
    baseline = summary.attrs.get("baseline")
    headers = [*by]
    numeric = [False] * len(by)
    for col, higher in metrics:
        headers.append(header(col, higher))
        numeric.append(True)
        if baseline is not None and higher is not None and f"{col}_delta" in summary:
            headers.append(f"Δ{col} vs {baseline}")
            numeric.append(True)
    headers += ["seeds ok/div/fail", "steps/s", "note"]
    numeric += [True, True, False]
    table = Display(headers, [], numeric)
    digits_of = {col: _decimals(summary[f"{col}_mean"]) for col, _ in metrics}  # one precision per column
    whole_of = {col: col in summary.attrs.get("whole", ()) for col, _ in metrics}
    for i, (_, r) in enumerate(summary.iterrows()):
        cells = ["—" if pd.isna(r[c]) else str(r[c]) for c in by]  # e.g. the point of a reference row
        for col, higher in metrics:
            digits, whole = digits_of[col], whole_of[col]
            n = int(r[f"{col}_n"])
            if n == 0:
                text = "—"
            elif n == 1:  # one seed: no spread to show (the seeds column says how many)
                text = _num(r[f"{col}_mean"], digits, whole)
            else:
                text = f"{_num(r[f'{col}_mean'], digits, whole)} ± {_num(spread(r, col, interval), digits, whole)}"
            if n < r["seeds"] and n:
                text += f" (n={n})"
            j = len(cells)
            cells.append(text)
            if bool(r.get(f"{col}_best", False)):
                table.best.add((i, j))
            if n > 1:
                lo, hi = r[f"{col}_mean"] - r[f"{col}_ci95"], r[f"{col}_mean"] + r[f"{col}_ci95"]
                table.tips[(i, j)] = f"95% CI [{_num(lo, digits)}, {_num(hi, digits)}], std {_num(r[f'{col}_std'], digits)}"
            if baseline is not None and higher is not None and f"{col}_delta" in summary:
                cells.append(_paired_text(r, col, baseline, digits))
                if isinstance(r.get(f"{col}_deltas"), str):
                    table.tips[(i, len(cells) - 1)] = "per seed: " + r[f"{col}_deltas"].replace(";", ", ")
        cells.append(f"{r['n_ok']}/{r['n_diverged']}/{r['n_failed']}" + (" (skipped)" if r["n_skipped"] else ""))
        sps = r.get("steps_per_s")
        cells.append("—" if sps is None or pd.isna(sps) else f"{sps:.1f}")
        cells.append(str(r.get("note") or ""))
        table.rows.append(cells)
    parts = [f"mean ± {SPREADS[interval][1]} over seeds "
             "(status ok, or diverged for history columns); ↓/↑ lower/higher is better; marked per data set: the "
             f"top mean (of the rows with {MIN_PAIRED} seeds or more, where any has) and every row not significantly "
             "worse than it (one-sided paired Wilcoxon over seeds, "
             f"Benjamini–Hochberg q < {BEST_FDR} over the table's comparisons), so several marks are a tie"]
    if baseline is not None:
        parts.append(f"Δ = loss − {baseline} on the same seed (mean; 'k/n better'); p-values (sign test, Wilcoxon) "
                     f"from {MIN_PAIRED} paired seeds")
    extractors = sorted(set(summary["extractor"].dropna())) if "extractor" in summary else []
    if extractors:
        parts.append("feature extractor " + ", ".join(extractors))
    if "reference" in summary and summary["reference"].any():
        parts.append("rows of model 'reference' are computed by the same metric code, extractor and sample counts "
                     "and never ranked: 'real' = real samples (held-out, or fresh samples of a mixture), the ceiling; "
                     "'gaussian' = a Gaussian with the data's mean and covariance, a generator that ignores the modes")
        from ganbench.references import BASELINES

        if "loss" in summary and summary.loc[summary["reference"], "loss"].isin(BASELINES).any():
            parts.append("a translation data set's baselines: 'identity' = the held-out inputs as they are, "
                         "'mean-target' = domain B's mean image for every input; a model that does not beat both "
                         "on FID and the translation metrics fails its baselines and is not ranked")
    parts += list(summary.attrs.get("evidence", ()))
    table.caption = "; ".join(parts)
    return table


def _paired_text(r: Mapping[str, Any], col: str, baseline: str, digits: int) -> str:
    if r["loss"] == baseline:
        return "baseline"
    pairs = r.get(f"{col}_pairs")
    if pairs is None or pd.isna(pairs):
        return "—"
    delta = r[f"{col}_delta"]
    text = f"{'+' if delta > 0 else ''}{_num(delta, digits)} ({int(r[f'{col}_better'])}/{int(pairs)} better)"
    if pd.notna(r.get(f"{col}_p_wilcoxon")):
        text += f" p={r[f'{col}_p_wilcoxon']:.3g}"
    return text


# -- formats --------------------------------------------------------------------------------------

def to_rich(table: Display, title: str = ""):
    """The table for a rich console: the title on a line of its own above it (a table's own title
    would wrap at the table's width and cut a long run directory in two)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    # Text everywhere: a run directory, a title or a metric's column name is never rich markup
    out = Table(caption=Text(table.caption) if table.caption else None, caption_justify="left")
    for h, num in zip(table.headers, table.numeric, strict=True):
        out.add_column(Text(h), justify="right" if num else "left")
    for i, row in enumerate(table.rows):
        out.add_row(*(Text(c + (" *" if (i, j) in table.best else ""), style="bold" if (i, j) in table.best else "")
                      for j, c in enumerate(row)))
    return Group(Text(title, style="italic"), out) if title else out


#: characters that can start Markdown formatting inside a line (CommonMark backslash-escapes any
#: ASCII punctuation; GitHub also renders ``$...$`` as math and ``~~`` as strike-through)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~$&!#{}])")


def md_escape(text: str) -> str:
    """``text`` as literal Markdown inline text: one line, every formatting character escaped (a
    title, a note, a plugin's message or a folder name can then never become a link, an image, HTML
    or a table cell boundary)."""
    line = " ".join(str(text).splitlines())
    line = _MD_SPECIAL.sub(r"\\\1", line)
    # a list marker or a setext underline at the start of a line (``- x``, ``1. x``, ``===``)
    return re.sub(r"^(\s*)(\d{1,9}[.)]|[+-]|=+)(?=\s|$)", lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1],
                  line)


def md_code_block(text: str) -> str:
    """``text`` (e.g. a shell command) as a fenced code block whose fence no backtick run in it closes."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def to_markdown(table: Display) -> str:
    lines = ["| " + " | ".join(md_escape(h) for h in table.headers) + " |",
             "|" + "|".join("---:" if n else ":---" for n in table.numeric) + "|"]
    for i, row in enumerate(table.rows):
        cells = [f"**{md_escape(c)}**" if (i, j) in table.best else md_escape(c) for j, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    if table.caption:
        lines += ["", f"*{md_escape(table.caption)}*"]
    return "\n".join(lines) + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "−": "$-$",
          "—": "--", "↓": r"$\downarrow$", "↑": r"$\uparrow$", "Δ": r"$\Delta$", "Σ": r"$\Sigma$", "‖": r"$\|$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)


def to_latex(table: Display, label: str = "tab:ganbench") -> str:
    """A booktabs table (``\\usepackage{booktabs}``); the best values in bold."""
    spec = "".join("r" if n else "l" for n in table.numeric)
    lines = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(h) for h in table.headers) + r" \\", r"\midrule"]
    for i, row in enumerate(table.rows):
        cells = [rf"\textbf{{{latex_escape(c)}}}" if (i, j) in table.best else latex_escape(c) for j, c in enumerate(row)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.caption:
        lines.append(rf"\caption{{{latex_escape(table.caption)}}}")
    lines += [rf"\label{{{label}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(summary: pd.DataFrame) -> str:
    return summary.to_csv(index=False)


def to_json(summary: pd.DataFrame, metrics: Sequence[tuple[str, bool | None]],
            extra: Mapping[str, Any] | None = None) -> str:
    from ganbench.store import _clean

    doc = {
        "metrics": [{"column": c, "higher_is_better": h} for c, h in metrics],
        "baseline": summary.attrs.get("baseline"),
        "rows": _clean(json.loads(summary.to_json(orient="records"))),
        **(extra or {}),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def to_html_table(table: Display) -> str:
    out = ['<table class="results">', "<thead><tr>"]
    out += [f'<th class="{"num" if n else "txt"}">{html.escape(h)}</th>' for h, n in zip(table.headers, table.numeric,
                                                                                         strict=True)]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(table.rows):
        cells = []
        for j, c in enumerate(row):
            cls = ("num" if table.numeric[j] else "txt") + (" best" if (i, j) in table.best else "")
            tip = f' title="{html.escape(table.tips[(i, j)])}"' if (i, j) in table.tips else ""
            cells.append(f'<td class="{cls}"{tip}>{html.escape(c)}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if table.caption:
        out.append(f'<p class="caption">{html.escape(table.caption)}</p>')
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table.results{border-collapse:collapse;font-size:.92em}
table.results th,table.results td{padding:.3em .7em;border-bottom:1px solid #e4e4e4}
table.results thead th{border-bottom:2px solid #444}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}td.num{white-space:nowrap}td.best{font-weight:700;background:#eef7ee}
p.caption,figcaption{color:#555;font-size:.88em}
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #eee}
table.prov td{padding:.15em .8em;vertical-align:top;font-size:.9em}table.prov td:first-child{color:#555}
"""


@dataclass
class Figure:
    """A plot: a file name, a title, what it shows, and the PNG."""

    name: str
    title: str
    caption: str
    png: bytes


def html_page(title: str, table: Display, figures: Sequence[Figure] = (), provenance: Mapping[str, str] | None = None,
              notes: Sequence[str] = (), intro: str = "") -> str:
    """A single self-contained HTML file: the table, the provenance, and the plots inlined as PNG."""
    import base64

    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    parts.append(to_html_table(table))
    if provenance:
        parts.append('<h2>Provenance</h2><table class="prov">')
        parts += [f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in provenance.items()]
        parts.append("</table>")
    if figures:
        parts.append("<h2>Plots</h2>")
        for fig in figures:
            data = base64.b64encode(fig.png).decode()
            parts.append(f'<figure id="{html.escape(fig.name)}"><img alt="{html.escape(fig.title)}" '
                         f'src="data:image/png;base64,{data}"><figcaption><b>{html.escape(fig.title)}.</b> '
                         f"{html.escape(fig.caption)}</figcaption></figure>")
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render(fmt: str, summary: pd.DataFrame, metrics, by=None, interval: str = "std", title: str = "",
           figures: Sequence[Figure] = (), provenance: Mapping[str, str] | None = None,
           notes: Sequence[str] = ()) -> str:
    """The summary in a text format (every one of :data:`FORMATS` but ``rich``)."""
    if fmt == "csv":
        return to_csv(summary)
    if fmt == "json":
        return to_json(summary, metrics, {"provenance": dict(provenance or {}), "notes": list(notes)})
    table = display(summary, metrics, by, interval)
    if fmt == "md":
        return (f"# {md_escape(title)}\n\n" if title else "") + to_markdown(table)
    if fmt == "latex":
        return to_latex(table)
    if fmt == "html":
        return html_page(title or "ganbench report", table, figures, provenance, notes)
    raise UsageError(f"unknown format '{fmt}'; formats: {', '.join(FORMATS)}")


def provenance(runs: Sequence[Run], df: pd.DataFrame) -> dict[str, str]:
    """Where the numbers come from: versions, commit, device, plugins and the protocol of the runs."""

    def distinct(values: Iterable[Any]) -> str:
        vals = sorted({_plain(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))})
        return ", ".join(vals) if vals else "—"

    envs = [r.environment for r in runs]
    if not df.empty:
        df = df[~reference_mask(df)]  # the cells: references are described in the table's caption
    measured = df[df["status"].isin(MEASURED)] if not df.empty else df

    def col(name: str):
        return measured[name] if name in measured else []

    plugins = sorted({f"{k} ({v})" for e in envs for k, v in e.get("plugins", {}).items()})
    dates = sorted(str(d)[:10] for d in col("started_at"))
    if dates and "wall_s" in measured:  # the last cell's end, not its start: a cell may run past midnight
        ends = pd.to_datetime(measured["started_at"], utc=True, errors="coerce") + pd.to_timedelta(
            pd.to_numeric(measured["wall_s"], errors="coerce"), unit="s")
        dates = sorted([*dates, *(str(e)[:10] for e in ends.dropna())])
    if "git_commit" in measured and measured["git_commit"].notna().all():
        commits = distinct(measured["git_commit"])  # each row records the code that trained it
    else:  # rows written before ganbench recorded it: environment.json is the latest invocation's
        commits = distinct(e.get("git_commit") for e in envs) + " (of the latest invocation; some rows record none)"
    return {
        "run directories": ", ".join(r.label for r in runs),
        "ganbench": distinct(e.get("ganbench") for e in envs),
        "git commit (training)": commits,
        "plugins": ", ".join(plugins) or "—",
        "device": distinct(f"{e.get('device')} {e.get('device_name') or ''}".strip() for e in envs),
        # each row's own threads (the cell's training); environment.json is the latest invocation's, which may
        # only have published rows trained before with other settings
        "torch threads": (distinct(col("threads")) if "threads" in measured and measured["threads"].notna().all()
                          else distinct(e.get("torch_threads") for e in envs)),
        "torch": distinct(e.get("torch") for e in envs),
        "torchvision": distinct(e.get("torchvision") for e in envs),
        "python": distinct(e.get("python") for e in envs),
        "platform": distinct(e.get("platform") for e in envs),
        "data sets (fingerprint)": distinct(f"{d} ({f})" for d, f in zip(col("dataset"), col("data_fingerprint"),
                                                                        strict=False)),
        "recipe": distinct(col("recipe")),
        "protocol": distinct(col("protocol")),
        "steps": distinct(col("hp_steps")),
        "batch size": distinct(col("hp_batch_size")),
        "seeds": distinct(df["seed"]) if "seed" in df else "—",
        "feature extractor": distinct(col("extractor")),
        "generated samples (eval_samples)": distinct(col("hp_eval_samples")),
        "real samples (FID)": distinct(col("fid_n_real")),
        "evaluated every": distinct(col("hp_eval_every")),
        "cells trained": f"{(df['started_at'].notna()).sum() if 'started_at' in df else 0} from {dates[0]} to "
                         f"{dates[-1]}" if dates else "—",
    }


#: what ganbench keeps at the top of a run directory or a published board: never a report's output
OWN_NAMES = frozenset({*RUN_FILES, LOCK_FILE, "runs.json", "provenance.json", "leaderboard.md", "leaderboard.csv",
                       "leaderboard.html", "plots"})


def check_output(path: Path | str, inputs: Sequence[Path | str], flag: str, directory: bool = False) -> None:
    """Refuse (one line) an output ``path`` that would overwrite what an input run directory or board holds:
    inside one of their folders, or one of the names ganbench keeps at their top (:data:`OWN_NAMES`). A new
    file beside them (``RUN_DIR/report.md``) is allowed. Files are written by replacing them (a temporary file
    renamed into place), so a symbolic link, a device or a pipe given as the output is refused: the rename
    would replace it instead of writing into it (``-o /dev/null`` would become a regular file)."""
    if not str(path):
        raise UsageError(f"{flag} needs a path, got an empty one")
    given_path = Path(path)
    if directory:  # a folder the files go into (a link to one is fine: the files inside are replaced, not it)
        if given_path.exists() and not given_path.is_dir():
            raise UsageError(f"{flag} {path} is not a folder")
    elif given_path.is_dir():  # click reads -o '' as '.'
        raise UsageError(f"{flag} {path} is a folder: give a file path")
    elif given_path.is_symlink():
        raise UsageError(f"{flag} {path} is a symbolic link: give the path of the file itself (ganbench replaces the "
                         "file it writes, which would replace the link)")
    elif given_path.exists() and not given_path.is_file():
        raise UsageError(f"{flag} {path} is not a regular file (a device or pipe): ganbench writes a file by "
                         "replacing it, so give a file path")
    target = Path(path).resolve()
    for given in inputs:
        folder = Path(given).resolve()
        if target == folder or folder not in target.parents:
            if target == folder:
                raise UsageError(f"{flag} {path} is the input {given} itself: write the output elsewhere")
            continue
        inside = target.relative_to(folder).parts
        if len(inside) > 1 or inside[0] in OWN_NAMES:
            raise UsageError(f"{flag} {path} would overwrite what {given} holds ({'/'.join(inside[:2])}): write the "
                             "output elsewhere (a new file beside them is fine)")


def write_text(path: Path, text: str) -> None:
    from ganbench.store import atomic_write_bytes

    atomic_write_bytes(Path(path), text.encode())
